/*
 * The short-connection fast path of tcp_server/tcp_connection: defer_accept
 * (TCP_DEFER_ACCEPT, and reading a new connection before registering it),
 * eddy_tcp_connection_close_flushed, and TCP_NODELAY set only before a
 * connection's second write.
 */
#include <netinet/tcp.h>

#include "net_fixture.h"

static struct {
    int messages, epipe;
    int nodelay_seen[4];
} st;

/* ---- defer_accept ---- */

static void test_defer_accept_every_backend(const char *backend)
{
    const struct eddy_tcp_callbacks cb = fx_counting_echo;
    struct eddy_tcp_server_options o;
    struct fx f;
    int fd;

    memset(&st, 0, sizeof st);
    eddy_tcp_server_options_init(&o);
    o.defer_accept = 5;
    fd = fx_start_client(&f, backend, &o, &cb, 0);
    ASSERT(fd >= 0);
    fx_sleep_ms(300); /* the kernel holds a silent connection back */
    ASSERT_EQ(fx_load(&fx_n.connected), 0);
    /* The first bytes come with the accept; the second message needs the
     * registration made after the first read. */
    ASSERT(fx_echo_ok(fd, "first"));
    ASSERT_EQ(fx_load(&fx_n.connected), 1);
    ASSERT(fx_echo_ok(fd, "second message"));
    fx_sleep_ms(50);
    ASSERT(fx_echo_ok(fd, "third, after a pause"));
    close(fd);
    ASSERT(fx_wait_ge(&fx_n.closed, 1, 5));
    ASSERT_EQ(eddy_tcp_server_connection_count(f.server), 0);
    fx_stop(&f);
}

/* A client that sends its request and half-closes at once: the first read
 * sees the bytes and the EOF may follow before any registration. */
static void test_defer_accept_request_then_eof(void)
{
    struct eddy_tcp_callbacks cb = {.on_message = fx_on_message_echo,
                                    .on_close = fx_on_close_count};
    struct eddy_tcp_server_options o;
    struct fx f;
    char buf[16];
    int fd, i;

    memset(&st, 0, sizeof st);
    eddy_tcp_server_options_init(&o);
    o.defer_accept = 5;
    ASSERT_EQ(fx_start(&f, "epoll", &o, &cb, NULL), 0);
    for (i = 0; i < 20; i++) {
        fd = fx_connect(f.port, 0);
        ASSERT(fd >= 0);
        ASSERT_EQ(fx_write_all(fd, "ping", 4), 0);
        shutdown(fd, SHUT_WR);
        ASSERT_EQ(fx_read_n(fd, buf, sizeof buf), 4); /* the answer, then EOF */
        ASSERT(memcmp(buf, "ping", 4) == 0);
        close(fd);
    }
    ASSERT(fx_wait_ge(&fx_n.closed, 20, 5));
    fx_stop(&f);
}

/* ---- close_flushed ---- */

#define BIG (4u << 20)
static char *big;

static void on_message_big_then_close(struct eddy_tcp_connection *c, struct eddy_buffer *in)
{
    eddy_buffer_retrieve_all(in);
    eddy_tcp_connection_send(c, big, BIG);
    eddy_tcp_connection_close_flushed(c);
    if (eddy_tcp_connection_send(c, "x", 1) == -EPIPE)
        fx_inc(&st.epipe);
    fx_inc(&st.messages);
}

static void test_close_flushed_writes_everything_first(void)
{
    struct eddy_tcp_callbacks cb = {.on_message = on_message_big_then_close,
                                    .on_close = fx_on_close_count};
    char *got = malloc(BIG + 1);
    struct fx f;
    int fd, tries;
    size_t n;

    memset(&st, 0, sizeof st);
    big = malloc(BIG);
    ASSERT(big != NULL && got != NULL);
    fx_pattern(big, BIG, 0);
    fd = fx_start_client(&f, "epoll", NULL, &cb,
                         16384); /* small window: the queue drains over many wake-ups */
    ASSERT(fd >= 0);
    ASSERT_EQ(fx_write_all(fd, "go", 2), 0);
    fx_sleep_ms(100);
    ASSERT_EQ(fx_load(&fx_n.closed), 0); /* output still queued: not closed yet */
    n = fx_read_n(fd, got, BIG + 1);     /* everything, then EOF */
    ASSERT_EQ(n, (size_t)BIG);
    ASSERT(memcmp(got, big, BIG) == 0);
    ASSERT_EQ(fx_load(&st.epipe), 1);
    for (tries = 0; tries < 500 && fx_load(&fx_n.closed) == 0; tries++)
        fx_sleep_ms(10);
    ASSERT_EQ(fx_load(&fx_n.closed), 1);
    close(fd);
    fx_stop(&f);
    free(big);
    free(got);
}

/* Without the peer's FIN: the server closes right after its answer. */
static void on_message_reply_close(struct eddy_tcp_connection *c, struct eddy_buffer *in)
{
    eddy_buffer_retrieve_all(in);
    eddy_tcp_connection_send(c, "bye", 3);
    eddy_tcp_connection_close_flushed(c);
}

/* tcpi_segs_in of struct tcp_info (Linux 4.2+; glibc's copy of the struct may predate it). */
static unsigned segs_in(int fd)
{
    uint32_t info[64] = {0};
    socklen_t len = sizeof info;

    if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, info, &len) < 0 || len < 144)
        return 999;
    return info[140 / 4];
}

