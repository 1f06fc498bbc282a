/*
 * EDDY_TRANSPORT_PLAIN_SOCKET: the caps bit, not the table's address, decides whether a
 * connection makes its reads and writes itself (the inlined readv/send of socket_io.h).
 * Checked with copies of the socket ops whose readv/writev count their calls: with the
 * bit the ops are never called, without it every byte goes through them; the echo
 * works either way.
 */
#include <signal.h>

#include "net_fixture.h"

static int reads, writes;

static ssize_t counting_readv(struct eddy_transport *t, const struct iovec *iov, int n)
{
    fx_inc(&reads);
    return eddy_transport_socket.readv(t, iov, n);
}

static ssize_t counting_writev(struct eddy_transport *t, const struct iovec *iov, int n,
                               unsigned flags)
{
    fx_inc(&writes);
    return eddy_transport_socket.writev(t, iov, n, flags);
}

/* One echo over a counting copy of the socket ops, with or without the bit. */
static void echo_over(const char *backend, int plain)
{
    struct eddy_transport_ops ops = eddy_transport_socket;
    struct fx f;
    int fd;

    ops.readv = counting_readv;
    ops.writev = counting_writev;
    if (!plain)
        ops.caps &= ~(unsigned)EDDY_TRANSPORT_PLAIN_SOCKET;
    fx_store(&reads, 0);
    fx_store(&writes, 0);
    ASSERT_EQ(fx_start_ops(&f, backend, NULL, &fx_counting_echo, NULL, &ops, NULL), 0);
    fd = fx_connect(f.port, 0);
    ASSERT(fd >= 0);
    ASSERT(fx_echo_ok(fd, "ping"));
    ASSERT(fx_finish(&f, fd, &fx_n.closed, 1));
    if (plain) {
        ASSERT_EQ(fx_load(&reads), 0);
        ASSERT_EQ(fx_load(&writes), 0);
    } else {
        ASSERT(fx_load(&reads) >= 2); /* the request, then the EOF */
        ASSERT(fx_load(&writes) >= 1);
    }
}

static void test_socket_ops_have_the_bit(void)
{
    ASSERT(eddy_transport_socket.caps & EDDY_TRANSPORT_PLAIN_SOCKET);
}

static void test_bit_set_connection_calls_the_socket_itself(const char *backend)
{
    echo_over(backend, 1);
}

static void test_bit_clear_every_byte_through_the_ops(const char *backend)
{
    echo_over(backend, 0);
}

int main(void)
{
    signal(SIGPIPE, SIG_DFL); /* the library must not rely on SIGPIPE being ignored */
    RUN(test_socket_ops_have_the_bit);
    RUN_EACH_BACKEND(test_bit_set_connection_calls_the_socket_itself);
    RUN_EACH_BACKEND(test_bit_clear_every_byte_through_the_ops);
    return eddy_test_done();
}
