/*
 * tcp_connection: one connection, owned by one loop's thread, moving bytes
 * only through its transport (eddy/transport.h): this file never touches the
 * socket API.
 *
 * Input: a read goes into the loop's scratch buffer when the connection holds
 * no leftover bytes, so a connection keeps input memory only while a message
 * is incomplete. Output: the ordered queue of memory and file ranges in
 * tcp_output.c; this file decides when to write and what follows a drain
 * (half-close, close, lingering close). The public calls are in
 * tcp_connection_api.c.
 *
 * Re-entrancy: `busy` counts the callbacks and API calls of this connection
 * on the stack. A close requested while busy is only recorded and done when
 * the outermost one returns, so no code ever runs on a freed connection and a
 * user callback never sees on_close before it returned itself.
 *
 * Readiness: the channel watches tr.fd for what the next step waits for:
 * reading while the user wants input, writing while output is queued and the
 * transport is full, and the other direction when the transport said so
 * (tr.want: a TLS read that must write first, a write that must read first).
 */
#include "net_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "eddy/channel.h"
#include "eddy/event_loop.h"
#include "reactor/loop_hooks.h"

#define is_open eddy__tcp_conn_is_open
#define is_live eddy__tcp_conn_is_live

static void handle_read(struct eddy_tcp_connection *c);

static int edge_triggered(const struct eddy_tcp_connection *c)
{
    return eddy_event_loop_is_edge_triggered(c->nl->loop);
}

/* Owner thread. May free c when nothing of c is on the stack. */
void eddy__tcp_conn_request_close(struct eddy_tcp_connection *c)
{
    if (!is_open(c))
        return;
    if (c->busy > 0)
        c->flags |= F_CLOSE_PENDING;
    else
        eddy__tcp_conn_do_close(c);
}

#define request_close eddy__tcp_conn_request_close

void eddy__tcp_conn_check_high_water(struct eddy_tcp_connection *c)
{
    const struct eddy_tcp_callbacks *cb = c->nl->cb;

    if (cb->on_high_water == NULL || (c->flags & F_HIGH_WATER))
        return;
    if (eddy_tcp_connection_output_held(c) > c->nl->high_water_mark) {
        c->flags |= F_HIGH_WATER;
        cb->on_high_water(c, eddy_tcp_connection_output_queued(c));
    }
}

/* Runs on_write_complete without recursion: a send from inside it that
 * completes at once asks for another round instead of calling it nested. */
static void notify_write_complete(struct eddy_tcp_connection *c)
{
    void (*fn)(struct eddy_tcp_connection *) = c->nl->cb->on_write_complete;

    if (fn == NULL)
        return;
    if (c->flags & F_IN_WC) {
        c->flags |= F_WC_AGAIN;
        return;
    }
    c->flags |= F_IN_WC;
    do {
        c->flags &= ~F_WC_AGAIN;
        fn(c);
    } while ((c->flags & F_WC_AGAIN) && is_live(c));
    c->flags &= ~(F_IN_WC | F_WC_AGAIN);
}

/* Whether input is wanted: the user did not pause it, or a lingering close
 * discards it; never after the peer's end of input. */
static int wants_input(const struct eddy_tcp_connection *c)
{
    return (c->flags & (F_WANT_READ | F_LINGERING)) && !(c->flags & F_PEER_EOF);
}

/* Read interest back to what wants_input says once no write waits for it. */
static void settle_reading(struct eddy_tcp_connection *c)
{
    if (is_live(c) && !(c->flags & F_WR_WANTS_RD) && !wants_input(c) &&
        eddy_channel_is_reading(&c->ch) && eddy_channel_disable_reading(&c->ch) < 0)
        request_close(c);
}

static void enable_or_close(struct eddy_tcp_connection *c, int events)
{
    int r = events == EDDY_EV_READ ? eddy_channel_enable_reading(&c->ch)
                                   : eddy_channel_enable_writing(&c->ch);
    if (r < 0)
        request_close(c);
}

/* ---- writing ---- */

#define before_write eddy__tcp_conn_before_write

