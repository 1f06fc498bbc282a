/*
 * tcp_connection over the in-memory transport, on every dispatcher backend:
 * a loop thread owns the connection (one end of a pair), the test thread
 * plays the peer on the other end through the transport ops. Covers reads
 * split at every byte, scripted short writes and EAGAIN, a window smaller than
 * the output, file ranges over the generic path, a reset in the middle of a
 * file range, the lingering close, a handshake step and tcp_server_adopt.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "eddy/eddy.h"
#include "net_fixture.h"

/* ---- the connection's side (loop thread) ---- */

enum { M_ECHO, M_SEND_BIG, M_SEND_FILE, M_LINGER, M_FLUSHED, M_PAUSE_LINGER };

static struct {
    int mode;
    unsigned linger_ms;
    const char *big;
    size_t big_len;
    int file_fd;
    size_t file_len;
    /* shared with the test thread (atomics) */
    int connected, closed, wc, msgs;
    long bytes;
    double closed_at;
    struct eddy_tcp_connection *conn;
} S;

static int ld(const int *p)
{
    return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

static void on_connected(struct eddy_tcp_connection *c)
{
    eddy_tcp_connection_ref(c); /* for the test thread, dropped in finish() */
    __atomic_store_n(&S.conn, c, __ATOMIC_RELEASE);
    if (S.mode == M_SEND_BIG)
        eddy_tcp_connection_send(c, S.big, S.big_len);
    if (S.mode == M_SEND_FILE) {
        eddy_tcp_connection_send(c, "<", 1);
        eddy_tcp_connection_send_file(c, S.file_fd, 0, S.file_len, 0);
        eddy_tcp_connection_send(c, ">", 1);
    }
    __atomic_store_n(&S.connected, 1, __ATOMIC_RELEASE);
}

static void on_message(struct eddy_tcp_connection *c, struct eddy_buffer *in)
{
    size_t n = eddy_buffer_readable(in);

    __atomic_add_fetch(&S.msgs, 1, __ATOMIC_ACQ_REL);
    __atomic_add_fetch(&S.bytes, (long)n, __ATOMIC_ACQ_REL);
    if (S.mode == M_ECHO)
        eddy_tcp_connection_send(c, eddy_buffer_peek(in), n);
    if (S.mode == M_LINGER || S.mode == M_FLUSHED || S.mode == M_PAUSE_LINGER) {
        eddy_tcp_connection_send(c, "response", 8);
        if (S.mode == M_PAUSE_LINGER)
            eddy_tcp_connection_set_reading(c, 0);
        if (S.mode == M_FLUSHED)
            eddy_tcp_connection_close_flushed(c);
        else
            eddy_tcp_connection_close_lingering(c, S.linger_ms);
    }
    eddy_buffer_retrieve_all(in);
}

static void on_write_complete(struct eddy_tcp_connection *c)
{
    (void)c;
    __atomic_add_fetch(&S.wc, 1, __ATOMIC_ACQ_REL);
}

static void on_close(struct eddy_tcp_connection *c)
{
    (void)c;
    S.closed_at = eddy_test_now();
    __atomic_store_n(&S.closed, 1, __ATOMIC_RELEASE);
}

static const struct eddy_tcp_callbacks CB = {
    .on_connected = on_connected,
    .on_message = on_message,
    .on_write_complete = on_write_complete,
    .on_close = on_close,
};

/* ---- the peer's side (test thread) ---- */

struct peer {
    struct eddy_event_loop_thread *lt;
    struct eddy_transport t;   /* the test's end */
    struct eddy_transport srv; /* a copy of the connection's end, for eddy_mem_stats */
    int eof, err;
};

static void sleep_ms(int ms)
{
    struct timespec ts = {0, (long)ms * 1000000L};
    nanosleep(&ts, NULL);
}

static int wait_flag(const int *p, double timeout_s)
{
    double end = eddy_test_now() + timeout_s;

    while (!ld(p) && eddy_test_now() < end)
        sleep_ms(1);
    return ld(p);
}

/* Reads until n bytes, end of input, an error or the timeout. */
static size_t peer_read(struct peer *p, char *buf, size_t n, double timeout_s)
{
    double end = eddy_test_now() + timeout_s;
    size_t got = 0;

    while (got < n && !p->eof && !p->err && eddy_test_now() < end) {
        struct iovec v = {buf + got, n - got};
        ssize_t r = eddy_transport_readv(&p->t, &v, 1);

        if (r > 0)
            got += (size_t)r;
        else if (r == 0)
            p->eof = 1;
        else if (r != -EAGAIN)
            p->err = (int)-r;
        else
            sleep_ms(1);
    }
    return got;
}

static int peer_write(struct peer *p, const void *buf, size_t n)
{
    double end = eddy_test_now() + 5;
    size_t done = 0;

    while (done < n && eddy_test_now() < end) {
        ssize_t r = eddy_transport_write(&p->t, (const char *)buf + done, n - done, 0);
        if (r > 0)
            done += (size_t)r;
        else if (r != -EAGAIN)
            return (int)r;
        else
            sleep_ms(1);
    }
    return done == n ? 0 : -ETIMEDOUT;
}

/* Starts a loop on backend and a pair; the connection's end is prepared by
 * setup (scripts, a wrapper) and adopted; on_connected may come later.
 * window: the peer's window (0: default). */
static int open_pair(struct peer *p, const char *backend, int mode, size_t window,
                     void (*setup)(struct eddy_transport *conn_end))
{
    struct eddy_transport c;
    struct eddy_event_loop *loop;
    int r;

    memset(p, 0, sizeof *p);
    S.mode = mode;
    S.connected = S.closed = S.wc = S.msgs = 0;
    S.bytes = 0;
    S.conn = NULL;
    if (eddy_event_loop_thread_start(&p->lt, backend) < 0)
        return -1;
    loop = eddy_event_loop_thread_loop(p->lt);
    r = eddy_mem_transport_pair(&c, &p->t, eddy_event_loop_dispatcher(loop)->kind, 0);
    if (r < 0)
        return r;
    if (window > 0)
        eddy_mem_set_window(&p->t, window);
    if (setup != NULL)
        setup(&c);
    p->srv = c;
    return eddy_tcp_connection_adopt(NULL, loop, &c, &CB, 0);
}

/* open_pair, then waits for on_connected. */
static int start(struct peer *p, const char *backend, int mode, size_t window,
                 void (*setup)(struct eddy_transport *conn_end))
{
    int r = open_pair(p, backend, mode, window, setup);

    if (r == 0 && !wait_flag(&S.connected, 5))
        r = -ETIMEDOUT;
    return r;
}

static void finish(struct peer *p)
{
    struct eddy_tcp_connection *c = __atomic_load_n(&S.conn, __ATOMIC_ACQUIRE);

    if (c != NULL) {
        eddy_tcp_connection_close(c);
        wait_flag(&S.closed, 5);
    }
    eddy_event_loop_thread_stop(p->lt);
    if (c != NULL)
        eddy_tcp_connection_unref(c);
    if (p->t.ops != NULL)
        p->t.ops->close(&p->t);
}

typedef void (*body_fn)(const char *backend);

static body_fn current_body;

static void each_backend(void)
{
    const struct eddy_event_dispatcher *const *d;

    for (d = eddy_event_dispatcher_list(); *d != NULL; d++) {
        current_body((*d)->name);
        if (eddy_test_failed()) {
            printf("# backend %s\n", (*d)->name);
            return;
        }
    }
}

#define RUN_ALL(fn) (current_body = fn, eddy_test_run(#fn, each_backend))

/* ---- tests ---- */

static void echo_then_eof(const char *backend)
{
    struct peer p;
    char buf[64];

    ASSERT_EQ(start(&p, backend, M_ECHO, 0, NULL), 0);
    ASSERT_EQ(peer_write(&p, "hello", 5), 0);
    ASSERT_EQ(peer_read(&p, buf, 5, 5), 5);
    ASSERT_MEM_EQ(buf, "hello", 5);
    /* Our FIN: without on_peer_eof the connection closes once its output is written. */
    ASSERT_EQ(p.t.ops->shutdown_write(&p.t), 0);
    ASSERT(wait_flag(&S.closed, 5));
    ASSERT_EQ(peer_read(&p, buf, sizeof buf, 5), 0);
    ASSERT(p.eof);
    ASSERT_EQ(p.err, 0);
    finish(&p);
}

static void one_byte_reads(struct eddy_transport *t)
{
    eddy_mem_set_max(t, 1, 0);
}

/* Pipelined input split at every byte: one on_message per byte, in order,
 * also edge-triggered (pending drives the reads, not new fd events). */
static void split_at_every_byte(const char *backend)
{
    static const char msg[] = "GET / HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n";
    size_t n = sizeof msg - 1;
    char buf[sizeof msg];
    struct peer p;

    ASSERT_EQ(start(&p, backend, M_ECHO, 0, one_byte_reads), 0);
    ASSERT_EQ(peer_write(&p, msg, n), 0);
    ASSERT_EQ(peer_read(&p, buf, n, 5), n);
    ASSERT_MEM_EQ(buf, msg, n);
    ASSERT_EQ(ld(&S.msgs), (int)n);
    finish(&p);
}

static char *pattern(size_t n)
{
    char *b = malloc(n);
    for (size_t i = 0; b != NULL && i < n; i++)
        b[i] = (char)('a' + (i * 7 + i / 251) % 26);
    return b;
}

static void choppy_writes(struct eddy_transport *t)
{
    static const long steps[] = {3, EDDY_MEM_AGAIN, 1, 5000, EDDY_MEM_AGAIN, EDDY_MEM_AGAIN, 7};
    eddy_mem_script_writes(t, steps, 7);
    eddy_mem_set_max(t, 0, 40000);
}

/* Short writes and EAGAIN at chosen points, and a peer window (8 KiB) much
 * smaller than the output: every byte arrives once, in order, and
 * on_write_complete runs once the queue drained. */
static void big_output_small_window(const char *backend)
{
    size_t n = 300 * 1000;
    char *want = pattern(n), *got = malloc(n);
    struct peer p;

    ASSERT(want != NULL && got != NULL);
    S.big = want;
    S.big_len = n;
    ASSERT_EQ(start(&p, backend, M_SEND_BIG, 8192, choppy_writes), 0);
    ASSERT_EQ(peer_read(&p, got, n, 10), n);
    ASSERT_MEM_EQ(got, want, n);
    ASSERT(wait_flag(&S.wc, 5));
    finish(&p);
    free(want);
    free(got);
}

/* A file range between memory bytes goes by pread + write over a transport
 * without send_file, through a small window. */
static void file_range_generic_path(const char *backend)
{
    size_t n = 100 * 1000;
    char *want = pattern(n), *got = malloc(n + 2);
    struct peer p;

    ASSERT(want != NULL && got != NULL);
    S.file_fd = fx_temp_file(want, n);
    S.file_len = n;
    ASSERT(S.file_fd >= 0);
    ASSERT_EQ(start(&p, backend, M_SEND_FILE, 4096, NULL), 0);
    ASSERT_EQ(peer_read(&p, got, n + 2, 10), n + 2);
    ASSERT_EQ(got[0], '<');
    ASSERT_MEM_EQ(got + 1, want, n);
    ASSERT_EQ(got[n + 1], '>');
    finish(&p);
    close(S.file_fd);
    free(want);
    free(got);
}

static void reset_after_50000(struct eddy_transport *t)
{
    eddy_mem_fail_after(t, 50000, ECONNRESET);
}

/* A reset in the middle of a file range: the connection closes (on_close)
 * after exactly the bytes before the reset, and the peer, reading all along,
 * gets a prefix of the stream and then the reset. */
static void reset_mid_file_range(const char *backend)
{
    size_t n = 200 * 1000;
    char *data = pattern(n), *got = malloc(n + 2);
    struct eddy_mem_stats st;
    struct peer p;

    ASSERT(data != NULL && got != NULL);
    S.file_fd = fx_temp_file(data, n);
    S.file_len = n;
    ASSERT(S.file_fd >= 0);
    ASSERT_EQ(start(&p, backend, M_SEND_FILE, 8192, reset_after_50000), 0);
    size_t k = peer_read(&p, got, n + 2, 10);
    ASSERT_EQ(p.err, ECONNRESET);
    ASSERT(wait_flag(&S.closed, 5));
    eddy_mem_stats(&p.srv, &st);
    ASSERT_EQ(st.written, 50000);
    ASSERT(st.reset);
    ASSERT_LE(k, 50000);
    ASSERT_GT(k, 1);
    ASSERT_EQ(got[0], '<');
    ASSERT_MEM_EQ(got + 1, data, k - 1);
    finish(&p);
    close(S.file_fd);
    free(data);
    free(got);
}

/* The peer sends more after its request; lingering close answers, shuts our
 * side, reads the rest away and closes at the peer's FIN: the peer reads the
 * whole response and end of input, no reset. */
static void lingering_close_reads_away(const char *backend)
{
    char buf[64];
    struct eddy_mem_stats st;
    struct peer p;

    S.linger_ms = 5000;
    ASSERT_EQ(start(&p, backend, M_LINGER, 0, NULL), 0);
    ASSERT_EQ(peer_write(&p, "req", 3), 0);
    ASSERT_EQ(peer_read(&p, buf, 8, 5), 8);
    ASSERT_MEM_EQ(buf, "response", 8);
    ASSERT_EQ(peer_write(&p, "more bytes the server never asked for", 37), 0);
    ASSERT_EQ(peer_read(&p, buf, sizeof buf, 5), 0);
    ASSERT(p.eof); /* our FIN, not a reset */
    eddy_mem_stats(&p.t, &st);
    ASSERT(st.peer_shut && !st.peer_closed && !st.reset);
    ASSERT_EQ(ld(&S.closed), 0); /* still lingering: waits for the FIN */
    double t0 = eddy_test_now();
    ASSERT_EQ(p.t.ops->shutdown_write(&p.t), 0);
    ASSERT(wait_flag(&S.closed, 5));
    ASSERT_LT(S.closed_at - t0, 2.0); /* at the FIN, not at linger_ms */
    eddy_mem_stats(&p.t, &st);
    ASSERT(st.peer_closed && !st.reset);
    finish(&p);
}

static void three_byte_reads(struct eddy_transport *t)
{
    eddy_mem_set_max(t, 3, 0);
}

/* The same with close_flushed, and the extra bytes still unread when it
 * closes: the close is a reset that destroys the response before the peer
 * read it (what lingering prevents). */
static void close_flushed_with_unread_resets(const char *backend)
{
    struct eddy_mem_stats st;
    char buf[64];
    struct peer p;

    ASSERT_EQ(start(&p, backend, M_FLUSHED, 0, three_byte_reads), 0);
    ASSERT_EQ(peer_write(&p, "reqjunk", 7), 0);
    ASSERT(wait_flag(&S.closed, 5));
    ASSERT_EQ(ld(&S.msgs), 1);
    eddy_mem_stats(&p.t, &st);
    ASSERT(st.reset);
    ASSERT_EQ(peer_read(&p, buf, sizeof buf, 1), 0);
    ASSERT_EQ(p.err, ECONNRESET);
    finish(&p);
}

/* Lingering with the same unread bytes: no reset, the response arrives. */
static void lingering_with_unread_no_reset(const char *backend)
{
    struct eddy_mem_stats st;
    char buf[64];
    struct peer p;

    S.linger_ms = 100;
    ASSERT_EQ(start(&p, backend, M_LINGER, 0, three_byte_reads), 0);
    ASSERT_EQ(peer_write(&p, "reqjunk", 7), 0);
    ASSERT(wait_flag(&S.closed, 5));
    eddy_mem_stats(&p.t, &st);
    ASSERT(!st.reset);
    ASSERT_EQ(peer_read(&p, buf, sizeof buf, 2), 8);
    ASSERT_MEM_EQ(buf, "response", 8);
    ASSERT(p.eof);
    finish(&p);
}

/* A peer that never sends its FIN: the close comes after linger_ms. Also with
 * reading paused by the user: lingering reads anyway. */
static void lingering_close_times_out(const char *backend)
{
    char buf[64];
    struct eddy_mem_stats st;
    struct peer p;

    S.linger_ms = 150;
    ASSERT_EQ(start(&p, backend, M_PAUSE_LINGER, 0, NULL), 0);
    double t0 = eddy_test_now();
    ASSERT_EQ(peer_write(&p, "req", 3), 0);
    ASSERT_EQ(peer_read(&p, buf, 8, 5), 8);
    ASSERT_EQ(peer_write(&p, "trailing", 8), 0);
    ASSERT(wait_flag(&S.closed, 5));
    ASSERT_GE(S.closed_at - t0, 0.14);
    ASSERT_LT(S.closed_at - t0, 3.0);
    eddy_mem_stats(&p.t, &st);
    ASSERT(!st.reset); /* the trailing bytes were read away, not left to reset */
    ASSERT_EQ(peer_read(&p, buf, sizeof buf, 1), 0);
    ASSERT(p.eof);
    finish(&p);
}

/* linger_ms 0: closed right after the output, without a half-close first. */
static void lingering_zero_closes_at_once(const char *backend)
{
    struct eddy_mem_stats st;
    char buf[16];
    struct peer p;

    S.linger_ms = 0;
    ASSERT_EQ(start(&p, backend, M_LINGER, 0, NULL), 0);
    ASSERT_EQ(peer_write(&p, "req", 3), 0);
    ASSERT(wait_flag(&S.closed, 5));
    eddy_mem_stats(&p.t, &st);
    ASSERT(st.peer_closed && !st.reset);
    ASSERT_EQ(peer_read(&p, buf, 8, 2), 8);
    ASSERT_MEM_EQ(buf, "response", 8);
    finish(&p);
}

/* ---- transports wrapped around a memory end ---- */

/* A handshake that waits for "HELLO" from the peer (reading no further), and a
 * read that first asks for write readiness once, as TLS may. */
static struct eddy_transport_ops wrapped;
static int hello_got, want_write_once;

static int hello_handshake(struct eddy_transport *t)
{
    char buf[5];

    while (hello_got < 5) {
        struct iovec v = {buf, (size_t)(5 - hello_got)};
        ssize_t r = eddy_transport_mem.readv(t, &v, 1);

        if (r == -EAGAIN)
            return EDDY_EV_READ;
        if (r <= 0 || memcmp(buf, &"HELLO"[hello_got], (size_t)r) != 0)
            return r < 0 ? (int)r : -EPROTO;
        hello_got += (int)r;
    }
    return 0;
}

static ssize_t read_wanting_write(struct eddy_transport *t, const struct iovec *iov, int n)
{
    if (want_write_once && eddy_transport_mem.pending(t) > 0) {
        want_write_once = 0;
        t->want = EDDY_EV_WRITE;
        return -EAGAIN;
    }
    return eddy_transport_mem.readv(t, iov, n);
}

static void wrap(struct eddy_transport *t)
{
    wrapped = *t->ops;
    wrapped.handshake = hello_handshake;
    wrapped.readv = read_wanting_write;
    t->ops = &wrapped;
}

/* on_connected only once the handshake is done; bytes that came after it in
 * the same delivery are read without a new event (pending); a read waiting
 * for write readiness is retried when that fires. */
static void handshake_then_want_write(const char *backend)
{
    char buf[16];
    struct peer p;

    hello_got = 0;
    want_write_once = 1;
    ASSERT_EQ(open_pair(&p, backend, M_ECHO, 0, wrap), 0);
    ASSERT_EQ(peer_write(&p, "HEL", 3), 0);
    sleep_ms(30);
    ASSERT_EQ(ld(&S.connected), 0);
    ASSERT_EQ(peer_write(&p, "LOping", 6), 0);
    ASSERT(wait_flag(&S.connected, 5));
    ASSERT_EQ(peer_read(&p, buf, 4, 5), 4);
    ASSERT_MEM_EQ(buf, "ping", 4);
    ASSERT_EQ(want_write_once, 0);
    ASSERT_EQ(peer_write(&p, "pong", 4), 0);
    ASSERT_EQ(peer_read(&p, buf, 4, 5), 4);
    ASSERT_MEM_EQ(buf, "pong", 4);
    finish(&p);
}

/* A failed handshake closes without on_connected or on_close. */
static void handshake_failure_is_silent(const char *backend)
{
    struct eddy_mem_stats st;
    struct peer p;

    hello_got = 0;
    want_write_once = 0;
    ASSERT_EQ(open_pair(&p, backend, M_ECHO, 0, wrap), 0);
    ASSERT_EQ(peer_write(&p, "HELP!", 5), 0);
    double end = eddy_test_now() + 5;
    do {
        sleep_ms(1);
        eddy_mem_stats(&p.t, &st);
    } while (!st.peer_closed && eddy_test_now() < end);
    ASSERT(st.peer_closed);
    ASSERT_EQ(ld(&S.connected), 0);
    ASSERT_EQ(ld(&S.closed), 0);
    finish(&p);
}

int main(void)
{
    RUN_ALL(echo_then_eof);
    RUN_ALL(split_at_every_byte);
    RUN_ALL(big_output_small_window);
    RUN_ALL(file_range_generic_path);
    RUN_ALL(reset_mid_file_range);
    RUN_ALL(lingering_close_reads_away);
    RUN_ALL(close_flushed_with_unread_resets);
    RUN_ALL(lingering_with_unread_no_reset);
    RUN_ALL(lingering_close_times_out);
    RUN_ALL(lingering_zero_closes_at_once);
    RUN_ALL(handshake_then_want_write);
    RUN_ALL(handshake_failure_is_silent);
    return eddy_test_done();
}
