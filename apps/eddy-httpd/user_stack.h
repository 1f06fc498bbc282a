/* --stack user: eddy-httpd on ustack over a TAP device (see user_stack.c). */
#ifndef EDDY_HTTPD_USER_STACK_H
#define EDDY_HTTPD_USER_STACK_H

#include "eddy/inet.h"
#include "eddy/tcp_server.h"
#include "options.h"

struct httpd_user_stack;
struct eddy_tls_context;

/* Base loop thread, before the server starts (and before a privilege drop: the TAP
 * needs CAP_NET_ADMIN): the TAP and one stack per loop. 0, or -1 after printing why
 * (*out, if not NULL, is then still to be freed). */
int httpd_user_stack_open(struct httpd_user_stack **out, struct eddy_tcp_server *tcp,
                          const struct httpd_options *o);
/* Base loop thread, after the server started: every loop drives its stack. 0, or -1
 * after printing why. */
int httpd_user_stack_start(struct httpd_user_stack *u);
/* Base loop thread, after start: listens on the numeric "ADDR:PORT" in every stack,
 * serving TLS with tls unless it is NULL (it must outlive the connections). ADDR is
 * ustack's address or any (0.0.0.0, ":PORT"); bound gets the address as parsed. 0, or
 * -EINVAL (not an address), -EAFNOSUPPORT (not IPv4), -EADDRNOTAVAIL (another
 * address), -EADDRINUSE, -EMFILE (more than HTTPD_MAX_BOUND), ... */
int httpd_user_stack_listen(struct httpd_user_stack *u, const char *addr,
                            struct eddy_tls_context *tls, union eddy_sockaddr *bound);
/* Base loop thread: closes the listener of bound in every stack (its connections live
 * on). 0 or -ENOENT. */
int httpd_user_stack_unlisten(struct httpd_user_stack *u, const union eddy_sockaddr *bound);
/* Base loop thread (the drain of SIGTERM): closes every listener. NULL is fine. */
void httpd_user_stack_close_listeners(struct httpd_user_stack *u);
/* " (ustack on TAP NAME, N queues, address ADDR)" for the listening lines; "" for NULL. */
const char *httpd_user_stack_describe(const struct httpd_user_stack *u);
/* Base loop thread, while the sub-reactors still run (before the server is freed):
 * closes the listeners and stops driving the stacks. */
void httpd_user_stack_stop_accepting(struct httpd_user_stack *u);
/* After the server is freed (its connections closed): the stack and the TAP go. */
void httpd_user_stack_free(struct httpd_user_stack *u);

#endif
