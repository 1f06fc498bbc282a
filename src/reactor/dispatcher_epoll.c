/*
 * dispatcher_epoll: kernel epoll, level-triggered ("epoll") and
 * edge-triggered ("epoll-et"); the two differ only in EPOLLET.
 *
 * Event mapping: EPOLLIN -> READ, EPOLLOUT -> WRITE, EPOLLERR -> ERROR,
 * EPOLLHUP -> HUP. HUP therefore means a full hang-up (both directions of a
 * socket, or a pipe's last writer gone). EPOLLRDHUP is not asked for: a peer's
 * half-close always shows as EPOLLIN and the read returns end of file, so
 * mapping it to HUP would only make a half-closed peer that still waits for
 * answers look like a dead one.
 */
#include "eddy/event_dispatcher.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "eddy/channel.h"
#include "reactor/epoll_events.h"

struct epoll_state {
    int epfd;
    int cap;
    struct epoll_event *evs;
};

static int epoll_init(void **state)
{
    struct epoll_state *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return -ENOMEM;
    s->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (s->epfd < 0) {
        int r = -errno;
        free(s);
        return r;
    }
    *state = s;
    return 0;
}

static void epoll_destroy(void *state)
{
    struct epoll_state *s = state;
    close(s->epfd);
    free(s->evs);
    free(s);
}

static int ctl(struct epoll_state *s, int op, int fd, uint32_t events)
{
    struct epoll_event ev;
    ev.events = events;
    ev.data.u64 = 0;
    ev.data.fd = fd;
    return epoll_ctl(s->epfd, op, fd, &ev) < 0 ? -errno : 0;
}

static int lt_add(void *state, int fd, int events)
{
    return ctl(state, EPOLL_CTL_ADD, fd, to_epoll_events(events, 0));
}

static int lt_mod(void *state, int fd, int old_events, int events)
{
    (void)old_events;
    return ctl(state, EPOLL_CTL_MOD, fd, to_epoll_events(events, 0));
}

static int et_add(void *state, int fd, int events)
{
    return ctl(state, EPOLL_CTL_ADD, fd, to_epoll_events(events, EPOLLET));
}

static int et_mod(void *state, int fd, int old_events, int events)
{
    (void)old_events;
    return ctl(state, EPOLL_CTL_MOD, fd, to_epoll_events(events, EPOLLET));
}

static int epoll_del(void *state, int fd, int old_events)
{
    struct epoll_state *s = state;
    (void)old_events;
    /* ENOENT/EBADF: already gone (closed fd); the registration no longer exists. */
    if (epoll_ctl(s->epfd, EPOLL_CTL_DEL, fd, NULL) < 0 && errno != ENOENT && errno != EBADF)
        return -errno;
    return 0;
}

static int epoll_dispatch(void *state, int timeout_ms, struct eddy_fired_event *out, int max)
{
    struct epoll_state *s = state;
    int n, i;

    if (max > s->cap) {
        struct epoll_event *p = realloc(s->evs, (size_t)max * sizeof(*p));
        if (p == NULL) {
            if (s->cap == 0)
                return -ENOMEM;
            max = s->cap;
        } else {
            s->evs = p;
            s->cap = max;
        }
    }
    n = epoll_wait(s->epfd, s->evs, max, timeout_ms);
    if (n < 0)
        return errno == EINTR ? 0 : -errno;
    for (i = 0; i < n; i++) {
        out[i].fd = s->evs[i].data.fd;
        out[i].revents = from_epoll_events(s->evs[i].events);
    }
    return n;
}

const struct eddy_event_dispatcher eddy_dispatcher_epoll = {
    .name = "epoll",
    .flags = EDDY_DISP_CLOSE_UNREGISTERS,
    .kind = EDDY_FD_KERNEL,
    .io = &eddy_fd_io_kernel,
    .max_fd = -1,
    .init = epoll_init,
    .destroy = epoll_destroy,
    .add = lt_add,
    .mod = lt_mod,
    .del = epoll_del,
    .dispatch = epoll_dispatch,
};

const struct eddy_event_dispatcher eddy_dispatcher_epoll_et = {
    .name = "epoll-et",
    .flags = EDDY_DISP_EDGE_TRIGGERED | EDDY_DISP_CLOSE_UNREGISTERS,
    .kind = EDDY_FD_KERNEL,
    .io = &eddy_fd_io_kernel,
    .max_fd = -1,
    .init = epoll_init,
    .destroy = epoll_destroy,
    .add = et_add,
    .mod = et_mod,
    .del = epoll_del,
    .dispatch = epoll_dispatch,
};
