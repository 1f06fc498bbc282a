/*
 * The access log hook, called once a response is over: when its last byte was sent, or
 * when the connection closed under it, with the body bytes that were actually sent (a
 * download the client abandoned logs what it got, as nginx does) and the time it ended.
 *
 * A response finished by its handler is usually still in the output queue (it goes out
 * in one write after on_message): its figures wait in a record on the connection, with
 * copies of the request's strings, since the request dies with its handler. Positions in
 * the output are counted in eddy_tcp_connection_bytes_sent units: a record is done once
 * that count reaches its end.
 */
#include "http_internal.h"

#include <stdlib.h>
#include <string.h>

#include "eddy/tls.h"

struct http_logrec {
    struct http_logrec *next;
    uint64_t end;      /* bytes_sent once its last byte is out */
    uint64_t body_off; /* bytes_sent at its first body byte */
    uint64_t body_bytes;
    int status;
    int minor;
    const char *tls_version, *tls_cipher; /* OpenSSL's constant strings: outlive the SSL */
    struct eddy_http_res_log log;         /* views into text */
    char text[];
};

/* What the log says of the connection's TLS, read while it is open (a line may be
 * written after its close). */
struct tls_fields {
    const char *version, *cipher;
};

static struct tls_fields tls_of(const struct eddy_tcp_connection *c)
{
    struct tls_fields t = {NULL, NULL};
    if (c && (t.version = eddy_tls_connection_version(c)) != NULL)
        t.cipher = eddy_tls_connection_cipher(c);
    return t;
}

static void emit(struct http_loop *ls, const struct sockaddr *peer,
                 const struct eddy_http_res_log *l, int status, int minor, uint64_t bytes,
                 struct tls_fields tls)
{
    struct eddy_http_server *s = ls->srv;
    eddy__http_date_line(ls); /* refreshes date_sec */
    struct eddy_http_log_entry e = {
        .method = l->method,
        .target = l->target,
        .user_agent = l->user_agent,
        .referer = l->referer,
        .status = status,
        .minor_version = minor,
        .body_bytes = bytes,
        .peer = peer,
        .time = ls->date_sec,
        .loop = ls->loop,
        .tls_version = tls.version,
        .tls_cipher = tls.cipher,
    };
    s->opt.access_log(&e, s->opt.access_log_data);
}

static uint64_t body_sent(uint64_t sent, uint64_t body_off, uint64_t body_bytes)
{
    if (sent <= body_off)
        return 0;
    /* A chunked body's framing counts too: at most body_bytes. */
    return sent - body_off < body_bytes ? sent - body_off : body_bytes;
}

uint64_t eddy__http_body_sent(struct eddy_tcp_connection *c, const struct eddy_http_response *res)
{
    return body_sent(eddy_tcp_connection_bytes_sent(c), res->body_off, res->body_bytes);
}

/* Appends a record of res behind the others; -1 without memory. */
static int queue(struct http_conn *hc, const struct eddy_http_response *res, uint64_t end,
                 struct tls_fields tls)
{
    const struct eddy_http_str *v[] = {&res->log.method, &res->log.target, &res->log.user_agent,
                                       &res->log.referer};
    size_t total = 0;
    for (size_t i = 0; i < 4; i++)
        total += v[i]->len;
    struct http_logrec *r = malloc(sizeof(*r) + total);
    if (!r)
        return -1;
    *r = (struct http_logrec){.end = end,
                              .body_off = res->body_off,
                              .body_bytes = res->body_bytes,
                              .status = res->status,
                              .minor = res->minor,
                              .tls_version = tls.version,
                              .tls_cipher = tls.cipher};
    struct eddy_http_str *w[] = {&r->log.method, &r->log.target, &r->log.user_agent,
                                 &r->log.referer};
    char *p = r->text;
    for (size_t i = 0; i < 4; i++) {
        if (v[i]->len)
            memcpy(p, v[i]->p, v[i]->len);
        w[i]->p = p;
        w[i]->len = v[i]->len;
        p += v[i]->len;
    }
    struct http_logrec **tail = &hc->logq;
    while (*tail)
        tail = &(*tail)->next;
    *tail = r;
    return 0;
}

void eddy__http_log_response(struct eddy_http_response *res)
{
    struct eddy_tcp_connection *c = res->c;
    if (!res->ls->srv->opt.access_log)
        return;
    const struct sockaddr *peer = res->deferred ? &res->peer.sa : eddy_tcp_connection_peer(c);
    if (!c || !eddy_tcp_connection_is_connected(c)) {
        uint64_t bytes = c ? eddy__http_body_sent(c, res) : res->body_bytes;
        emit(res->ls, peer, &res->log, res->status, res->minor, bytes, tls_of(NULL));
        return;
    }
    struct tls_fields tls = tls_of(c);
    struct http_conn *hc = http_conn_of(c);
    uint64_t sent = eddy_tcp_connection_bytes_sent(c);
    uint64_t end = sent + eddy_tcp_connection_output_queued(c);
    eddy__http_log_progress(c, hc);
    if ((!hc->logq && sent >= end) || queue(hc, res, end, tls) < 0)
        emit(res->ls, peer, &res->log, res->status, res->minor, res->body_bytes, tls);
}

/* Logs and frees the first record, with its body bytes sent by now. */
static void pop(struct eddy_tcp_connection *c, struct http_conn *hc, uint64_t sent)
{
    struct http_logrec *r = hc->logq;
    hc->logq = r->next;
    struct tls_fields tls = {r->tls_version, r->tls_cipher};
    emit(hc->ls, eddy_tcp_connection_peer(c), &r->log, r->status, r->minor,
         body_sent(sent, r->body_off, r->body_bytes), tls);
    free(r);
}

void eddy__http_log_progress(struct eddy_tcp_connection *c, struct http_conn *hc)
{
    uint64_t sent = eddy_tcp_connection_bytes_sent(c);
    while (hc->logq && hc->logq->end <= sent)
        pop(c, hc, sent);
}

void eddy__http_log_close(struct eddy_tcp_connection *c, struct http_conn *hc)
{
    uint64_t sent = eddy_tcp_connection_bytes_sent(c);
    while (hc->logq)
        pop(c, hc, sent);
}
