/*
 * tcp_client: an outgoing connection. It connects (non-blocking) to an address, with a
 * timeout per attempt and optional retries with exponential backoff, and then hands the
 * socket to the same struct eddy_tcp_connection and the same struct eddy_tcp_callbacks
 * as an accepted connection: send, output buffer, backpressure (set_reading), high-water
 * mark, half-close (shutdown, on_peer_eof), references and cross-thread sends all work
 * the same way.
 *
 *   static void on_connected(struct eddy_tcp_connection *c)
 *   {
 *       eddy_tcp_connection_send(c, "hello", 5);
 *   }
 *   static const struct eddy_tcp_callbacks cb = {.on_connected = on_connected, ...};
 *
 *   eddy_tcp_client_new(&cl, loop, "127.0.0.1:9000", &opts, &cb, on_error, data);
 *   eddy_tcp_client_connect(cl);
 *
 * Addresses: "A.B.C.D:PORT", "[V6]:PORT", "unix:PATH", "unix:@NAME" (eddy_sockaddr_parse),
 * or "HOST:PORT" with a host name, resolved with getaddrinfo in a thread of its own so
 * the loop never blocks; every address it returns is tried in order. The connected
 * socket goes through the transport layer like an accepted one (options.transport), so a
 * TLS or other transport client takes the same road.
 *
 * One client makes at most one connection at a time. When the connection closes (the
 * connection's on_close has run) the client is idle again; eddy_tcp_client_connect makes
 * a new one. A client may run on any loop, a sub-reactor of a thread pool included; all
 * of its callbacks run in that loop's thread.
 *
 * Errors: when every attempt failed (refused, unreachable, timed out, name not found),
 * on_error runs once with the last error (-ECONNREFUSED, -ETIMEDOUT, -ENOENT for a name
 * that does not resolve, ...), in the loop's thread, and the client is idle.
 *
 * Threading: new and connect from any thread; free from the loop's thread, or from any
 * thread while the loop runs (queued). Until a loop first runs, the thread that created
 * it counts as its owner: a call made there runs inline, so do not call from it while
 * another thread is starting that loop. eddy_tcp_connection_* calls follow
 * tcp_connection.h.
 */
#ifndef EDDY_TCP_CLIENT_H
#define EDDY_TCP_CLIENT_H

#include <stddef.h>

#include "eddy/tcp_connection.h"
#include "eddy/transport.h"

#ifdef __cplusplus
extern "C" {
#endif

struct eddy_event_loop;
struct eddy_tcp_client;
struct ue_stack;

struct eddy_tcp_client_options {
    unsigned connect_timeout_ms; /* per address tried; 0: none */
    int retries;                 /* rounds (every address once) after the first; -1: no end */
    unsigned retry_delay_ms;     /* before the first retry, doubled each time; 0: 100 */
    unsigned retry_max_delay_ms; /* cap of the doubling; 0: 10000 */
    int tcp_nodelay;             /* TCP_NODELAY as tcp_server_options (default on) */
    size_t high_water_mark;      /* as tcp_server_options; 0: 4 MiB */
    size_t context_size;         /* user area per connection (eddy_tcp_connection_context) */
    /* The transport of the connection (eddy/transport.h), opened over the connected
     * socket with EDDY_TRANSPORT_CONNECTED and transport_arg (TLS: its client context);
     * NULL: plain kernel sockets. A transport with a handshake runs it before
     * on_connected; a failed handshake is a failed attempt (-ECONNABORTED): the next
     * address or retry follows, and no connection callback runs for it. */
    const struct eddy_transport_ops *transport;
    void *transport_arg;
    /* With a transport over ustack sockets (caps EDDY_TRANSPORT_FD_UEPOLL, such as
     * eddy_transport_ustack): the stack the client's sockets are made in (IPv4 only),
     * driven in the client's loop (eddy_ustack_driver_start), a uepoll one. */
    struct ue_stack *stack;
};

/* Called once when every attempt failed; err is a negative errno. */
typedef void (*eddy_tcp_client_error_cb)(struct eddy_tcp_client *cl, int err);

/* Defaults: timeout 10000 ms, no retries, 100 ms first delay, 10000 ms cap, nodelay on,
 * 4 MiB high-water mark, no context. */
void eddy_tcp_client_options_init(struct eddy_tcp_client_options *o);

/* Creates an idle client of loop for addr (copied). o may be NULL. cb is kept by pointer
 * and must outlive the client. 0, -EINVAL (addr is not an address, nor HOST:PORT; a
 * ustack transport without a stack), -ENOMEM. */
int eddy_tcp_client_new(struct eddy_tcp_client **out, struct eddy_event_loop *loop,
                        const char *addr, const struct eddy_tcp_client_options *o,
                        const struct eddy_tcp_callbacks *cb, eddy_tcp_client_error_cb on_error,
                        void *data);
/* Starts connecting. In the loop's thread: 0, or -EALREADY (connecting or connected).
 * From another thread it is queued (0 or -ENOMEM), and ignored if the client is busy by
 * the time it runs. */
int eddy_tcp_client_connect(struct eddy_tcp_client *cl);
/* The open connection, or NULL (loop thread). */
struct eddy_tcp_connection *eddy_tcp_client_connection(const struct eddy_tcp_client *cl);
/* The client of a connection it made, or NULL (a server's connection). */
struct eddy_tcp_client *eddy_tcp_client_of(struct eddy_tcp_connection *c);
void *eddy_tcp_client_data(const struct eddy_tcp_client *cl);
struct eddy_event_loop *eddy_tcp_client_loop(const struct eddy_tcp_client *cl);
/* Connection attempts made so far (each address tried counts once). Loop thread. */
unsigned eddy_tcp_client_attempts(const struct eddy_tcp_client *cl);
/* Stops connecting and closes the connection (its on_close runs), then frees the client;
 * no callback runs after it. on_error does not run. */
void eddy_tcp_client_free(struct eddy_tcp_client *cl);

#ifdef __cplusplus
}
#endif

#endif
