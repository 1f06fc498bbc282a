/*
 * tcp_server: acceptors on one or more addresses, a thread_pool of
 * sub-reactors, and the connections. The base loop (main reactor) accepts and
 * hands each connection round-robin to a sub-reactor, which owns it from then
 * on; with threads = 0 the base loop does everything.
 */
#ifndef EDDY_TCP_SERVER_H
#define EDDY_TCP_SERVER_H

#include <stddef.h>

#include "eddy/inet.h"
#include "eddy/tcp_connection.h"
#include "eddy/transport.h"

#ifdef __cplusplus
extern "C" {
#endif

struct eddy_event_loop;
struct eddy_tcp_server;

struct eddy_tcp_server_options {
    const char *backend;           /* dispatcher of the sub-reactors; NULL: the base loop's */
    int threads;                   /* sub-reactors; 0: the base loop does everything */
    int reuseport;                 /* SO_REUSEPORT on listeners */
    int backlog;                   /* 0: 511 */
    int max_connections;           /* 0: unlimited; past it, new connections are closed at once */
    int tcp_nodelay;               /* TCP_NODELAY on accepted sockets, set before a connection's
                                    * second write (the first cannot be delayed by Nagle) */
    size_t context_size;           /* per-connection user area, see eddy_tcp_connection_context */
    size_t high_water_mark;        /* queued output that triggers on_high_water, counted as
                                      eddy_tcp_connection_output_held does; 0: 4 MiB */
    int defer_accept;              /* TCP_DEFER_ACCEPT seconds on listeners (0: off); with it a new
                                    * connection is read before it is registered with its loop */
    unsigned handshake_timeout_ms; /* a connection whose transport handshake (TLS) has not
                                    * finished by then is closed; 0: none. Default 10000 */
    int delayed_ack;               /* accepted sockets start with delayed ACKs (TCP_QUICKACK off),
                                    * so the ACK of a request rides on its response */
};

/* Defaults: backend NULL, threads 0, no reuseport, backlog 511, unlimited,
 * nodelay on, no context, 4 MiB high-water mark, no defer_accept. */
void eddy_tcp_server_options_init(struct eddy_tcp_server_options *o);

/* base: the loop that accepts (the caller runs it). cb is kept by pointer and
 * must outlive the server. data: see eddy_tcp_server_data. 0 or -errno. */
int eddy_tcp_server_new(struct eddy_tcp_server **out, struct eddy_event_loop *base,
                        const struct eddy_tcp_server_options *o,
                        const struct eddy_tcp_callbacks *cb, void *data);
/* Binds and listens on "ADDR:PORT" (see eddy_sockaddr_parse); before start,
 * may be called again for more addresses. bound (may be NULL) gets the real
 * address (port 0 picks one). 0 or -errno (-EINVAL, -EADDRINUSE, ...). */
int eddy_tcp_server_listen(struct eddy_tcp_server *s, const char *addr, union eddy_sockaddr *bound);
/* eddy_tcp_server_listen whose connections get transport ops (NULL: kernel
 * sockets), opened with ops->open(t, fd, arg, EDDY_TRANSPORT_ACCEPTED) for each
 * accepted socket (TLS: arg is its context). arg must outlive the server. */
int eddy_tcp_server_listen_transport(struct eddy_tcp_server *s, const char *addr,
                                     union eddy_sockaddr *bound,
                                     const struct eddy_transport_ops *ops, void *arg);
/* Base loop thread, after start: makes the opened transport instance *t (moved
 * in: a memory end, a ustack socket, an fd opened by hand) a connection of the
 * server, as if accepted: round-robin to a loop, on_connected, the server's
 * callbacks, counted in max_connections. peer may be NULL. 0 or -errno
 * (-EMFILE past max_connections); t is closed on failure. */
int eddy_tcp_server_adopt(struct eddy_tcp_server *s, struct eddy_transport *t,
                          const struct sockaddr *peer, socklen_t peer_len);
/* Thread of eddy_tcp_server_loop_at(s, i), after start: the same, but the connection
 * belongs to that loop (for loops that accept by themselves: one ustack per loop). */
int eddy_tcp_server_adopt_at(struct eddy_tcp_server *s, int i, struct eddy_transport *t,
                             const struct sockaddr *peer, socklen_t peer_len);
/* Base loop thread: starts the sub-reactors (waiting until they run), then accepting. */
int eddy_tcp_server_start(struct eddy_tcp_server *s);
/* Base loop thread, before or after start: closes the listener bound to addr (as
 * returned in bound by listen); its connections live on. 0 or -ENOENT. */
int eddy_tcp_server_unlisten(struct eddy_tcp_server *s, const union eddy_sockaddr *addr);
/* Base loop thread: closes the listening sockets; connections live on. */
void eddy_tcp_server_stop_accepting(struct eddy_tcp_server *s);
/* Open connections, any thread. */
size_t eddy_tcp_server_connection_count(const struct eddy_tcp_server *s);
/* Runs fn(c, arg) for every open connection, each in its own loop's thread
 * (queued to the sub-reactors; runs inline for those of the calling loop). 0 or -ENOMEM. */
int eddy_tcp_server_foreach_connection(struct eddy_tcp_server *s,
                                       void (*fn)(struct eddy_tcp_connection *c, void *arg),
                                       void *arg);
/* The loops that own connections: the sub-reactors, or the base loop alone. */
int eddy_tcp_server_loop_count(const struct eddy_tcp_server *s);
struct eddy_event_loop *eddy_tcp_server_loop_at(const struct eddy_tcp_server *s, int i);
struct eddy_event_loop *eddy_tcp_server_base_loop(const struct eddy_tcp_server *s);
void *eddy_tcp_server_data(const struct eddy_tcp_server *s);
/* Call from the base loop's thread once the base loop no longer runs: stops and
 * joins the sub-reactors, closes every connection (on_close runs for each),
 * frees everything. */
void eddy_tcp_server_free(struct eddy_tcp_server *s);

#ifdef __cplusplus
}
#endif

#endif
