/*
 * How a connection's time runs out and how it ends.
 *
 * Deadlines. One timer per connection, re-armed lazily: hc->deadline is what counts; the
 * timer may fire early, and then re-arms itself for the deadline. Moving a deadline later
 * costs a store; only an earlier deadline restarts the timer. How long the connection
 * may wait follows from its state alone (timeout_of); eddy__http_restart_deadline starts
 * that wait now, at the events that restart the clock (the phase changed, body bytes
 * came, the output moved), and is the only writer of hc->deadline.
 *
 * Closes. The request loop decides that a connection ends (eddy__http_after_response,
 * eddy__http_reject, a timeout, the client's FIN); eddy__http_close is the only place
 * that ends it, in one of three ways (see there).
 */
#include "http_internal.h"

#include <errno.h>

static void set_deadline(struct http_conn *hc, unsigned ms)
{
    if (!ms) {
        /* no limit: stopped, so a connection left idle holds no heap slot (with a million
         * of them every other timer's heap walk would touch theirs) */
        hc->deadline = 0;
        eddy_timer_stop(&hc->timer);
        return;
    }
    uint64_t now = eddy_event_loop_now(hc->ls->loop);
    hc->deadline = now + ms;
    if (!eddy_timer_is_active(&hc->timer) || hc->timer.when > hc->deadline)
        eddy_timer_start(&hc->timer, ms, 0);
}

/* How long the connection may wait from now, in its current state; 0: no limit. */
static unsigned timeout_of(struct eddy_tcp_connection *c, const struct http_conn *hc)
{
    const struct eddy_http_server_options *o = &http_srv_of(hc)->opt;
    if (hc->flags & HC_PAUSED_HW) /* output past the high-water mark must move */
        return o->send_timeout_ms;
    switch (hc->phase) {
    case PH_FRESH:
    case PH_HEAD:
        return o->header_timeout_ms;
    case PH_BODY:
        return o->body_timeout_ms;
    case PH_IDLE: /* output left behind by a write must move before we wait for more */
        return hc->last_queued ? o->send_timeout_ms : o->keepalive_timeout_ms;
    case PH_WAIT:
        /* A client that half-closed cannot tell us it left: a deferred response it waits
         * for must make progress (a write) within the send timeout, else the connection
         * closes and the handler gets its gone callback. */
        return eddy_tcp_connection_peer_eof(c) ? o->send_timeout_ms : 0;
    case PH_CLOSING: /* the linger itself is tcp_connection's (eddy__http_close) */
        return hc->last_queued ? o->send_timeout_ms : 0;
    default:
        return 0;
    }
}

/* Inlined where the state was just set (after_response), so the compiler folds timeout_of. */
static inline void restart_deadline(struct eddy_tcp_connection *c, struct http_conn *hc)
{
    set_deadline(hc, timeout_of(c, hc));
}

void eddy__http_restart_deadline(struct eddy_tcp_connection *c, struct http_conn *hc)
{
    restart_deadline(c, hc);
}

/*
 * NOW: at once, dropping queued output (a timeout ran out, no memory). FLUSHED: once the
 * output is written, waiting for nothing from the client, which sends nothing more (its
 * FIN came, or it asked for the close and sent nothing after its request). LINGER: the
 * client may still be sending: FIN after the output, then read and discard until its FIN
 * or the linger deadline, so unread input never turns the close into a reset that could
 * destroy the response in flight (nginx's lingering close, done by tcp_connection; the
 * wait for the output itself is bounded by our send timeout, see timeout_of).
 * LINGER_SHORT, after a header or body timeout's 408: the same for 1 s only, since such a
 * client is not one whose response needs protecting for long, and a slowloris client
 * must lose its slot.
 */
void eddy__http_close(struct eddy_tcp_connection *c, struct http_conn *hc, int how)
{
    if (how == HTTP_CLOSE_NOW) {
        eddy_tcp_connection_close(c);
    } else if (how == HTTP_CLOSE_FLUSHED) {
        eddy_tcp_connection_close_flushed(c);
    } else if ((hc->flags & HC_BUSY) && eddy_tcp_connection_peer_eof(c)) {
        /* With the client's FIN read, the half-close would close c at once, freeing the
         * stash process() is reading: process() closes at its end instead. */
        hc->flags |= HC_QUICK_CLOSE;
    } else {
        eddy_tcp_connection_close_lingering(
            c, how == HTTP_CLOSE_LINGER_SHORT ? HTTP_LINGER_TIMEOUT_MS : HTTP_LINGER_MS);
    }
}

/* The last response is queued: close, lingering (how: HTTP_CLOSE_LINGER or _SHORT). */
static void begin_close_how(struct eddy_tcp_connection *c, struct http_conn *hc, int how)
{
    if (hc->phase == PH_CLOSING || hc->phase == PH_CLOSED)
        return;
    hc->phase = PH_CLOSING;
    hc->flags &= (uint8_t)~HC_PAUSED_HW;
    eddy__http_close(c, hc, how);
    eddy__http_restart_deadline(c, hc);
}

void eddy__http_begin_close(struct eddy_tcp_connection *c, struct http_conn *hc)
{
    begin_close_how(c, hc, HTTP_CLOSE_LINGER);
}

/* process() is over on a closing connection: what it left in src is never read as a
 * request, and a close it decided (HC_QUICK_CLOSE) happens now. */
