/*
 * dispatcher_select: select(2), for portability tests and tiny fd counts.
 * An fd_set holds only FD_SETSIZE bits, so fds at or above it are refused
 * with -ERANGE before any FD_SET could write out of bounds.
 *
 * select reports readiness only: an error or hang-up shows as READ (a read
 * then returns it), and nothing is reported for an fd with no interest.
 */
#include "eddy/event_dispatcher.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>

#include "eddy/channel.h"

struct select_state {
    fd_set rd, wr;         /* interest */
    fd_set rd_out, wr_out; /* results of the last select */
    int maxfd;             /* highest registered fd, -1 if none */
    unsigned char reg[FD_SETSIZE];
};

static int select_init(void **state)
{
    struct select_state *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return -ENOMEM;
    FD_ZERO(&s->rd);
    FD_ZERO(&s->wr);
    s->maxfd = -1;
    *state = s;
    return 0;
}

static void select_destroy(void *state)
{
    free(state);
}

static int check_fd(int fd)
{
    if (fd < 0)
        return -EBADF;
    if (fd >= FD_SETSIZE)
        return -ERANGE;
    return 0;
}

static void set_interest(struct select_state *s, int fd, int events)
{
    if (events & EDDY_EV_READ)
        FD_SET(fd, &s->rd);
    else
        FD_CLR(fd, &s->rd);
    if (events & EDDY_EV_WRITE)
        FD_SET(fd, &s->wr);
    else
        FD_CLR(fd, &s->wr);
}

static int select_add(void *state, int fd, int events)
{
    struct select_state *s = state;
    int r = check_fd(fd);
    if (r < 0)
        return r;
    if (s->reg[fd])
        return -EEXIST;
    s->reg[fd] = 1;
    set_interest(s, fd, events);
    if (fd > s->maxfd)
        s->maxfd = fd;
    return 0;
}

static int select_mod(void *state, int fd, int old_events, int events)
{
    struct select_state *s = state;
    int r = check_fd(fd);
    (void)old_events;
    if (r < 0)
        return r;
    if (!s->reg[fd])
        return -ENOENT;
    set_interest(s, fd, events);
    return 0;
}

static int select_del(void *state, int fd, int old_events)
{
    struct select_state *s = state;
    int r = check_fd(fd);
    (void)old_events;
    if (r < 0)
        return r;
    if (!s->reg[fd])
        return -ENOENT;
    s->reg[fd] = 0;
    set_interest(s, fd, 0);
    while (s->maxfd >= 0 && !s->reg[s->maxfd])
        s->maxfd--;
    return 0;
}

static int select_dispatch(void *state, int timeout_ms, struct eddy_fired_event *out, int max)
{
    struct select_state *s = state;
    struct timeval tv, *tvp = NULL;
    int n, fd, k = 0, seen = 0;

    if (timeout_ms >= 0) {
        tv.tv_sec = timeout_ms / 1000;
        tv.tv_usec = (timeout_ms % 1000) * 1000;
        tvp = &tv;
    }
    s->rd_out = s->rd;
    s->wr_out = s->wr;
    n = select(s->maxfd + 1, &s->rd_out, &s->wr_out, NULL, tvp);
    if (n < 0)
        return errno == EINTR ? 0 : -errno;
    /* n counts bits, not fds: an fd both readable and writable counts twice. */
    for (fd = 0; fd <= s->maxfd && seen < n && k < max; fd++) {
        int ev = 0;
        if (FD_ISSET(fd, &s->rd_out))
            ev |= EDDY_EV_READ, seen++;
        if (FD_ISSET(fd, &s->wr_out))
            ev |= EDDY_EV_WRITE, seen++;
        if (ev == 0)
            continue;
        out[k].fd = fd;
        out[k].revents = ev;
        k++;
    }
    return k;
}

const struct eddy_event_dispatcher eddy_dispatcher_select = {
    .name = "select",
    .flags = 0,
    .kind = EDDY_FD_KERNEL,
    .io = &eddy_fd_io_kernel,
    .max_fd = FD_SETSIZE - 1,
    .init = select_init,
    .destroy = select_destroy,
    .add = select_add,
    .mod = select_mod,
    .del = select_del,
    .dispatch = select_dispatch,
};
