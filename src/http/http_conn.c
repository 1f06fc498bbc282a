/*
 * One HTTP/1.1 connection: the tcp_connection callbacks, the request loop, bodies,
 * pipelining, backpressure and timeouts.
 *
 * Common case (whole requests in one read, synchronous handlers): every complete request
 * in `in` is parsed in place, dispatched and consumed; responses are appended to the
 * output buffer and tcp_connection writes them all with one write after on_message.
 * Nothing is allocated and the only timer work is storing a new deadline.
 *
 * Everything else goes through struct http_slow (see http_internal.h): a body arriving
 * over several reads or chunked is gathered in slow->msg; bytes received while we may
 * not process them (a deferred response, output past the high-water mark) wait in
 * slow->stash, since tcp_connection hands its input buffer out only during on_message.
 *
 * One timer per connection, re-armed lazily: hc->deadline is what counts; the timer may
 * fire early, and then re-arms itself for the deadline. Moving a deadline later costs a
 * store; only an earlier deadline restarts the timer.
 */
#include "http_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static void process(struct eddy_tcp_connection *c, struct http_conn *hc, struct eddy_buffer *src);

static struct eddy_http_server *srv_of(struct http_conn *hc)
{
    return hc->ls->srv;
}

static int paused(const struct http_conn *hc)
{
    return (hc->flags & HC_PAUSED_HW) || hc->phase == PH_WAIT;
}

static void set_deadline(struct http_conn *hc, unsigned ms)
{
    if (!ms) {
        hc->deadline = 0;
        return;
    }
    uint64_t now = eddy_event_loop_now(hc->ls->loop);
    hc->deadline = now + ms;
    if (!eddy_timer_is_active(&hc->timer) || hc->timer.when > hc->deadline)
        eddy_timer_start(&hc->timer, ms, 0);
}

/* The deadline that belongs to the current phase. */
static void phase_deadline(struct http_conn *hc)
{
    const struct eddy_http_server_options *o = &srv_of(hc)->opt;
    switch (hc->phase) {
    case PH_FRESH:
    case PH_HEAD:
        set_deadline(hc, o->header_timeout_ms);
        break;
    case PH_IDLE:
        set_deadline(hc, o->keepalive_timeout_ms);
        break;
    case PH_BODY:
        set_deadline(hc, o->body_timeout_ms);
        break;
    case PH_CLOSING:
        set_deadline(hc, (hc->flags & HC_TIMED_OUT) ? HTTP_LINGER_TIMEOUT_MS : HTTP_LINGER_MS);
        break;
    default:
        hc->deadline = 0;
        break;
    }
}

static void set_reading(struct eddy_tcp_connection *c, struct http_conn *hc, int on)
{
    if (on && (hc->flags & HC_NOT_READING)) {
        hc->flags &= (uint16_t)~HC_NOT_READING;
        eddy_tcp_connection_set_reading(c, 1);
    } else if (!on && !(hc->flags & HC_NOT_READING)) {
        hc->flags |= HC_NOT_READING;
        eddy_tcp_connection_set_reading(c, 0);
    }
}

/* A client that half-closed cannot tell us it left: a deferred response it waits for
 * must make progress (a write) within send_timeout_ms, else the connection closes and
 * the handler gets its gone callback. */
static void bound_wait(struct eddy_tcp_connection *c, struct http_conn *hc)
{
    if (hc->phase == PH_WAIT && eddy_tcp_connection_peer_eof(c))
        set_deadline(hc, srv_of(hc)->opt.send_timeout_ms);
}

struct http_slow *eddy__http_slow(struct http_conn *hc)
{
    if (!hc->slow)
        hc->slow = calloc(1, sizeof(*hc->slow));
    return hc->slow;
}

static void release_slow(struct http_conn *hc, int force)
{
    struct http_slow *sl = hc->slow;
    if (!sl)
        return;
    if (!force && (eddy_buffer_readable(&sl->stash) || hc->phase == PH_BODY || sl->deferred))
        return;
    struct eddy_http_response *d = sl->deferred;
    eddy_buffer_free(&sl->stash);
    eddy_buffer_free(&sl->msg);
    free(sl);
    hc->slow = NULL;
    if (d)
        eddy__http_response_abandon(d); /* last: its callback may finish d */
}

