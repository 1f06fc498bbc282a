/*
 * HTTPS in eddy-httpd: the TLS context built from --tls-cert/--tls-key, its
 * reload on SIGHUP, and the front handler that adds Strict-Transport-Security
 * to HTTPS responses and answers plain requests with a redirect to HTTPS.
 */
#include "httpd_tls.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "conf.h"
#include "eddy/tls.h"
#include "errlog.h"
#include "listen.h"
#include "log.h"

int httpd_tls_setup(struct httpd_tls *t, const struct httpd_options *o)
{
    struct eddy_tls_options to;
    char err[512];
    int rc;

    memset(t, 0, sizeof *t);
    t->hsts_seconds = o->hsts_seconds;
    t->redirect = o->redirect_https;
    if (o->nlisten_tls == 0)
        return 0;
    eddy_tls_options_init(&to);
    to.renew_tickets = o->tls_ticket_renewal > 0;
    for (int i = 0; i < o->ntls_cert; i++)
        eddy_tls_options_add_cert(&to, o->tls_cert[i], o->tls_key[i]);
    rc = eddy_tls_context_new(&t->ctx, &to, err, sizeof err);
    if (rc < 0)
        fprintf(stderr, "eddy-httpd: %s\n", err);
    return rc;
}

void httpd_tls_reload(struct httpd_tls *t)
{
    char err[512];

    if (t->ctx == NULL)
        return;
    if (eddy_tls_context_reload(t->ctx, err, sizeof err) < 0)
        httpd_err("error", "SIGHUP: certificates not reloaded, the old ones stay: %s", err);
    else
        httpd_err("info", "SIGHUP: certificates reloaded (generation %u)",
                  eddy_tls_context_generation(t->ctx));
}

void httpd_tls_free(struct httpd_tls *t)
{
    eddy_tls_context_free(t->ctx);
    t->ctx = NULL;
    for (int i = 0; i < t->nconf; i++)
        eddy_tls_context_free(t->conf[i].ctx);
    t->nconf = 0;
}

static int same_sa(const union eddy_sockaddr *a, const union eddy_sockaddr *b)
{
    socklen_t n = eddy_sockaddr_len(&a->sa);
    return n == eddy_sockaddr_len(&b->sa) && memcmp(a, b, n) == 0;
}

static struct httpd_tls_listener *conf_listener(struct httpd_tls *t, const union eddy_sockaddr *sa)
{
    for (int i = 0; i < t->nconf; i++)
        if (same_sa(&t->conf[i].sa, sa))
            return &t->conf[i];
    return NULL;
}

/* A listener seen before keeps its context (a connection may still use it) and gets the
 * new certificates; a new one gets a context. */
static int conf_context(struct httpd_tls_listener *l, const struct httpd_addr *a)
{
    char err[512];
    int rc = l->ctx ? eddy_tls_context_reconfigure(l->ctx, a->tls_options, err, sizeof err)
                    : eddy_tls_context_new(&l->ctx, a->tls_options, err, sizeof err);
    if (rc < 0)
        httpd_log_error(HTTPD_LOG_ERROR, "listen %s tls: %s", a->addr, err);
    return rc;
}

static int conf_open(struct httpd_tls *t, struct eddy_http_server *srv, const struct httpd_addr *a)
{
    struct httpd_tls_listener *l = conf_listener(t, &a->sa);
    if (l == NULL) {
        if (t->nconf == HTTPD_MAX_BOUND) {
            httpd_log_error(HTTPD_LOG_ERROR, "more than %d TLS listen addresses", HTTPD_MAX_BOUND);
            return -1;
        }
        l = &t->conf[t->nconf++];
        memset(l, 0, sizeof *l);
        l->sa = a->sa;
    }
    if (conf_context(l, a) < 0)
        return -1;
    if (l->open)
        return 0;
    int rc = httpd_listen_addr(srv, a->addr, l->ctx, &l->bound);
    if (rc < 0) {
        httpd_log_error(HTTPD_LOG_ERROR, "cannot listen on %s (tls): %s", a->addr, strerror(-rc));
        return -1;
    }
    l->open = 1;
    return 0;
}

