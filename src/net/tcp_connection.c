/*
 * tcp_connection: one accepted TCP connection, owned by one loop's thread.
 *
 * Input: a read goes into the loop's scratch buffer when the connection holds
 * no leftover bytes, so a connection keeps input memory only while a message
 * is incomplete. Output: the ordered queue of memory and file ranges in
 * tcp_output.c; this file decides when to write and what follows a drain.
 *
 * Re-entrancy: `busy` counts the callbacks and API calls of this connection
 * on the stack. A close requested while busy is only recorded and done when
 * the outermost one returns, so no code ever runs on a freed connection and a
 * user callback never sees on_close before it returned itself.
 */
#include "net_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "eddy/channel.h"
#include "eddy/event_loop.h"
#include "reactor/loop_hooks.h"

enum { ST_OPEN = 0, ST_CLOSED = 1 };

enum {
    F_ESTABLISHED = 1u << 0, /* registered with the loop */
    F_BATCH = 1u << 1,       /* inside on_message/on_connected: sends only append */
    F_CLOSE_PENDING = 1u << 2,
    F_SHUT_WR_REQ = 1u << 3,
    F_SHUT_WR_DONE = 1u << 4,
    F_PEER_EOF = 1u << 5,
    F_HIGH_WATER = 1u << 6, /* above the mark since the last crossing */
    F_WANT_READ = 1u << 7,  /* the user did not pause reading */
    F_REDELIVER = 1u << 8,  /* a task will hand leftover input to on_message */
    F_IN_WC = 1u << 9,      /* inside on_write_complete */
    F_WC_AGAIN = 1u << 10,
    F_WROTE = 1u << 11,         /* a write was made: the next one wants TCP_NODELAY */
    F_NODELAY = 1u << 12,       /* TCP_NODELAY is set */
    F_CLOSE_FLUSHED = 1u << 13, /* close once the output queue is written */
    F_NO_MORE = F_SHUT_WR_REQ | F_CLOSE_FLUSHED, /* sends are refused */
};

/* The user context follows the struct, aligned for any type. */
#define CTX_OFFSET ((sizeof(struct eddy_tcp_connection) + 15u) & ~(size_t)15u)

static void do_close(struct eddy_tcp_connection *c);
static void write_out(struct eddy_tcp_connection *c);

static int is_open(const struct eddy_tcp_connection *c)
{
    return __atomic_load_n(&c->state, __ATOMIC_ACQUIRE) == ST_OPEN;
}

/* Open and no close pending: may still send. Owner thread. */
static int is_live(const struct eddy_tcp_connection *c)
{
    return is_open(c) && !(c->flags & F_CLOSE_PENDING);
}

static int edge_triggered(const struct eddy_tcp_connection *c)
{
    return eddy_event_loop_is_edge_triggered(c->nl->loop);
}

static void enter(struct eddy_tcp_connection *c)
{
    c->busy++;
}

/* May free c: the caller must not touch c afterwards. */
static void leave(struct eddy_tcp_connection *c)
{
    if (--c->busy == 0 && (c->flags & F_CLOSE_PENDING))
        do_close(c);
}

/* Owner thread. May free c when nothing of c is on the stack. */
static void request_close(struct eddy_tcp_connection *c)
{
    if (!is_open(c))
        return;
    if (c->busy > 0)
        c->flags |= F_CLOSE_PENDING;
    else
        do_close(c);
}

static void check_high_water(struct eddy_tcp_connection *c)
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

/* ---- writing ---- */

/* Linux's Nagle (Minshall's variant) holds a small segment back only while an
 * earlier small one is unacknowledged, so a connection's first write cannot
 * be delayed: TCP_NODELAY is set before the second one, and a connection
 * closed after one response never pays the setsockopt. */
static void before_write(struct eddy_tcp_connection *c)
{
    if ((c->flags & (F_WROTE | F_NODELAY)) == F_WROTE && c->nl->nodelay) {
        eddy_socket_set_nodelay(c->ch.fd, 1);
        c->flags |= F_NODELAY;
    }
    c->flags |= F_WROTE;
}

/* Whether the peer's end of input closes the connection once the output is
 * written: always without on_peer_eof; with it only once our side is shut down
 * too, since nothing can then pass either way. */
static int eof_closes(const struct eddy_tcp_connection *c)
{
    return (c->flags & F_PEER_EOF) &&
           (c->nl->cb->on_peer_eof == NULL || (c->flags & F_SHUT_WR_DONE));
}

