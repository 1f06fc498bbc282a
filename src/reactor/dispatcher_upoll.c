/*
 * dispatcher_upoll ("upoll"): poll's semantics over uepoll descriptors, for measuring
 * what epoll's ready list saves. Every dispatch hands the whole registration array to
 * ue_poll_kernel, which calls every file's poll method (and, to sleep, hooks every
 * file's wait queue), as the kernel's poll does; nothing is remembered between calls.
 * Kernel descriptors beside them (EDDY_DISP_KERNEL_FDS: a TAP or shmlink doorbell, a
 * signalfd) sit in a second array that the same call polls in the kernel.
 *
 * Bookkeeping is dispatcher_poll's (reactor/pollfd_set.h), one set per kind.
 */
#include "eddy/event_dispatcher.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>

#include "eddy/channel.h"
#include "eddy/uepoll.h"
#include "reactor/pollfd_set.h"

struct upoll_state {
    struct eddy__pollfd_set ue, kernel;
};

static int up_init(void **state)
{
    struct upoll_state *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return -ENOMEM;
    *state = s;
    return 0;
}

static void up_destroy(void *state)
{
    struct upoll_state *s = state;
    eddy__pollfd_set_free(&s->ue);
    eddy__pollfd_set_free(&s->kernel);
    free(s);
}

static short to_poll(int events)
{
    return (short)(((events & EDDY_EV_READ) ? POLLIN : 0) |
                   ((events & EDDY_EV_WRITE) ? POLLOUT : 0));
}

static int from_poll(short e)
{
    return ((e & POLLIN) ? EDDY_EV_READ : 0) | ((e & POLLOUT) ? EDDY_EV_WRITE : 0) |
           ((e & (POLLERR | POLLNVAL)) ? EDDY_EV_ERROR : 0) | ((e & POLLHUP) ? EDDY_EV_HUP : 0);
}

static struct eddy__pollfd_set *set_for(struct upoll_state *s, int events)
{
    return (events & EDDY_DISP_KERNEL_FD) ? &s->kernel : &s->ue;
}

static int up_add(void *state, int fd, int events)
{
    return eddy__pollfd_set_add(set_for(state, events), fd, to_poll(events));
}

static int up_mod(void *state, int fd, int old_events, int events)
{
    return eddy__pollfd_set_mod(set_for(state, old_events), fd, to_poll(events));
}

static int up_del(void *state, int fd, int old_events)
{
    return eddy__pollfd_set_del(set_for(state, old_events), fd);
}

static int harvest(const struct eddy__pollfd_set *p, int kernel, struct eddy_fired_event *out,
                   int k, int max)
{
    for (int i = 0; i < p->n && k < max; i++) {
        if (p->pfds[i].revents == 0)
            continue;
        out[k].fd = p->pfds[i].fd;
        out[k].revents = from_poll(p->pfds[i].revents) | (kernel ? EDDY_DISP_KERNEL_FD : 0);
        k++;
    }
    return k;
}

static int up_dispatch(void *state, int timeout_ms, struct eddy_fired_event *out, int max)
{
    struct upoll_state *s = state;
    int n = ue_poll_kernel(s->ue.pfds, (unsigned long)s->ue.n, s->kernel.pfds,
                           (unsigned long)s->kernel.n, timeout_ms);
    if (n < 0)
        return errno == EINTR ? 0 : -errno;
    if (n == 0)
        return 0;
    /* Fired entries past max are reported by the next (level-triggered) call. */
    return harvest(&s->kernel, 1, out, harvest(&s->ue, 0, out, 0, max), max);
}

/* A closed uepoll descriptor left registered reports POLLNVAL, as poll does; the loop
 * unregisters before closing, so no flag says closing unregisters. */
const struct eddy_event_dispatcher eddy_dispatcher_upoll = {
    .name = "upoll",
    .flags = EDDY_DISP_KERNEL_FDS,
    .kind = EDDY_FD_UEPOLL,
    .io = &eddy_fd_io_uepoll,
    .max_fd = -1,
    .init = up_init,
    .destroy = up_destroy,
    .add = up_add,
    .mod = up_mod,
    .del = up_del,
    .dispatch = up_dispatch,
};