/* Whether the peer's end of input closes the connection once the output is
 * written: always without on_peer_eof; with it only once our side is shut down
 * too, since nothing can then pass either way; and for a lingering close,
 * which waits for nothing else. */
static int eof_closes(const struct eddy_tcp_connection *c)
{
    return (c->flags & F_PEER_EOF) &&
           (c->nl->cb->on_peer_eof == NULL || (c->flags & (F_SHUT_WR_DONE | F_LINGER_REQ)));
}

static void shut_write(struct eddy_tcp_connection *c)
{
    if (!(c->flags & F_SHUT_WR_DONE)) {
        c->tr.ops->shutdown_write(&c->tr);
        c->flags |= F_SHUT_WR_DONE;
    }
}

static void linger_expired(struct eddy_timer *t)
{
    request_close(t->data);
}

/* Before on_connected a transport's handshake is bounded. Its timer lives in the
 * loop's list, as a lingering close's does, so established connections pay nothing. */
static void handshake_deadline(struct eddy_tcp_connection *c, unsigned ms)
{
    struct eddy__linger *l = NULL;

    if (eddy__net_linger_add(c->nl, c, ms) == 0)
        l = eddy__net_linger_find(c->nl, c);
    if (l == NULL) {
        request_close(c);
        return;
    }
    l->timer.cb = linger_expired;
    if (eddy_timer_start(&l->timer, ms, 0) < 0)
        request_close(c);
}

/* The output of a lingering close is written: shut our side, then read and
 * discard until the peer's FIN or the linger time, so request bytes still in
 * flight never turn our close into a reset that destroys the response. */
static void linger_start(struct eddy_tcp_connection *c)
{
    struct eddy__linger *l = eddy__net_linger_find(c->nl, c);

    if (l == NULL || (c->flags & F_PEER_EOF)) {
        request_close(c);
        return;
    }
    shut_write(c);
    c->flags |= F_LINGERING;
    l->timer.cb = linger_expired;
    if (eddy_timer_start(&l->timer, l->ms, 0) < 0) {
        request_close(c);
        return;
    }
    eddy_buffer_retrieve_all(&c->in);
    eddy__net_buf_put(c->nl, &c->in);
    if (!eddy_channel_is_reading(&c->ch))
        enable_or_close(c, EDDY_EV_READ);
    if (is_live(c) && eddy_transport_pending(&c->tr) > 0)
        eddy__tcp_conn_schedule_read(c); /* no fd event announces those bytes */
}

/* The queue drained: release memory, then the deferred half-close or close. */
static void drained(struct eddy_tcp_connection *c, int wrote)
{
    if (eddy_channel_is_writing(&c->ch) && !(c->flags & F_RD_WANTS_WR))
        eddy_channel_disable_writing(&c->ch);
    eddy__net_buf_put(c->nl, &c->out);
    c->flags &= ~F_HIGH_WATER;
    if (c->flags & F_SHUT_WR_REQ)
        shut_write(c);
    if ((c->flags & (F_LINGER_REQ | F_LINGERING)) == F_LINGER_REQ) {
        linger_start(c);
        return;
    }
    if ((c->flags & F_CLOSE_FLUSHED) || eof_closes(c)) {
        request_close(c);
        return;
    }
    if (wrote)
        notify_write_complete(c);
}

/* Bytes remain: wait for the readiness the transport needs. */
static void wait_writable(struct eddy_tcp_connection *c)
{
    if (c->tr.want & EDDY_EV_READ) {
        c->flags |= F_WR_WANTS_RD;
        /* Write readiness is not what this write waits for: level-triggered, it would spin. */
        if (eddy_channel_is_writing(&c->ch) && !(c->flags & F_RD_WANTS_WR))
            eddy_channel_disable_writing(&c->ch);
        if (!eddy_channel_is_reading(&c->ch))
            enable_or_close(c, EDDY_EV_READ);
    } else if (!eddy_channel_is_writing(&c->ch)) {
        enable_or_close(c, EDDY_EV_WRITE);
    }
}

