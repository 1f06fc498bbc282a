/* The --listen addresses of eddy-httpd, host names included. */
#ifndef EDDY_HTTPD_LISTEN_H
#define EDDY_HTTPD_LISTEN_H

#include "eddy/http.h"
#include "eddy/inet.h"

struct eddy_tls_context;

/* Listens on spec: "ADDR:PORT", "[V6]:PORT", ":PORT", or "HOST:PORT" with HOST resolved
 * now by getaddrinfo and every address it gives bound; serving HTTPS with tls unless it is
 * NULL. Appends what was bound to bound[*n], at most max in all. 0, or -1 after a one-line
 * error on stderr. */
int httpd_listen(struct eddy_http_server *srv, const char *spec, struct eddy_tls_context *tls,
                 union eddy_sockaddr *bound, int *n, int max);

struct httpd_user_stack;
/* --stack user: from now on every listener is opened and closed on u (NULL: the
 * kernel's again). */
void httpd_listen_set_user_stack(struct httpd_user_stack *u);
/* One numeric address, serving HTTPS with tls unless NULL, on the kernel or on ustack:
 * 0 or -errno (as eddy_http_server_listen, or httpd_user_stack_listen). */
int httpd_listen_addr(struct eddy_http_server *srv, const char *addr, struct eddy_tls_context *tls,
                      union eddy_sockaddr *bound);
/* Closes the listener bound by httpd_listen_addr. 0 or -ENOENT. */
int httpd_unlisten(struct eddy_http_server *srv, const union eddy_sockaddr *bound);

#endif
