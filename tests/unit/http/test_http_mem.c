/*
 * An HTTP connection driven over the in-memory transport (eddy/transport_mem.h), without
 * a socket: requests cut at every byte by scripted short reads, responses larger than the
 * client's window, a reset in the middle of a file range. The server runs in its own
 * thread; the test drives the other end of each pair.
 */
#include "http_test_util.h"

#include "eddy/tcp_server.h"
#include "eddy/transport_mem.h"

#include <fcntl.h>
#include <stdatomic.h>

#include "../../lib/test.h"

#define FILE_SIZE (1024 * 1024)
#define BIG_SIZE  (300 * 1024)

static struct test_server T;
static char g_file[64];
static atomic_int log_count, log_status;
static atomic_ullong log_bytes;

static void access_log(const struct eddy_http_log_entry *e, void *data)
{
    (void)data;
    atomic_store(&log_status, e->status);
    atomic_store(&log_bytes, (unsigned long long)e->body_bytes);
    atomic_fetch_add(&log_count, 1);
}

static void h_text(struct eddy_http_request *req, struct eddy_http_response *res, void *d)
{
    (void)req, (void)d;
    eddy_http_response_reply(res, 200, "text/plain", "hello", 5);
}

static char big_body[BIG_SIZE];

static void h_big(struct eddy_http_request *req, struct eddy_http_response *res, void *d)
{
    (void)req, (void)d;
    eddy_http_response_reply(res, 200, "application/octet-stream", big_body, sizeof(big_body));
}

static void h_file(struct eddy_http_request *req, struct eddy_http_response *res, void *d)
{
    (void)req, (void)d;
    int fd = open(g_file, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        eddy_http_response_send_error(res, 500);
        return;
    }
    eddy_http_response_send_file(res, fd, 0, FILE_SIZE, 1);
}

static void setup(struct eddy_http_server *s)
{
    eddy_http_server_route(s, EDDY_HTTP_GET, "/t", h_text, NULL);
    eddy_http_server_route(s, EDDY_HTTP_GET, "/big", h_big, NULL);
    eddy_http_server_route(s, EDDY_HTTP_GET, "/file", h_file, NULL);
}

/* ---- one pair ----------------------------------------------------------------------- */

struct adoption {
    struct eddy_transport t;
    int rc;
    atomic_int done;
};

static void adopt_task(void *arg)
{
    struct adoption *a = arg;
    a->rc = eddy_tcp_server_adopt(eddy_http_server_tcp(T.srv), &a->t, NULL, 0);
    atomic_store(&a->done, 1);
}

/* A pair whose server end, prepared by prep (scripts), the server adopts; *cl gets the
 * client end. 0 or -1. */
static int open_pair(struct eddy_transport *cl, size_t window,
                     void (*prep)(struct eddy_transport *sv, void *arg), void *arg)
{
    static struct adoption a; /* one at a time: the test thread waits for it */
    enum eddy_fd_kind kind = eddy_event_loop_dispatcher(T.loop)->kind;
    if (eddy_mem_transport_pair(&a.t, cl, kind, window) < 0)
        return -1;
    if (prep)
        prep(&a.t, arg);
    atomic_store(&a.done, 0);
    if (eddy_event_loop_run_in_loop(T.loop, adopt_task, &a) < 0)
        return -1;
    for (int i = 0; i < 5000 && !atomic_load(&a.done); i++)
        usleep(1000);
    return atomic_load(&a.done) && a.rc == 0 ? 0 : -1;
}

/* Waits up to ms for the end's doorbell. */
static void wait_bell(struct eddy_transport *t, int ms)
{
    struct pollfd p = {.fd = t->fd, .events = POLLIN};
    poll(&p, 1, ms);
}

static int write_all(struct eddy_transport *t, const char *p, size_t n)
{
    while (n > 0) {
        struct iovec iov = {(void *)p, n};
        ssize_t k = t->ops->writev(t, &iov, 1, 0);
        if (k == -EAGAIN) {
            wait_bell(t, 10);
            continue;
        }
        if (k < 0)
            return (int)k;
        p += k, n -= (size_t)k;
    }
    return 0;
}