/* Owner thread, busy > 0. */
void eddy__tcp_conn_write_out(struct eddy_tcp_connection *c)
{
    int wrote = (c->flags & F_SENT_AHEAD) != 0; /* by the loop's send batch */
    int r;

    c->flags &= ~(F_WR_WANTS_RD | F_SENT_AHEAD);
    if (eddy__tcp_output_empty(c)) { /* e.g. after on_message, whose flush wrote it all */
        if (wrote || c->out.data != NULL || eddy_channel_is_writing(&c->ch) ||
            (c->flags & (F_NO_MORE | F_PEER_EOF | F_HIGH_WATER)))
            drained(c, wrote); /* else it would find nothing to do */
        return;
    }
    before_write(c);
    r = eddy__tcp_output_drain(c, edge_triggered(c), (c->flags & F_CLOSE_FLUSHED) != 0, &wrote);

    if (r < 0) {
        if (r == -ECONNRESET)
            c->flags |= F_RESET;
        request_close(c);
        return;
    }
    if (r > 0) {
        drained(c, wrote);
        return;
    }
    wait_writable(c);
    if (!is_live(c))
        return;
    /* Bytes built in place with eddy_tcp_connection_output count too. */
    if (eddy_tcp_connection_output_held(c) <= c->nl->high_water_mark)
        c->flags &= ~F_HIGH_WATER;
    else
        eddy__tcp_conn_check_high_water(c);
}

#define write_out eddy__tcp_conn_write_out

/* Writes now unless a callback is running: inside on_message/on_connected (F_BATCH) output
 * only queues, so that everything the callback sends leaves in one write when it returns. */
void eddy__tcp_conn_write_unless_batched(struct eddy_tcp_connection *c)
{
    if (!(c->flags & F_BATCH) && is_live(c) && !eddy_channel_is_writing(&c->ch))
        write_out(c);
}

/* Appends to the tail of the queue; a failed append would leave a hole in
 * the stream, so it closes the connection. */
static int append_output(struct eddy_tcp_connection *c, const char *p, size_t len)
{
    struct eddy_buffer *b = eddy__tcp_output_tail(c);

    eddy__net_buf_get(c->nl, b);
    if (eddy_buffer_append(b, p, len) < 0) {
        request_close(c);
        return -ENOMEM;
    }
    return 0;
}

/* Nothing queued and not inside a callback: one write straight from the
 * caller's bytes, the rest queued. */
static int send_direct(struct eddy_tcp_connection *c, const char *p, size_t len)
{
    ssize_t n;
    int r;

    before_write(c);
    n = eddy__tr_write(&c->tr, p, len, 0);
    if (n < 0 && n != -EAGAIN) {
        request_close(c);
        return -EPIPE;
    }
    if (n > 0) {
        p += n;
        len -= (size_t)n;
        c->sent += (uint64_t)n;
    }
    if (len == 0) {
        notify_write_complete(c);
        return 0;
    }
    r = append_output(c, p, len);
    if (r == 0)
        wait_writable(c);
    if (r == 0 && is_live(c))
        eddy__tcp_conn_check_high_water(c);
    return r;
}

int eddy__tcp_conn_send(struct eddy_tcp_connection *c, const char *p, size_t len)
{
    int r;

    if (!is_live(c) || (c->flags & F_NO_MORE))
        return -EPIPE;
    if (len == 0)
        return 0;
    if (!(c->flags & F_BATCH) && eddy__tcp_output_empty(c))
        return send_direct(c, p, len);
    r = append_output(c, p, len);
    if (r < 0)
        return r;
    eddy__tcp_conn_check_high_water(c);
    eddy__tcp_conn_write_unless_batched(c);
    return 0;
}

/* ---- reading ---- */

static int ensure_scratch(struct eddy__net_loop *nl)
{
    return eddy_buffer_ensure_writable(&nl->scratch, EDDY__NET_SCRATCH_SIZE);
}

/* Reads into the scratch buffer (no leftover input) or into c->in with the
 * scratch as overflow. Returns bytes, 0 at EOF, or -errno; *offered gets the
 * space the transport was offered. */
