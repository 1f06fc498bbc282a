/*
 * tcp_connection over real loopback sockets, on every backend: echo and the
 * callbacks, partial writes with a slow reader, the high-water mark,
 * write-complete, half-close after flush, file ranges, backpressure, peer EOF
 * with queued output and a peer reset while streaming. The close-ordering cases
 * are in test_tcp_connection_close.c.
 */
#include <fcntl.h>
#include <linux/tcp.h> /* struct tcp_info with tcpi_data_segs_out */
#include <signal.h>

#include "net_fixture.h"

/* Everything the callbacks record; reset per case. */
static struct state {
    int closed, messages, high_water, write_complete;
    int send_after_shutdown;
    int round;
    int batch_segs, direct_segs, early_write;
    size_t hw_queued, held;
    size_t received;
    int file_closed;
    int dup_fd;
    char *blob;
    size_t blob_len;
} st;

static void reset_state(void)
{
    free(st.blob);
    memset(&st, 0, sizeof st);
    st.dup_fd = -1;
}

static void on_close_count(struct eddy_tcp_connection *c)
{
    (void)c;
    fx_inc(&st.closed);
}

static void on_message_echo(struct eddy_tcp_connection *c, struct eddy_buffer *in)
{
    fx_inc(&st.messages);
    fx_echo(c, in);
}

/* ---- echo, ids, peers ---- */

static void on_connected_check(struct eddy_tcp_connection *c)
{
    const struct sockaddr *p = eddy_tcp_connection_peer(c);

    if (eddy_tcp_connection_id(c) > 0 && p->sa_family == AF_INET &&
        eddy_tcp_connection_fd(c) >= 0 && eddy_tcp_connection_is_connected(c) &&
        eddy_tcp_connection_context(c) == NULL)
        fx_store(&st.round, eddy_sockaddr_port(p));
    fx_on_connected_record(c);
}

static void test_echo(const char *backend)
{
    struct eddy_tcp_callbacks cb = {.on_connected = on_connected_check,
                                    .on_message = on_message_echo,
                                    .on_close = on_close_count};
    struct sockaddr_in local;
    socklen_t llen = sizeof local;
    struct fx f;
    char buf[16];
    int fd;

    reset_state();
    fd = fx_start_client(&f, backend, NULL, &cb, 0);
    ASSERT(fd >= 0);
    ASSERT_EQ(fx_write_all(fd, "hello", 5), 0);
    ASSERT_EQ(fx_read_n(fd, buf, 5), 5);
    ASSERT_MEM_EQ(buf, "hello", 5);
    ASSERT_EQ(eddy_tcp_server_connection_count(f.server), 1);
    getsockname(fd, (struct sockaddr *)&local, &llen);
    ASSERT_EQ(fx_load(&st.round), ntohs(local.sin_port));
    close(fd);
    ASSERT(fx_wait_ge(&st.closed, 1, 5));
    ASSERT_EQ(eddy_tcp_server_connection_count(f.server), 0);
    fx_stop(&f);
    ASSERT_EQ(fx_load(&fx_n.connected), 1);
    ASSERT_EQ(fx_load(&st.closed), 1);
}

/* ---- write coalescing: sends in on_message leave in one write ---- */

static unsigned data_segs_out(struct eddy_tcp_connection *c)
{
    struct tcp_info ti;
    socklen_t len = sizeof ti;

    memset(&ti, 0, sizeof ti);
    getsockopt(eddy_tcp_connection_fd(c), IPPROTO_TCP, TCP_INFO, &ti, &len);
    return ti.tcpi_data_segs_out;
}

static unsigned segs_before;

static void after_message(void *arg)
{
    struct eddy_tcp_connection *c = arg;
    unsigned before;

    fx_store(&st.batch_segs, (int)(data_segs_out(c) - segs_before));
    /* Outside on_message a send goes out before it returns. */
    before = data_segs_out(c);
    eddy_tcp_connection_send(c, "!", 1);
    fx_store(&st.direct_segs, (int)(data_segs_out(c) - before));
    fx_inc(&st.round);
}

