/*
 * The HTTP server object: options, routes, listening, graceful stop, and the per-loop
 * state (parsed-head scratch, Date cache) that every connection of a loop shares.
 */
#include "http_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "eddy/tls.h"

void eddy_http_server_options_init(struct eddy_http_server_options *o)
{
    memset(o, 0, sizeof(*o));
    eddy_tcp_server_options_init(&o->tcp);
    o->tcp.high_water_mark = HTTP_DEFAULT_HIGH_WATER;
    o->header_timeout_ms = 10000;
    o->body_timeout_ms = 30000;
    o->keepalive_timeout_ms = 75000;
    o->send_timeout_ms = 60000;
    o->server_name = "eddy";
}

static int resolve_options(struct eddy_http_server *s, const struct eddy_http_server_options *o)
{
    if (o)
        s->opt = *o;
    else
        eddy_http_server_options_init(&s->opt);
    struct eddy_http_server_options *p = &s->opt;
    if (!p->max_request_line)
        p->max_request_line = EDDY_HTTP_DEFAULT_MAX_REQUEST_LINE;
    if (!p->max_header_bytes)
        p->max_header_bytes = EDDY_HTTP_DEFAULT_MAX_HEADER_BYTES;
    if (!p->max_headers || p->max_headers > EDDY_HTTP_MAX_HEADERS)
        p->max_headers = EDDY_HTTP_MAX_HEADERS;
    if (!p->max_body)
        p->max_body = HTTP_DEFAULT_MAX_BODY;
    if (!p->max_pipelined)
        p->max_pipelined = HTTP_DEFAULT_MAX_PIPELINED;
    if (!p->keepalive_requests)
        p->keepalive_requests = HTTP_DEFAULT_KEEPALIVE_REQUESTS;
    s->lim.max_request_line = p->max_request_line;
    s->lim.max_header_bytes = p->max_header_bytes;
    s->lim.max_headers = p->max_headers;
    if (!p->tcp.high_water_mark)
        p->tcp.high_water_mark = HTTP_DEFAULT_HIGH_WATER;
    p->tcp.context_size = sizeof(struct http_conn);
    if (p->server_name && *p->server_name) {
        size_t n = strlen(p->server_name);
        if (memchr(p->server_name, '\r', n) || memchr(p->server_name, '\n', n))
            return -EINVAL;
        s->server_line = malloc(n + 11);
        if (!s->server_line)
            return -ENOMEM;
        memcpy(s->server_line, "Server: ", 8);
        memcpy(s->server_line + 8, p->server_name, n);
        memcpy(s->server_line + 8 + n, "\r\n", 3);
        s->server_line_len = n + 10;
    }
    p->server_name = s->server_line ? s->server_line + 8 : NULL; /* not the caller's pointer */
    return 0;
}

int eddy_http_server_new(struct eddy_http_server **out, struct eddy_event_loop *base,
                         const struct eddy_http_server_options *o)
{
    *out = NULL;
    struct eddy_http_server *s = calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    int rc = resolve_options(s, o);
    if (rc == 0)
        rc = eddy_tcp_server_new(&s->tcp, base, &s->opt.tcp, &eddy__http_callbacks, s);
    if (rc < 0) {
        free(s->server_line);
        free(s);
        return rc;
    }
    s->base = base;
    pthread_mutex_init(&s->mu, NULL);
    atomic_init(&s->stopping, 0);
    eddy_timer_init(&s->stop_timer, base, NULL, s);
    *out = s;
    return 0;
}

/* "Allow: GET, HEAD\r\n" for a method bit set. Length, or 0 if out is too small. */
int eddy__http_allow_header(unsigned allow, char *out, size_t cap)
{
    size_t n = 0;
    if (cap < 8)
        return 0;
    memcpy(out, "Allow: ", 7);
    n = 7;
    for (int m = EDDY_HTTP_GET; m <= EDDY_HTTP_PATCH; m++) {
        const char *name = eddy_http_method_name((enum eddy_http_method)m);
        if (!(allow & (1u << m)) || !name)
            continue;
        size_t k = strlen(name);
        if (n + k + 4 >= cap)
            return 0;
        if (n > 7) {
            memcpy(out + n, ", ", 2);
            n += 2;
        }
        memcpy(out + n, name, k);
        n += k;
    }
    memcpy(out + n, "\r\n", 3);
    return (int)n + 2;
}

int eddy_http_server_listen(struct eddy_http_server *s, const char *addr,
                            union eddy_sockaddr *bound)
{
    return eddy_tcp_server_listen(s->tcp, addr, bound);
}

int eddy_http_server_listen_tls(struct eddy_http_server *s, const char *addr,
                                struct eddy_tls_context *ctx, union eddy_sockaddr *bound)
{
    if (ctx == NULL || !eddy_tls_available())
        return ctx == NULL ? -EINVAL : -ENOTSUP;
    return eddy_tcp_server_listen_transport(s->tcp, addr, bound, &eddy_transport_tls, ctx);
}

