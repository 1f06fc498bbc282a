/*
 * dispatcher_uepoll: the loop's descriptors are uepoll descriptors (eddy's own
 * epoll in user space, src/uepoll), level-triggered ("uepoll") or
 * edge-triggered ("uepoll-et"). With it a loop runs entirely in user space:
 * its wake-up is a uepoll eventfd (the loop makes it through the table's io),
 * and a thread blocked here sleeps on a futex, not in epoll_wait.
 *
 * The event mapping is dispatcher_epoll's: IN -> READ, OUT -> WRITE,
 * ERR -> ERROR, HUP -> HUP, and no RDHUP.
 *
 * Kernel descriptors beside uepoll ones (EDDY_DISP_KERNEL_FDS: a TAP device for
 * eddy's TCP/IP stack, a signalfd) sit in a kernel epoll made on first use. As long
 * as one is registered, a wait that finds nothing ready in uepoll arms a one-shot
 * notifier on the uepoll epoll (ue_epoll_notify_arm) and blocks in the kernel on
 * those descriptors plus a kernel eventfd that the notifier writes: so a uepoll
 * event raised by another thread (the loop's wake-up, a pipe) ends the kernel wait,
 * and the loop's timeout bounds it as usual. Without kernel descriptors the wait is
 * ue_epoll_wait alone and costs no system call.
 */
#include "eddy/event_dispatcher.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "eddy/channel.h"
#include "reactor/epoll_events.h"
#include "eddy/uepoll.h"

struct uepoll_state {
    int epfd; /* a uepoll descriptor */
    int cap;
    struct epoll_event *evs;
    uint32_t et; /* EPOLLET or 0 */
    /* The kernel side, -1 until a kernel descriptor is registered. */
    int kepfd;  /* kernel epoll of the kernel descriptors and of bridge */
    int bridge; /* kernel eventfd written by the uepoll notifier */
    int nkernel;
    struct epoll_event *kevs;
};

#define BRIDGE_TAG UINT64_MAX /* data of the bridge in kepfd: no descriptor has it */

static int uep_init_common(void **state, uint32_t et)
{
    struct uepoll_state *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return -ENOMEM;
    s->et = et;
    s->kepfd = s->bridge = -1;
    s->epfd = ue_epoll_create1(EPOLL_CLOEXEC);
    if (s->epfd < 0) {
        int r = -errno;
        free(s);
        return r;
    }
    *state = s;
    return 0;
}

static int lt_init(void **state)
{
    return uep_init_common(state, 0);
}

static int et_init(void **state)
{
    return uep_init_common(state, EPOLLET);
}

static void uep_destroy(void *state)
{
    struct uepoll_state *s = state;
    ue_close(s->epfd);
    if (s->kepfd >= 0)
        close(s->kepfd);
    if (s->bridge >= 0)
        close(s->bridge);
    free(s->evs);
    free(s->kevs);
    free(s);
}

/* The kernel epoll and its bridge eventfd, made when the first kernel fd comes. */
static int kernel_side(struct uepoll_state *s)
{
    struct epoll_event ev;
    if (s->kepfd >= 0)
        return 0;
    s->kepfd = epoll_create1(EPOLL_CLOEXEC);
    s->bridge = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    ev.events = EPOLLIN;
    ev.data.u64 = BRIDGE_TAG;
    if (s->kepfd < 0 || s->bridge < 0 || epoll_ctl(s->kepfd, EPOLL_CTL_ADD, s->bridge, &ev) < 0) {
        int r = -errno;
        if (s->kepfd >= 0)
            close(s->kepfd);
        if (s->bridge >= 0)
            close(s->bridge);
        s->kepfd = s->bridge = -1;
        return r;
    }
    return 0;
}

static int ctl(struct uepoll_state *s, int op, int fd, int events)
{
    struct epoll_event ev;
    int kernel = (events & EDDY_DISP_KERNEL_FD) != 0;
    ev.events = to_epoll_events(events, s->et);
    ev.data.u64 = 0;
    ev.data.fd = fd;
    if (!kernel)
        return ue_epoll_ctl(s->epfd, op, fd, &ev) < 0 ? -errno : 0;
    if (op == EPOLL_CTL_ADD) {
        int r = kernel_side(s);
        if (r < 0)
            return r;
    }
    if (epoll_ctl(s->kepfd, op, fd, &ev) < 0)
        return -errno;
    s->nkernel += op == EPOLL_CTL_ADD;
    return 0;
}

static int uep_add(void *state, int fd, int events)
{
    return ctl(state, EPOLL_CTL_ADD, fd, events);
}

static int uep_mod(void *state, int fd, int old_events, int events)
{
    (void)old_events;
    return ctl(state, EPOLL_CTL_MOD, fd, events);
}

