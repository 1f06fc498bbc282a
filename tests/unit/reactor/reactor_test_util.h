/* Helpers shared by the reactor's event loop tests (static: one copy per test binary). */
#ifndef EDDY_REACTOR_TEST_UTIL_H
#define EDDY_REACTOR_TEST_UTIL_H

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "eddy/channel.h"
#include "eddy/event_loop.h"
#include "eddy/timer.h"
#include "../../lib/test.h"

static const char *const backends[]
    __attribute__((unused)) = {"epoll", "epoll-et", "poll", "select"};
#define NBACKENDS 4
#define FOR_EACH_BACKEND(b)                                                                        \
    for (int bi_ = 0; bi_ < NBACKENDS && !eddy_test_failed(); bi_++)                               \
        for (const char *b = backends[bi_]; b; b = NULL)

struct conn {
    struct eddy_channel ch;
    int peer; /* the other end, or -1 */
    int calls;
    int last; /* revents of the last callback */
    int all;  /* union of revents seen */
    int do_read;
    int stop_after;
};

static inline void stop_cb(struct eddy_timer *t)
{
    eddy_event_loop_stop(t->loop);
}

static inline int run_for(struct eddy_event_loop *loop, uint64_t ms)
{
    struct eddy_timer stop;
    int r;
    eddy_timer_init(&stop, loop, stop_cb, NULL);
    eddy_timer_start(&stop, ms, 0);
    r = eddy_event_loop_run(loop);
    eddy_timer_stop(&stop);
    return r;
}

static inline void stop_task(void *arg)
{
    eddy_event_loop_stop(arg);
}

/* Exactly one iteration that does not block: a queued task makes the wait 0. */
static inline int run_once(struct eddy_event_loop *loop)
{
    uint64_t it = eddy_event_loop_iterations(loop);
    int r;
    eddy_event_loop_queue_in_loop(loop, stop_task, loop);
    r = eddy_event_loop_run(loop);
    return eddy_event_loop_iterations(loop) == it + 1 ? r : -1000;
}

/* When total_target is set, conn_cb stops the loop after that many callbacks in all. */
static int total_calls __attribute__((unused));
static int total_target __attribute__((unused));

static inline void conn_cb(struct eddy_channel *ch, int revents)
{
    struct conn *c = ch->data;
    char buf[256];
    c->calls++;
    c->last = revents;
    c->all |= revents;
    if (c->do_read && (revents & EDDY_EV_READ))
        while (read(ch->fd, buf, sizeof(buf)) > 0)
            ;
    if (c->stop_after && c->calls == c->stop_after)
        eddy_event_loop_stop(ch->loop);
    if (total_target && ++total_calls == total_target)
        eddy_event_loop_stop(ch->loop);
}

static inline void conn_init(struct conn *c, struct eddy_event_loop *loop, int fd, int peer)
{
    memset(c, 0, sizeof(*c));
    c->peer = peer;
    eddy_channel_init(&c->ch, loop, fd, conn_cb, c);
}

static inline int nb_socketpair(int sv[2])
{
    return socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv);
}

#endif