/* The queue drained: release memory, then the deferred half-close or close. */
static void drained(struct eddy_tcp_connection *c, int wrote)
{
    if (eddy_channel_is_writing(&c->ch))
        eddy_channel_disable_writing(&c->ch);
    eddy__net_buf_put(c->nl, &c->out);
    c->flags &= ~F_HIGH_WATER;
    if ((c->flags & (F_SHUT_WR_REQ | F_SHUT_WR_DONE)) == F_SHUT_WR_REQ) {
        shutdown(c->ch.fd, SHUT_WR);
        c->flags |= F_SHUT_WR_DONE;
    }
    if ((c->flags & F_CLOSE_FLUSHED) || eof_closes(c)) {
        request_close(c);
        return;
    }
    if (wrote)
        notify_write_complete(c);
}

/* Owner thread, busy > 0. */
static void write_out(struct eddy_tcp_connection *c)
{
    int wrote = 0;
    int r;

    if (!eddy__tcp_output_empty(c))
        before_write(c);
    r = eddy__tcp_output_drain(c, edge_triggered(c), (c->flags & F_CLOSE_FLUSHED) != 0, &wrote);

    if (r < 0) {
        request_close(c);
        return;
    }
    if (r > 0) {
        drained(c, wrote);
        return;
    }
    if (!eddy_channel_is_writing(&c->ch) && eddy_channel_enable_writing(&c->ch) < 0) {
        request_close(c);
        return;
    }
    /* Bytes built in place with eddy_tcp_connection_output count too. */
    if (eddy_tcp_connection_output_held(c) <= c->nl->high_water_mark)
        c->flags &= ~F_HIGH_WATER;
    else
        check_high_water(c);
}

/* Writes now unless a callback is running: inside on_message/on_connected (F_BATCH) output
 * only queues, so that everything the callback sends leaves in one write when it returns. */
static void write_unless_batched(struct eddy_tcp_connection *c)
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

/* Owner thread, busy > 0. */
static int send_in_loop(struct eddy_tcp_connection *c, const char *p, size_t len)
{
    int r;

    if (!is_live(c) || (c->flags & F_NO_MORE))
        return -EPIPE;
    if (len == 0)
        return 0;
    if (!(c->flags & F_BATCH) && eddy__tcp_output_empty(c)) {
        ssize_t n;

        before_write(c);
        do
            n = send(c->ch.fd, p, len, MSG_NOSIGNAL);
        while (n < 0 && errno == EINTR);
        if (n < 0 && errno != EAGAIN) {
            request_close(c);
            return -EPIPE;
        }
        if (n > 0) {
            p += n;
            len -= (size_t)n;
        }
        if (len == 0) {
            notify_write_complete(c);
            return 0;
        }
        r = append_output(c, p, len);
        if (r == 0 && eddy_channel_enable_writing(&c->ch) < 0)
            request_close(c);
        if (r == 0)
            check_high_water(c);
        return r;
    }
    r = append_output(c, p, len);
    if (r < 0)
        return r;
    check_high_water(c);
    write_unless_batched(c);
    return 0;
}

/* ---- reading ---- */

static int ensure_scratch(struct eddy__net_loop *nl)
{
    return eddy_buffer_ensure_writable(&nl->scratch, EDDY__NET_SCRATCH_SIZE);
}

/* Reads into the scratch buffer (no leftover input) or into c->in with the
 * scratch as overflow. Returns bytes, 0 at EOF, or -errno; *offered gets the
 * space the kernel was offered. */
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
    do
        n = readv(c->ch.fd, iov, niov);
    while (n < 0 && errno == EINTR);
    if (n <= 0)
        return n < 0 ? -errno : 0;
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

    if (nl->cb->on_message == NULL) {
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
    if (!eddy_channel_is_writing(&c->ch))
        write_out(c);
    else
        check_high_water(c);
}