static ssize_t read_some(struct eddy_tcp_connection *c, struct eddy_buffer **into, size_t *offered)
{
    struct eddy__net_loop *nl = c->nl;
    struct iovec iov[2];
    int niov = 0;
    ssize_t n;

    if (nl->scratch_busy) /* reads never nest: on_message cannot trigger one */
        abort();
    if (ensure_scratch(nl) < 0)
        return -ENOMEM;
    if (eddy_buffer_readable(&c->in) > 0) {
        if (eddy_buffer_ensure_writable(&c->in, 1024) < 0)
            return -ENOMEM;
        iov[niov].iov_base = eddy_buffer_begin_write(&c->in);
        iov[niov++].iov_len = eddy_buffer_writable(&c->in);
    }
    iov[niov].iov_base = eddy_buffer_begin_write(&nl->scratch);
    iov[niov++].iov_len = eddy_buffer_writable(&nl->scratch);
    *offered = iov[0].iov_len + (niov > 1 ? iov[1].iov_len : 0);
    n = eddy__tr_readv(&c->tr, iov, niov);
    if (n <= 0)
        return n;
    if (niov == 1) {
        eddy_buffer_has_written(&nl->scratch, (size_t)n);
        *into = &nl->scratch;
        return n;
    }
    *into = &c->in;
    if ((size_t)n <= iov[0].iov_len) {
        eddy_buffer_has_written(&c->in, (size_t)n);
        return n;
    }
    eddy_buffer_has_written(&c->in, iov[0].iov_len);
    if (eddy_buffer_append(&c->in, iov[1].iov_base, (size_t)n - iov[0].iov_len) < 0)
        return -ENOMEM;
    return n;
}

/* After on_message: leftover scratch bytes move into the connection, in a
 * buffer sized for them (not a recycled one: a connection that waits with a
 * partial message must not hold a large block). */
static void keep_leftover(struct eddy_tcp_connection *c, struct eddy_buffer *s)
{
    if (eddy_buffer_readable(s) > 0 && is_live(c)) {
        if (eddy_buffer_append(&c->in, eddy_buffer_peek(s), eddy_buffer_readable(s)) < 0)
            request_close(c);
    }
    eddy_buffer_retrieve_all(s);
}

static void deliver(struct eddy_tcp_connection *c, struct eddy_buffer *b)
{
    struct eddy__net_loop *nl = c->nl;
    unsigned saved = c->flags & F_BATCH;

    if (nl->cb->on_message == NULL || (c->flags & F_LINGERING)) {
        eddy_buffer_retrieve_all(b);
    } else {
        if (b == &nl->scratch)
            nl->scratch_busy = 1;
        c->flags |= F_BATCH;
        nl->cb->on_message(c, b);
        c->flags = (c->flags & ~F_BATCH) | saved;
        if (b == &nl->scratch)
            nl->scratch_busy = 0;
    }
    if (b == &nl->scratch)
        keep_leftover(c, b);
    else if (eddy_buffer_readable(&c->in) == 0)
        eddy__net_buf_put(nl, &c->in);
    if (!is_live(c) || saved)
        return;
    if (!eddy_channel_is_writing(&c->ch) && !eddy__send_batch_defer(c))
        write_out(c);
    else
        eddy__tcp_conn_check_high_water(c);
}

static void peer_eof(struct eddy_tcp_connection *c)
{
    c->flags |= F_PEER_EOF;
    if (!eof_closes(c) && !(c->flags & F_LINGERING)) {
        c->nl->cb->on_peer_eof(c);
        /* A socket at end of input stays readable: level-triggered polling would
         * spin. The common answer (close at once) skips the epoll_ctl. */
        if (is_live(c))
            settle_reading(c);
        return;
    }
    if (eddy__tcp_output_empty(c)) {
        request_close(c); /* the close unregisters: no epoll_ctl to stop reading first */
        return;
    }
    if (eddy_channel_is_reading(&c->ch) && !(c->flags & F_WR_WANTS_RD))
        eddy_channel_disable_reading(&c->ch);
    if (!eddy_channel_is_writing(&c->ch))
        write_out(c);
}

