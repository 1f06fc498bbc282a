/*
 * Responses, written straight into the connection's output buffer: the head (status
 * line, Date, Server, the handler's fields, framing and Connection) is assembled in one
 * pass after a single ensure_writable, so a small response costs a few memcpy.
 */
#include "http_ctype.h"
#include "http_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

static const struct {
    short code;
    const char *reason;
} reasons[] = {
    {100, "Continue"},
    {101, "Switching Protocols"},
    {200, "OK"},
    {201, "Created"},
    {202, "Accepted"},
    {203, "Non-Authoritative Information"},
    {204, "No Content"},
    {205, "Reset Content"},
    {206, "Partial Content"},
    {300, "Multiple Choices"},
    {301, "Moved Permanently"},
    {302, "Found"},
    {303, "See Other"},
    {304, "Not Modified"},
    {307, "Temporary Redirect"},
    {308, "Permanent Redirect"},
    {400, "Bad Request"},
    {401, "Unauthorized"},
    {403, "Forbidden"},
    {404, "Not Found"},
    {405, "Method Not Allowed"},
    {406, "Not Acceptable"},
    {408, "Request Timeout"},
    {409, "Conflict"},
    {410, "Gone"},
    {411, "Length Required"},
    {412, "Precondition Failed"},
    {413, "Content Too Large"},
    {414, "URI Too Long"},
    {415, "Unsupported Media Type"},
    {416, "Range Not Satisfiable"},
    {417, "Expectation Failed"},
    {421, "Misdirected Request"},
    {422, "Unprocessable Content"},
    {426, "Upgrade Required"},
    {428, "Precondition Required"},
    {429, "Too Many Requests"},
    {431, "Request Header Fields Too Large"},
    {500, "Internal Server Error"},
    {501, "Not Implemented"},
    {502, "Bad Gateway"},
    {503, "Service Unavailable"},
    {504, "Gateway Timeout"},
    {505, "HTTP Version Not Supported"},
};

const char *eddy_http_status_reason(int status)
{
    size_t lo = 0, hi = sizeof(reasons) / sizeof(reasons[0]);
    while (lo < hi) { /* the table is sorted by code */
        size_t mid = (lo + hi) / 2;
        if (reasons[mid].code == status)
            return reasons[mid].reason;
        if (reasons[mid].code < status)
            lo = mid + 1;
        else
            hi = mid;
    }
    return "Unknown";
}

static size_t fmt_u64(char *p, uint64_t v)
{
    char tmp[20];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (size_t i = 0; i < n; i++)
        p[i] = tmp[n - 1 - i];
    return n;
}

void eddy__http_response_reset(struct eddy_http_response *res, struct eddy_tcp_connection *c,
                               struct http_loop *ls, const struct http_response_owner *owner,
                               const struct eddy_http_request_head *h, int keep_alive)
{
    res->c = c;
    res->ls = ls;
    res->owner = owner;
    eddy_buffer_retrieve_all(&res->hdrs);
    res->status = 200;
    res->state = RES_NEW;
    res->deferred = 0;
    res->head_only = h && h->method_id == EDDY_HTTP_HEAD;
    res->minor = h ? (uint8_t)h->minor_version : 1;
    res->close = !keep_alive;
    res->server_set = res->chunked = res->in_handler = res->in_write = 0;
    res->remaining = -1;
    res->body_bytes = res->body_off = 0;
    memset(&res->log, 0, sizeof(res->log));
    res->log_copy = NULL;
    res->drain_cb = res->gone_cb = NULL;
    res->cb_arg = NULL;
    if (h) {
        res->log.method = h->method;
        res->log.target = h->target;
    }
}

/* ---- header fields ------------------------------------------------------------------ */

/* The library's own fields; the handler may not set them. */
static int reserved_name(const char *n, size_t len)
{
    switch (len) {
    case 4:
        return strncasecmp(n, "Date", 4) == 0;
    case 10:
        return strncasecmp(n, "Connection", 10) == 0;
    case 14:
        return strncasecmp(n, "Content-Length", 14) == 0;
    case 17:
        return strncasecmp(n, "Transfer-Encoding", 17) == 0;
    default:
        return 0;
    }
}