/* Reads into buf until want bytes, the end of input, an error or 5 s without a byte;
 * at most `step` bytes a read, pausing pause_us after each (a slow reader). Returns the
 * bytes read; *end gets 0 (want reached), 1 (end of input) or -errno. */
static size_t read_some(struct eddy_transport *t, char *buf, size_t want, size_t step,
                        unsigned pause_us, int *end)
{
    size_t got = 0;
    int idle = 0;
    *end = 0;
    while (got < want) {
        size_t n = want - got < step ? want - got : step;
        struct iovec iov = {buf + got, n};
        ssize_t k = t->ops->readv(t, &iov, 1);
        if (k == -EAGAIN) {
            if (++idle > 500)
                return *end = -ETIMEDOUT, got;
            wait_bell(t, 10);
            continue;
        }
        if (k <= 0)
            return *end = k == 0 ? 1 : (int)k, got;
        idle = 0;
        got += (size_t)k;
        if (pause_us)
            usleep(pause_us);
    }
    return got;
}

/* ---- tests -------------------------------------------------------------------------- */

static const char PIPELINE[] = "GET /t HTTP/1.1\r\nHost: x\r\n\r\n"
                               "GET /t HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";

static void first_read(struct eddy_transport *sv, void *arg)
{
    long step = *(long *)arg;
    eddy_mem_script_reads(sv, &step, 1);
}

static void byte_reads(struct eddy_transport *sv, void *arg)
{
    (void)arg;
    eddy_mem_set_max(sv, 1, 0);
}

/* Two pipelined requests arrive cut after byte k; both are answered, in order, and the
 * connection ends after the second (it asked for the close). */
static int pipeline_case(void (*prep)(struct eddy_transport *, void *), long k)
{
    struct eddy_transport cl;
    char buf[2048];
    int end;
    if (open_pair(&cl, 0, prep, &k) < 0 || write_all(&cl, PIPELINE, sizeof(PIPELINE) - 1) < 0)
        return -1;
    size_t n = read_some(&cl, buf, sizeof(buf) - 1, sizeof(buf), 0, &end);
    cl.ops->close(&cl);
    buf[n] = 0;
    int ok = end == 1 && count_of(buf, "HTTP/1.1 200 OK\r\n") == 2 &&
             count_of(buf, "\r\n\r\nhello") == 2 && count_of(buf, "Connection: close") == 1;
    if (!ok)
        printf("#   cut after %ld: end %d, %zu bytes: %.200s\n", k, end, n, buf);
    return ok ? 0 : -1;
}

static void test_pipeline_split_at_every_byte(void)
{
    int bad = 0;
    for (long k = 1; k < (long)sizeof(PIPELINE) - 1; k++)
        bad += pipeline_case(first_read, k) < 0;
    ASSERT_EQ(bad, 0);
    ASSERT_EQ(pipeline_case(byte_reads, 0), 0); /* one byte per read, all along */
    ASSERT(test_server_idle(&T, 2000));
}

/* Reads a response head byte by byte; its length, or 0. */
static size_t read_head(struct eddy_transport *t, char *buf, size_t cap, int *end)
{
    size_t n = 0;
    while (n < cap) {
        n += read_some(t, buf + n, 1, 1, 0, end);
        if (*end)
            return 0;
        if (n >= 4 && memcmp(buf + n - 4, "\r\n\r\n", 4) == 0)
            return n;
    }
    return 0;
}

static int check_big(const char *p)
{
    return memcmp(p, big_body, sizeof(big_body)) == 0;
}

/* Three pipelined 300 KiB responses through a 4 KiB window read slowly: the output
 * passes the high-water mark, pauses and resumes; every byte arrives, in order. */