/* FIN after the last response, then drain input until the peer's FIN or the linger
 * deadline, so unread request bytes never turn the close into a reset. */
static void linger(struct eddy_tcp_connection *c, struct http_conn *hc)
{
    if ((hc->flags & HC_BUSY) && eddy_tcp_connection_peer_eof(c)) {
        /* With the client's FIN read, the half-close would close c at once, freeing the
         * stash process() is reading: process() closes at its end instead. */
        hc->flags |= HC_QUICK_CLOSE;
        return;
    }
    eddy_tcp_connection_shutdown(c);
    set_reading(c, hc, 1);
}

/* The last response is queued. */
static void begin_close(struct eddy_tcp_connection *c, struct http_conn *hc)
{
    if (hc->phase == PH_CLOSING || hc->phase == PH_CLOSED)
        return;
    hc->phase = PH_CLOSING;
    hc->flags &= (uint16_t)~HC_PAUSED_HW;
    linger(c, hc);
    phase_deadline(hc);
}

/* A library-made error response (framing error, limit, timeout), then close. */
static void reject(struct eddy_tcp_connection *c, struct http_conn *hc, int status)
{
    eddy__http_conn_error(c, hc->ls, status);
    begin_close(c, hc);
}

/* After a response is complete: close, or wait for the next request. */
static void after_response(struct eddy_tcp_connection *c, struct http_conn *hc, int close)
{
    if (hc->phase == PH_CLOSED)
        return; /* the response's own write failed and closed c */
    if (close || (hc->flags & HC_STOPPING)) {
        if ((hc->flags & (HC_BUSY | HC_CLIENT_CLOSE)) == (HC_BUSY | HC_CLIENT_CLOSE)) {
            /* Lingering is for a client that may still be sending: process() knows at
             * its end whether this one left anything unread. */
            hc->phase = PH_CLOSING;
            hc->flags = (uint16_t)((hc->flags & ~HC_PAUSED_HW) | HC_QUICK_CLOSE);
            phase_deadline(hc); /* bounds the wait for the output to drain */
            return;
        }
        begin_close(c, hc);
        return;
    }
    hc->phase = PH_IDLE;
    if (!hc->last_queued) /* else the send timeout runs until the output drains */
        set_deadline(hc, srv_of(hc)->opt.keepalive_timeout_ms);
    if (eddy_tcp_connection_output_held(c) >= hc->ls->high_water) {
        hc->flags |= HC_PAUSED_HW;
        set_reading(c, hc, 0);
    }
}

/*
 * Writes what is queued. Output a write leaves behind (a client reading slowly or not at
 * all) puts a connection that waits for nothing else (idle, closing) under the send
 * timeout from now, which progress renews (on_timer); on_write_complete starts the
 * keep-alive or linger deadline once it drained. A response written whole at once, the
 * common case, costs nothing here: on_write_complete has already run when the flush
 * returns and nothing is queued.
 */
static void flush_out(struct eddy_tcp_connection *c, struct http_conn *hc)
{
    if (eddy_tcp_connection_flush(c) < 0 || (hc->phase != PH_IDLE && hc->phase != PH_CLOSING))
        return;
    size_t q = eddy_tcp_connection_output_queued(c);
    if (!q)
        return;
    if (!hc->last_queued) /* a period already running is not extended by more output */
        set_deadline(hc, srv_of(hc)->opt.send_timeout_ms);
    hc->last_queued = q;
}

/* Before more output is queued behind what is still there: if some of that was written
 * since the last look, the client reads, so the send period starts again. */
static void note_progress(struct eddy_tcp_connection *c, struct http_conn *hc)
{
    size_t q = eddy_tcp_connection_output_queued(c);
    if (q < hc->last_queued) {
        hc->last_queued = q;
        set_deadline(hc, srv_of(hc)->opt.send_timeout_ms);
    }
}

/* ---- dispatch ----------------------------------------------------------------------- */