int eddy_http_response_add_header_n(struct eddy_http_response *res, const char *name,
                                    size_t name_len, const char *value, size_t value_len)
{
    if (res->state != RES_NEW)
        return -EALREADY;
    if (name_len == 0 || reserved_name(name, name_len))
        return -EINVAL;
    for (size_t i = 0; i < name_len; i++)
        if (!eddy__hc((unsigned char)name[i], EDDY__HC_TOKEN))
            return -EINVAL;
    for (size_t i = 0; i < value_len; i++) /* no CR, LF, NUL or other controls */
        if (!eddy__hc((unsigned char)value[i], EDDY__HC_VALUE))
            return -EINVAL;
    struct eddy_buffer *b = &res->hdrs;
    if (eddy_buffer_ensure_writable(b, name_len + value_len + 4) < 0)
        return -ENOMEM;
    char *p = eddy_buffer_begin_write(b);
    memcpy(p, name, name_len);
    memcpy(p + name_len, ": ", 2);
    memcpy(p + name_len + 2, value, value_len);
    memcpy(p + name_len + 2 + value_len, "\r\n", 2);
    eddy_buffer_has_written(b, name_len + value_len + 4);
    if (name_len == 6 && strncasecmp(name, "Server", 6) == 0)
        res->server_set = 1;
    return 0;
}

int eddy__http_response_add_fields(struct eddy_http_response *res, const char *p, size_t len)
{
    if (res->state != RES_NEW)
        return -EALREADY;
    return eddy_buffer_append(&res->hdrs, p, len);
}

int eddy_http_response_add_header(struct eddy_http_response *res, const char *name,
                                  const char *value)
{
    return eddy_http_response_add_header_n(res, name, strlen(name), value, strlen(value));
}

/* Removes every line "name: ..." from the handler's fields. */
static void remove_header(struct eddy_buffer *b, const char *name, size_t len)
{
    char *p = b->data ? b->data + b->rd : NULL, *end = p ? b->data + b->wr : NULL;
    while (p && p < end) {
        char *eol = memchr(p, '\n', (size_t)(end - p)) + 1;
        if ((size_t)(eol - p) > len && p[len] == ':' && strncasecmp(p, name, len) == 0) {
            memmove(p, eol, (size_t)(end - eol));
            end -= eol - p;
            b->wr -= (size_t)(eol - p);
        } else {
            p = eol;
        }
    }
}

int eddy_http_response_set_header(struct eddy_http_response *res, const char *name,
                                  const char *value)
{
    if (res->state != RES_NEW)
        return -EALREADY;
    size_t len = strlen(name);
    if (len == 0 || reserved_name(name, len))
        return -EINVAL;
    remove_header(&res->hdrs, name, len);
    if (len == 6 && strncasecmp(name, "Server", 6) == 0)
        res->server_set = 0;
    return eddy_http_response_add_header_n(res, name, len, value, strlen(value));
}

void eddy_http_response_set_status(struct eddy_http_response *res, int status)
{
    if (res->state == RES_NEW)
        res->status = status;
}

void eddy_http_response_set_close(struct eddy_http_response *res)
{
    if (res->state == RES_NEW)
        res->close = 1;
}

/* ---- the head ----------------------------------------------------------------------- */

static int status_has_body(int status)
{
    return status >= 200 && status != 204 && status != 304;
}

/*
 * Writes the head into the output buffer and reserves `extra` more writable bytes for
 * the body. body_len >= 0: Content-Length; -1: chunked (1.1) or close-delimited (1.0).
 * Returns where the body may be written, or NULL on -ENOMEM.
 */
