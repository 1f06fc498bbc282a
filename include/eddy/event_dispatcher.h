/*
 * event_dispatcher: the I/O multiplexing backend of an event_loop, one per
 * file (dispatcher_epoll.c, dispatcher_poll.c, dispatcher_select.c) behind a
 * const table of operations, chosen at run time by name, so kernel epoll,
 * poll, select (and later uepoll) live in one binary.
 *
 * Backends report (fd, revents) pairs, not channel pointers: the loop looks
 * channels up in its channel_map at dispatch time, which is what makes removal
 * during a batch safe.
 */
#ifndef EDDY_EVENT_DISPATCHER_H
#define EDDY_EVENT_DISPATCHER_H

#ifdef __cplusplus
extern "C" {
#endif

struct eddy_fired_event {
    int fd;
    int revents; /* EDDY_EV_* */
};

struct eddy_event_dispatcher {
    const char *name;
    /* 1 if the backend reports edges: consumers must read/write until EAGAIN. */
    int edge_triggered;
    /* Allocates backend state. 0 or -errno. */
    int (*init)(void **state);
    void (*destroy)(void *state);
    /* events: EDDY_EV_READ | EDDY_EV_WRITE (may be 0 for mod). 0 or -errno. */
    int (*add)(void *state, int fd, int events);
    int (*mod)(void *state, int fd, int old_events, int events);
    int (*del)(void *state, int fd, int old_events);
    /* Waits up to timeout_ms (-1: forever, 0: poll) and fills at most max events.
     * Returns the count (0 on timeout or EINTR) or -errno. */
    int (*dispatch)(void *state, int timeout_ms, struct eddy_fired_event *out, int max);
};

extern const struct eddy_event_dispatcher eddy_dispatcher_epoll;    /* "epoll", level-triggered */
extern const struct eddy_event_dispatcher eddy_dispatcher_epoll_et; /* "epoll-et" */
extern const struct eddy_event_dispatcher eddy_dispatcher_poll;     /* "poll" */
extern const struct eddy_event_dispatcher eddy_dispatcher_select;   /* "select" */

/* The backend called name; NULL or "" gives the default ("epoll"). NULL if unknown. */
const struct eddy_event_dispatcher *eddy_event_dispatcher_find(const char *name);
/* NULL-terminated list of the backend names, for --help texts. */
const char *const *eddy_event_dispatcher_names(void);

#ifdef __cplusplus
}
#endif

#endif
