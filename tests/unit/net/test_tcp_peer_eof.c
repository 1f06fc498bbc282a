/*
 * The peer's end of input (it called shutdown(SHUT_WR)), on every backend.
 * Without on_peer_eof the connection closes (after its queued output, see
 * test_tcp_connection.c). With it the connection stays open for an answer
 * sent later, the callback runs once, and the fd is no longer polled for
 * reading: the loop sleeps instead of waking for the readable end of file.
 * A shutdown after it closes the connection once the output is written.
 */
#include "net_fixture.h"

static struct state {
    int eofs, eof_flag, closed, received;
    struct eddy_tcp_connection *conn; /* loop thread only */
    uint64_t iterations;              /* loop thread writes, fx_call publishes */
} st;

static void on_connected_keep(struct eddy_tcp_connection *c)
{
    st.conn = c;
}

static void on_message_swallow(struct eddy_tcp_connection *c, struct eddy_buffer *in)
{
    (void)c;
    __atomic_add_fetch(&st.received, (int)eddy_buffer_readable(in), __ATOMIC_ACQ_REL);
    eddy_buffer_retrieve_all(in);
}

static void on_close_count(struct eddy_tcp_connection *c)
{
    (void)c;
    fx_inc(&st.closed);
}

/* Keeps the connection: the answer comes later (answer_late). */
static void on_peer_eof_wait(struct eddy_tcp_connection *c)
{
    if (eddy_tcp_connection_peer_eof(c))
        fx_store(&st.eof_flag, 1);
    fx_inc(&st.eofs);
}

/* Answers at once and half-closes: both directions are then finished. */
static void on_peer_eof_shutdown(struct eddy_tcp_connection *c)
{
    fx_inc(&st.eofs);
    eddy_tcp_connection_send(c, "bye", 3);
    eddy_tcp_connection_shutdown(c);
}

static void answer_late(void *arg)
{
    (void)arg;
    eddy_tcp_connection_send(st.conn, "late", 4);
    eddy_tcp_connection_close_flushed(st.conn);
}

static void read_iterations(void *loop)
{
    st.iterations = eddy_event_loop_iterations(loop);
}

static uint64_t iterations_now(struct fx *f)
{
    if (!fx_call(f->loop, read_iterations, f->loop))
        return 0;
    return st.iterations;
}

/* A client that sends "ping" and half-closes; -1 on error. */
static int ping_and_half_close(int port)
{
    int fd = fx_connect(port, 0);

    if (fd < 0)
        return -1;
    if (fx_write_all(fd, "ping", 4) < 0 || shutdown(fd, SHUT_WR) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static void wait_case(const char *backend)
{
    struct eddy_tcp_callbacks cb = {.on_connected = on_connected_keep,
                                    .on_message = on_message_swallow,
                                    .on_peer_eof = on_peer_eof_wait,
                                    .on_close = on_close_count};
    char buf[8];
    struct fx f;
    uint64_t it0, it1;
    int fd;

    memset(&st, 0, sizeof st);
    ASSERT_EQ(fx_start(&f, backend, NULL, &cb, NULL), 0);
    fd = ping_and_half_close(f.port);
    ASSERT(fd >= 0);
    ASSERT(fx_wait_ge(&st.eofs, 1, 5));
    it0 = iterations_now(&f);
    fx_sleep_ms(300);
    it1 = iterations_now(&f);
    /* Still open, told once, and idle: polling the readable EOF would loop. */
    ASSERT_LT(it1 - it0, 20);
    ASSERT_EQ(fx_load(&st.eofs), 1);
    ASSERT_EQ(fx_load(&st.eof_flag), 1);
    ASSERT_EQ(fx_load(&st.closed), 0);
    ASSERT_EQ(__atomic_load_n(&st.received, __ATOMIC_ACQUIRE), 4);
    ASSERT(fx_call(f.loop, answer_late, NULL));
    ASSERT_EQ(fx_read_n(fd, buf, sizeof buf), 4); /* the late answer, then EOF */
    ASSERT_MEM_EQ(buf, "late", 4);
    ASSERT(fx_wait_ge(&st.closed, 1, 5));
    close(fd);
    fx_stop(&f);
}

/* The peer half-closes: the server sends reply (from eof_fn) and closes. */
static void closes_after(const char *backend, void (*eof_fn)(struct eddy_tcp_connection *),
                         const char *reply)
{
    struct eddy_tcp_callbacks cb = {
        .on_message = on_message_swallow, .on_peer_eof = eof_fn, .on_close = on_close_count};
    char buf[8];
    struct fx f;
    size_t n;
    int fd;

    memset(&st, 0, sizeof st);
    ASSERT_EQ(fx_start(&f, backend, NULL, &cb, NULL), 0);
    fd = ping_and_half_close(f.port);
    ASSERT(fd >= 0);
    n = fx_read_n(fd, buf, sizeof buf); /* up to EOF */
    ASSERT_EQ(n, strlen(reply));
    ASSERT_MEM_EQ(buf, reply, n);
    ASSERT(fx_wait_ge(&st.closed, 1, 5));
    ASSERT_EQ(fx_load(&st.eofs), eof_fn != NULL);
    ASSERT_EQ(__atomic_load_n(&st.received, __ATOMIC_ACQUIRE), 4);
    close(fd);
    fx_stop(&f);
}

static void shutdown_case(const char *backend)
{
    closes_after(backend, on_peer_eof_shutdown, "bye");
}

/* No callback: end of input with nothing queued closes at once (as before). */
static void default_case(const char *backend)
{
    closes_after(backend, NULL, "");
}

static void test_callback_keeps_connection_for_late_answer(void)
{
    fx_each_backend(wait_case);
}

static void test_shutdown_after_peer_eof_closes(void)
{
    fx_each_backend(shutdown_case);
}

static void test_no_callback_closes_at_peer_eof(void)
{
    fx_each_backend(default_case);
}

int main(void)
{
    RUN(test_callback_keeps_connection_for_late_answer);
    RUN(test_shutdown_after_peer_eof_closes);
    RUN(test_no_callback_closes_at_peer_eof);
    return eddy_test_done();
}