static void on_message_many_sends(struct eddy_tcp_connection *c, struct eddy_buffer *in)
{
    eddy_buffer_retrieve_all(in);
    segs_before = data_segs_out(c);
    for (int i = 0; i < 100; i++) /* TCP_NODELAY is on: 100 writes would be 100 segments */
        eddy_tcp_connection_send(c, "0123456789", 10);
    if (data_segs_out(c) != segs_before)
        fx_store(&st.early_write, 1); /* something left before on_message returned */
    eddy_event_loop_queue_in_loop(eddy_tcp_connection_loop(c), after_message, c);
}

static void test_sends_in_on_message_leave_in_one_write(const char *backend)
{
    struct eddy_tcp_callbacks cb = {.on_message = on_message_many_sends,
                                    .on_close = on_close_count};
    char buf[1001];
    struct fx f;
    int fd;

    reset_state();
    fd = fx_start_client(&f, backend, NULL, &cb, 0);
    ASSERT(fd >= 0);
    ASSERT_EQ(fx_write_all(fd, "go", 2), 0);
    ASSERT_EQ(fx_read_n(fd, buf, sizeof buf), sizeof buf);
    ASSERT_EQ(buf[1000], '!');
    ASSERT(fx_wait_ge(&st.round, 1, 5));
    ASSERT_EQ(fx_load(&st.batch_segs), 1);
    ASSERT_EQ(fx_load(&st.direct_segs), 1);
    ASSERT_EQ(fx_load(&st.early_write), 0);
    ASSERT(fx_finish(&f, fd, &st.closed, 1));
}

/* ---- partial writes, high water, write complete ---- */

#define BIG (3u << 20)

static void set_sndbuf(struct eddy_tcp_connection *c, int v)
{
    setsockopt(eddy_tcp_connection_fd(c), SOL_SOCKET, SO_SNDBUF, &v, sizeof v);
}

static void send_blob_chunks(struct eddy_tcp_connection *c)
{
    size_t off;

    for (off = 0; off < st.blob_len; off += 65536)
        eddy_tcp_connection_send(c, st.blob + off,
                                 st.blob_len - off < 65536 ? st.blob_len - off : 65536);
}

static void on_connected_big(struct eddy_tcp_connection *c)
{
    set_sndbuf(c, 4096);
    st.round = 1;
    send_blob_chunks(c); /* inside a callback: appended, flushed after */
}

static void on_high_water(struct eddy_tcp_connection *c, size_t queued)
{
    (void)c;
    st.hw_queued = queued;
    fx_inc(&st.high_water);
}

static void on_write_complete_again(struct eddy_tcp_connection *c)
{
    fx_inc(&st.write_complete);
    if (st.round == 1) {
        st.round = 2;
        send_blob_chunks(c); /* outside on_message: written at once, rest queued */
    }
}

static void test_partial_writes_high_water(const char *backend)
{
    struct eddy_tcp_callbacks cb = {.on_connected = on_connected_big,
                                    .on_high_water = on_high_water,
                                    .on_write_complete = on_write_complete_again,
                                    .on_close = on_close_count};
    struct eddy_tcp_server_options o;
    struct fx f;
    char *got = malloc(BIG);
    size_t total = 0;
    int fd, k;

    reset_state();
    ASSERT(got != NULL);
    st.blob_len = BIG;
    st.blob = malloc(BIG);
    fx_pattern(st.blob, BIG, 0);
    eddy_tcp_server_options_init(&o);
    o.high_water_mark = 256 * 1024;
    fd = fx_start_client(&f, backend, &o, &cb, 4096);
    ASSERT(fd >= 0);
    for (k = 0; k < 2; k++) {
        size_t got_now = 0;
        while (got_now < BIG) { /* a slow reader: small reads with pauses */
            size_t want = BIG - got_now < 32768 ? BIG - got_now : 32768;
            size_t n = fx_read_n(fd, got + got_now, want);
            if (n != want)
                break;
            got_now += n;
            if ((got_now & 0x3ffff) == 0)
                fx_sleep_ms(1);
        }
        total += got_now;
        if (got_now != BIG || memcmp(got, st.blob, BIG) != 0)
            break;
    }
    free(got);
    ASSERT_EQ(total, 2 * BIG);
    ASSERT(fx_wait_ge(&st.write_complete, 2, 5));
    ASSERT(fx_finish(&f, fd, &st.closed, 1));
    /* Two upward crossings, one call each, however many sends were above. */
    ASSERT_EQ(fx_load(&st.high_water), 2);
    ASSERT_GT(st.hw_queued, 256 * 1024);
    ASSERT_EQ(fx_load(&st.write_complete), 2);
}

