/*
 * acceptor: a listening socket watched by a loop. On readiness it accepts in a
 * loop (accept4, non-blocking, close-on-exec) up to a cap per wake-up and hands
 * each new fd to the callback, which owns it from then on.
 *
 * When the process runs out of descriptors (EMFILE/ENFILE) the acceptor closes
 * a reserve fd it kept, accepts the pending connection, closes it at once, and
 * re-opens the reserve (libuv's trick), so a full fd table never makes the
 * loop spin on a listening socket that stays readable.
 */
#ifndef EDDY_ACCEPTOR_H
#define EDDY_ACCEPTOR_H

#include <sys/socket.h>

#include "eddy/inet.h"

#ifdef __cplusplus
extern "C" {
#endif

struct eddy_event_loop;
struct eddy_acceptor;

/* fd: the accepted connection, now owned by the callee. */
typedef void (*eddy_acceptor_cb)(struct eddy_acceptor *a, int fd, const struct sockaddr *peer,
                                 socklen_t peer_len, void *data);
/* Optional: called after each burst of accepts (with the callback's data), so a
 * callee can batch work per burst, e.g. one wake-up per sub-loop. */
typedef void (*eddy_acceptor_burst_cb)(struct eddy_acceptor *a, void *data);

struct eddy_acceptor_options {
    int backlog;      /* listen() backlog; 0: 511 */
    int reuseport;    /* SO_REUSEPORT */
    int max_accepts;  /* per wake-up; 0: 64 */
    int defer_accept; /* TCP_DEFER_ACCEPT seconds: a connection is accepted once its
                       * first bytes arrived (or after about this long); 0: off */
    eddy_acceptor_burst_cb on_burst_end; /* may be NULL */
    int delayed_ack;                     /* TCP_QUICKACK off, inherited by accepted sockets */
};

/* Creates, binds (SO_REUSEADDR; IPV6_V6ONLY for IPv6) and listens. Accepting
 * starts with eddy_acceptor_start. opts may be NULL. 0 or -errno
 * (-EADDRINUSE, -EACCES, ...). */
int eddy_acceptor_new(struct eddy_acceptor **out, struct eddy_event_loop *loop,
                      const struct sockaddr *addr, socklen_t len,
                      const struct eddy_acceptor_options *opts, eddy_acceptor_cb cb, void *data);
/* Owner loop thread. 0 or -errno. */
int eddy_acceptor_start(struct eddy_acceptor *a);
/* Stops accepting and closes the listening socket (graceful shutdown). Owner loop thread. */
void eddy_acceptor_stop(struct eddy_acceptor *a);
/* The bound address (useful after binding port 0). */
int eddy_acceptor_local_addr(const struct eddy_acceptor *a, union eddy_sockaddr *out);
/* Connections closed at once because descriptors ran out. */
unsigned long eddy_acceptor_dropped(const struct eddy_acceptor *a);
void eddy_acceptor_free(struct eddy_acceptor *a);

#ifdef __cplusplus
}
#endif

#endif
