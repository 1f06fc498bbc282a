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

#endif
