/*
 * One HTTP/1.1 connection: the tcp_connection callbacks, the request loop, pipelining
 * and backpressure. Running a request is in http_dispatch.c, bodies in http_body.c,
 * deadlines and closes in http_close.c, the access log in http_log.c.
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
 */
#include "http_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

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

void eddy__http_set_reading(struct eddy_tcp_connection *c, struct http_conn *hc, int on)
{
    if (on && (hc->flags & HC_NOT_READING)) {
        hc->flags &= (uint8_t)~HC_NOT_READING;
        eddy_tcp_connection_set_reading(c, 1);
    } else if (!on && !(hc->flags & HC_NOT_READING)) {
        hc->flags |= HC_NOT_READING;
        eddy_tcp_connection_set_reading(c, 0);
    }
}

static void handle_head(struct eddy_tcp_connection *c, struct http_conn *hc,
                        struct eddy_buffer *src, size_t n)
{
    const struct eddy_http_request_head *h = &hc->ls->head;
    const char *p = eddy_buffer_peek(src);
    if (!h->chunked && h->content_length <= 0) {
        eddy__http_dispatch(c, hc, h, NULL, 0, 0);
        eddy_buffer_retrieve(src, n);
        return;
    }
    if (!h->chunked && (uint64_t)h->content_length > http_srv_of(hc)->opt.max_body) {
        eddy__http_reject(c, hc, 413); /* before reading the body, which we will never read */
        return;
    }
    if (!h->chunked && eddy_buffer_readable(src) - n >= (uint64_t)h->content_length) {
        size_t cl = (size_t)h->content_length;
        eddy__http_dispatch(c, hc, h, p + n, cl, 0);
        eddy_buffer_retrieve(src, n + cl);
        return;
    }
    eddy__http_body_start(c, hc, src, n);
}

static void process(struct eddy_tcp_connection *c, struct http_conn *hc, struct eddy_buffer *src)
{
    struct http_loop *ls = hc->ls;
    hc->flags |= HC_BUSY;
    while (hc->phase < PH_WAIT && !http_paused(hc)) {
        if (hc->phase == PH_BODY) {
            int r = eddy__http_body_feed(c, hc, src);
            if (r <= 0)
                break;
            eddy__http_body_dispatch(c, hc);
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
            int restart = hc->phase == PH_IDLE; /* from FRESH: the deadline since connect stands */
            hc->phase = PH_HEAD;
            if (restart)
                eddy__http_restart_deadline(c, hc);
            break;
        }
        if (n < 0) {
            eddy__http_reject(c, hc, ls->head.status);
            break;
        }
        handle_head(c, hc, src, (size_t)n);
    }
    if (hc->phase == PH_CLOSING)
        eddy__http_close_after_process(c, hc, src);
    hc->flags &= (uint8_t)~HC_BUSY;
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
        eddy__http_set_reading(c, hc, 0);
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
        eddy__http_set_reading(c, hc, 0);
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
        eddy__http_note_progress(c, hc);
    if ((sl && eddy_buffer_readable(&sl->stash)) || http_paused(hc)) {
        /* Bytes must queue behind those already waiting. */
        if (!(sl = eddy__http_slow(hc)) ||
            eddy_buffer_append(&sl->stash, eddy_buffer_peek(in), eddy_buffer_readable(in)) < 0) {
            eddy__http_close(c, hc, HTTP_CLOSE_NOW);
            return;
        }
        eddy_buffer_retrieve_all(in);
        src = &sl->stash;
    }
    if (!http_paused(hc))
        process(c, hc, src);
    if (http_paused(hc) && src == in && eddy_buffer_readable(in)) {
        if (!(sl = eddy__http_slow(hc)) ||
            eddy_buffer_append(&sl->stash, eddy_buffer_peek(in), eddy_buffer_readable(in)) < 0) {
            eddy__http_close(c, hc, HTTP_CLOSE_NOW);
            return;
        }
        eddy_buffer_retrieve_all(in);
    }
    if (http_paused(hc) && hc->slow && eddy_buffer_readable(&hc->slow->stash))
        bound_queue(c, hc);
    release_slow(hc, 0);
    /* Now rather than after on_message, to learn whether the responses left output behind. */
    if (hc->phase == PH_IDLE || hc->phase == PH_CLOSING)
        eddy__http_flush(c, hc);
}

/* Takes up the stash again after a pause; outside on_message, so it flushes. Outside
 * the connection's callbacks a failed write closes c at once: every caller holds a
 * reference (resume_task, response_done) or runs in a callback of c. */
static void resume(struct eddy_tcp_connection *c, struct http_conn *hc)
{
    if (hc->phase >= PH_CLOSING || http_paused(hc) || (hc->flags & HC_BUSY))
        return;
    if (hc->slow && eddy_buffer_readable(&hc->slow->stash))
        process(c, hc, &hc->slow->stash);
    /* Read again only now, so requests queued here stay within max_pipelined. A client
     * that half-closed is done once nothing waits any more. */
    if (!http_paused(hc) && eddy_tcp_connection_peer_eof(c))
        eddy__http_close(c, hc, HTTP_CLOSE_FLUSHED);
    else if (!http_paused(hc))
        eddy__http_set_reading(c, hc, 1);
    else if (hc->slow && eddy_buffer_readable(&hc->slow->stash))
        bound_queue(c, hc);
    release_slow(hc, 0);
    eddy__http_flush(c, hc);
}

