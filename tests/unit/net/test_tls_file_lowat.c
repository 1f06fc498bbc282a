/*
 * File output over TLS on kernel sockets: the file-output TCP_NOTSENT_LOWAT
 * (eddy_transport_socket_set_file_lowat) applies to a TLS connection's socket as to a
 * plain one, since its file's records leave the same way, and only from a range of at
 * least eddy_transport_socket_set_file_lowat_min bytes; every byte arrives in order
 * through a small receive buffer, on every backend.
 */
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "eddy/tls.h"
#include "eddy/transport.h"
#include "net_fixture.h"
#include "tls_fixture.h"

#define FILE_LEN (1u << 20)
#define RANGE    ((1u << 20) - 5u)
#define LOWAT    16384

static struct eddy_tls_context *ctx;
static SSL_CTX *cctx;
static struct {
    int closed, write_complete, lowat;
} st;

static void on_close_count(struct eddy_tcp_connection *c)
{
    (void)c;
    fx_inc(&st.closed);
}

static void on_connected_file(struct eddy_tcp_connection *c)
{
    eddy_tcp_connection_send(c, "HEAD", 4);
    eddy_tcp_connection_send_file(c, fx_file.fd, 5, RANGE, 0);
    eddy_tcp_connection_shutdown(c);
}

static void on_write_complete_file(struct eddy_tcp_connection *c)
{
    int v = -1;
    socklen_t len = sizeof v;

    if (getsockopt(eddy_tcp_connection_fd(c), IPPROTO_TCP, TCP_NOTSENT_LOWAT, &v, &len) == 0)
        fx_store(&st.lowat, v);
    fx_inc(&st.write_complete);
}

/* The client's side: a blocking TLS client reading to close_notify. Bytes read, or -1. */
static long tls_read_all(int fd, char *buf, size_t cap)
{
    SSL *s = SSL_new(cctx);
    size_t got = 0, k;
    long r = -1;

    SSL_set_fd(s, fd);
    SSL_set_tlsext_host_name(s, "localhost");
    if (SSL_connect(s) == 1) {
        while (got < cap && SSL_read_ex(s, buf + got, cap - got, &k) == 1)
            got += k;
        r = SSL_get_error(s, 0) == SSL_ERROR_ZERO_RETURN || got == cap ? (long)got : -1;
    }
    SSL_free(s);
    ERR_clear_error();
    return r;
}

static void file_case(const char *backend, int lowat_expected)
{
    struct eddy_tcp_callbacks cb = {.on_connected = on_connected_file,
                                    .on_write_complete = on_write_complete_file,
                                    .on_close = on_close_count};
    size_t n = 4 + RANGE;
    char *got = malloc(n + 16), *expect = malloc(n);
    struct fx f;
    int fd;

    memset(&st, 0, sizeof st);
    st.lowat = -1;
    ASSERT(got != NULL && expect != NULL);
    memcpy(expect, "HEAD", 4);
    memcpy(expect + 4, fx_file.data + 5, RANGE);
    ASSERT_EQ(fx_start_ops(&f, backend, NULL, &cb, NULL, &eddy_transport_tls, ctx), 0);
    fd = fx_connect(f.port, 4096);
    ASSERT(fd >= 0);
    ASSERT_EQ(tls_read_all(fd, got, n + 16), (long)n);
    ASSERT_MEM_EQ(got, expect, n);
    free(got);
    free(expect);
    ASSERT(fx_wait_ge(&st.write_complete, 1, 5));
    ASSERT_EQ(fx_load(&st.lowat), lowat_expected);
    ASSERT(fx_finish(&f, fd, &st.closed, 1));
}

static void lowat_case(const char *backend)
{
    eddy_transport_socket_set_file_lowat(LOWAT);
    file_case(backend, LOWAT);
    eddy_transport_socket_set_file_lowat_min(RANGE + 1); /* the range is below the floor */
    file_case(backend, 0);
    eddy_transport_socket_set_file_lowat_min(0);
    eddy_transport_socket_set_file_lowat(0);
}

static void default_case(const char *backend)
{
    file_case(backend, 0);
}

static void test_tls_file_sets_lowat(void)
{
    fx_with_file(lowat_case, FX_NBACKENDS, FILE_LEN, 1);
}

static void test_tls_file_default_leaves_socket(void)
{
    fx_with_file(default_case, FX_NBACKENDS, FILE_LEN, 1);
}

int main(void)
{
    if (tls_fixture_open(&ctx, &cctx) < 0)
        return 1;
    RUN(test_tls_file_sets_lowat);
    RUN(test_tls_file_default_leaves_socket);
    tls_fixture_close(ctx, cctx);
    return eddy_test_done();
}