int eddy_http_server_start(struct eddy_http_server *s)
{
    if (s->started)
        return -EALREADY;
    s->started = 1;
    return eddy_tcp_server_start(s->tcp);
}

/* ---- per-loop state ----------------------------------------------------------------- */

static _Thread_local struct http_loop *tl_last;

struct http_loop *eddy__http_loop_get(struct eddy_http_server *s, struct eddy_event_loop *loop)
{
    struct http_loop *ls = tl_last;
    if (ls && ls->srv == s && ls->loop == loop)
        return ls;
    pthread_mutex_lock(&s->mu);
    for (ls = s->loops; ls; ls = ls->next)
        if (ls->loop == loop)
            break;
    if (!ls && (ls = calloc(1, sizeof(*ls))) != NULL) {
        ls->path_cap = s->opt.max_request_line + 2;
        ls->path = malloc(ls->path_cap);
        if (!ls->path) {
            free(ls);
            ls = NULL;
        } else {
            ls->srv = s;
            ls->loop = loop;
            ls->next = s->loops;
            s->loops = ls;
        }
    }
    pthread_mutex_unlock(&s->mu);
    if (ls)
        tl_last = ls;
    return ls;
}

const char *eddy__http_date_line(struct http_loop *ls)
{
    uint64_t now = eddy_event_loop_now(ls->loop);
    if (now >= ls->date_next_ms) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ls->date_sec = ts.tv_sec;
        /* Stale at the next wall-clock second, so Date never lags by a whole second. */
        ls->date_next_ms = now + (uint64_t)(1000 - ts.tv_nsec / 1000000);
        memcpy(ls->date_line, "Date: ", 6);
        eddy_http_date_format(ts.tv_sec, ls->date_line + 6);
        memcpy(ls->date_line + 6 + EDDY_HTTP_DATE_LEN, "\r\n", 3);
    }
    return ls->date_line;
}

/* ---- graceful stop ------------------------------------------------------------------ */

static void close_conn(struct eddy_tcp_connection *c, void *arg)
{
    (void)arg;
    eddy__http_close(c, http_conn_of(c), HTTP_CLOSE_NOW);
}

static void stop_tick(struct eddy_timer *t)
{
    struct eddy_http_server *s = t->data;
    if (eddy_tcp_server_connection_count(s->tcp) == 0) {
        eddy_timer_stop(t);
        if (s->stop_done) {
            void (*done)(struct eddy_http_server *, void *) = s->stop_done;
            s->stop_done = NULL;
            done(s, s->stop_arg);
        }
        return;
    }
    if (s->drain_deadline && !s->drain_forced &&
        eddy_event_loop_now(s->base) >= s->drain_deadline) {
        s->drain_forced = 1;
        eddy_tcp_server_foreach_connection(s->tcp, close_conn, NULL);
    }
}

int eddy_http_server_stop(struct eddy_http_server *s, unsigned drain_ms,
                          void (*done)(struct eddy_http_server *s, void *arg), void *arg)
{
    if (atomic_exchange(&s->stopping, 1))
        return 0;
    eddy_tcp_server_stop_accepting(s->tcp);
    s->stop_done = done;
    s->stop_arg = arg;
    s->drain_deadline = drain_ms ? eddy_event_loop_now(s->base) + drain_ms : 0;
    int rc = eddy_tcp_server_foreach_connection(s->tcp, eddy__http_conn_drain, s);
    if (rc < 0)
        return rc;
    /* Polling the (atomic) connection count is simpler than a count-down across threads
     * and costs nothing while the server runs normally. */
    s->stop_timer.cb = stop_tick;
    return eddy_timer_start(&s->stop_timer, 10, 10);
}

size_t eddy_http_server_connection_count(const struct eddy_http_server *s)
{
    return eddy_tcp_server_connection_count(s->tcp);
}

struct eddy_tcp_server *eddy_http_server_tcp(const struct eddy_http_server *s)
{
    return s->tcp;
}

void eddy_http_server_free(struct eddy_http_server *s)
{
    if (!s)
        return;
    eddy_timer_stop(&s->stop_timer);
    eddy_tcp_server_free(s->tcp); /* on_close of every connection uses the loop states */
    for (struct http_loop *ls = s->loops, *next; ls; ls = next) {
        next = ls->next;
        eddy_buffer_free(&ls->res.hdrs);
        free(ls->path);
        if (tl_last == ls)
            tl_last = NULL;
        free(ls);
    }
    eddy__http_routes_free(s);
    free(s->server_line);
    pthread_mutex_destroy(&s->mu);
    free(s);
}
