/*
 * event_dispatcher: the I/O multiplexing backend of an event_loop, one per
 * file (dispatcher_epoll.c, dispatcher_poll.c, dispatcher_select.c) behind a
 * const table of operations, chosen at run time by name, so kernel epoll,
 * poll, select and uepoll live in one binary. What a backend can do is stated
 * by flags in its table, so callers never compare names or pointers.
 *
 * Backends report (fd, revents) pairs, not channel pointers: the loop looks
 * channels up in its channel_map at dispatch time, which is what makes removal
 * during a batch safe.
 */
#ifndef EDDY_EVENT_DISPATCHER_H
#define EDDY_EVENT_DISPATCHER_H

#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

struct eddy_fired_event {
    int fd;
    int revents; /* EDDY_EV_* */
};

/* What a backend does; the library decides by these, never by a backend's name. */
/* Reports edges: consumers must read/write until EAGAIN. */
#define EDDY_DISP_EDGE_TRIGGERED 0x1u
/* Closing a descriptor drops its registration by itself (kernel epoll), so a
 * descriptor closed right after its removal needs no unregistering call. */
#define EDDY_DISP_CLOSE_UNREGISTERS 0x2u
/* Watches kernel descriptors too, next to descriptors of its own kind (the uepoll
 * backends): add/mod/del get EDDY_DISP_KERNEL_FD or'ed into their events for such
 * a descriptor, and dispatch reports its events with the same bit. */
#define EDDY_DISP_KERNEL_FDS 0x4u
#define EDDY_DISP_KERNEL_FD  (1 << 8)

/* The kind of descriptor a backend watches. */
enum eddy_fd_kind {
    EDDY_FD_KERNEL = 0, /* kernel file descriptors */
    EDDY_FD_UEPOLL = 1, /* uepoll descriptors (eddy/uepoll.h): never passed to the kernel */
};

/* The calls that work on descriptors of one kind, with the signatures and the
 * -1/errno convention of the Linux calls they are named after: the loop makes
 * its wake-up with them, and tests and programs that run on either kind use them. */
struct eddy_fd_io {
    int (*pipe2)(int fds[2], int flags);
    int (*eventfd)(unsigned int initval, int flags);
    ssize_t (*read)(int fd, void *buf, size_t n);
    ssize_t (*write)(int fd, const void *buf, size_t n);
    int (*close)(int fd);
};

extern const struct eddy_fd_io eddy_fd_io_kernel; /* pipe2, eventfd, read, write, close */
extern const struct eddy_fd_io eddy_fd_io_uepoll; /* ue_pipe2, ue_eventfd, ... */

struct eddy_event_dispatcher {
    const char *name;
    unsigned flags;              /* EDDY_DISP_* */
    enum eddy_fd_kind kind;      /* of the descriptors given to add/mod/del */
    const struct eddy_fd_io *io; /* the calls for descriptors of that kind */
    /* Largest descriptor add accepts (-ERANGE beyond), or -1: no limit of its own. */
    int max_fd;
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

extern const struct eddy_event_dispatcher eddy_dispatcher_epoll;     /* "epoll", level-triggered */
extern const struct eddy_event_dispatcher eddy_dispatcher_epoll_et;  /* "epoll-et" */
extern const struct eddy_event_dispatcher eddy_dispatcher_poll;      /* "poll" */
extern const struct eddy_event_dispatcher eddy_dispatcher_select;    /* "select" */
extern const struct eddy_event_dispatcher eddy_dispatcher_uepoll;    /* "uepoll", level-triggered */
extern const struct eddy_event_dispatcher eddy_dispatcher_uepoll_et; /* "uepoll-et" */

/* The one list of backends, the default first, NULL-terminated. */
const struct eddy_event_dispatcher *const *eddy_event_dispatcher_list(void);
/* The backend called name; NULL or "" gives the default ("epoll"). NULL if unknown. */
const struct eddy_event_dispatcher *eddy_event_dispatcher_find(const char *name);
/* NULL-terminated names of the backends that can watch kernel descriptors (their
 * own kind, or EDDY_DISP_KERNEL_FDS: every one a server on kernel sockets can
 * use, uepoll included), in list order: for --help texts and option parsing. */
const char *const *eddy_event_dispatcher_names(void);

#ifdef __cplusplus
}
#endif

#endif