static void peer_eof(struct eddy_tcp_connection *c)
{
    c->flags |= F_PEER_EOF;
    if (!eof_closes(c)) {
        c->nl->cb->on_peer_eof(c);
        /* A socket at end of input stays readable: level-triggered polling would
         * spin. The common answer (close at once) skips the epoll_ctl. */
        if (is_live(c) && eddy_channel_is_reading(&c->ch) &&
            eddy_channel_disable_reading(&c->ch) < 0)
            request_close(c);
        return;
    }
    if (eddy__tcp_output_empty(c)) {
        request_close(c); /* the close unregisters: no epoll_ctl to stop reading first */
        return;
    }
    if (eddy_channel_is_reading(&c->ch))
        eddy_channel_disable_reading(&c->ch);
    if (!eddy_channel_is_writing(&c->ch))
        write_out(c);
}

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
        if (n == -EAGAIN)
            return;
        if (n < 0) {
            request_close(c);
            return;
        }
        deliver(c, b);
        if (!is_live(c) || !(c->flags & F_WANT_READ))
            return;
        if (!et && (size_t)n < offered)
            return;
    }
}

static void on_event(struct eddy_channel *ch, int revents)
{
    struct eddy_tcp_connection *c = ch->data;

    enter(c);
    if (revents & EDDY_EV_ERROR) {
        request_close(c);
    } else {
        if (revents & (EDDY_EV_READ | EDDY_EV_HUP)) {
            if (eddy_channel_is_reading(&c->ch))
                handle_read(c);
            else if (revents & EDDY_EV_HUP) /* both directions are gone */
                request_close(c);
        }
        if ((revents & EDDY_EV_WRITE) && is_live(c) && eddy_channel_is_writing(&c->ch))
            write_out(c);
    }
    leave(c);
}

/* ---- life cycle ---- */

