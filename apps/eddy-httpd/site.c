/*
 * Request dispatch with a config: the config of this thread, the server by listening
 * address and Host, the location, then deny, return, try_files and error_page.
 */
#include "site.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "eddy/tcp_connection.h"
#include "eddy/transport.h"
#include "eddy/ustack.h"

#define MAX_REDIRECTS 4

static pthread_mutex_t publish_lock = PTHREAD_MUTEX_INITIALIZER;
static struct httpd_conf *published;
static atomic_uint generation;
static _Thread_local struct httpd_conf *mine;
static _Thread_local unsigned my_generation;

void httpd_site_publish(struct httpd_conf *c)
{
    pthread_mutex_lock(&publish_lock);
    struct httpd_conf *old = published;
    published = httpd_conf_ref(c);
    atomic_fetch_add_explicit(&generation, 1, memory_order_release);
    pthread_mutex_unlock(&publish_lock);
    httpd_conf_unref(old);
}

static struct httpd_conf *thread_conf(void)
{
    unsigned g = atomic_load_explicit(&generation, memory_order_acquire);
    if (mine && g == my_generation)
        return mine;
    pthread_mutex_lock(&publish_lock);
    struct httpd_conf *old = mine;
    mine = published ? httpd_conf_ref(published) : NULL;
    my_generation = atomic_load_explicit(&generation, memory_order_relaxed);
    pthread_mutex_unlock(&publish_lock);
    httpd_conf_unref(old); /* the last user of an old config frees it here */
    return mine;
}

void httpd_site_release_thread(void)
{
    httpd_conf_unref(mine);
    mine = NULL;
}

void httpd_site_shutdown(void)
{
    pthread_mutex_lock(&publish_lock);
    struct httpd_conf *c = published;
    published = NULL;
    pthread_mutex_unlock(&publish_lock);
    httpd_site_release_thread();
    httpd_conf_unref(c);
}

static int addr_matches(const union eddy_sockaddr *want, const union eddy_sockaddr *got, int any)
{
    if (want->sa.sa_family != got->sa.sa_family)
        return 0;
    if (want->sa.sa_family == AF_INET)
        return want->in4.sin_port == got->in4.sin_port &&
               (any ? want->in4.sin_addr.s_addr == 0
                    : want->in4.sin_addr.s_addr == got->in4.sin_addr.s_addr);
    static const struct in6_addr zero;
    return want->in6.sin6_port == got->in6.sin6_port &&
           memcmp(&want->in6.sin6_addr, any ? &zero : &got->in6.sin6_addr, 16) == 0;
}

/* Which listening address the connection came in on: the exact one, else a wildcard
 * on its port. One getsockname only when the config listens on several. */
static int which_addr(const struct httpd_conf *c, struct eddy_http_request *req)
{
    if (c->naddrs == 1)
        return 0;
    union eddy_sockaddr local;
    socklen_t len = sizeof local;
    const struct eddy_tcp_connection *conn = eddy_http_request_connection(req);
    int fd = eddy_tcp_connection_fd(conn);
    /* --stack user: the number is a ustack socket's, and a kernel file may have it too */
    int us = (eddy_tcp_connection_transport(conn)->ops->caps & EDDY_TRANSPORT_FD_UEPOLL) != 0;
    if ((us ? ue_getsockname(fd, &local.sa, &len) : getsockname(fd, &local.sa, &len)) < 0)
        return 0;
    for (int any = 0; any < 2; any++)
        for (int i = 0; i < c->naddrs; i++)
            if (addr_matches(&c->addrs[i].sa, &local, any))
                return i;
    return 0;
}

static void set_location(struct httpd_rq *q, const char *uri, size_t len)
{
    q->loc = httpd_conf_location(q->srv, uri, len);
    q->r = q->loc ? &q->loc->r : &q->srv->r;
}

static int ok_status_for_headers(int status)
{
    switch (status) {
    case 200:
    case 201:
    case 204:
    case 206:
    case 301:
    case 302:
    case 303:
    case 304:
    case 307:
    case 308:
        return 1;
    default:
        return 0;
    }
}

