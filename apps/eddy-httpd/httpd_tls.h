/* HTTPS in eddy-httpd: the TLS context, its SIGHUP reload, HSTS and the redirect to HTTPS. */
#ifndef EDDY_HTTPD_TLS_H
#define EDDY_HTTPD_TLS_H

#include "eddy/http.h"
#include "eddy/inet.h"
#include "options.h"

struct eddy_tls_context;
struct httpd_conf;

/* A TLS address of the config file and its context, which lives until exit: the
 * listener's connections use it, and a listener closed by a reload may have some. */
struct httpd_tls_listener {
    union eddy_sockaddr sa; /* as configured */
    union eddy_sockaddr bound;
    struct eddy_tls_context *ctx;
    int open;
};

struct httpd_tls {
    struct eddy_tls_context *ctx; /* NULL without --listen-tls */
    long long hsts_seconds;       /* -1: none */
    int redirect;
    int https_port; /* the first TLS listener's, for the redirect */
    eddy_http_handler_fn inner;
    void *inner_data;
    struct httpd_tls_listener conf[HTTPD_MAX_BOUND]; /* listen ... tls of the config file */
    int nconf;
};

/* Loads the certificates of o (nothing without --listen-tls). Prints the error
 * (file and reason) to stderr. 0 or -errno. */
int httpd_tls_setup(struct httpd_tls *t, const struct httpd_options *o);
/* SIGHUP: reads the certificate and key files again; logs the outcome. */
void httpd_tls_reload(struct httpd_tls *t);
void httpd_tls_free(struct httpd_tls *t);
/* The TLS addresses of c: new ones opened, kept ones given c's certificates (files read
 * again). 0, or -1 (logged) when one cannot be opened. */
int httpd_tls_conf_listen(struct httpd_tls *t, struct eddy_http_server *srv,
                          const struct httpd_conf *c);
/* Reload: closes the TLS listeners c no longer names (their connections live on). */
void httpd_tls_conf_close_removed(struct httpd_tls *t, struct eddy_http_server *srv,
                                  const struct httpd_conf *c);
/* Prints "listening on https://..." for each open config TLS listener. */
void httpd_tls_conf_announce(const struct httpd_tls *t);
/* The port of a TLS listener (the first call wins: the redirect target). */
void httpd_tls_set_port(struct httpd_tls *t, int port);
/* Handler: redirect plain requests (--redirect-https), add HSTS on HTTPS, then
 * t->inner. data: the struct httpd_tls. */
void httpd_tls_front(struct eddy_http_request *req, struct eddy_http_response *res, void *data);

#endif