/* Level-triggered, a short read means the kernel had no more; bytes the
 * transport holds itself (pending) are read on regardless, as no fd event
 * will announce them. */
static void handle_read(struct eddy_tcp_connection *c)
{
    int et = edge_triggered(c);

    for (;;) {
        struct eddy_buffer *b = NULL;
        size_t offered = 0;
        ssize_t n = read_some(c, &b, &offered);

        if (n == 0) {
            peer_eof(c);
            return;
        }
        if (n == -EAGAIN) {
            if (c->tr.want & EDDY_EV_WRITE) {
                c->flags |= F_RD_WANTS_WR;
                if (!eddy_channel_is_writing(&c->ch))
                    enable_or_close(c, EDDY_EV_WRITE);
            }
            return;
        }
        if (n < 0) {
            if (n == -ECONNRESET)
                c->flags |= F_RESET;
            request_close(c);
            return;
        }
        deliver(c, b);
        if (!is_live(c) || !wants_input(c))
            return;
        if (!et && (size_t)n < offered && eddy_transport_pending(&c->tr) == 0)
            return;
    }
}

static void redeliver_task(void *arg)
{
    struct eddy_tcp_connection *c = arg;

    c->flags &= ~F_REDELIVER;
    if (!is_live(c)) {
        eddy_tcp_connection_unref(c);
        return;
    }
    eddy__tcp_conn_enter(c);
    /* Input read before the peer's EOF is still delivered, as before a pause. */
    if ((c->flags & F_WANT_READ) && eddy_buffer_readable(&c->in) > 0)
        deliver(c, &c->in);
    if (is_live(c) && wants_input(c) && eddy_transport_pending(&c->tr) > 0)
        handle_read(c);
    eddy__tcp_conn_leave(c);
    eddy_tcp_connection_unref(c);
}

void eddy__tcp_conn_schedule_read(struct eddy_tcp_connection *c)
{
    if (c->flags & F_REDELIVER)
        return;
    eddy_tcp_connection_ref(c);
    if (eddy_event_loop_queue_in_loop(c->nl->loop, redeliver_task, c) < 0)
        eddy_tcp_connection_unref(c);
    else
        c->flags |= F_REDELIVER;
}

/* ---- events ---- */

static void connected(struct eddy_tcp_connection *c, int read_first);

/* Runs the transport's handshake step; on_connected once it is done. */
static void handshake_step(struct eddy_tcp_connection *c)
{
    int r = c->tr.ops->handshake(&c->tr);

    if (r < 0) {
        request_close(c);
        return;
    }
    if (r > 0) {
        if (eddy_channel_set_events(&c->ch, r & (EDDY_EV_READ | EDDY_EV_WRITE)) < 0)
            request_close(c);
        return;
    }
    c->flags &= ~F_HANDSHAKE;
    if (c->nl->handshake_timeout_ms > 0)
        eddy__net_linger_remove(c->nl, c);
    if (eddy_channel_set_events(&c->ch, EDDY_EV_READ) < 0) {
        request_close(c);
        return;
    }
    connected(c, 0);
}

static void on_writable(struct eddy_tcp_connection *c)
{
    if (c->flags & F_RD_WANTS_WR) {
        c->flags &= ~F_RD_WANTS_WR;
        handle_read(c);
        if (!is_live(c) || (c->flags & F_RD_WANTS_WR))
            return;
    }
    if (eddy_channel_is_writing(&c->ch))
        write_out(c);
}

static void on_readable(struct eddy_tcp_connection *c, int revents)
{
    if (c->flags & F_WR_WANTS_RD) {
        write_out(c);
        settle_reading(c);
        if (!is_live(c))
            return;
    }
    if (eddy_channel_is_reading(&c->ch) && wants_input(c))
        handle_read(c);
    else if (revents & EDDY_EV_HUP) /* both directions are gone */
        request_close(c);
}

/* An error event closes without a read or write that would say why: a reset is
 * asked of the socket (one syscall, on this rare path only). */
