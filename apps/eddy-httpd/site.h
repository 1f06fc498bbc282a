/*
 * The request handler of eddy-httpd with a config file: picks the server (listening
 * address, then Host), the location, and answers from its rules.
 *
 * The current config is published once and taken by each loop thread when it notices
 * a new generation (one atomic load per request otherwise), so requests never wait for
 * a reload and a request runs entirely under one config.
 */
#ifndef EDDY_HTTPD_SITE_H
#define EDDY_HTTPD_SITE_H

#include "conf.h"
#include "eddy/http.h"
#include "eddy/http_static.h"

/* Makes c the config of requests from now on (takes a reference of its own). */
void httpd_site_publish(struct httpd_conf *c);
/* In a loop thread that will serve no more requests: drops its reference. */
void httpd_site_release_thread(void);
/* Drops the published config (after the threads released theirs). */
void httpd_site_shutdown(void);
/* The eddy_http_handler_fn; data unused. */
void httpd_site_handler(struct eddy_http_request *req, struct eddy_http_response *res, void *data);

/* ---- between the pieces of the handler (site.c, site_file.c, gzip.c) ---------------- */

#define HTTPD_URI_MAX 4096

struct httpd_rq {
    struct eddy_http_request *req;
    struct eddy_http_response *res;
    const struct httpd_conf *conf;
    const struct httpd_server *srv;
    const struct httpd_location *loc; /* NULL: the server's own rules */
    const struct httpd_rules *r;
    int tls;
    int redirects;    /* internal redirects taken (error_page, try_files) */
    int error_status; /* answering with an error_page: that status, else 0 */
};

/* Answers status, through the error_page of the rules when there is one. */
void httpd_site_error(struct httpd_rq *q, int status);
/* add_header (non-"always" ones only for success and redirect statuses, as nginx) and
 * expires, for a response with this status. */
void httpd_site_add_headers(struct httpd_rq *q, int status);
/* Serves uri (decoded, normalised) from the current rules' root: file or directory. */
void httpd_site_serve(struct httpd_rq *q, const char *uri, size_t len);
/* The file for uri below the current rules' root; 0 with *f, or -errno. */
int httpd_site_lookup(struct httpd_rq *q, const char *uri, size_t len,
                      const struct eddy_http_file **f);

/* On-the-fly gzip of a whole regular file (gzip.c): answers 200 with
 * Content-Encoding: gzip, streamed. The headers common to every answer are set. */
void httpd_gzip_send(struct httpd_rq *q, const struct eddy_http_file *f, int level);
/* Whether Accept-Encoding allows coding ("gzip", "br"): listed with q > 0, or "*". */
int httpd_accepts_encoding(struct eddy_http_request *req, const char *coding);

#endif