int eddy__tcp_connection_new(struct eddy_tcp_connection **out, struct eddy__net_loop *nl, int fd,
                             const struct sockaddr *peer, socklen_t peer_len, uint64_t id,
                             size_t context_size)
{
    struct eddy_tcp_connection *c = calloc(1, CTX_OFFSET + context_size);

    if (c == NULL)
        return -ENOMEM;
    c->ch.fd = fd;
    c->nl = nl;
    c->id = id;
    c->refs = 1; /* the loop's own, dropped after on_close */
    c->state = ST_OPEN;
    c->context_size = context_size;
    if (peer != NULL && peer_len > 0)
        memcpy(&c->peer, peer, peer_len < sizeof c->peer ? peer_len : sizeof c->peer);
    *out = c;
    return 0;
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

void eddy__tcp_connection_discard(struct eddy_tcp_connection *c)
{
    close(c->ch.fd);
    eddy__tcp_server_connection_gone(c->nl->server);
    free(c);
}

/* With TCP_DEFER_ACCEPT the request came with the accept: reading it before
 * registering spares a connection closed after its response the epoll_ctl ADD
 * and a trip through the dispatcher. Registration follows only if the
 * connection lives on and still wants input. */
static void read_then_register(struct eddy_tcp_connection *c)
{
    if (is_live(c) && (c->flags & F_WANT_READ))
        handle_read(c);
    if (is_live(c) && (c->flags & F_WANT_READ) && !(c->flags & F_PEER_EOF) &&
        !eddy_channel_is_reading(&c->ch) && eddy_channel_enable_reading(&c->ch) < 0)
        request_close(c);
}

void eddy__tcp_connection_establish(void *arg)
{
    struct eddy_tcp_connection *c = arg;
    const struct eddy_tcp_callbacks *cb = c->nl->cb;
    int read_first = c->nl->read_first;

    eddy_channel_init(&c->ch, c->nl->loop, c->ch.fd, on_event, c);
    if (!read_first && eddy_channel_enable_reading(&c->ch) < 0) { /* select, fd >= FD_SETSIZE */
        eddy_channel_remove(&c->ch);
        eddy__tcp_connection_discard(c);
        return;
    }
    c->flags |= F_ESTABLISHED | F_WANT_READ;
    list_add(c);
    enter(c);
    if (cb->on_connected != NULL) {
        c->flags |= F_BATCH;
        cb->on_connected(c);
        c->flags &= ~F_BATCH;
    }
    if (is_live(c) && !eddy_channel_is_writing(&c->ch))
        write_out(c);
    if (read_first)
        read_then_register(c);
    leave(c);
}

struct eddy_tcp_connection *eddy__tcp_connection_next(const struct eddy_tcp_connection *c)
{
    return c->next;
}

static void do_close(struct eddy_tcp_connection *c)
{
    struct eddy__net_loop *nl = c->nl;

    if (!is_open(c))
        return;
    __atomic_store_n(&c->state, ST_CLOSED, __ATOMIC_RELEASE);
    c->flags &= ~F_CLOSE_PENDING;
    /* The fd is ours alone (accept4 with CLOEXEC), so with epoll its close
     * unregisters it and the EPOLL_CTL_DEL syscall can be skipped. */
    eddy__channel_remove_before_close(&c->ch);
    close(c->ch.fd);
    eddy__tcp_output_drop(c);
    eddy_buffer_retrieve_all(&c->out);
    eddy__net_buf_put(nl, &c->out);
    eddy_buffer_retrieve_all(&c->in);
    eddy__net_buf_put(nl, &c->in);
    list_remove(c);
    eddy__tcp_server_connection_gone(nl->server);
    if (nl->cb->on_close != NULL) {
        c->busy++;
        nl->cb->on_close(c);
        c->busy--;
    }
    eddy_tcp_connection_unref(c);
}

void eddy_tcp_connection_ref(struct eddy_tcp_connection *c)
{
    __atomic_fetch_add(&c->refs, 1, __ATOMIC_RELAXED);
}

void eddy_tcp_connection_unref(struct eddy_tcp_connection *c)
{
    if (__atomic_fetch_sub(&c->refs, 1, __ATOMIC_ACQ_REL) != 1)
        return;
    /* Only what a user may have appended after the close is left. */
    eddy_buffer_free(&c->in);
    eddy_buffer_free(&c->out);
    free(c);
}

/* ---- API ---- */

struct send_task {
    struct eddy_tcp_connection *c;
    size_t len;
    char data[];
};

static void send_task_run(void *arg)
{
    struct send_task *t = arg;
    struct eddy_tcp_connection *c = t->c;

    enter(c);
    send_in_loop(c, t->data, t->len);
    leave(c);
    free(t);
    eddy_tcp_connection_unref(c);
}

int eddy_tcp_connection_send(struct eddy_tcp_connection *c, const void *data, size_t len)
{
    struct eddy_event_loop *loop = c->ch.loop;
    struct send_task *t;
    int r;

    if (!is_open(c))
        return -EPIPE;
    if (eddy_event_loop_is_in_loop_thread(loop)) {
        enter(c);
        r = send_in_loop(c, data, len);
        leave(c);
        return r;
    }
    t = malloc(sizeof *t + len);
    if (t == NULL)
        return -ENOMEM;
    t->c = c;
    t->len = len;
    if (len > 0)
        memcpy(t->data, data, len);
    eddy_tcp_connection_ref(c);
    r = eddy_event_loop_queue_in_loop(loop, send_task_run, t);
    if (r < 0) {
        eddy_tcp_connection_unref(c);
        free(t);
    }
    return r;
}

struct eddy_buffer *eddy_tcp_connection_output(struct eddy_tcp_connection *c)
{
    struct eddy_buffer *b = eddy__tcp_output_tail(c);

    if (is_live(c))
        eddy__net_buf_get(c->nl, b);
    return b;
}

int eddy_tcp_connection_flush(struct eddy_tcp_connection *c)
{
    int r;

    if (!is_live(c))
        return -EPIPE;
    enter(c);
    if (!eddy_channel_is_writing(&c->ch))
        write_out(c);
    r = is_live(c) ? 0 : -EPIPE;
    leave(c);
    return r;
}

int eddy_tcp_connection_send_file(struct eddy_tcp_connection *c, int fd, off_t offset, size_t len,
                                  int close_fd)
{
    struct eddy__out_seg *s = NULL;
    int r = 0;

    if (!is_live(c) || (c->flags & F_NO_MORE))
        r = -EPIPE;
    else if (fd < 0 || offset < 0)
        r = -EINVAL;
    else if (len > 0 && (s = eddy__net_seg_get(c->nl)) == NULL)
        r = -ENOMEM;
    if (r < 0 || len == 0) {
        if (close_fd && fd >= 0)
            close(fd);
        return r;
    }
    s->next = NULL;
    s->fd = fd;
    s->close_fd = close_fd;
    s->offset = offset;
    s->len = len;
    eddy_buffer_init(&s->after);
    if (c->seg_tail != NULL)
        c->seg_tail->next = s;
    else
        c->seg_head = s;
    c->seg_tail = s;
    enter(c);
    check_high_water(c);
    write_unless_batched(c);
    leave(c);
    return 0;
}

/* Records what follows the queued output (half close or close), then writes. */
static void flag_and_write(struct eddy_tcp_connection *c, unsigned flag)
{
    if (!is_live(c))
        return;
    c->flags |= flag;
    enter(c);
    write_unless_batched(c);
    leave(c);
}

static void shutdown_in_loop(struct eddy_tcp_connection *c)
{
    flag_and_write(c, F_SHUT_WR_REQ);
}

static void close_flushed_in_loop(struct eddy_tcp_connection *c)
{
    flag_and_write(c, F_CLOSE_FLUSHED);
}

static void close_flushed_task(void *arg)
{
    close_flushed_in_loop(arg);
    eddy_tcp_connection_unref(arg);
}

static void shutdown_task(void *arg)
{
    shutdown_in_loop(arg);
    eddy_tcp_connection_unref(arg);
}

static void close_task(void *arg)
{
    request_close(arg);
    eddy_tcp_connection_unref(arg);
}

/* Runs fn in c's loop: inline in the owner thread, else queued with a reference. */
static void run_owned(struct eddy_tcp_connection *c,
                      void (*inline_fn)(struct eddy_tcp_connection *), eddy_task_fn task)
{
    struct eddy_event_loop *loop = c->ch.loop;

    if (eddy_event_loop_is_in_loop_thread(loop)) {
        inline_fn(c);
        return;
    }
    eddy_tcp_connection_ref(c);
    if (eddy_event_loop_queue_in_loop(loop, task, c) < 0)
        eddy_tcp_connection_unref(c);
}

void eddy_tcp_connection_shutdown(struct eddy_tcp_connection *c)
{
    if (is_open(c))
        run_owned(c, shutdown_in_loop, shutdown_task);
}

void eddy_tcp_connection_close_flushed(struct eddy_tcp_connection *c)
{
    if (is_open(c))
        run_owned(c, close_flushed_in_loop, close_flushed_task);
}

void eddy_tcp_connection_close(struct eddy_tcp_connection *c)
{
    if (is_open(c))
        run_owned(c, request_close, close_task);
}

static void redeliver_task(void *arg)
{
    struct eddy_tcp_connection *c = arg;

    c->flags &= ~F_REDELIVER;
    if (is_live(c) && (c->flags & F_WANT_READ) && eddy_buffer_readable(&c->in) > 0) {
        enter(c);
        deliver(c, &c->in);
        leave(c);
    }
    eddy_tcp_connection_unref(c);
}

void eddy_tcp_connection_set_reading(struct eddy_tcp_connection *c, int on)
{
    if (!is_live(c))
        return;
    if (!on) {
        c->flags &= ~F_WANT_READ;
        if (eddy_channel_is_reading(&c->ch))
            eddy_channel_disable_reading(&c->ch);
        return;
    }
    c->flags |= F_WANT_READ;
    if (!(c->flags & F_PEER_EOF) && !eddy_channel_is_reading(&c->ch))
        eddy_channel_enable_reading(&c->ch);
    /* Input read before the pause would otherwise wait for more bytes. */
    if (eddy_buffer_readable(&c->in) > 0 && !(c->flags & F_REDELIVER)) {
        eddy_tcp_connection_ref(c);
        if (eddy_event_loop_queue_in_loop(c->nl->loop, redeliver_task, c) < 0)
            eddy_tcp_connection_unref(c);
        else
            c->flags |= F_REDELIVER;
    }
}

int eddy_tcp_connection_peer_eof(const struct eddy_tcp_connection *c)
{
    return (c->flags & F_PEER_EOF) != 0;
}

int eddy_tcp_connection_is_connected(const struct eddy_tcp_connection *c)
{
    return is_open(c);
}

void *eddy_tcp_connection_context(struct eddy_tcp_connection *c)
{
    return c->context_size > 0 ? (char *)c + CTX_OFFSET : NULL;
}

/* From the channel, not the per-loop state: valid after the server is gone. */
struct eddy_event_loop *eddy_tcp_connection_loop(const struct eddy_tcp_connection *c)
{
    return c->ch.loop;
}

struct eddy_tcp_server *eddy_tcp_connection_server(const struct eddy_tcp_connection *c)
{
    return c->nl->server;
}

int eddy_tcp_connection_fd(const struct eddy_tcp_connection *c)
{
    return is_open(c) ? c->ch.fd : -1;
}

uint64_t eddy_tcp_connection_id(const struct eddy_tcp_connection *c)
{
    return c->id;
}

const union eddy_sockaddr *eddy_tcp_connection_peer(const struct eddy_tcp_connection *c)
{
    return &c->peer;
}