static void add_expires(struct httpd_rq *q)
{
    int64_t e = q->r->expires;
    char date[EDDY_HTTP_DATE_LEN + 1], cc[48];
    if (e == HTTPD_EXPIRES_OFF)
        return;
    if (e == HTTPD_EXPIRES_EPOCH) {
        eddy_http_date_format(1, date);
        snprintf(cc, sizeof cc, "no-cache");
    } else if (e == HTTPD_EXPIRES_MAX) {
        eddy_http_date_format(2145916555, date); /* nginx's "Thu, 31 Dec 2037 23:55:55 GMT" */
        snprintf(cc, sizeof cc, "max-age=315360000");
    } else {
        eddy_http_date_format(time(NULL) + e, date);
        if (e < 0)
            snprintf(cc, sizeof cc, "no-cache");
        else
            snprintf(cc, sizeof cc, "max-age=%lld", (long long)e);
    }
    eddy_http_response_set_header(q->res, "Expires", date);
    eddy_http_response_set_header(q->res, "Cache-Control", cc);
}

void httpd_site_add_headers(struct httpd_rq *q, int status)
{
    int ok = ok_status_for_headers(status);
    if (ok)
        add_expires(q);
    for (int i = 0; i < q->r->nheaders; i++)
        if (ok || q->r->headers[i].always)
            eddy_http_response_add_header(q->res, q->r->headers[i].name, q->r->headers[i].value);
}

/* Expands $scheme, $host, $request_uri and $uri in s into out. Length or -1. */
static long expand(struct httpd_rq *q, const char *uri, const char *s, char *out, size_t cap)
{
    size_t o = 0;
    while (*s) {
        struct eddy_http_str v = {NULL, 0};
        size_t skip = 1;
        struct eddy_http_str host = eddy_http_request_host(q->req);
        if (strncmp(s, "$scheme", 7) == 0)
            v.p = q->tls ? "https" : "http", v.len = strlen(v.p), skip = 7;
        else if (strncmp(s, "$host", 5) == 0) {
            v = host, skip = 5;
            const char *colon = v.len && v.p[0] != '[' ? memchr(v.p, ':', v.len) : NULL;
            if (colon)
                v.len = (size_t)(colon - v.p);
            if (v.len == 0 && q->srv->nnames)
                v.p = q->srv->names[0], v.len = strlen(v.p);
        } else if (strncmp(s, "$request_uri", 12) == 0)
            v = eddy_http_request_target(q->req), skip = 12;
        else if (strncmp(s, "$uri", 4) == 0)
            v.p = uri, v.len = strlen(uri), skip = 4;
        else
            v.p = s, v.len = 1;
        if (o + v.len + 1 > cap)
            return -1;
        memcpy(out + o, v.p, v.len);
        o += v.len;
        s += skip;
    }
    out[o] = '\0';
    return (long)o;
}

static int is_redirect(int code)
{
    return code == 301 || code == 302 || code == 303 || code == 307 || code == 308;
}

static void do_return(struct httpd_rq *q, const char *uri)
{
    char buf[HTTPD_URI_MAX * 2];
    int code = q->r->ret_code;
    long n = q->r->ret_text ? expand(q, uri, q->r->ret_text, buf, sizeof buf) : 0;
    if (n < 0) {
        eddy_http_response_send_error(q->res, 500);
        return;
    }
    if (code >= 400 && !q->r->ret_text) {
        httpd_site_error(q, code); /* error_page applies, as in nginx */
        return;
    }
    httpd_site_add_headers(q, code);
    if (is_redirect(code) && q->r->ret_text) {
        if (eddy_http_response_add_header(q->res, "Location", buf) < 0) {
            eddy_http_response_send_error(q->res, 500);
            return;
        }
        eddy_http_response_send_error(q->res, code);
    } else if (q->r->ret_text) {
        eddy_http_response_reply(q->res, code, "text/plain", buf, (size_t)n);
    } else if (is_redirect(code)) {
        eddy_http_response_send_error(q->res, code);
    } else {
        eddy_http_response_reply(q->res, code, NULL, NULL, 0);
    }
}

/* The request path of an internal redirect to uri (which may carry a query). */
static void internal_redirect(struct httpd_rq *q, const char *uri);

