/*
 * dispatcher_poll: poll(2) over a dense pollfd array. An fd -> slot index
 * makes mod O(1) and del a swap-remove with the last slot, so no call searches.
 *
 * Event mapping (as for epoll): POLLIN -> READ, POLLOUT -> WRITE, POLLERR and
 * POLLNVAL (an fd closed while registered) -> ERROR, POLLHUP -> HUP. A peer's
 * half-close is READ (the read returns end of file), not HUP.
 */
#include "eddy/event_dispatcher.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>

#include "eddy/channel.h"
#include "reactor/pollfd_set.h"

struct poll_state {
    struct eddy__pollfd_set set;
};

static int poll_init(void **state)
{
    struct poll_state *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return -ENOMEM;
    *state = s;
    return 0;
}

static void poll_destroy(void *state)
{
    struct poll_state *s = state;
    eddy__pollfd_set_free(&s->set);
    free(s);
}

static short to_poll(int events)
{
    short e = 0;
    if (events & EDDY_EV_READ)
        e |= POLLIN;
    if (events & EDDY_EV_WRITE)
        e |= POLLOUT;
    return e;
}

static int poll_add(void *state, int fd, int events)
{
    return eddy__pollfd_set_add(&((struct poll_state *)state)->set, fd, to_poll(events));
}

static int poll_mod(void *state, int fd, int old_events, int events)
{
    (void)old_events;
    return eddy__pollfd_set_mod(&((struct poll_state *)state)->set, fd, to_poll(events));
}

static int poll_del(void *state, int fd, int old_events)
{
    (void)old_events;
    return eddy__pollfd_set_del(&((struct poll_state *)state)->set, fd);
}

static int from_poll(short e)
{
    int r = 0;
    if (e & POLLIN)
        r |= EDDY_EV_READ;
    if (e & POLLOUT)
        r |= EDDY_EV_WRITE;
    if (e & (POLLERR | POLLNVAL))
        r |= EDDY_EV_ERROR;
    if (e & POLLHUP)
        r |= EDDY_EV_HUP;
    return r;
}

static int poll_dispatch(void *state, int timeout_ms, struct eddy_fired_event *out, int max)
{
    struct poll_state *s = state;
    int n, i, k = 0;

    n = poll(s->set.pfds, (nfds_t)s->set.n, timeout_ms);
    if (n < 0)
        return errno == EINTR ? 0 : -errno;
    /* Fired entries past max are reported by the next (level-triggered) poll. */
    for (i = 0; i < s->set.n && k < n && k < max; i++) {
        if (s->set.pfds[i].revents == 0)
            continue;
        out[k].fd = s->set.pfds[i].fd;
        out[k].revents = from_poll(s->set.pfds[i].revents);
        k++;
    }
    return k;
}

const struct eddy_event_dispatcher eddy_dispatcher_poll = {
    .name = "poll",
    .flags = 0,
    .kind = EDDY_FD_KERNEL,
    .io = &eddy_fd_io_kernel,
    .max_fd = -1,
    .init = poll_init,
    .destroy = poll_destroy,
    .add = poll_add,
    .mod = poll_mod,
    .del = poll_del,
    .dispatch = poll_dispatch,
};