static char *write_head(struct eddy_http_response *res, int64_t body_len, size_t extra)
{
    struct eddy_http_server *s = res->ls->srv;
    struct eddy_buffer *out = eddy_tcp_connection_output(res->c);
    if (res->status < 200 || res->status > 999)
        res->status = 500;
    if (atomic_load_explicit(&s->stopping, memory_order_relaxed))
        res->close = 1; /* graceful stop: this is the connection's last response */
    int st = res->status;
    const char *reason = st == 200 ? "OK" : eddy_http_status_reason(st);
    size_t rlen = st == 200 ? 2 : strlen(reason);
    int server = s->server_line && !res->server_set;
    size_t need = 13 + rlen + 2 + 37 + (server ? s->server_line_len : 0) +
                  eddy_buffer_readable(&res->hdrs) + 48 + 24 + 2 + extra;
    if (eddy_buffer_ensure_writable(out, need) < 0)
        return NULL;
    char *p0 = eddy_buffer_begin_write(out), *p = p0;
    memcpy(p, "HTTP/1.1 ", 9);
    p[9] = (char)('0' + st / 100), p[10] = (char)('0' + st / 10 % 10);
    p[11] = (char)('0' + st % 10), p[12] = ' ';
    memcpy(p + 13, reason, rlen);
    p += 13 + rlen;
    *p++ = '\r', *p++ = '\n';
    memcpy(p, eddy__http_date_line(res->ls), 37);
    p += 37;
    if (server) {
        memcpy(p, s->server_line, s->server_line_len);
        p += s->server_line_len;
    }
    memcpy(p, eddy_buffer_peek(&res->hdrs), eddy_buffer_readable(&res->hdrs));
    p += eddy_buffer_readable(&res->hdrs);
    if (status_has_body(st)) {
        if (body_len >= 0) {
            memcpy(p, "Content-Length: ", 16);
            p += 16;
            p += fmt_u64(p, (uint64_t)body_len);
            *p++ = '\r', *p++ = '\n';
        } else if (res->minor >= 1) {
            memcpy(p, "Transfer-Encoding: chunked\r\n", 28);
            p += 28;
            res->chunked = 1;
        } else if (!res->head_only) {
            res->close = 1; /* HTTP/1.0: the end of the body is the end of the connection */
        }
    }
    if (res->close) {
        memcpy(p, "Connection: close\r\n", 19);
        p += 19;
    } else if (res->minor == 0) {
        memcpy(p, "Connection: keep-alive\r\n", 24);
        p += 24;
    }
    *p++ = '\r', *p++ = '\n';
    eddy_buffer_has_written(out, (size_t)(p - p0));
    if (s->opt.access_log)
        res->body_off =
            eddy_tcp_connection_bytes_sent(res->c) + eddy_tcp_connection_output_queued(res->c);
    return p;
}

/* The response ends: queued bytes go out if we are not inside on_message. */
static int finish(struct eddy_http_response *res, int rc)
{
    res->state = RES_DONE;
    res->owner->done(res);
    return rc;
}

/* A deferred handle whose connection closed: finishing only frees it. */
static int gone(struct eddy_http_response *res)
{
    if (res->c && eddy_tcp_connection_is_connected(res->c))
        return 0;
    if (res->state != RES_DONE)
        finish(res, 0);
    return 1;
}

int eddy_http_response_send(struct eddy_http_response *res, const void *body, size_t len)
{
    if (res->state != RES_NEW)
        return -EALREADY;
    if (gone(res))
        return -EPIPE;
    int with_body = !res->head_only && status_has_body(res->status);
    char *p = write_head(res, (int64_t)len, with_body ? len : 0);
    if (!p) {
        res->close = 1;
        return finish(res, -ENOMEM);
    }
    if (with_body && len) {
        memcpy(p, body, len);
        eddy_buffer_has_written(eddy_tcp_connection_output(res->c), len);
        res->body_bytes = len;
    }
    return finish(res, 0);
}

int eddy_http_response_reply(struct eddy_http_response *res, int status, const char *content_type,
                             const void *body, size_t len)
{
    if (res->state != RES_NEW)
        return -EALREADY;
    res->status = status;
    if (content_type) {
        int rc = eddy_http_response_add_header_n(res, "Content-Type", 12, content_type,
                                                 strlen(content_type));
        if (rc < 0)
            return rc;
    }
    return eddy_http_response_send(res, body, len);
}

int eddy_http_response_send_error(struct eddy_http_response *res, int status)
{
    char body[256];
    if (res->state != RES_NEW)
        return -EALREADY;
    const char *reason = eddy_http_status_reason(status);
    int n = snprintf(body, sizeof(body),
                     "<!DOCTYPE html>\n<html><head><title>%d %s</title></head>"
                     "<body><h1>%d %s</h1></body></html>\n",
                     status, reason, status, reason);
    eddy_http_response_set_header(res, "Content-Type", "text/html; charset=utf-8");
    res->status = status;
    return eddy_http_response_send(res, body, (size_t)n);
}

/* send_file and send_file_ref: the file is given back (closed, released) on every path. */
static int send_file_body(struct eddy_http_response *res, int fd, off_t offset, size_t len,
                          int close_fd, void (*release)(void *), void *arg)
{
    int rc = 0, owned = 1;
    if (res->state != RES_NEW) {
        rc = -EALREADY;
    } else if (gone(res)) {
        rc = -EPIPE;
    } else if (!write_head(res, (int64_t)len, 0)) {
        res->close = 1;
        rc = finish(res, -ENOMEM);
    } else if (!res->head_only && status_has_body(res->status) && len) {
        rc = release ? eddy_tcp_connection_send_file_ref(res->c, fd, offset, len, release, arg)
                     : eddy_tcp_connection_send_file(res->c, fd, offset, len, close_fd);
        owned = 0; /* the connection gives it back now, also on failure */
        if (rc < 0)
            res->close = 1;
        else
            res->body_bytes = len;
        finish(res, rc);
    } else {
        finish(res, 0);
    }
    if (owned && release)
        release(arg);
    else if (owned && close_fd)
        close(fd);
    return rc;
}