static void resume_task(void *arg)
{
    struct eddy_tcp_connection *c = arg;
    struct http_conn *hc = http_conn_of(c);
    hc->flags &= (uint8_t)~HC_RESUME_QUEUED;
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
        eddy__http_close(c, hc, HTTP_CLOSE_NOW);
        return;
    }
    hc->flags |= HC_RESUME_QUEUED;
}

static void response_done(struct eddy_http_response *res)
{
    eddy__http_log_response(res);
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
            eddy__http_after_response(c, hc, res->close);
            eddy__http_flush(c, hc);
            schedule_resume(c, hc);
            eddy_tcp_connection_unref(c);
        }
    }
    eddy_buffer_free(&res->hdrs);
    free(res->log_copy);
    free(res);
}

static int response_adopt(struct eddy_http_response *res, struct eddy_http_response *d)
{
    struct http_slow *sl = eddy__http_slow(http_conn_of(res->c));
    if (!sl)
        return -ENOMEM;
    sl->deferred = d;
    return 0;
}

static struct eddy_http_response *response_deferred(struct eddy_http_response *res)
{
    struct http_conn *hc = http_conn_of(res->c);
    return hc->slow ? hc->slow->deferred : NULL;
}

static void response_abort(struct eddy_http_response *res)
{
    eddy__http_close(res->c, http_conn_of(res->c), HTTP_CLOSE_NOW);
}

const struct http_response_owner eddy__http_conn_owner = {
    .done = response_done,
    .adopt = response_adopt,
    .deferred = response_deferred,
    .abort = response_abort,
};

/* ---- connection events -------------------------------------------------------------- */

static void on_connected(struct eddy_tcp_connection *c)
{
    struct eddy_http_server *s = eddy_tcp_server_data(eddy_tcp_connection_server(c));
    struct http_conn *hc = http_conn_of(c);
    eddy_timer_init(&hc->timer, eddy_tcp_connection_loop(c), eddy__http_on_timer, c);
    hc->ls = eddy__http_loop_get(s, eddy_tcp_connection_loop(c));
    if (!hc->ls) {
        hc->phase = PH_CLOSED;
        eddy__http_close(c, hc, HTTP_CLOSE_NOW);
        return;
    }
    if (!hc->ls->high_water)
        hc->ls->high_water =
            s->opt.tcp.high_water_mark ? s->opt.tcp.high_water_mark : HTTP_DEFAULT_HIGH_WATER;
    hc->phase = PH_FRESH;
    if (atomic_load_explicit(&s->stopping, memory_order_relaxed))
        hc->flags |= HC_STOPPING;
    eddy__http_restart_deadline(c, hc);
}

static void on_write_complete(struct eddy_tcp_connection *c)
{
    struct http_conn *hc = http_conn_of(c);
    if (hc->phase == PH_CLOSED || !hc->ls)
        return;
    if (hc->logq)
        eddy__http_log_progress(c, hc);
    if (hc->last_queued) {
        /* The send timeout is over; idle and closing connections wait from now. */
        hc->last_queued = 0;
        if (hc->phase == PH_IDLE || hc->phase == PH_CLOSING)
            eddy__http_restart_deadline(c, hc);
    }
    if (hc->flags & HC_PAUSED_HW) {
        hc->flags &= (uint8_t)~HC_PAUSED_HW;
        eddy__http_restart_deadline(c, hc);
        schedule_resume(c, hc);
    }
    if (hc->phase == PH_WAIT && eddy_tcp_connection_peer_eof(c))
        eddy__http_restart_deadline(c, hc);
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
        (http_paused(hc) || (hc->slow && eddy_buffer_readable(&hc->slow->stash)))) {
        if (hc->phase == PH_WAIT)
            eddy__http_restart_deadline(c, hc);
        return;
    }
    eddy__http_close(c, hc, HTTP_CLOSE_FLUSHED);
}

static void on_high_water(struct eddy_tcp_connection *c, size_t queued)
{
    struct http_conn *hc = http_conn_of(c);
    if (hc->phase >= PH_CLOSING || !hc->ls)
        return;
    hc->flags |= HC_PAUSED_HW;
    eddy__http_set_reading(c, hc, 0);
    hc->last_queued = queued;
    eddy__http_restart_deadline(c, hc);
}

static void on_close(struct eddy_tcp_connection *c)
{
    struct http_conn *hc = http_conn_of(c);
    const struct eddy_http_server_options *o = &http_srv_of(hc)->opt;
    if (o->conn_error && eddy_tcp_connection_was_reset(c))
        o->conn_error(eddy_tcp_connection_peer(c), -ECONNRESET, o->conn_error_data);
    hc->phase = PH_CLOSED;
    eddy_timer_stop(&hc->timer);
    if (hc->logq)
        eddy__http_log_close(c, hc);
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
        eddy__http_begin_close(c, hc);
}

const struct eddy_tcp_callbacks eddy__http_callbacks = {
    .on_connected = on_connected,
    .on_message = on_message,
    .on_write_complete = on_write_complete,
    .on_high_water = on_high_water,
    .on_peer_eof = on_peer_eof,
    .on_close = on_close,
};
