/*
 * Request bodies that do not arrive with their head: gathered in slow->msg (Content-Length
 * or chunked, de-chunked in place) or, for a route that reads none, dropped as they
 * arrive; Expect: 100-continue answered before the first body byte. The request runs
 * once its body is complete (eddy__http_body_dispatch).
 */
#include "http_internal.h"

#include <string.h>

/* Expect: 100-continue before any body byte: say go if a handler will read the body,
 * else give the final answer now (nginx does the same), so the client does not upload
 * for nothing. After a final answer the client may send the body or not: closing is the
 * only safe framing. -1: answered. */
static int answer_expect(struct eddy_tcp_connection *c, struct http_conn *hc,
                         const struct http_route *r, ssize_t plen, unsigned allow)
{
    struct http_loop *ls = hc->ls;
    if (r && !(r->flags & EDDY_HTTP_ROUTE_NO_BODY))
        return eddy_buffer_append(eddy_tcp_connection_output(c), "HTTP/1.1 100 Continue\r\n\r\n",
                                  25);
    if (r) {
        eddy__http_dispatch(c, hc, &ls->head, NULL, 0, 1);
        return -1;
    }
    eddy__http_response_reset(&ls->res, c, ls, &eddy__http_conn_owner, &ls->head, 0);
    eddy__http_answer_unrouted(&ls->res, &ls->head, plen, allow);
    eddy__http_begin_close(c, hc);
    return -1;
}

/* The head (n bytes of src) is complete and a body follows that is not all here. */
void eddy__http_body_start(struct eddy_tcp_connection *c, struct http_conn *hc,
                           struct eddy_buffer *src, size_t n)
{
    const struct eddy_http_request_head *h = &hc->ls->head;
    struct http_slow *sl = eddy__http_slow(hc);
    if (!sl || eddy_buffer_append(&sl->msg, eddy_buffer_peek(src), n) < 0) {
        eddy__http_reject(c, hc, 500);
        return;
    }
    ssize_t plen;
    unsigned allow;
    const struct http_route *r = eddy__http_find_route(hc->ls, &plen, &allow);
    if (h->expect_continue && eddy_buffer_readable(src) == n &&
        answer_expect(c, hc, r, plen, allow) < 0) {
        eddy_buffer_free(&sl->msg);
        eddy_buffer_retrieve(src, n);
        return;
    }
    eddy_buffer_retrieve(src, n);
    sl->head_len = n;
    sl->chunked = h->chunked;
    /* Only the head is kept of a body nobody will read (nginx discards it likewise). */
    sl->discard = !r || (r->flags & EDDY_HTTP_ROUTE_NO_BODY);
    sl->body_got = 0;
    sl->body_len = h->chunked ? 0 : (uint64_t)h->content_length;
    if (h->chunked)
        eddy_http_chunked_init(&sl->dec, http_srv_of(hc)->opt.max_body);
    hc->phase = PH_BODY;
    eddy__http_restart_deadline(c, hc);
}

/* Decodes the chunked body at the front of src into nothing: the result of
 * eddy_http_decode_chunked, with *used set to the bytes of src that belong to the body. */
static ssize_t drop_chunked(struct http_slow *sl, struct eddy_buffer *src, size_t *used)
{
    const char *p = eddy_buffer_peek(src);
    size_t avail = eddy_buffer_readable(src);
    char tmp[4096]; /* the decoder works in place: on a copy, src keeps the next request */
    for (*used = 0; *used < avail;) {
        size_t n = avail - *used < sizeof(tmp) ? avail - *used : sizeof(tmp);
        size_t len = n;
        memcpy(tmp, p + *used, n);
        ssize_t r = eddy_http_decode_chunked(&sl->dec, tmp, &len);
        if (r != EDDY_HTTP_INCOMPLETE) {
            if (r >= 0)
                *used += n - (size_t)r;
            return r;
        }
        *used += n;
    }
    return EDDY_HTTP_INCOMPLETE;
}

/* Moves body bytes from src into slow->msg, or drops them (sl->discard). 1: body
 * complete; 0: need more; -1: failed. */
int eddy__http_body_feed(struct eddy_tcp_connection *c, struct http_conn *hc,
                         struct eddy_buffer *src)
{
    struct http_slow *sl = hc->slow;
    size_t avail = eddy_buffer_readable(src);
    if (!sl->chunked) {
        size_t take =
            sl->body_len - sl->body_got < avail ? (size_t)(sl->body_len - sl->body_got) : avail;
        if (take && !sl->discard && eddy_buffer_append(&sl->msg, eddy_buffer_peek(src), take) < 0) {
            eddy__http_reject(c, hc, 500);
            return -1;
        }
        eddy_buffer_retrieve(src, take);
        sl->body_got += take;
        if (sl->body_got == sl->body_len)
            return 1;
        eddy__http_restart_deadline(c, hc);
        return 0;
    }
    if (!avail)
        return 0;
    if (sl->discard) {
        size_t used;
        ssize_t r = drop_chunked(sl, src, &used);
        if (r == EDDY_HTTP_ERROR) {
            eddy__http_reject(c, hc, sl->dec.status);
            return -1;
        }
        eddy_buffer_retrieve(src, used);
        if (r == EDDY_HTTP_INCOMPLETE) {
            eddy__http_restart_deadline(c, hc);
            return 0;
        }
        return 1;
    }
    if (eddy_buffer_ensure_writable(&sl->msg, avail) < 0) {
        eddy__http_reject(c, hc, 500);
        return -1;
    }
    /* Decode in place at the end of msg; the decoder keeps only body bytes. */
    char *p = eddy_buffer_begin_write(&sl->msg);
    memcpy(p, eddy_buffer_peek(src), avail);
    size_t len = avail;
    ssize_t r = eddy_http_decode_chunked(&sl->dec, p, &len);
    if (r == EDDY_HTTP_ERROR) {
        eddy__http_reject(c, hc, sl->dec.status);
        return -1;
    }
    eddy_buffer_has_written(&sl->msg, len);
    if (r == EDDY_HTTP_INCOMPLETE) {
        eddy_buffer_retrieve(src, avail);
        eddy__http_restart_deadline(c, hc);
        return 0;
    }
    eddy_buffer_retrieve(src, avail - (size_t)r); /* the rest is the next request */
    return 1;
}

/* The body in slow->msg is complete: parse its head again (the per-loop head struct may
 * have served other connections since) and dispatch. */
void eddy__http_body_dispatch(struct eddy_tcp_connection *c, struct http_conn *hc)
{
    struct http_slow *sl = hc->slow;
    struct http_loop *ls = hc->ls;
    const char *p = eddy_buffer_peek(&sl->msg);
    int n = eddy_http_parse_request(p, sl->head_len, &ls->head, &ls->srv->lim);
    hc->phase = PH_IDLE;
    if (n != (int)sl->head_len) {
        eddy__http_reject(c, hc, 500);
    } else {
        if (!sl->discard)
            ls->head.content_length = (int64_t)(eddy_buffer_readable(&sl->msg) - sl->head_len);
        eddy__http_dispatch(c, hc, &ls->head, p + n, eddy_buffer_readable(&sl->msg) - sl->head_len,
                            0);
    }
    if (hc->slow)
        eddy_buffer_free(&hc->slow->msg);
}
