/*
 * tcp_connection close ordering over real loopback sockets, on every backend: a
 * connection closed from its own on_message, another one closed in the same event
 * batch (with its fd number reused at once), and one closed from another's
 * on_close. Split from test_tcp_connection.c to keep files under 800 lines.
 */
#include <signal.h>
#include <sys/eventfd.h>

#include "net_fixture.h"

/* Everything the callbacks record; reset per case. */
static struct state {
    int closed, messages;
    int in_message, close_nested, send_after_close;
    int round;
    int new_fd, closed_fd, stray_events;
    struct eddy_channel stray;
} st;

static void reset_state(void)
{
    memset(&st, 0, sizeof st);
    st.new_fd = st.closed_fd = -1;
}

/* Notes a close that ran inside on_message: it must wait until that returns. */
static void on_close_count(struct eddy_tcp_connection *c)
{
    (void)c;
    if (fx_load(&st.in_message))
        fx_store(&st.close_nested, 1);
    fx_inc(&st.closed);
}

/* ---- close from inside on_message ---- */

static void on_message_close_self(struct eddy_tcp_connection *c, struct eddy_buffer *in)
{
    fx_store(&st.in_message, 1);
    fx_inc(&st.messages);
    eddy_buffer_retrieve_all(in);
    eddy_tcp_connection_close(c);
    eddy_tcp_connection_close(c); /* twice: still one close */
    if (eddy_tcp_connection_send(c, "x", 1) == -EPIPE)
        fx_store(&st.send_after_close, 1);
    fx_store(&st.in_message, 0);
}

static void test_close_in_own_on_message(const char *backend)
{
    struct eddy_tcp_callbacks cb = {.on_message = on_message_close_self,
                                    .on_close = on_close_count};
    struct fx f;
    int fd;

    reset_state();
    fd = fx_start_client(&f, backend, NULL, &cb, 0);
    ASSERT(fd >= 0);
    ASSERT_EQ(fx_write_all(fd, "bye", 3), 0);
    ASSERT(fx_read_eof(fd));
    ASSERT(fx_wait_ge(&st.closed, 1, 5));
    close(fd);
    fx_sleep_ms(10);
    fx_stop(&f);
    ASSERT_EQ(fx_load(&st.closed), 1);
    ASSERT_EQ(fx_load(&st.close_nested), 0);
    ASSERT_EQ(fx_load(&st.send_after_close), 1);
}

/* ---- one connection closes another with events in the same batch ---- */

static void on_stray(struct eddy_channel *ch, int revents)
{
    uint64_t v;

    (void)revents;
    if (read(ch->fd, &v, sizeof v) < 0)
        v = 0;
    fx_inc(&st.stray_events);
}

static void on_message_close_other(struct eddy_tcp_connection *c, struct eddy_buffer *in)
{
    struct eddy_tcp_connection *other = fx_n.conns[0] == c ? fx_n.conns[1] : fx_n.conns[0];

    fx_inc(&st.messages);
    eddy_buffer_retrieve_all(in);
    if (st.closed_fd >= 0)
        return;
    fx_store(&st.round, eddy_sockaddr_port(eddy_tcp_connection_peer(c)));
    fx_store(&st.closed_fd, eddy_tcp_connection_fd(other));
    eddy_tcp_connection_close(other);
    /* The lowest free number is the one just closed: a new channel on it
     * must not receive the closed connection's pending event. */
    fx_store(&st.new_fd, eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
    eddy_channel_init_kernel(&st.stray, eddy_tcp_connection_loop(c), st.new_fd, on_stray, NULL);
    eddy_channel_enable_reading(&st.stray);
}

static int local_port(int fd)
{
    struct sockaddr_in a;
    socklen_t len = sizeof a;

    if (getsockname(fd, (struct sockaddr *)&a, &len) < 0)
        return -1;
    return ntohs(a.sin_port);
}

static void remove_stray(void *arg)
{
    (void)arg;
    eddy_channel_remove(&st.stray);
    close(st.new_fd);
}

static void test_close_other_in_same_batch(const char *backend)
{
    struct eddy_tcp_callbacks cb = {.on_connected = fx_on_connected_record,
                                    .on_message = on_message_close_other,
                                    .on_close = on_close_count};
    struct fx f;
    int ab[2], a, b, survivor;
    uint64_t one = 1;

    reset_state();
    ASSERT_EQ(fx_start(&f, backend, NULL, &cb, NULL), 0);
    ASSERT_EQ(fx_connect_many(f.port, ab, 2, 0), 0);
    ASSERT(fx_wait_ge(&fx_n.connected, 2, 5));
    a = ab[0];
    b = ab[1];
    fx_block_loop(f.loop, 100);
    fx_sleep_ms(20);
    ASSERT_EQ(fx_write_all(a, "A", 1), 0);
    ASSERT_EQ(fx_write_all(b, "B", 1), 0);
    ASSERT(fx_wait_ge(&st.closed, 1, 5));
    fx_sleep_ms(50);
    ASSERT_EQ(fx_load(&st.messages), 1);
    ASSERT_EQ(fx_load(&st.new_fd), fx_load(&st.closed_fd));
    ASSERT_EQ(fx_load(&st.stray_events), 0);
    /* The closed one sees EOF or reset; the survivor and the new channel work. */
    survivor = local_port(a) == fx_load(&st.round) ? a : b;
    ASSERT_EQ(local_port(survivor), fx_load(&st.round));
    ASSERT(fx_read_eof(survivor == a ? b : a));
    ASSERT_EQ(fx_write_all(survivor, "S", 1), 0);
    ASSERT(fx_wait_ge(&st.messages, 2, 5));
    ASSERT_EQ(write(fx_load(&st.new_fd), &one, sizeof one), 8);
    ASSERT(fx_wait_ge(&st.stray_events, 1, 5));
    ASSERT(fx_call(f.loop, remove_stray, NULL));
    close(a);
    ASSERT(fx_finish(&f, b, &st.closed, 2));
    ASSERT_EQ(fx_load(&st.closed), 2);
}

/* ---- close another connection from on_close ---- */

static void on_close_chain(struct eddy_tcp_connection *c)
{
    int n = fx_inc(&st.closed);

    if (n == 1)
        eddy_tcp_connection_close(fx_n.conns[0] == c ? fx_n.conns[1] : fx_n.conns[0]);
}

static void test_close_from_other_on_close(const char *backend)
{
    struct eddy_tcp_callbacks cb = {.on_connected = fx_on_connected_record,
                                    .on_message = fx_on_message_echo,
                                    .on_close = on_close_chain};
    struct fx f;
    int ab[2];

    reset_state();
    ASSERT_EQ(fx_start(&f, backend, NULL, &cb, NULL), 0);
    ASSERT_EQ(fx_connect_many(f.port, ab, 2, 0), 0);
    ASSERT(fx_wait_ge(&fx_n.connected, 2, 5));
    close(ab[0]);
    ASSERT(fx_read_eof(ab[1]));
    ASSERT(fx_wait_ge(&st.closed, 2, 5));
    close(ab[1]);
    fx_sleep_ms(10);
    fx_stop(&f);
    ASSERT_EQ(fx_load(&st.closed), 2);
}

int main(void)
{
    signal(SIGPIPE, SIG_DFL); /* the library must not rely on SIGPIPE being ignored */
    RUN_EACH_BACKEND(test_close_in_own_on_message);
    RUN_EACH_BACKEND(test_close_other_in_same_batch);
    RUN_EACH_BACKEND(test_close_from_other_on_close);
    return eddy_test_done();
}