/* Bytes built in place with eddy_tcp_connection_output count for the mark. */
static void on_connected_build_in_place(struct eddy_tcp_connection *c)
{
    struct eddy_buffer *out = eddy_tcp_connection_output(c);

    set_sndbuf(c, 4096);
    eddy_buffer_append(out, st.blob, st.blob_len);
}

static void test_high_water_counts_output_buffer(const char *backend)
{
    struct eddy_tcp_callbacks cb = {.on_connected = on_connected_build_in_place,
                                    .on_high_water = on_high_water,
                                    .on_write_complete = on_write_complete_again,
                                    .on_close = on_close_count};
    struct eddy_tcp_server_options o;
    struct fx f;
    char *got = malloc(BIG);
    int fd;

    reset_state();
    ASSERT(got != NULL);
    st.blob_len = BIG;
    st.blob = malloc(BIG);
    st.round = 2; /* no second round */
    fx_pattern(st.blob, BIG, 5);
    eddy_tcp_server_options_init(&o);
    o.high_water_mark = 256 * 1024;
    fd = fx_start_client(&f, backend, &o, &cb, 4096);
    ASSERT(fd >= 0);
    ASSERT_EQ(fx_read_n(fd, got, BIG), BIG);
    ASSERT(memcmp(got, st.blob, BIG) == 0);
    free(got);
    ASSERT(fx_wait_ge(&st.write_complete, 1, 5));
    ASSERT(fx_finish(&f, fd, &st.closed, 1));
    ASSERT_EQ(fx_load(&st.high_water), 1);
}

/* ---- half-close after flush ---- */

static void on_connected_shutdown(struct eddy_tcp_connection *c)
{
    set_sndbuf(c, 4096);
    eddy_tcp_connection_send(c, st.blob, st.blob_len);
    eddy_tcp_connection_shutdown(c);
    if (eddy_tcp_connection_send(c, "x", 1) == -EPIPE)
        fx_store(&st.send_after_shutdown, 1);
}

static void on_message_count(struct eddy_tcp_connection *c, struct eddy_buffer *in)
{
    (void)c;
    __atomic_add_fetch(&st.received, eddy_buffer_readable(in), __ATOMIC_RELEASE);
    fx_inc(&st.messages);
    eddy_buffer_retrieve_all(in);
}

static void test_shutdown_after_flush(const char *backend)
{
    struct eddy_tcp_callbacks cb = {.on_connected = on_connected_shutdown,
                                    .on_message = on_message_count,
                                    .on_close = on_close_count};
    struct fx f;
    char *got;
    int fd;

    reset_state();
    st.blob_len = 1u << 20;
    st.blob = malloc(st.blob_len);
    got = malloc(st.blob_len + 1);
    ASSERT(got != NULL && st.blob != NULL);
    fx_pattern(st.blob, st.blob_len, 7);
    fd = fx_start_client(&f, backend, NULL, &cb, 8192);
    ASSERT(fd >= 0);
    ASSERT_EQ(fx_read_n(fd, got, st.blob_len + 1), st.blob_len); /* then EOF */
    ASSERT(memcmp(got, st.blob, st.blob_len) == 0);
    free(got);
    /* Half-closed: our direction still works. */
    ASSERT_EQ(fx_write_all(fd, "ping", 4), 0);
    ASSERT(fx_wait_ge(&st.messages, 1, 5));
    ASSERT_EQ(__atomic_load_n(&st.received, __ATOMIC_ACQUIRE), 4);
    ASSERT_EQ(fx_load(&st.closed), 0);
    ASSERT(fx_finish(&f, fd, &st.closed, 1));
    ASSERT_EQ(fx_load(&st.send_after_shutdown), 1);
}

/* ---- file ranges ---- */

#define FILE_LEN (3u << 20)

