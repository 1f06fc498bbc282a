/*
 * tcp_connection across threads (also run under TSan): sends, shutdown and
 * close from threads that are not the owner, holding references; foreach
 * over the sub-reactors; the connection count.
 */
#include "net_fixture.h"

#define SENDERS 2
#define RECORDS 20000

static struct {
    int foreach_closed;
    int slots; /* conns[] slots taken; fx_n.connected counts only published ones */
    struct eddy_tcp_connection *conns[16]; /* published with __atomic stores */
} st;

/* Publishes c before counting it: a thread that saw fx_n.connected >= n must find
 * conns[0..n-1] set (counting first let a sender start with a NULL connection). */
static void on_connected_publish(struct eddy_tcp_connection *c)
{
    int i = fx_inc(&st.slots) - 1;

    if (i < 16) {
        eddy_tcp_connection_ref(c); /* for the test's threads */
        __atomic_store_n(&st.conns[i], c, __ATOMIC_RELEASE);
    }
    fx_inc(&fx_n.connected);
}

static struct eddy_tcp_connection *conn_at(int i)
{
    return __atomic_load_n(&st.conns[i], __ATOMIC_ACQUIRE);
}

static void reset(void)
{
    memset(&st, 0, sizeof st);
}

static void release_all(void)
{
    for (int i = 0; i < 16; i++)
        if (conn_at(i) != NULL)
            eddy_tcp_connection_unref(conn_at(i));
}

/* ---- many threads send to one connection; order per sender kept ---- */

struct sender {
    struct eddy_tcp_connection *c;
    uint32_t id;
    int failures;
    pthread_t t;
};

static void *sender_main(void *arg)
{
    struct sender *s = arg;

    for (uint32_t i = 0; i < RECORDS; i++) {
        uint32_t rec[2] = {s->id, i};
        if (eddy_tcp_connection_send(s->c, rec, sizeof rec) != 0)
            s->failures++;
    }
    return NULL;
}

static void test_cross_thread_send_and_shutdown(void)
{
    struct eddy_tcp_callbacks cb = {.on_connected = on_connected_publish,
                                    .on_close = fx_on_close_count};
    struct eddy_tcp_server_options o;
    struct sender s[SENDERS];
    uint32_t next[SENDERS] = {0}, rec[2];
    size_t total = 0;
    struct fx f;
    int fd, i, bad = 0;

    reset();
    o = fx_options_threads(2);
    fd = fx_start_client(&f, "epoll", &o, &cb, 0);
    ASSERT(fd >= 0);
    ASSERT(fx_wait_ge(&fx_n.connected, 1, 5));
    for (i = 0; i < SENDERS; i++) {
        s[i] = (struct sender){.c = conn_at(0), .id = (uint32_t)i};
        ASSERT_EQ(pthread_create(&s[i].t, NULL, sender_main, &s[i]), 0);
    }
    for (i = 0; i < SENDERS; i++) {
        pthread_join(s[i].t, NULL);
        ASSERT_EQ(s[i].failures, 0);
    }
    eddy_tcp_connection_shutdown(conn_at(0)); /* after everything queued before */
    while (fx_read_n(fd, rec, sizeof rec) == sizeof rec) {
        if (rec[0] >= SENDERS || rec[1] != next[rec[0]]++)
            bad++;
        total++;
    }
    ASSERT_EQ(bad, 0);
    ASSERT_EQ(total, SENDERS * RECORDS);
    ASSERT_EQ(eddy_tcp_connection_send(conn_at(0), "x", 1), 0); /* queued; dropped: shut */
    close(fd);
    ASSERT(fx_wait_ge(&fx_n.closed, 1, 5));
    ASSERT_EQ(eddy_tcp_connection_send(conn_at(0), "x", 1), -EPIPE);
    fx_stop(&f);
    release_all();
}

/* ---- close from a foreign thread while bytes flow ---- */

static void test_cross_thread_close_under_traffic(void)
{
    struct eddy_tcp_callbacks cb = {.on_connected = on_connected_publish,
                                    .on_message = fx_on_message_echo,
                                    .on_close = fx_on_close_count};
    struct eddy_tcp_server_options o;
    char buf[4096];
    struct fx f;
    int fds[8], i;

    reset();
    o = fx_options_threads(2);
    ASSERT_EQ(fx_start_clients(&f, "epoll-et", &o, &cb, fds, 8), 0);
    memset(buf, 'z', sizeof buf);
    for (i = 0; i < 8; i++)
        ASSERT_EQ(fx_write_all(fds[i], buf, sizeof buf), 0);
    for (i = 0; i < 8; i++) {
        eddy_tcp_connection_close(conn_at(i));
        eddy_tcp_connection_close(conn_at(i)); /* twice: one close */
    }
    ASSERT(fx_wait_ge(&fx_n.closed, 8, 5));
    for (i = 0; i < 8; i++) {
        ssize_t n;
        while ((n = recv(fds[i], buf, sizeof buf, 0)) > 0)
            ;
        ASSERT(n == 0 || errno == ECONNRESET);
        close(fds[i]);
    }
    ASSERT_EQ(eddy_tcp_server_connection_count(f.server), 0);
    fx_stop(&f);
    ASSERT_EQ(fx_load(&fx_n.closed), 8);
    release_all();
}

/* ---- foreach on every sub-reactor, closing from inside ---- */

static void close_it(struct eddy_tcp_connection *c, void *arg)
{
    (void)arg;
    if (eddy_event_loop_is_in_loop_thread(eddy_tcp_connection_loop(c)))
        fx_inc(&st.foreach_closed);
    eddy_tcp_connection_close(c);
}

static void test_foreach_closes_everywhere(void)
{
    struct eddy_tcp_callbacks cb = {.on_message = fx_on_message_echo,
                                    .on_connected = on_connected_publish,
                                    .on_close = fx_on_close_count};
    struct eddy_tcp_server_options o;
    struct fx f;
    int fds[12], i;

    reset();
    o = fx_options_threads(3);
    ASSERT_EQ(fx_start_clients(&f, "poll", &o, &cb, fds, 12), 0);
    ASSERT_EQ(eddy_tcp_server_connection_count(f.server), 12);
    ASSERT_EQ(eddy_tcp_server_foreach_connection(f.server, close_it, NULL), 0);
    ASSERT(fx_wait_ge(&fx_n.closed, 12, 5));
    for (i = 0; i < 12; i++) {
        ASSERT(fx_read_eof(fds[i]));
        close(fds[i]);
    }
    fx_stop(&f);
    ASSERT_EQ(fx_load(&st.foreach_closed), 12);
    release_all();
}

int main(void)
{
    RUN(test_cross_thread_send_and_shutdown);
    RUN(test_cross_thread_close_under_traffic);
    RUN(test_foreach_closes_everywhere);
    return eddy_test_done();
}