static int uep_del(void *state, int fd, int old_events)
{
    struct uepoll_state *s = state;
    int r;
    if (old_events & EDDY_DISP_KERNEL_FD) {
        s->nkernel--; /* the loop always unregisters these, even right before a close */
        r = epoll_ctl(s->kepfd, EPOLL_CTL_DEL, fd, NULL);
    } else {
        r = ue_epoll_ctl(s->epfd, EPOLL_CTL_DEL, fd, NULL);
    }
    /* ENOENT/EBADF: already gone with its file; the registration no longer exists. */
    if (r < 0 && errno != ENOENT && errno != EBADF)
        return -errno;
    return 0;
}

/* Makes room for max events in both arrays; returns how many fit. */
static int reserve(struct uepoll_state *s, int max)
{
    struct epoll_event *p, *k;
    if (max <= s->cap)
        return max;
    p = realloc(s->evs, (size_t)max * sizeof(*p));
    if (p != NULL)
        s->evs = p;
    k = p != NULL ? realloc(s->kevs, (size_t)max * sizeof(*k)) : NULL;
    if (k != NULL) {
        s->kevs = k;
        s->cap = max;
    }
    return s->cap;
}

/* Appends the kernel events (tagged) after n uepoll ones; drains the bridge. */
static int harvest_kernel(struct uepoll_state *s, int timeout_ms, struct eddy_fired_event *out,
                          int n, int max)
{
    int k, i;
    uint64_t v;
    if (n >= max)
        return n;
    k = epoll_wait(s->kepfd, s->kevs, max - n, timeout_ms);
    if (k < 0)
        return errno == EINTR ? n : -errno;
    for (i = 0; i < k; i++) {
        if (s->kevs[i].data.u64 == BRIDGE_TAG) {
            while (read(s->bridge, &v, sizeof(v)) < 0 && errno == EINTR)
                ;
            continue;
        }
        out[n].fd = s->kevs[i].data.fd;
        out[n].revents = from_epoll_events(s->kevs[i].events) | EDDY_DISP_KERNEL_FD;
        n++;
    }
    return n;
}

static int harvest_uepoll(struct uepoll_state *s, int timeout_ms, struct eddy_fired_event *out,
                          int max)
{
    int n = ue_epoll_wait(s->epfd, s->evs, max, timeout_ms), i;
    if (n < 0)
        return errno == EINTR ? 0 : -errno;
    for (i = 0; i < n; i++) {
        out[i].fd = s->evs[i].data.fd;
        out[i].revents = from_epoll_events(s->evs[i].events);
    }
    return n;
}

static int uep_dispatch(void *state, int timeout_ms, struct eddy_fired_event *out, int max)
{
    struct uepoll_state *s = state;
    int n, ready;

    max = reserve(s, max);
    if (max == 0)
        return -ENOMEM;
    if (s->nkernel == 0)
        return harvest_uepoll(s, timeout_ms, out, max);
    n = harvest_uepoll(s, 0, out, max);
    if (n != 0 || timeout_ms == 0)
        return n < 0 ? n : harvest_kernel(s, 0, out, n, max);
    /* Nothing ready in uepoll: block in the kernel, woken by uepoll through the bridge. */
    ready = ue_epoll_notify_arm(s->epfd, s->bridge); /* 1: ready already, not armed */
    if (ready < 0)
        return -errno;
    n = harvest_kernel(s, ready ? 0 : timeout_ms, out, 0, max);
    if (!ready)
        ue_epoll_notify_disarm(s->epfd);
    if (n < 0 || n >= max)
        return n;
    /* Whatever uepoll raised meanwhile goes in the same batch. */
    {
        int u = harvest_uepoll(s, 0, out + n, max - n);
        return u < 0 ? u : n + u;
    }
}

/* uepoll drops a registration when the file's last descriptor closes, as Linux does. */
const struct eddy_event_dispatcher eddy_dispatcher_uepoll = {
    .name = "uepoll",
    .flags = EDDY_DISP_CLOSE_UNREGISTERS | EDDY_DISP_KERNEL_FDS,
    .kind = EDDY_FD_UEPOLL,
    .io = &eddy_fd_io_uepoll,
    .max_fd = -1,
    .init = lt_init,
    .destroy = uep_destroy,
    .add = uep_add,
    .mod = uep_mod,
    .del = uep_del,
    .dispatch = uep_dispatch,
};

const struct eddy_event_dispatcher eddy_dispatcher_uepoll_et = {
    .name = "uepoll-et",
    .flags = EDDY_DISP_EDGE_TRIGGERED | EDDY_DISP_CLOSE_UNREGISTERS | EDDY_DISP_KERNEL_FDS,
    .kind = EDDY_FD_UEPOLL,
    .io = &eddy_fd_io_uepoll,
    .max_fd = -1,
    .init = et_init,
    .destroy = uep_destroy,
    .add = uep_add,
    .mod = uep_mod,
    .del = uep_del,
    .dispatch = uep_dispatch,
};