static void test_response_larger_than_window(void)
{
    static char buf[BIG_SIZE + 4096];
    struct eddy_transport cl;
    const char *req = "GET /big HTTP/1.1\r\nHost: x\r\n\r\n";
    ASSERT_EQ(open_pair(&cl, 0, NULL, NULL), 0);
    eddy_mem_set_window(&cl, 4096);
    for (int i = 0; i < 3; i++)
        ASSERT_EQ(write_all(&cl, req, strlen(req)), 0);
    int end;
    for (int i = 0; i < 3; i++) {
        size_t head = read_head(&cl, buf, 4096, &end);
        ASSERT(head > 0);
        buf[head] = 0;
        ASSERT(strstr(buf, "Content-Length: 307200\r\n") != NULL);
        /* The first body read slowly, so the server finds the window full many times. */
        size_t k = read_some(&cl, buf + head, BIG_SIZE, 4096, i == 0 ? 200 : 0, &end);
        ASSERT_EQ(end, 0);
        ASSERT_EQ(k, BIG_SIZE);
        ASSERT(check_big(buf + head));
    }
    struct eddy_mem_stats st;
    eddy_mem_stats(&cl, &st);
    ASSERT_EQ(st.queued, 0);
    ASSERT_EQ(st.reset, 0);
    cl.ops->close(&cl);
    ASSERT(test_server_idle(&T, 2000));
}

static void fail_after(struct eddy_transport *sv, void *arg)
{
    eddy_mem_fail_after(sv, *(size_t *)arg, ECONNRESET);
}

/* The client resets while a 1 MiB file range is being sent: the server closes the
 * connection, logs the body bytes that went out (fewer than the file), and serves on. */
static void test_reset_in_file_range(void)
{
    static char buf[FILE_SIZE + 1024];
    struct eddy_transport cl;
    size_t cut = 200 * 1024;
    const char *req = "GET /file HTTP/1.1\r\nHost: x\r\n\r\n";
    int before = atomic_load(&log_count), end;
    ASSERT_EQ(open_pair(&cl, 0, fail_after, &cut), 0);
    ASSERT_EQ(write_all(&cl, req, strlen(req)), 0);
    size_t n = read_some(&cl, buf, sizeof(buf), sizeof(buf), 0, &end);
    ASSERT_EQ(end, -ECONNRESET);
    ASSERT_LE(n, cut);
    cl.ops->close(&cl);
    ASSERT(test_server_idle(&T, 2000));
    for (int i = 0; i < 200 && atomic_load(&log_count) == before; i++)
        usleep(1000);
    ASSERT_EQ(atomic_load(&log_count), before + 1);
    ASSERT_EQ(atomic_load(&log_status), 200);
    ASSERT_LT(atomic_load(&log_bytes), (unsigned long long)FILE_SIZE);
    ASSERT_LE(atomic_load(&log_bytes), (unsigned long long)cut);
    printf("# reset after %zu bytes written: client read %zu, log says %llu body bytes\n", cut, n,
           (unsigned long long)atomic_load(&log_bytes));
    ASSERT_EQ(pipeline_case(first_read, 5), 0); /* the server still serves */
}

int main(void)
{
    /* The socket client of http_test_util.h: this file talks through memory ends. */
    (void)cli_connect, (void)cli_sends, (void)cli_read, (void)cli_closed, (void)cli_close;
    (void)resp_free;
    snprintf(g_file, sizeof(g_file), "/tmp/eddy_http_mem_%d", (int)getpid());
    int fd = open(g_file, O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0600);
    static char chunk[FILE_SIZE];
    for (size_t i = 0; i < sizeof(chunk); i++)
        chunk[i] = (char)('a' + i % 26);
    for (size_t i = 0; i < sizeof(big_body); i++)
        big_body[i] = (char)(i * 7 + i / 251);
    if (fd < 0 || write(fd, chunk, sizeof(chunk)) != (ssize_t)sizeof(chunk))
        return 1;
    close(fd);
    eddy_http_server_options_init(&T.opt);
    T.opt.tcp.threads = 0;
    T.opt.access_log = access_log;
    T.setup = setup;
    if (test_server_start(&T) < 0) {
        printf("not ok - server start\n");
        unlink(g_file);
        return 1;
    }
    RUN(test_pipeline_split_at_every_byte);
    RUN(test_response_larger_than_window);
    RUN(test_reset_in_file_range);
    test_server_stop(&T);
    unlink(g_file);
    return eddy_test_done();
}
