/*
 * channel: interest bookkeeping for one fd. The interest the dispatcher
 * already has is kept in ch->flags, so setting an unchanged interest (the
 * common enable/disable-writing churn) costs no syscall. Calls from a thread
 * other than the loop's are queued to it.
 */
#include "eddy/channel.h"

#include <errno.h>
#include <stdlib.h>

#include "reactor/event_loop_internal.h"

void eddy_channel_init(struct eddy_channel *ch, struct eddy_event_loop *loop, int fd,
                       eddy_channel_cb cb, void *data)
{
    ch->fd = fd;
    ch->events = 0;
    ch->flags = 0;
    ch->pad_[0] = ch->pad_[1] = 0;
    ch->loop = loop;
    ch->cb = cb;
    ch->data = data;
}

void eddy_channel_init_kernel(struct eddy_channel *ch, struct eddy_event_loop *loop, int fd,
                              eddy_channel_cb cb, void *data)
{
    eddy_channel_init(ch, loop, fd, cb, data);
    ch->flags = EDDY__CH_KERNEL;
}

/* A cross-thread change is queued as a delta and applied against the interest
 * the owner thread sees when it runs, so concurrent enable/disable calls compose. */
struct set_events_task {
    struct eddy_channel *ch;
    int add;
    int clear;
};

static int update_events(struct eddy_channel *ch, int add, int clear)
{
    int events = ((ch->events | add) & ~clear) & (EDDY_EV_READ | EDDY_EV_WRITE);
    uint8_t old = ch->events;
    int r;

    if (events == old && (ch->flags & EDDY__CH_REGISTERED))
        return 0;
    ch->events = (uint8_t)events;
    r = eddy__loop_update_channel(ch->loop, ch);
    if (r < 0)
        ch->events = old;
    return r;
}

static void set_events_task(void *arg)
{
    struct set_events_task *t = arg;
    (void)update_events(t->ch, t->add, t->clear);
    free(t);
}

static int change_events(struct eddy_channel *ch, int add, int clear)
{
    struct set_events_task *t;
    int r;

    if (eddy_event_loop_is_in_loop_thread(ch->loop))
        return update_events(ch, add, clear);
    t = malloc(sizeof(*t));
    if (t == NULL)
        return -ENOMEM;
    t->ch = ch;
    t->add = add;
    t->clear = clear;
    r = eddy_event_loop_queue_in_loop(ch->loop, set_events_task, t);
    if (r < 0)
        free(t);
    return r;
}

int eddy_channel_set_events(struct eddy_channel *ch, int events)
{
    return change_events(ch, events, ~events);
}

int eddy_channel_enable_reading(struct eddy_channel *ch)
{
    return change_events(ch, EDDY_EV_READ, 0);
}

int eddy_channel_disable_reading(struct eddy_channel *ch)
{
    return change_events(ch, 0, EDDY_EV_READ);
}

int eddy_channel_enable_writing(struct eddy_channel *ch)
{
    return change_events(ch, EDDY_EV_WRITE, 0);
}

int eddy_channel_disable_writing(struct eddy_channel *ch)
{
    return change_events(ch, 0, EDDY_EV_WRITE);
}

static void remove_task(void *arg)
{
    struct eddy_channel *ch = arg;
    eddy__loop_remove_channel(ch->loop, ch, 0);
}

void eddy_channel_remove(struct eddy_channel *ch)
{
    if (eddy_event_loop_is_in_loop_thread(ch->loop)) {
        eddy__loop_remove_channel(ch->loop, ch, 0);
        return;
    }
    /* Nothing sane to do on -ENOMEM from another thread: the channel would stay
     * registered with a loop that may outlive it. */
    if (eddy_event_loop_queue_in_loop(ch->loop, remove_task, ch) < 0)
        abort();
}

void eddy__channel_remove_before_close(struct eddy_channel *ch)
{
    eddy__loop_remove_channel(ch->loop, ch, 1);
}