static void on_connected_files(struct eddy_tcp_connection *c)
{
    struct eddy_buffer *out;

    set_sndbuf(c, 4096);
    eddy_buffer_append(eddy_tcp_connection_output(c), "HEAD", 4);
    eddy_tcp_connection_send_file(c, fx_file.fd, 10, 1000, 0);
    eddy_tcp_connection_send(c, "MID", 3);
    st.dup_fd = dup(fx_file.fd);
    eddy_tcp_connection_send_file(c, st.dup_fd, (1u << 20) + 3, (2u << 20) - 5, 1);
    out = eddy_tcp_connection_output(c); /* must append after the file range */
    eddy_buffer_append(out, "TAIL", 4);
    eddy_tcp_connection_send_file(c, fx_file.fd, 0, 0, 0);
    eddy_tcp_connection_send_file(c, fx_file.fd, FILE_LEN - 17, 17, 0);
    eddy_tcp_connection_shutdown(c);
}

static void on_write_complete_files(struct eddy_tcp_connection *c)
{
    (void)c;
    if (fcntl(st.dup_fd, F_GETFD) < 0 && errno == EBADF)
        fx_store(&st.file_closed, 1);
    fx_inc(&st.write_complete);
}

static size_t expect_append(char *dst, size_t at, const char *src, size_t n)
{
    memcpy(dst + at, src, n);
    return at + n;
}

static void files_case(const char *backend)
{
    const char *file = fx_file.data;
    struct eddy_tcp_callbacks cb = {.on_connected = on_connected_files,
                                    .on_write_complete = on_write_complete_files,
                                    .on_close = on_close_count};
    size_t cap = 4u << 20, n = 0, got_n;
    char *expect = malloc(cap), *got = malloc(cap);
    struct fx f;
    int fd;

    reset_state();
    ASSERT(expect != NULL && got != NULL);
    n = expect_append(expect, n, "HEAD", 4);
    n = expect_append(expect, n, file + 10, 1000);
    n = expect_append(expect, n, "MID", 3);
    n = expect_append(expect, n, file + (1u << 20) + 3, (2u << 20) - 5);
    n = expect_append(expect, n, "TAIL", 4);
    n = expect_append(expect, n, file + FILE_LEN - 17, 17);
    fd = fx_start_client(&f, backend, NULL, &cb, 4096);
    ASSERT(fd >= 0);
    got_n = fx_read_n(fd, got, cap);
    ASSERT_EQ(got_n, n);
    ASSERT_MEM_EQ(got, expect, n);
    free(got);
    free(expect);
    ASSERT(fx_wait_ge(&st.write_complete, 1, 5));
    ASSERT_EQ(fx_load(&st.file_closed), 1);
    ASSERT(fx_finish(&f, fd, &st.closed, 1));
}

static void test_send_file_ranges(void)
{
    fx_with_file(files_case, FX_NBACKENDS, FILE_LEN, 1);
}

/* File ranges count EDDY_TCP_FILE_RANGE_COST each against the mark, not their size:
 * one 3 MiB range stays below a 256 KiB mark, nine 64 KiB ranges pass it. */
static void on_connected_ranges(struct eddy_tcp_connection *c)
{
    set_sndbuf(c, 4096);
    eddy_buffer_append(eddy_tcp_connection_output(c), "HEAD", 4);
    for (int i = 0; i < st.round; i++)
        eddy_tcp_connection_send_file(c, fx_file.fd, 0, st.round == 1 ? FILE_LEN : 65536, 0);
    st.held = eddy_tcp_connection_output_held(c);
    st.hw_queued = eddy_tcp_connection_output_queued(c);
    eddy_tcp_connection_shutdown(c);
}

static void ranges_case(const char *backend, int ranges)
{
    struct eddy_tcp_callbacks cb = {.on_connected = on_connected_ranges,
                                    .on_high_water = on_high_water,
                                    .on_close = on_close_count};
    size_t len = ranges == 1 ? FILE_LEN : (size_t)ranges * 65536;
    char *got = malloc(len + 8);
    struct eddy_tcp_server_options o;
    struct fx f;
    int fd;

    reset_state();
    st.round = ranges;
    eddy_tcp_server_options_init(&o);
    o.high_water_mark = 256 * 1024;
    ASSERT(got != NULL);
    fd = fx_start_client(&f, backend, &o, &cb, 4096);
    ASSERT(fd >= 0);
    ASSERT_EQ(fx_read_n(fd, got, len + 5), len + 4); /* then EOF */
    free(got);
    ASSERT(fx_finish(&f, fd, &st.closed, 1));
    ASSERT_EQ(st.held, 4 + (size_t)ranges * EDDY_TCP_FILE_RANGE_COST);
    ASSERT_EQ(st.hw_queued, 4 + len);
    ASSERT_EQ(fx_load(&st.high_water), ranges == 1 ? 0 : 1);
}

