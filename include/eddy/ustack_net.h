/*
 * ustack under the reactor: the transport whose descriptors are ustack sockets, a
 * driver that runs a stack inside an event loop, and a listener that hands accepted
 * ustack sockets to a tcp_server.
 *
 * The loop must run on a uepoll dispatcher ("uepoll" or "uepoll-et"): connections
 * are watched on their uepoll descriptors, the stack's device descriptor (TAP) as a
 * kernel descriptor beside them. The driver is a prepare hook: at the start of every
 * iteration it runs the stack (frames in, timers, frames out), so the events TCP
 * raised are harvested by the wait that follows, and it bounds that wait by the
 * stack's next deadline. One stack per loop: with threads = 0 the base loop runs the
 * stack and eddy_ustack_listen hands connections out; with sub-reactors, each runs its
 * own stack (one queue of a multi-queue TAP) and eddy_ustack_listen_at keeps what it
 * accepts (the main reactor accepts nothing).
 */
#ifndef EDDY_USTACK_NET_H
#define EDDY_USTACK_NET_H

#include <eddy/tcp_server.h>
#include <eddy/transport.h>
#include <eddy/ustack.h>

#ifdef __cplusplus
extern "C" {
#endif

struct eddy_event_loop;

/* open(t, fd, arg, flags): fd is a connected ustack socket (ue_ descriptor). */
extern const struct eddy_transport_ops eddy_transport_ustack;
/* TLS (eddy/tls.h) over a ustack socket: the TLS transport with ustack's calls under
 * it; open()'s arg is the eddy_tls_context, as for eddy_transport_tls. */
extern const struct eddy_transport_ops eddy_transport_tls_ustack;

struct eddy_ustack_driver;
/* Loop thread. Runs st inside loop from now on. 0 or -errno. */
int eddy_ustack_driver_start(struct eddy_ustack_driver **out, struct eddy_event_loop *loop,
                             struct ue_stack *st);
/* Loop thread. Stops driving (the stack is left as it is). */
void eddy_ustack_driver_stop(struct eddy_ustack_driver *d);

struct eddy_ustack_listener;
/* Base loop thread, after eddy_tcp_server_start: listens on st at addr (port in
 * network order as in any sockaddr_in; address 0: the stack's) and adopts every
 * accepted connection into s. 0 or -errno. */
int eddy_ustack_listen(struct eddy_ustack_listener **out, struct eddy_tcp_server *s,
                       struct ue_stack *st, const struct sockaddr_in *addr, int backlog);
/* Thread of eddy_tcp_server_loop_at(s, loop), after start: the same in that loop, whose
 * connections stay in it (eddy_tcp_server_adopt_at). loop -1: eddy_ustack_listen. */
int eddy_ustack_listen_at(struct eddy_ustack_listener **out, struct eddy_tcp_server *s, int loop,
                          struct ue_stack *st, const struct sockaddr_in *addr, int backlog);
/* eddy_ustack_listen_at whose connections are opened with ops and arg (as
 * eddy_tcp_server_listen_transport: eddy_transport_tls_ustack and its context);
 * ops NULL: eddy_transport_ustack. arg must outlive the listener's connections. */
int eddy_ustack_listen_transport_at(struct eddy_ustack_listener **out, struct eddy_tcp_server *s,
                                    int loop, struct ue_stack *st, const struct sockaddr_in *addr,
                                    int backlog, const struct eddy_transport_ops *ops, void *arg);
/* The listener's loop thread: closes the listening socket. */
void eddy_ustack_listener_close(struct eddy_ustack_listener *l);

/* "ADDR/PREFIX" (no prefix: /32) and an optional next hop (NULL: none) into c's addr,
 * prefix and gateway: what "--ip" and "--gateway" take. 0 or -EINVAL. */
int eddy_ustack_parse_addr(struct ue_stack_config *c, const char *cidr, const char *gateway);
/* A stack on the TAP device tap (created or attached) with the address cidr and the
 * optional gateway, as eddy_ustack_parse_addr reads them: "--stack user --tap NAME --ip
 * ADDR/PREFIX [--gateway ADDR]". The kernel side of the TAP is the caller's to set up.
 * 0 or -errno (-EINVAL: a bad address). */
int eddy_ustack_tap_create(struct ue_stack **out, const char *tap, const char *cidr,
                           const char *gateway);

#ifdef __cplusplus
}
#endif

#endif