static void note_error(struct eddy_tcp_connection *c)
{
    int e = 0;
    socklen_t len = sizeof e;

    if (getsockopt(c->tr.fd, SOL_SOCKET, SO_ERROR, &e, &len) == 0 && e == ECONNRESET)
        c->flags |= F_RESET;
}

static void on_event(struct eddy_channel *ch, int revents)
{
    struct eddy_tcp_connection *c = ch->data;

    eddy__tcp_conn_enter(c);
    if (revents & EDDY_EV_ERROR) {
        note_error(c);
        request_close(c);
    } else if (c->flags & F_HANDSHAKE) {
        handshake_step(c);
    } else {
        if (revents & (EDDY_EV_READ | EDDY_EV_HUP))
            on_readable(c, revents);
        if ((revents & EDDY_EV_WRITE) && is_live(c))
            on_writable(c);
    }
    eddy__tcp_conn_leave(c);
}

/* ---- life cycle ---- */

/* The user context follows the struct, aligned for any type. */
#define CTX_OFFSET ((sizeof(struct eddy_tcp_connection) + 15u) & ~(size_t)15u)

int eddy__tcp_connection_new(struct eddy_tcp_connection **out, struct eddy__net_loop *nl,
                             struct eddy_transport *t, const struct sockaddr *peer,
                             socklen_t peer_len, uint64_t id, size_t context_size)
{
    struct eddy_tcp_connection *c =
        context_size <= UINT32_MAX ? calloc(1, CTX_OFFSET + context_size) : NULL;

    if (c == NULL || eddy__tcp_peer_set(c, peer, peer_len) < 0) {
        free(c);
        t->ops->close(t);
        return -ENOMEM;
    }
    c->tr = *t;
    c->ch.fd = t->fd;
    c->nl = nl;
    c->id = id;
    c->refs = 1; /* the loop's own, dropped after on_close */
    c->state = context_size > 0 ? 2 : 0;
    *out = c;
    return 0;
}

void *eddy_tcp_connection_context(struct eddy_tcp_connection *c)
{
    return __atomic_load_n(&c->state, __ATOMIC_RELAXED) & 2 ? (char *)c + CTX_OFFSET : NULL;
}

static void list_add(struct eddy_tcp_connection *c)
{
    struct eddy__net_loop *nl = c->nl;

    c->prev = NULL;
    c->next = nl->conns;
    if (nl->conns != NULL)
        nl->conns->prev = c;
    nl->conns = c;
    nl->nconns++;
}

static void list_remove(struct eddy_tcp_connection *c)
{
    struct eddy__net_loop *nl = c->nl;

    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        nl->conns = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    c->prev = c->next = NULL;
    nl->nconns--;
}

static void free_conn(struct eddy_tcp_connection *c)
{
    if (c->flags & F_OWN_NL)
        eddy__net_loop_free(c->nl);
    eddy__tcp_peer_free(c);
    free(c);
}

void eddy__tcp_connection_discard(struct eddy_tcp_connection *c)
{
    c->tr.ops->close(&c->tr);
    eddy__net_loop_count_out(c->nl);
    if (c->nl->on_abandon != NULL)
        c->nl->on_abandon(c);
    free_conn(c);
}

/* With TCP_DEFER_ACCEPT the request came with the accept: reading it before
 * registering spares a connection closed after its response the epoll_ctl ADD
 * and a trip through the dispatcher. Registration follows only if the
 * connection lives on and still wants input. */
static void read_then_register(struct eddy_tcp_connection *c)
{
    if (is_live(c) && (c->flags & F_WANT_READ))
        handle_read(c);
    if (is_live(c) && wants_input(c) && !eddy_channel_is_reading(&c->ch))
        enable_or_close(c, EDDY_EV_READ);
}

static void connected(struct eddy_tcp_connection *c, int read_first)
{
    const struct eddy_tcp_callbacks *cb = c->nl->cb;

    c->flags |= F_CONNECTED;
    if (cb->on_connected != NULL) {
        c->flags |= F_BATCH;
        cb->on_connected(c);
        c->flags &= ~F_BATCH;
    }
    if (is_live(c) && !eddy_channel_is_writing(&c->ch))
        write_out(c);
    if (read_first)
        read_then_register(c);
    else if (is_live(c) && wants_input(c) && eddy_transport_pending(&c->tr) > 0)
        handle_read(c); /* e.g. application data that came with the handshake */
}