static void fill_log_views(struct eddy_http_response *res, const struct eddy_http_request_head *h)
{
    size_t pos = 0;
    const struct eddy_http_header *f = eddy_http_header_find(h, "User-Agent", &pos);
    if (f)
        res->log.user_agent = f->value;
    pos = 0;
    f = eddy_http_header_find(h, "Referer", &pos);
    if (f)
        res->log.referer = f->value;
}

/* Normalises the target into ls->path. Length, or -1 for a 400. */
static ssize_t normalise(struct http_loop *ls, const struct eddy_http_request_head *h,
                         struct eddy_http_str *query)
{
    query->p = NULL;
    query->len = 0;
    if (h->form != EDDY_HTTP_FORM_ORIGIN && h->form != EDDY_HTTP_FORM_ABSOLUTE)
        return -1;
    ssize_t n = eddy_http_normalize_path(h->path.p, h->path.len, ls->path, ls->path_cap, query);
    return n < 0 ? -1 : n;
}

/* Answers requests no handler takes: OPTIONS *, CONNECT, bad paths, 404, 405. */
static void answer_unrouted(struct eddy_http_response *res, const struct eddy_http_request_head *h,
                            ssize_t plen, unsigned allow)
{
    char line[96];
    if (h->form == EDDY_HTTP_FORM_ASTERISK) {
        eddy_http_response_set_status(res, 204);
        eddy_http_response_send(res, "", 0);
    } else if (h->form == EDDY_HTTP_FORM_AUTHORITY) {
        eddy_http_response_send_error(res, 501);
    } else if (plen < 0) {
        res->close = 1; /* a client sending such targets gets no second chance */
        eddy_http_response_send_error(res, 400);
    } else if (allow) {
        int n = eddy__http_allow_header(allow, line, sizeof(line));
        if (n > 9)
            eddy_http_response_add_header_n(res, "Allow", 5, line + 7, (size_t)n - 9);
        eddy_http_response_send_error(res, 405);
    } else {
        eddy_http_response_send_error(res, 404);
    }
}

static void run_handler(struct eddy_tcp_connection *c, struct http_conn *hc,
                        const struct http_route *r)
{
    struct http_loop *ls = hc->ls;
    struct eddy_http_response *res = &ls->res;
    ls->depth++;
    res->in_handler = 1;
    r->fn(&ls->req, res, r->data);
    ls->depth--;
    res->in_handler = 0;
    if (res->deferred) {
        struct eddy_http_response *d = hc->slow ? hc->slow->deferred : NULL;
        if (d)
            d->in_handler = 0;
        if (d && hc->phase != PH_CLOSED) { /* closed: process() abandons d at its end */
            hc->phase = PH_WAIT;
            hc->deadline = 0;
            bound_wait(c, hc);
            return;
        }
        /* Deferred and finished within the handler. */
        after_response(c, hc, (hc->flags & HC_CLOSE_AFTER) != 0);
        hc->flags &= (uint16_t)~HC_CLOSE_AFTER;
        return;
    }
    if (res->state == RES_STREAMING)
        eddy_http_response_end(res);
    else if (res->state == RES_NEW)
        eddy_http_response_send_error(res, 500);
    after_response(c, hc, res->close);
}

/* close_after: the connection closes after this response whatever the request says. */
static void dispatch(struct eddy_tcp_connection *c, struct http_conn *hc,
                     const struct eddy_http_request_head *h, const char *body, size_t blen,
                     int close_after)
{
    struct http_loop *ls = hc->ls;
    struct eddy_http_server *s = ls->srv;
    struct eddy_http_request *req = &ls->req;
    struct eddy_http_response *res = &ls->res;
    int ka = h->keep_alive && !close_after && !(hc->flags & HC_STOPPING) &&
             !atomic_load_explicit(&s->stopping, memory_order_relaxed);
    eddy__http_response_reset(res, c, ls, h, ka);
    if (!h->keep_alive)
        hc->flags |= HC_CLIENT_CLOSE;
    if (s->opt.access_log)
        fill_log_views(res, h);
    hc->nreq++;
    ssize_t plen = normalise(ls, h, &req->query);
    unsigned allow = 0;
    const struct http_route *r =
        plen < 0 ? NULL : eddy__http_route_find(s, h->method_id, ls->path, (size_t)plen, &allow);
    if (!r) {
        answer_unrouted(res, h, plen, allow);
        after_response(c, hc, res->close);
        return;
    }
    req->head = h;
    req->path = ls->path;
    req->path_len = (size_t)plen;
    req->route = r;
    req->body.p = body && !(r->flags & EDDY_HTTP_ROUTE_NO_BODY) ? body : "";
    req->body.len = req->body.p == body ? blen : 0;
    req->c = c;
    req->ls = ls;
    req->keep_alive = ka;
    run_handler(c, hc, r);
}

