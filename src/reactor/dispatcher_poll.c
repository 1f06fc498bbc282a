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
#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

#include "eddy/channel.h"

struct poll_state {
    struct pollfd *pfds;
    int npfds;
    int cap;
    int *slot; /* fd -> index in pfds, -1 if absent */
    int nslots;
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
    free(s->pfds);
    free(s->slot);
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

static int slot_of(const struct poll_state *s, int fd)
{
    return fd >= 0 && fd < s->nslots ? s->slot[fd] : -1;
}

static int reserve(struct poll_state *s, int fd)
{
    if (fd >= s->nslots) {
        size_t n = s->nslots > 0 ? (size_t)s->nslots : 64;
        int *p;
        while (n <= (size_t)fd)
            n *= 2;
        if (n > INT_MAX)
            n = (size_t)fd + 1;
        p = realloc(s->slot, n * sizeof(*p));
        if (p == NULL)
            return -ENOMEM;
        memset(p + s->nslots, 0xff, (n - (size_t)s->nslots) * sizeof(*p));
        s->slot = p;
        s->nslots = (int)n;
    }
    if (s->npfds == s->cap) {
        int cap = s->cap ? s->cap * 2 : 64;
        struct pollfd *p = realloc(s->pfds, (size_t)cap * sizeof(*p));
        if (p == NULL)
            return -ENOMEM;
        s->pfds = p;
        s->cap = cap;
    }
    return 0;
}

static int poll_add(void *state, int fd, int events)
{
    struct poll_state *s = state;
    int r;

    if (fd < 0)
        return -EBADF;
    if (slot_of(s, fd) >= 0)
        return -EEXIST;
    r = reserve(s, fd);
    if (r < 0)
        return r;
    s->pfds[s->npfds].fd = fd;
    s->pfds[s->npfds].events = to_poll(events);
    s->pfds[s->npfds].revents = 0;
    s->slot[fd] = s->npfds++;
    return 0;
}

static int poll_mod(void *state, int fd, int old_events, int events)
{
    struct poll_state *s = state;
    int i = slot_of(s, fd);
    (void)old_events;
    if (i < 0)
        return -ENOENT;
    s->pfds[i].events = to_poll(events);
    return 0;
}

static int poll_del(void *state, int fd, int old_events)
{
    struct poll_state *s = state;
    int i = slot_of(s, fd);
    int last;
    (void)old_events;
    if (i < 0)
        return -ENOENT;
    last = --s->npfds;
    if (i != last) {
        s->pfds[i] = s->pfds[last];
        s->slot[s->pfds[i].fd] = i;
    }
    s->slot[fd] = -1;
    return 0;
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

    n = poll(s->pfds, (nfds_t)s->npfds, timeout_ms);
    if (n < 0)
        return errno == EINTR ? 0 : -errno;
    /* Fired entries past max are reported by the next (level-triggered) poll. */
    for (i = 0; i < s->npfds && k < n && k < max; i++) {
        if (s->pfds[i].revents == 0)
            continue;
        out[k].fd = s->pfds[i].fd;
        out[k].revents = from_poll(s->pfds[i].revents);
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