/* The channel for tr.fd: a uepoll descriptor needs a loop on a uepoll
 * backend; a kernel one is watched beside uepoll ones there. */
static int init_channel(struct eddy_tcp_connection *c)
{
    struct eddy_event_loop *loop = c->nl->loop;
    int loop_ue = eddy_event_loop_dispatcher(loop)->kind == EDDY_FD_UEPOLL;

    if (c->tr.ops->caps & EDDY_TRANSPORT_FD_UEPOLL) {
        eddy_channel_init(&c->ch, loop, c->tr.fd, on_event, c);
        return loop_ue ? 0 : -EINVAL;
    }
    if (loop_ue)
        eddy_channel_init_kernel(&c->ch, loop, c->tr.fd, on_event, c);
    else
        eddy_channel_init(&c->ch, loop, c->tr.fd, on_event, c);
    return 0;
}

void eddy__tcp_connection_establish(void *arg)
{
    struct eddy_tcp_connection *c = arg;
    int handshake = c->tr.ops->handshake != NULL;
    int read_first = c->nl->read_first && !handshake;

    if (init_channel(c) < 0 ||
        (!read_first && eddy_channel_enable_reading(&c->ch) < 0)) { /* select, fd >= FD_SETSIZE */
        eddy_channel_remove(&c->ch);
        eddy__tcp_connection_discard(c);
        return;
    }
    c->flags |= F_ESTABLISHED | F_WANT_READ | (handshake ? F_HANDSHAKE : 0);
    list_add(c);
    eddy__tcp_conn_enter(c);
    if (handshake && c->nl->handshake_timeout_ms > 0)
        handshake_deadline(c, c->nl->handshake_timeout_ms); /* closed then if not done */
    if (handshake && is_live(c))
        handshake_step(c);
    else if (!handshake)
        connected(c, read_first);
    eddy__tcp_conn_leave(c);
}

void eddy__tcp_conn_do_close(struct eddy_tcp_connection *c)
{
    struct eddy__net_loop *nl = c->nl;

    if (!is_open(c))
        return;
    __atomic_fetch_or(&c->state, 1, __ATOMIC_RELEASE);
    c->flags &= ~F_CLOSE_PENDING;
    if (c->flags & (F_LINGER_REQ | F_HANDSHAKE))
        eddy__net_linger_remove(nl, c);
    /* A descriptor that is ours alone (accept4 with CLOEXEC) leaves an epoll
     * set by itself when closed: the EPOLL_CTL_DEL syscall can be skipped. */
    if (c->tr.ops->caps & EDDY_TRANSPORT_CLOSE_FORGETS)
        eddy__channel_remove_before_close(&c->ch);
    else
        eddy_channel_remove(&c->ch);
    c->tr.ops->close(&c->tr);
    eddy__tcp_output_drop(c);
    eddy_buffer_retrieve_all(&c->out);
    eddy__net_buf_put(nl, &c->out);
    eddy_buffer_retrieve_all(&c->in);
    eddy__net_buf_put(nl, &c->in);
    list_remove(c);
    eddy__net_loop_count_out(nl);
    if (nl->cb->on_close != NULL && (c->flags & F_CONNECTED)) {
        c->busy++;
        nl->cb->on_close(c);
        c->busy--;
    } else if (nl->on_abandon != NULL && !(c->flags & F_CONNECTED)) {
        c->busy++;
        nl->on_abandon(c);
        c->busy--;
    }
    eddy_tcp_connection_unref(c);
}

void eddy_tcp_connection_unref(struct eddy_tcp_connection *c)
{
    if (__atomic_fetch_sub(&c->refs, 1, __ATOMIC_ACQ_REL) != 1)
        return;
    /* Only what a user may have appended after the close is left. */
    eddy_buffer_free(&c->in);
    eddy_buffer_free(&c->out);
    free_conn(c);
}