/* ---- bodies ------------------------------------------------------------------------- */

/* The route of the head in ls->head (NULL: none takes it); *plen and *allow as for
 * answer_unrouted. */
static const struct http_route *find_route(struct http_loop *ls, ssize_t *plen, unsigned *allow)
{
    struct eddy_http_str q;
    *allow = 0;
    *plen = normalise(ls, &ls->head, &q);
    if (*plen < 0)
        return NULL;
    return eddy__http_route_find(ls->srv, ls->head.method_id, ls->path, (size_t)*plen, allow);
}

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
        dispatch(c, hc, &ls->head, NULL, 0, 1);
        return -1;
    }
    eddy__http_response_reset(&ls->res, c, ls, &ls->head, 0);
    answer_unrouted(&ls->res, &ls->head, plen, allow);
    begin_close(c, hc);
    return -1;
}

/* The head (n bytes of src) is complete and a body follows that is not all here. */
static void start_body(struct eddy_tcp_connection *c, struct http_conn *hc, struct eddy_buffer *src,
                       size_t n)
{
    const struct eddy_http_request_head *h = &hc->ls->head;
    struct http_slow *sl = eddy__http_slow(hc);
    if (!sl || eddy_buffer_append(&sl->msg, eddy_buffer_peek(src), n) < 0) {
        reject(c, hc, 500);
        return;
    }
    ssize_t plen;
    unsigned allow;
    const struct http_route *r = find_route(hc->ls, &plen, &allow);
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
        eddy_http_chunked_init(&sl->dec, srv_of(hc)->opt.max_body);
    hc->phase = PH_BODY;
    phase_deadline(hc);
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
static int feed_body(struct eddy_tcp_connection *c, struct http_conn *hc, struct eddy_buffer *src)
{
    struct http_slow *sl = hc->slow;
    size_t avail = eddy_buffer_readable(src);
    if (!sl->chunked) {
        size_t take =
            sl->body_len - sl->body_got < avail ? (size_t)(sl->body_len - sl->body_got) : avail;
        if (take && !sl->discard && eddy_buffer_append(&sl->msg, eddy_buffer_peek(src), take) < 0) {
            reject(c, hc, 500);
            return -1;
        }
        eddy_buffer_retrieve(src, take);
        sl->body_got += take;
        if (sl->body_got == sl->body_len)
            return 1;
        phase_deadline(hc);
        return 0;
    }
    if (!avail)
        return 0;
    if (sl->discard) {
        size_t used;
        ssize_t r = drop_chunked(sl, src, &used);
        if (r == EDDY_HTTP_ERROR) {
            reject(c, hc, sl->dec.status);
            return -1;
        }
        eddy_buffer_retrieve(src, used);
        if (r == EDDY_HTTP_INCOMPLETE) {
            phase_deadline(hc);
            return 0;
        }
        return 1;
    }
    if (eddy_buffer_ensure_writable(&sl->msg, avail) < 0) {
        reject(c, hc, 500);
        return -1;
    }
    /* Decode in place at the end of msg; the decoder keeps only body bytes. */
    char *p = eddy_buffer_begin_write(&sl->msg);
    memcpy(p, eddy_buffer_peek(src), avail);
    size_t len = avail;
    ssize_t r = eddy_http_decode_chunked(&sl->dec, p, &len);
    if (r == EDDY_HTTP_ERROR) {
        reject(c, hc, sl->dec.status);
        return -1;
    }
    eddy_buffer_has_written(&sl->msg, len);
    if (r == EDDY_HTTP_INCOMPLETE) {
        eddy_buffer_retrieve(src, avail);
        phase_deadline(hc);
        return 0;
    }
    eddy_buffer_retrieve(src, avail - (size_t)r); /* the rest is the next request */
    return 1;
}

/* The body in slow->msg is complete: parse its head again (the per-loop head struct may
 * have served other connections since) and dispatch. */
static void dispatch_msg(struct eddy_tcp_connection *c, struct http_conn *hc)
{
    struct http_slow *sl = hc->slow;
    struct http_loop *ls = hc->ls;
    const char *p = eddy_buffer_peek(&sl->msg);
    int n = eddy_http_parse_request(p, sl->head_len, &ls->head, &ls->srv->lim);
    hc->phase = PH_IDLE;
    if (n != (int)sl->head_len) {
        reject(c, hc, 500);
    } else {
        if (!sl->discard)
            ls->head.content_length = (int64_t)(eddy_buffer_readable(&sl->msg) - sl->head_len);
        dispatch(c, hc, &ls->head, p + n, eddy_buffer_readable(&sl->msg) - sl->head_len, 0);
    }
    if (hc->slow)
        eddy_buffer_free(&hc->slow->msg);
}

/* ---- the request loop --------------------------------------------------------------- */

static void handle_head(struct eddy_tcp_connection *c, struct http_conn *hc,
                        struct eddy_buffer *src, size_t n)
{
    const struct eddy_http_request_head *h = &hc->ls->head;
    const char *p = eddy_buffer_peek(src);
    if (!h->chunked && h->content_length <= 0) {
        dispatch(c, hc, h, NULL, 0, 0);
        eddy_buffer_retrieve(src, n);
        return;
    }
    if (!h->chunked && (uint64_t)h->content_length > srv_of(hc)->opt.max_body) {
        reject(c, hc, 413); /* before reading the body, which we will never read */
        return;
    }
    if (!h->chunked && eddy_buffer_readable(src) - n >= (uint64_t)h->content_length) {
        size_t cl = (size_t)h->content_length;
        dispatch(c, hc, h, p + n, cl, 0);
        eddy_buffer_retrieve(src, n + cl);
        return;
    }
    start_body(c, hc, src, n);
}

static void process(struct eddy_tcp_connection *c, struct http_conn *hc, struct eddy_buffer *src)
{
    struct http_loop *ls = hc->ls;
    hc->flags |= HC_BUSY;
    while (hc->phase < PH_WAIT && !paused(hc)) {
        if (hc->phase == PH_BODY) {
            int r = feed_body(c, hc, src);
            if (r <= 0)
                break;
            dispatch_msg(c, hc);
            continue;
        }
        size_t avail = eddy_buffer_readable(src);
        if (!avail)
            break;
        if (hc->phase == PH_HEAD && hc->head_seen && avail > hc->head_seen &&
            !eddy_http_parse_needed(eddy_buffer_peek(src), avail, hc->head_seen, &ls->srv->lim)) {
            hc->head_seen = avail <= UINT16_MAX ? (uint16_t)avail : 0;
            break;
        }
        int n = eddy_http_parse_request(eddy_buffer_peek(src), avail, &ls->head, &ls->srv->lim);
        hc->head_seen = n == EDDY_HTTP_INCOMPLETE && avail <= UINT16_MAX ? (uint16_t)avail : 0;
        if (n == EDDY_HTTP_INCOMPLETE) {
            if (hc->phase == PH_IDLE)
                set_deadline(hc, ls->srv->opt.header_timeout_ms);
            hc->phase = PH_HEAD; /* from FRESH: the deadline since connect stands */
            break;
        }
        if (n < 0) {
            reject(c, hc, ls->head.status);
            break;
        }
        handle_head(c, hc, src, (size_t)n);
    }
    if (hc->phase == PH_CLOSING) {
        /* From on_message (src is not the stash) the close waits until it returned. */
        int quick = eddy_tcp_connection_peer_eof(c) ||
                    (eddy_buffer_readable(src) == 0 && !(hc->slow && src == &hc->slow->stash));
        eddy_buffer_retrieve_all(src); /* never read as a request */
        if (hc->flags & HC_QUICK_CLOSE) {
            hc->flags &= (uint16_t)~HC_QUICK_CLOSE;
            /* The client asked for the close and sent nothing after its request, or its
             * FIN was read: close right after the last byte (as nginx does): no
             * half-close, no wait for its FIN, no lingering reads. */
            if (quick)
                eddy_tcp_connection_close_flushed(c);
            else
                linger(c, hc);
        }
    }
    hc->flags &= (uint16_t)~HC_BUSY;
    if (hc->phase == PH_CLOSED) {
        /* A write outside c's callbacks failed and closed c: on_close left us what
         * src and the handlers were still using. */
        eddy_timer_stop(&hc->timer);
        release_slow(hc, 1);
    }
}

/* Requests queued behind a deferred response: stop reading past max_pipelined. */
static void bound_queue(struct eddy_tcp_connection *c, struct http_conn *hc)
{
    struct http_loop *ls = hc->ls;
    const struct eddy_http_server_options *o = &ls->srv->opt;
    struct eddy_buffer *st = &hc->slow->stash;
    size_t off = 0, len = eddy_buffer_readable(st);
    unsigned count = 0;
    if (hc->flags & HC_PAUSED_HW) {
        set_reading(c, hc, 0);
        return;
    }
    while (count < o->max_pipelined && off < len) {
        int n = eddy_http_parse_request(eddy_buffer_peek(st) + off, len - off, &ls->head,
                                        &ls->srv->lim);
        if (n < 0 || ls->head.chunked)
            break;
        count++;
        off += (size_t)n + (size_t)(ls->head.content_length > 0 ? ls->head.content_length : 0);
    }
    if (count >= o->max_pipelined || len > o->max_request_line + o->max_header_bytes + o->max_body)
        set_reading(c, hc, 0);
}

static void on_message(struct eddy_tcp_connection *c, struct eddy_buffer *in)
{
    struct http_conn *hc = http_conn_of(c);
    if (hc->phase >= PH_CLOSING) {
        eddy_buffer_retrieve_all(in);
        return;
    }
    struct http_slow *sl = hc->slow;
    struct eddy_buffer *src = in;
    if (hc->last_queued && hc->phase == PH_IDLE)
        note_progress(c, hc);
    if ((sl && eddy_buffer_readable(&sl->stash)) || paused(hc)) {
        /* Bytes must queue behind those already waiting. */
        if (!(sl = eddy__http_slow(hc)) ||
            eddy_buffer_append(&sl->stash, eddy_buffer_peek(in), eddy_buffer_readable(in)) < 0) {
            eddy_tcp_connection_close(c);
            return;
        }
        eddy_buffer_retrieve_all(in);
        src = &sl->stash;
    }
    if (!paused(hc))
        process(c, hc, src);
    if (paused(hc) && src == in && eddy_buffer_readable(in)) {
        if (!(sl = eddy__http_slow(hc)) ||
            eddy_buffer_append(&sl->stash, eddy_buffer_peek(in), eddy_buffer_readable(in)) < 0) {
            eddy_tcp_connection_close(c);
            return;
        }
        eddy_buffer_retrieve_all(in);
    }
    if (paused(hc) && hc->slow && eddy_buffer_readable(&hc->slow->stash))
        bound_queue(c, hc);
    release_slow(hc, 0);
    /* Now rather than after on_message, to learn whether the responses left output behind. */
    if (hc->phase == PH_IDLE || hc->phase == PH_CLOSING)
        flush_out(c, hc);
}

/* Takes up the stash again after a pause; outside on_message, so it flushes. Outside
 * the connection's callbacks a failed write closes c at once: every caller holds a
 * reference (resume_task, eddy__http_response_done) or runs in a callback of c. */
static void resume(struct eddy_tcp_connection *c, struct http_conn *hc)
{
    if (hc->phase >= PH_CLOSING || paused(hc) || (hc->flags & HC_BUSY))
        return;
    if (hc->slow && eddy_buffer_readable(&hc->slow->stash))
        process(c, hc, &hc->slow->stash);
    /* Read again only now, so requests queued here stay within max_pipelined. A client
     * that half-closed is done once nothing waits any more. */
    if (!paused(hc) && eddy_tcp_connection_peer_eof(c))
        eddy_tcp_connection_close_flushed(c);
    else if (!paused(hc))
        set_reading(c, hc, 1);
    else if (hc->slow && eddy_buffer_readable(&hc->slow->stash))
        bound_queue(c, hc);
    release_slow(hc, 0);
    flush_out(c, hc);
}

static void resume_task(void *arg)
{
    struct eddy_tcp_connection *c = arg;
    struct http_conn *hc = http_conn_of(c);
    hc->flags &= (uint16_t)~HC_RESUME_QUEUED;
    if (hc->phase != PH_CLOSED)
        resume(c, hc);
    eddy_tcp_connection_unref(c);
}

/* Resumes now, unless a handler runs on this loop (its request views live in the shared
 * per-loop head): then after the current batch. */
static void schedule_resume(struct eddy_tcp_connection *c, struct http_conn *hc)
{
    if (hc->ls->depth == 0 && !(hc->flags & HC_BUSY)) {
        resume(c, hc);
        return;
    }
    if (hc->flags & HC_RESUME_QUEUED)
        return;
    eddy_tcp_connection_ref(c);
    if (eddy_event_loop_queue_in_loop(hc->ls->loop, resume_task, c) < 0) {
        eddy_tcp_connection_unref(c);
        eddy_tcp_connection_close(c);
        return;
    }
    hc->flags |= HC_RESUME_QUEUED;
}

void eddy__http_response_done(struct eddy_http_response *res)
{
    eddy__http_response_log(res);
    if (!res->deferred)
        return; /* synchronous: the dispatcher carries on */
    struct eddy_tcp_connection *c = res->c;
    if (c) {
        struct http_conn *hc = http_conn_of(c);
        hc->slow->deferred = NULL;
        if (res->in_handler) {
            if (res->close)
                hc->flags |= HC_CLOSE_AFTER;
        } else {
            /* Outside any callback of c, each of these may close it (a client that
             * half-closed is done now): c must outlive them. */
            eddy_tcp_connection_ref(c);
            after_response(c, hc, res->close);
            flush_out(c, hc);
            schedule_resume(c, hc);
            eddy_tcp_connection_unref(c);
        }
    }
    eddy_buffer_free(&res->hdrs);
    free(res->log_copy);
    free(res);
}

/* ---- connection events -------------------------------------------------------------- */

static void on_timer(struct eddy_timer *t)
{
    struct eddy_tcp_connection *c = t->data;
    struct http_conn *hc = http_conn_of(c);
    if (hc->phase == PH_CLOSED || !hc->deadline)
        return;
    uint64_t now = eddy_event_loop_now(hc->ls->loop);
    if (now < hc->deadline) {
        eddy_timer_start(t, hc->deadline - now, 0);
        return;
    }
    size_t q = eddy_tcp_connection_output_queued(c);
    unsigned send_ms = srv_of(hc)->opt.send_timeout_ms;
    if (q > 0) {
        if (!send_ms || !hc->last_queued || q < hc->last_queued) {
            hc->last_queued = q; /* progress: give it another period */
            set_deadline(hc, send_ms ? send_ms : HTTP_LINGER_MS);
        } else {
            eddy_tcp_connection_close(c); /* the client stopped reading */
        }
        return;
    }
    if (hc->phase == PH_HEAD || hc->phase == PH_BODY) {
        /* Not a callback of c: a write failing in here closes and may free c. */
        eddy_tcp_connection_ref(c);
        hc->flags |= HC_TIMED_OUT;
        reject(c, hc, 408);
        flush_out(c, hc);
        eddy_tcp_connection_unref(c);
    } else {
        eddy_tcp_connection_close(c);
    }
}

static void on_connected(struct eddy_tcp_connection *c)
{
    struct eddy_http_server *s = eddy_tcp_server_data(eddy_tcp_connection_server(c));
    struct http_conn *hc = http_conn_of(c);
    eddy_timer_init(&hc->timer, eddy_tcp_connection_loop(c), on_timer, c);
    hc->ls = eddy__http_loop_get(s, eddy_tcp_connection_loop(c));
    if (!hc->ls) {
        hc->phase = PH_CLOSED;
        eddy_tcp_connection_close(c);
        return;
    }
    if (!hc->ls->high_water)
        hc->ls->high_water =
            s->opt.tcp.high_water_mark ? s->opt.tcp.high_water_mark : HTTP_DEFAULT_HIGH_WATER;
    hc->phase = PH_FRESH;
    if (atomic_load_explicit(&s->stopping, memory_order_relaxed))
        hc->flags |= HC_STOPPING;
    phase_deadline(hc);
}

static void on_write_complete(struct eddy_tcp_connection *c)
{
    struct http_conn *hc = http_conn_of(c);
    if (hc->phase == PH_CLOSED || !hc->ls)
        return;
    if (hc->last_queued) {
        /* The send timeout is over; idle and closing connections wait from now. */
        hc->last_queued = 0;
        if (hc->phase == PH_IDLE || hc->phase == PH_CLOSING)
            phase_deadline(hc);
    }
    if (hc->flags & HC_PAUSED_HW) {
        hc->flags &= (uint16_t)~HC_PAUSED_HW;
        phase_deadline(hc);
        schedule_resume(c, hc);
    }
    bound_wait(c, hc);
    if (hc->phase == PH_WAIT && hc->slow && hc->slow->deferred)
        eddy__http_response_drained(hc->slow->deferred);
}

/* The client sends nothing more (half-close, or close: TCP cannot tell). What it asked
 * for is still answered: a deferred response and the requests queued behind it or
 * behind a full output; resume() closes after the last. Otherwise close as soon as the
 * output is written, as tcp_connection does by default. */
static void on_peer_eof(struct eddy_tcp_connection *c)
{
    struct http_conn *hc = http_conn_of(c);
    if (hc->ls && hc->phase < PH_CLOSING &&
        (paused(hc) || (hc->slow && eddy_buffer_readable(&hc->slow->stash)))) {
        bound_wait(c, hc);
        return;
    }
    eddy_tcp_connection_close_flushed(c);
}

static void on_high_water(struct eddy_tcp_connection *c, size_t queued)
{
    struct http_conn *hc = http_conn_of(c);
    if (hc->phase >= PH_CLOSING || !hc->ls)
        return;
    hc->flags |= HC_PAUSED_HW;
    set_reading(c, hc, 0);
    hc->last_queued = queued;
    set_deadline(hc, srv_of(hc)->opt.send_timeout_ms);
}

static void on_close(struct eddy_tcp_connection *c)
{
    struct http_conn *hc = http_conn_of(c);
    hc->phase = PH_CLOSED;
    eddy_timer_stop(&hc->timer);
    /* A close outside c's callbacks (a failed write) can come while process() reads the
     * stash or a body in slow: it frees them when it returns. */
    if (!(hc->flags & HC_BUSY))
        release_slow(hc, 1);
}

/* Graceful stop, in the connection's loop: idle connections close now, the others after
 * their current response. */
void eddy__http_conn_drain(struct eddy_tcp_connection *c, void *arg)
{
    (void)arg;
    struct http_conn *hc = http_conn_of(c);
    if (hc->phase >= PH_CLOSING || !hc->ls)
        return;
    hc->flags |= HC_STOPPING;
    if ((hc->phase == PH_IDLE || hc->phase == PH_FRESH) &&
        (!hc->slow || !eddy_buffer_readable(&hc->slow->stash)))
        begin_close(c, hc);
}

const struct eddy_tcp_callbacks eddy__http_callbacks = {
    .on_connected = on_connected,
    .on_message = on_message,
    .on_write_complete = on_write_complete,
    .on_high_water = on_high_water,
    .on_peer_eof = on_peer_eof,
    .on_close = on_close,
};