static void ranges_cases(const char *backend)
{
    ranges_case(backend, 1);
    ranges_case(backend, 9);
}

static void test_high_water_file_ranges(void)
{
    fx_with_file(ranges_cases, 2, FILE_LEN, 0);
}

/* A file sendfile refuses (EINVAL: /proc/self/environ) goes out by copy. */
static char environ_buf[65536];
static size_t environ_len;

static void on_connected_proc_file(struct eddy_tcp_connection *c)
{
    int fd = open("/proc/self/environ", O_RDONLY | O_CLOEXEC);

    eddy_tcp_connection_send(c, "<", 1);
    eddy_tcp_connection_send_file(c, fd, 3, environ_len - 3, 1);
    eddy_tcp_connection_send(c, ">", 1);
    eddy_tcp_connection_shutdown(c);
}

static void test_send_file_copy_fallback(void)
{
    struct eddy_tcp_callbacks cb = {.on_connected = on_connected_proc_file,
                                    .on_close = on_close_count};
    char got[sizeof environ_buf + 8];
    struct fx f;
    ssize_t n;
    int fd = open("/proc/self/environ", O_RDONLY | O_CLOEXEC);

    reset_state();
    ASSERT(fd >= 0);
    n = read(fd, environ_buf, sizeof environ_buf - 1);
    close(fd);
    ASSERT_GT(n, 8);
    environ_len = (size_t)n;
    fd = fx_start_client(&f, "epoll", NULL, &cb, 0);
    ASSERT(fd >= 0);
    ASSERT_EQ(fx_read_n(fd, got, sizeof got), environ_len - 3 + 2);
    ASSERT_EQ(got[0], '<');
    ASSERT_MEM_EQ(got + 1, environ_buf + 3, environ_len - 3);
    ASSERT_EQ(got[environ_len - 2], '>');
    ASSERT(fx_finish(&f, fd, &st.closed, 1));
}

/* ---- backpressure: pause, then resume with leftover input ---- */

static void on_message_one_byte(struct eddy_tcp_connection *c, struct eddy_buffer *in)
{
    fx_inc(&st.messages);
    eddy_tcp_connection_send(c, eddy_buffer_peek(in), 1);
    eddy_buffer_retrieve(in, 1);
    eddy_tcp_connection_set_reading(c, 0);
}

static void resume_reading(void *arg)
{
    (void)arg;
    eddy_tcp_connection_set_reading(fx_n.conns[0], 1);
}

static void test_backpressure_resume_delivers_leftover(const char *backend)
{
    struct eddy_tcp_callbacks cb = {.on_connected = fx_on_connected_record,
                                    .on_message = on_message_one_byte,
                                    .on_close = on_close_count};
    struct fx f;
    char buf[4];
    int fd, i;

    reset_state();
    fd = fx_start_client(&f, backend, NULL, &cb, 0);
    ASSERT(fd >= 0);
    ASSERT(fx_wait_ge(&fx_n.connected, 1, 5));
    ASSERT_EQ(fx_write_all(fd, "abcd", 4), 0);
    for (i = 0; i < 4; i++) {
        ASSERT_EQ(fx_read_n(fd, buf + i, 1), 1);
        ASSERT_EQ(buf[i], "abcd"[i]);
        fx_sleep_ms(5); /* paused: nothing more may arrive meanwhile */
        ASSERT_EQ(fx_load(&st.messages), i + 1);
        ASSERT(fx_call(f.loop, resume_reading, NULL));
    }
    ASSERT(fx_finish(&f, fd, &st.closed, 1));
}

/* ---- peer EOF: the queued answer still goes out, then close ---- */