void httpd_site_error(struct httpd_rq *q, int status)
{
    const struct httpd_rules *r = q->r;
    for (int i = 0; i < r->nerrpages && !q->error_status; i++) {
        if (r->errpages[i].code != status)
            continue;
        const char *uri = r->errpages[i].uri;
        if (uri[0] != '/') { /* a URL: the client goes there */
            eddy_http_response_add_header(q->res, "Location", uri);
            httpd_site_add_headers(q, 302);
            eddy_http_response_send_error(q->res, 302);
            return;
        }
        q->error_status = status;
        internal_redirect(q, uri);
        return;
    }
    if (q->error_status) /* the error page itself failed: answer the first error */
        status = q->error_status;
    httpd_site_add_headers(q, status);
    eddy_http_response_send_error(q->res, status);
}

/* Dotfiles answer 404 unless allowed; /.well-known/ (RFC 8615) is always served. */
static int hidden(const struct httpd_rules *r, const char *uri, size_t len)
{
    if (r->allow_dotfiles)
        return 0;
    size_t start = strncmp(uri, "/.well-known/", 13) == 0 ? 12 : 0;
    for (size_t i = start; i + 1 < len; i++)
        if (uri[i] == '/' && uri[i + 1] == '.')
            return 1;
    return 0;
}

static int try_one(struct httpd_rq *q, const char *uri, const char *item)
{
    char p[HTTPD_URI_MAX + 2];
    long n = expand(q, uri, item, p, sizeof p);
    if (n <= 0 || p[0] != '/')
        return 0;
    const struct eddy_http_file *f;
    int dir = p[n - 1] == '/';
    if (httpd_site_lookup(q, p, (size_t)n, &f) < 0 || f->is_dir != dir)
        return 0;
    httpd_site_serve(q, p, (size_t)n);
    return 1;
}

static void try_files(struct httpd_rq *q, const char *uri)
{
    const struct httpd_rules *r = q->r;
    for (int i = 0; i < r->ntry - 1; i++)
        if (try_one(q, uri, r->try_files[i]))
            return;
    const char *last = r->try_files[r->ntry - 1];
    if (last[0] == '=')
        httpd_site_error(q, atoi(last + 1));
    else
        internal_redirect(q, last);
}

/* Everything after choosing the server, for uri (decoded, normalised). */
static void dispatch(struct httpd_rq *q, const char *uri, size_t len)
{
    set_location(q, uri, len);
    if (q->r->deny) {
        httpd_site_error(q, 403);
        return;
    }
    if (q->r->ret_code) {
        do_return(q, uri);
        return;
    }
    if (hidden(q->r, uri, len)) {
        httpd_site_error(q, 404);
        return;
    }
    if (q->r->ntry && !q->error_status)
        try_files(q, uri);
    else
        httpd_site_serve(q, uri, len);
}

static void internal_redirect(struct httpd_rq *q, const char *uri)
{
    char path[HTTPD_URI_MAX];
    size_t n = strlen(uri);
    if (++q->redirects > MAX_REDIRECTS || n + 2 > sizeof path ||
        eddy_http_normalize_path(uri, n, path, sizeof path, NULL) < 0) {
        httpd_site_add_headers(q, 500);
        eddy_http_response_send_error(q->res, q->error_status ? q->error_status : 500);
        return;
    }
    dispatch(q, path, strlen(path));
}

void httpd_site_handler(struct eddy_http_request *req, struct eddy_http_response *res, void *data)
{
    (void)data;
    struct httpd_conf *c = thread_conf();
    if (c == NULL) {
        eddy_http_response_send_error(res, 503);
        return;
    }
    struct httpd_rq q = {.req = req, .res = res, .conf = c};
    int a = which_addr(c, req);
    q.tls = c->addrs[a].tls;
    struct eddy_http_str host = eddy_http_request_host(req);
    q.srv = httpd_conf_server(c, a, host.p, host.len);
    const char *path = eddy_http_request_path(req);
    size_t len = eddy_http_request_path_len(req);
    set_location(&q, path, len);
    enum eddy_http_method m = eddy_http_request_method(req);
    if (m != EDDY_HTTP_GET && m != EDDY_HTTP_HEAD && !q.r->ret_code) {
        eddy_http_response_add_header(res, "Allow", "GET, HEAD");
        httpd_site_error(&q, 405);
        return;
    }
    if (len >= HTTPD_URI_MAX) {
        httpd_site_error(&q, 414);
        return;
    }
    dispatch(&q, path, len);
}