void eddy__http_close_after_process(struct eddy_tcp_connection *c, struct http_conn *hc,
                                    struct eddy_buffer *src)
{
    /* From on_message (src is not the stash) the close waits until it returned. */
    int quick = eddy_tcp_connection_peer_eof(c) ||
                (eddy_buffer_readable(src) == 0 && !(hc->slow && src == &hc->slow->stash));
    eddy_buffer_retrieve_all(src);
    if (!(hc->flags & HC_QUICK_CLOSE))
        return;
    hc->flags &= (uint8_t)~HC_QUICK_CLOSE;
    /* The client asked for the close and sent nothing after its request, or its FIN was
     * read: close right after the last byte (as nginx does): no half-close, no wait for
     * its FIN, no lingering reads. */
    eddy__http_close(c, hc, quick ? HTTP_CLOSE_FLUSHED : HTTP_CLOSE_LINGER);
}

static void reject_how(struct eddy_tcp_connection *c, struct http_conn *hc, int status, int how)
{
    struct eddy_http_response *res = &hc->ls->res;
    eddy__http_response_reset(res, c, hc->ls, &eddy__http_conn_owner, NULL, 0);
    eddy_http_response_send_error(res, status);
    begin_close_how(c, hc, how);
}

/* A library-made error response (framing error, limit), then close. */
void eddy__http_reject(struct eddy_tcp_connection *c, struct http_conn *hc, int status)
{
    reject_how(c, hc, status, HTTP_CLOSE_LINGER);
}

/* After a response is complete: close, or wait for the next request. */
void eddy__http_after_response(struct eddy_tcp_connection *c, struct http_conn *hc, int close)
{
    if (hc->phase == PH_CLOSED)
        return; /* the response's own write failed and closed c */
    if (close || (hc->flags & HC_STOPPING)) {
        if ((hc->flags & (HC_BUSY | HC_CLIENT_CLOSE)) == (HC_BUSY | HC_CLIENT_CLOSE)) {
            /* Lingering is for a client that may still be sending: process() knows at
             * its end whether this one left anything unread. */
            hc->phase = PH_CLOSING;
            hc->flags = (uint8_t)((hc->flags & ~HC_PAUSED_HW) | HC_QUICK_CLOSE);
            /* The old phase's deadline ends; output the flush leaves starts the send timeout. */
            eddy__http_restart_deadline(c, hc);
            return;
        }
        eddy__http_begin_close(c, hc);
        return;
    }
    hc->phase = PH_IDLE;
    if (!hc->last_queued) /* else the send timeout runs until the output drains */
        restart_deadline(c, hc);
    if (eddy_tcp_connection_output_held(c) >= hc->ls->high_water) {
        hc->flags |= HC_PAUSED_HW;
        eddy__http_set_reading(c, hc, 0);
    }
}

/*
 * Writes what is queued. Output a write leaves behind (a client reading slowly or not at
 * all) puts a connection that waits for nothing else (idle, closing) under the send
 * timeout from now, which progress renews (on_timer); on_write_complete starts the
 * keep-alive deadline once it drained (a closing connection's linger is tcp_connection's). A
 * response written whole at once, the common case, costs nothing here: on_write_complete has
 * already run when the flush returns and nothing is queued.
 */
void eddy__http_flush(struct eddy_tcp_connection *c, struct http_conn *hc)
{
    if (eddy_tcp_connection_flush(c) < 0 || (hc->phase != PH_IDLE && hc->phase != PH_CLOSING))
        return;
    size_t q = eddy_tcp_connection_output_queued(c);
    if (!q)
        return;
    int start = !hc->last_queued; /* a period already running is not extended by more output */
    hc->last_queued = q;
    if (start)
        eddy__http_restart_deadline(c, hc);
}

/* Before more output is queued behind what is still there: if some of that was written
 * since the last look, the client reads, so the send period starts again. */
void eddy__http_note_progress(struct eddy_tcp_connection *c, struct http_conn *hc)
{
    size_t q = eddy_tcp_connection_output_queued(c);
    if (q < hc->last_queued) {
        hc->last_queued = q;
        eddy__http_restart_deadline(c, hc);
    }
}

void eddy__http_on_timer(struct eddy_timer *t)
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
    if (q > 0) {
        if (!http_srv_of(hc)->opt.send_timeout_ms || !hc->last_queued || q < hc->last_queued) {
            hc->last_queued = q; /* progress: give it another period */
            eddy__http_restart_deadline(c, hc);
        } else {
            const struct eddy_http_server_options *o = &http_srv_of(hc)->opt;
            if (o->conn_error)
                o->conn_error(eddy_tcp_connection_peer(c), -ETIMEDOUT, o->conn_error_data);
            eddy__http_close(c, hc, HTTP_CLOSE_NOW); /* the client stopped reading */
        }
        return;
    }
    if (hc->phase == PH_HEAD || hc->phase == PH_BODY) {
        /* Not a callback of c: a write failing in here closes and may free c. */
        eddy_tcp_connection_ref(c);
        reject_how(c, hc, 408, HTTP_CLOSE_LINGER_SHORT);
        eddy__http_flush(c, hc);
        eddy_tcp_connection_unref(c);
    } else {
        eddy__http_close(c, hc, HTTP_CLOSE_NOW);
    }
}