int httpd_tls_conf_listen(struct httpd_tls *t, struct eddy_http_server *srv,
                          const struct httpd_conf *c)
{
    for (int i = 0; i < c->naddrs; i++)
        if (c->addrs[i].tls && !c->addrs[i].via_wildcard && conf_open(t, srv, &c->addrs[i]) < 0)
            return -1;
    return 0;
}

void httpd_tls_conf_close_removed(struct httpd_tls *t, struct eddy_http_server *srv,
                                  const struct httpd_conf *c)
{
    for (int j = 0; j < t->nconf; j++) {
        int keep = 0;
        for (int i = 0; i < c->naddrs && !keep; i++)
            keep = c->addrs[i].tls && !c->addrs[i].via_wildcard &&
                   same_sa(&t->conf[j].sa, &c->addrs[i].sa);
        if (keep || !t->conf[j].open)
            continue;
        char a[128] = "?";
        eddy_sockaddr_format(&t->conf[j].bound.sa, a, sizeof a);
        if (httpd_unlisten(srv, &t->conf[j].bound) == 0)
            httpd_log_error(HTTPD_LOG_NOTICE, "reload: closed the TLS listener on %s", a);
        t->conf[j].open = 0;
    }
}

void httpd_tls_conf_announce(const struct httpd_tls *t)
{
    for (int i = 0; i < t->nconf; i++) {
        char a[128];
        if (t->conf[i].open && eddy_sockaddr_format(&t->conf[i].bound.sa, a, sizeof a) > 0)
            fprintf(stderr, "eddy-httpd listening on https://%s\n", a);
    }
}

void httpd_tls_set_port(struct httpd_tls *t, int port)
{
    if (t->https_port == 0)
        t->https_port = port;
}

/* The host of a Host value, without its port ("[::1]:80" -> "[::1]"). */
static size_t host_len(const char *h, size_t n)
{
    const char *end = h + n;

    if (n > 0 && h[0] == '[') {
        const char *rb = memchr(h, ']', n);
        return rb ? (size_t)(rb - h) + 1 : n;
    }
    const char *colon = memchr(h, ':', n);
    return colon ? (size_t)(colon - h) : (size_t)(end - h);
}

static int redirect(struct httpd_tls *t, struct eddy_http_request *req,
                    struct eddy_http_response *res)
{
    struct eddy_http_str host = eddy_http_request_host(req);
    struct eddy_http_str target = eddy_http_request_target(req);
    char loc[4096], port[16] = "";
    size_t hl = host.len ? host_len(host.p, host.len) : 0;

    if (hl == 0 || target.len == 0 || target.p[0] != '/')
        return eddy_http_response_send_error(res, 400);
    if (t->https_port != 443)
        snprintf(port, sizeof port, ":%d", t->https_port);
    if (hl + target.len + 32 > sizeof loc)
        return eddy_http_response_send_error(res, 414);
    snprintf(loc, sizeof loc, "https://%.*s%s%.*s", (int)hl, host.p, port, (int)target.len,
             target.p);
    eddy_http_response_set_header(res, "Location", loc);
    return eddy_http_response_send_error(res, 301);
}

void httpd_tls_front(struct eddy_http_request *req, struct eddy_http_response *res, void *data)
{
    struct httpd_tls *t = data;
    int tls = eddy_tls_connection_version(eddy_http_request_connection(req)) != NULL;

    if (!tls && t->redirect) {
        redirect(t, req, res);
        return;
    }
    if (tls && t->hsts_seconds >= 0) {
        char v[64];
        snprintf(v, sizeof v, "max-age=%lld", t->hsts_seconds);
        eddy_http_response_add_header(res, "Strict-Transport-Security", v);
    }
    t->inner(req, res, t->inner_data);
}