static void on_connected_small_sndbuf(struct eddy_tcp_connection *c)
{
    set_sndbuf(c, 4096);
}

static void test_peer_eof_flushes_then_closes(const char *backend)
{
    struct eddy_tcp_callbacks cb = {.on_connected = on_connected_small_sndbuf,
                                    .on_message = on_message_echo,
                                    .on_close = on_close_count};
    size_t len = 2u << 20;
    char *blob = malloc(len), *got = malloc(len + 1);
    struct fx f;
    int fd;

    reset_state();
    ASSERT(blob != NULL && got != NULL);
    fx_pattern(blob, len, 99);
    fd = fx_start_client(&f, backend, NULL, &cb, 4096);
    ASSERT(fd >= 0);
    /* The reply cannot all fit in the socket buffers: it is queued when EOF
     * arrives, and the connection must wait for it before closing. */
    ASSERT_EQ(fx_write_all(fd, blob, len / 2), 0);
    fx_sleep_ms(20);
    ASSERT_EQ(fx_write_all(fd, blob + len / 2, len / 2), 0);
    shutdown(fd, SHUT_WR);
    fx_sleep_ms(50);
    ASSERT_EQ(fx_read_n(fd, got, len + 1), len);
    ASSERT(memcmp(got, blob, len) == 0);
    free(got);
    free(blob);
    ASSERT(fx_wait_ge(&st.closed, 1, 5));
    close(fd);
    fx_stop(&f);
}

/* ---- the peer resets while a file and memory stream out: no SIGPIPE ---- */

static void on_connected_stream(struct eddy_tcp_connection *c)
{
    set_sndbuf(c, 4096);
    if (fx_inc(&st.round) % 2 == 0) /* memory first: send fails; else sendfile */
        eddy_tcp_connection_send(c, st.blob, st.blob_len);
    eddy_tcp_connection_send_file(c, fx_file.fd, 0, FILE_LEN, 0);
    eddy_tcp_connection_send(c, st.blob, st.blob_len);
}

static void reset_case(const char *backend)
{
    struct eddy_tcp_callbacks cb = {.on_connected = on_connected_stream,
                                    .on_close = on_close_count};
    struct linger lg = {1, 0};
    char buf[8192];
    struct fx f;
    int fd, i;

    reset_state();
    st.blob_len = 1u << 20;
    st.blob = calloc(1, st.blob_len);
    ASSERT_EQ(fx_start(&f, backend, NULL, &cb, NULL), 0);
    for (i = 0; i < 4; i++) {
        fd = fx_connect(f.port, 4096);
        ASSERT(fd >= 0);
        ASSERT_EQ(fx_read_n(fd, buf, sizeof buf), sizeof buf);
        /* FIN first (the server keeps writing its queue to a half-closed
         * peer), then RST: in CLOSE_WAIT the kernel reports EPIPE, which
         * raises SIGPIPE unless the write asked it not to. */
        shutdown(fd, SHUT_WR);
        fx_sleep_ms(20);
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
        close(fd);
        ASSERT(fx_wait_ge(&st.closed, i + 1, 5));
    }
    fx_stop(&f);
    ASSERT_EQ(fx_load(&st.closed), 4);
}

static void test_peer_reset_while_streaming_no_sigpipe(void)
{
    fx_with_file(reset_case, FX_NBACKENDS, FILE_LEN, 0);
}

int main(void)
{
    signal(SIGPIPE, SIG_DFL); /* the library must not rely on SIGPIPE being ignored */
    RUN_EACH_BACKEND(test_echo);
    RUN_EACH_BACKEND(test_sends_in_on_message_leave_in_one_write);
    RUN_EACH_BACKEND(test_partial_writes_high_water);
    RUN_BACKENDS(test_high_water_counts_output_buffer, 2);
    RUN_EACH_BACKEND(test_shutdown_after_flush);
    RUN(test_send_file_ranges);
    RUN(test_high_water_file_ranges);
    RUN(test_send_file_copy_fallback);
    RUN_EACH_BACKEND(test_backpressure_resume_delivers_leftover);
    RUN_EACH_BACKEND(test_peer_eof_flushes_then_closes);
    RUN(test_peer_reset_while_streaming_no_sigpipe);
    reset_state();
    return eddy_test_done();
}