/* The answer and the FIN leave together, and the server closes without the peer's FIN. */
static void reply_close_case(int delayed_ack, unsigned max_segs_in)
{
    struct eddy_tcp_callbacks cb = {.on_message = on_message_reply_close,
                                    .on_close = fx_on_close_count};
    struct eddy_tcp_server_options o;
    struct fx f;
    char buf[8];
    int fd;

    memset(&st, 0, sizeof st);
    eddy_tcp_server_options_init(&o);
    o.defer_accept = 1;
    o.delayed_ack = delayed_ack;
    fd = fx_start_client(&f, "epoll", &o, &cb, 0);
    ASSERT(fd >= 0);
    ASSERT_EQ(fx_write_all(fd, "hi", 2), 0);
    ASSERT_EQ(fx_read_n(fd, buf, sizeof buf), 3);
    ASSERT_LE(segs_in(fd), max_segs_in);
    ASSERT(fx_wait_ge(&fx_n.closed, 1, 2)); /* our socket is still open */
    ASSERT_EQ(eddy_tcp_server_connection_count(f.server), 0);
    close(fd);
    fx_stop(&f);
}

/* SYN-ACK, the ACK of our bytes, then the answer and the FIN in one segment (sent with
 * MSG_MORE, the close adds the FIN): 4 if the FIN came on its own. */
static void test_close_flushed_does_not_wait_for_peer(void)
{
    reply_close_case(0, 3);
}

/* delayed_ack: the ACK of the request rides on the answer (and the FIN): SYN-ACK, then
 * ACK + answer + FIN in one segment. */
static void test_delayed_ack_rides_on_the_answer(void)
{
    reply_close_case(1, 2);
}

/* ---- TCP_NODELAY before the second write only ---- */

static void on_message_nodelay(struct eddy_tcp_connection *c, struct eddy_buffer *in)
{
    int v = -1, k = fx_inc(&st.messages) - 1;
    socklen_t len = sizeof v;

    getsockopt(eddy_tcp_connection_fd(c), IPPROTO_TCP, TCP_NODELAY, &v, &len);
    if (k < 4)
        st.nodelay_seen[k] = v;
    fx_echo(c, in);
}

static void nodelay_case(int enabled, int expect_third)
{
    struct eddy_tcp_callbacks cb = {.on_message = on_message_nodelay};
    struct eddy_tcp_server_options o;
    struct fx f;
    int fd;

    memset(&st, 0, sizeof st);
    eddy_tcp_server_options_init(&o);
    o.tcp_nodelay = enabled;
    fd = fx_start_client(&f, "epoll", &o, &cb, 0);
    ASSERT(fd >= 0);
    ASSERT(fx_echo_ok(fd, "one"));
    ASSERT(fx_echo_ok(fd, "two"));
    ASSERT(fx_echo_ok(fd, "three"));
    close(fd);
    fx_stop(&f);
    ASSERT_EQ(st.nodelay_seen[0], 0); /* nothing written yet */
    ASSERT_EQ(st.nodelay_seen[1], 0); /* one write made, the second not yet */
    ASSERT_EQ(st.nodelay_seen[2], expect_third);
}

static void test_nodelay_before_second_write(void)
{
    nodelay_case(1, 1);
    if (!eddy_test_failed())
        nodelay_case(0, 0);
}

/* ---- the acceptor's end-of-burst callback (tcp_server wakes sub-loops there) ---- */

static int acc_count, burst_count;

static void fp_on_accept(struct eddy_acceptor *a, int fd, const struct sockaddr *peer,
                         socklen_t plen, void *data)
{
    (void)a, (void)peer, (void)plen, (void)data;
    close(fd);
    fx_inc(&acc_count);
}

static void fp_on_burst(struct eddy_acceptor *a, void *data)
{
    (void)a, (void)data;
    fx_inc(&burst_count);
}

static void *fp_loop_main(void *arg)
{
    eddy_event_loop_run(arg);
    return NULL;
}

static void fp_free_acceptor(void *arg)
{
    eddy_acceptor_free(arg);
}

static void test_acceptor_burst_end_callback(void)
{
    struct eddy_acceptor_options o = {.max_accepts = 4, .on_burst_end = fp_on_burst};
    struct eddy_event_loop *loop;
    struct eddy_acceptor *a;
    union eddy_sockaddr sa, bound;
    socklen_t len;
    pthread_t th;
    int fds[10], i;

    acc_count = burst_count = 0;
    ASSERT_EQ(eddy_sockaddr_parse("127.0.0.1:0", &sa, &len), 0);
    ASSERT_EQ(eddy_event_loop_new(&loop, "epoll"), 0);
    ASSERT_EQ(eddy_acceptor_new(&a, loop, &sa.sa, len, &o, fp_on_accept, NULL), 0);
    ASSERT_EQ(eddy_acceptor_start(a), 0);
    eddy_acceptor_local_addr(a, &bound);
    for (i = 0; i < 10; i++) /* all queued before the loop runs: bursts of at most 4 */
        fds[i] = fx_connect(eddy_sockaddr_port(&bound.sa), 0);
    ASSERT_EQ(pthread_create(&th, NULL, fp_loop_main, loop), 0);
    ASSERT(fx_wait_ge(&acc_count, 10, 5));
    ASSERT(fx_wait_ge(&burst_count, 3, 5));
    ASSERT(fx_call(loop, fp_free_acceptor, a));
    eddy_event_loop_stop(loop);
    pthread_join(th, NULL);
    eddy_event_loop_free(loop);
    for (i = 0; i < 10; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    ASSERT_EQ(fx_load(&acc_count), 10);
}

int main(void)
{
    RUN_EACH_BACKEND(test_defer_accept_every_backend);
    RUN(test_defer_accept_request_then_eof);
    RUN(test_close_flushed_writes_everything_first);
    RUN(test_close_flushed_does_not_wait_for_peer);
    RUN(test_delayed_ack_rides_on_the_answer);
    RUN(test_nodelay_before_second_write);
    RUN(test_acceptor_burst_end_callback);
    return eddy_test_done();
}