int eddy_http_response_send_file(struct eddy_http_response *res, int fd, off_t offset, size_t len,
                                 int close_fd)
{
    return send_file_body(res, fd, offset, len, close_fd, NULL, NULL);
}

int eddy_http_response_send_file_ref(struct eddy_http_response *res, int fd, off_t offset,
                                     size_t len, void (*release)(void *arg), void *arg)
{
    return send_file_body(res, fd, offset, len, 0, release, arg);
}

/* ---- streaming ---------------------------------------------------------------------- */

/* Deferred writes happen outside on_message: write them now. */
static int flush_if_deferred(struct eddy_http_response *res)
{
    if (res->deferred && !res->in_handler && res->c) {
        res->in_write = 1; /* a close inside the flush must not run the gone callback */
        eddy_tcp_connection_flush(res->c);
        res->in_write = 0;
    }
    return res->c ? 0 : -EPIPE;
}

int eddy_http_response_start(struct eddy_http_response *res, int64_t content_length)
{
    if (res->state != RES_NEW)
        return -EALREADY;
    if (gone(res))
        return -EPIPE;
    if (!write_head(res, content_length < 0 ? -1 : content_length, 0)) {
        res->close = 1;
        return finish(res, -ENOMEM);
    }
    res->state = RES_STREAMING;
    res->remaining = content_length < 0 ? -1 : content_length;
    return flush_if_deferred(res);
}

int eddy_http_response_write(struct eddy_http_response *res, const void *data, size_t len)
{
    if (res->state != RES_STREAMING)
        return -EALREADY;
    if (!res->c || !eddy_tcp_connection_is_connected(res->c))
        return -EPIPE;
    if (res->remaining >= 0 && (uint64_t)res->remaining < len)
        return -EINVAL;
    if (len == 0 || res->head_only || !status_has_body(res->status))
        return 0;
    struct eddy_buffer *out = eddy_tcp_connection_output(res->c);
    if (eddy_buffer_ensure_writable(out, len + 24) < 0)
        return -ENOMEM;
    char *p0 = eddy_buffer_begin_write(out), *p = p0;
    if (res->chunked) {
        static const char hex[] = "0123456789abcdef";
        char tmp[16];
        int n = 0;
        for (size_t v = len; v; v >>= 4)
            tmp[n++] = hex[v & 15];
        while (n)
            *p++ = tmp[--n];
        *p++ = '\r', *p++ = '\n';
    }
    memcpy(p, data, len);
    p += len;
    if (res->chunked)
        *p++ = '\r', *p++ = '\n';
    eddy_buffer_has_written(out, (size_t)(p - p0));
    res->body_bytes += len;
    if (res->remaining >= 0)
        res->remaining -= (int64_t)len;
    return flush_if_deferred(res);
}

int eddy_http_response_write_file(struct eddy_http_response *res, int fd, off_t offset, size_t len,
                                  int close_fd)
{
    int rc = 0;
    if (res->state != RES_STREAMING)
        rc = -EALREADY;
    else if (!res->c || !eddy_tcp_connection_is_connected(res->c))
        rc = -EPIPE;
    else if (res->chunked || (res->remaining >= 0 && (uint64_t)res->remaining < len))
        rc = -EINVAL;
    else if (len > 0 && !res->head_only && status_has_body(res->status)) {
        rc = eddy_tcp_connection_send_file(res->c, fd, offset, len, close_fd);
        close_fd = 0; /* send_file owns it now, also on failure */
        if (rc == 0) {
            res->body_bytes += len;
            if (res->remaining >= 0)
                res->remaining -= (int64_t)len;
            rc = flush_if_deferred(res);
        }
    }
    if (close_fd)
        close(fd);
    return rc;
}

int eddy_http_response_end(struct eddy_http_response *res)
{
    if (res->state == RES_NEW)
        return eddy_http_response_send(res, "", 0);
    if (res->state != RES_STREAMING)
        return -EALREADY;
    if (!res->c)
        return finish(res, -EPIPE);
    if (res->chunked && !res->head_only) {
        if (eddy_buffer_append(eddy_tcp_connection_output(res->c), "0\r\n\r\n", 5) < 0)
            res->close = 1;
    }
    if (res->remaining > 0 && !res->head_only)
        res->close = 1; /* fewer bytes than declared: only closing can tell the client */
    return finish(res, 0);
}

/* ---- deferral ----------------------------------------------------------------------- */

/* Copies the strings the access log will need, since the request dies with the handler. */
static int copy_log_views(struct eddy_http_response *d)
{
    struct eddy_http_str *v[] = {&d->log.method, &d->log.target, &d->log.user_agent,
                                 &d->log.referer};
    size_t total = 0;
    for (size_t i = 0; i < 4; i++)
        total += v[i]->len;
    if (total == 0)
        return 0;
    char *p = d->log_copy = malloc(total);
    if (!p)
        return -ENOMEM;
    for (size_t i = 0; i < 4; i++) {
        if (v[i]->len)
            memcpy(p, v[i]->p, v[i]->len);
        v[i]->p = p;
        p += v[i]->len;
    }
    return 0;
}

struct eddy_http_response *eddy_http_response_defer(struct eddy_http_response *res)
{
    if (res->deferred && res != &res->ls->res)
        return res;    /* already the long-lived handle */
    if (res->deferred) /* deferred twice by its handler: the same handle */
        return res->c ? res->owner->deferred(res) : NULL;
    if (res->state == RES_DONE)
        return NULL;
    struct eddy_http_response *d = malloc(sizeof(*d));
    if (!d)
        return NULL;
    *d = *res;
    eddy_buffer_init(&d->hdrs);
    if (eddy_buffer_append(&d->hdrs, eddy_buffer_peek(&res->hdrs),
                           eddy_buffer_readable(&res->hdrs)) < 0 ||
        (res->ls->srv->opt.access_log && copy_log_views(d) < 0)) {
        eddy_buffer_free(&d->hdrs);
        free(d);
        return NULL;
    }
    d->deferred = 1;
    const struct sockaddr *peer = eddy_tcp_connection_peer(res->c);
    memset(&d->peer, 0, sizeof d->peer); /* a Unix name is read up to its NUL or end */
    memcpy(&d->peer, peer, eddy_sockaddr_len(peer));
    if (res->owner->adopt(res, d) < 0) {
        free(d->log_copy);
        eddy_buffer_free(&d->hdrs);
        free(d);
        return NULL;
    }
    res->deferred = 1;     /* tells the caller of the handler that d now carries the response */
    res->state = RES_DONE; /* the old handle answers -EALREADY from now on */
    return d;
}

int eddy_http_response_aborted(const struct eddy_http_response *res)
{
    return res->c == NULL;
}

size_t eddy_http_response_queued(const struct eddy_http_response *res)
{
    return res->c ? eddy_tcp_connection_output_queued(res->c) : 0;
}

struct eddy_event_loop *eddy_http_response_loop(const struct eddy_http_response *res)
{
    return res->ls->loop;
}

void eddy_http_response_abort(struct eddy_http_response *res)
{
    if (res->state == RES_DONE)
        return;
    if (res->c) {
        res->owner->abort(res);
        res->close = 1;
    }
    res->status = res->state == RES_NEW ? 499 : res->status; /* for the log: never sent */
    finish(res, 0);
}

void eddy_http_response_set_callbacks(struct eddy_http_response *res, eddy_http_response_cb drain,
                                      eddy_http_response_cb gone, void *arg)
{
    if (!res->deferred)
        return; /* a synchronous response is over when its handler returns */
    res->drain_cb = drain;
    res->gone_cb = gone;
    res->cb_arg = arg;
}

/* The connection closed under a deferred response: the app still holds the handle. */
void eddy__http_response_abandon(struct eddy_http_response *res)
{
    if (res->c && res->ls->srv->opt.access_log)
        res->body_bytes = eddy__http_body_sent(res->c, res); /* for the log */
    res->c = NULL;
    if (res->gone_cb && res->state != RES_DONE && !res->in_write)
        res->gone_cb(res, res->cb_arg); /* may finish (free) res */
}

void eddy__http_response_drained(struct eddy_http_response *res)
{
    if (res->drain_cb && res->state != RES_DONE && !res->in_write)
        res->drain_cb(res, res->cb_arg); /* may finish (free) res */
}
