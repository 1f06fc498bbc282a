/*
 * File ranges copied by choice (eddy_transport_socket_set_file_copy_min) and the
 * file-output TCP_NOTSENT_LOWAT (eddy_transport_socket_set_file_lowat), on every
 * backend over loopback: a range above the threshold goes by pread + send in 64 KiB
 * chunks through a 4 KiB send buffer and a slow reader (short sends), one below it by
 * sendfile, memory before, between and after; every byte arrives in order, and the
 * socket option is set once a file went out, only when asked for, and only from a range
 * of at least eddy_transport_socket_set_file_lowat_min bytes.
 */
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include "eddy/transport.h"
#include "net_fixture.h"

#define FILE_LEN  (3u << 20)
#define COPY_MIN  100000
#define LOWAT     16384
#define BIG_OFF   5u
#define BIG_LEN   ((2u << 20) + 7u) /* odd: the last chunk is short */
#define SMALL_OFF 70000u
#define SMALL_LEN 5000u

static struct {
    int closed, write_complete, lowat;
} st;

static void on_close_count(struct eddy_tcp_connection *c)
{
    (void)c;
    fx_inc(&st.closed);
}

static void on_connected_files(struct eddy_tcp_connection *c)
{
    int v = 4096;

    setsockopt(eddy_tcp_connection_fd(c), SOL_SOCKET, SO_SNDBUF, &v, sizeof v);
    eddy_tcp_connection_send(c, "HEAD", 4);
    eddy_tcp_connection_send_file(c, fx_file.fd, BIG_OFF, BIG_LEN, 0);
    eddy_tcp_connection_send(c, "MID", 3);
    eddy_tcp_connection_send_file(c, fx_file.fd, SMALL_OFF, SMALL_LEN, 0);
    eddy_tcp_connection_send(c, "TAIL", 4);
    eddy_tcp_connection_shutdown(c);
}

static void on_write_complete_files(struct eddy_tcp_connection *c)
{
    int v = -1;
    socklen_t len = sizeof v;

    if (getsockopt(eddy_tcp_connection_fd(c), IPPROTO_TCP, TCP_NOTSENT_LOWAT, &v, &len) == 0)
        fx_store(&st.lowat, v);
    fx_inc(&st.write_complete);
}

static size_t expect_append(char *dst, size_t at, const void *src, size_t n)
{
    memcpy(dst + at, src, n);
    return at + n;
}

/* One connection's bytes, read slowly through a 4 KiB receive buffer. */
static void files_case(const char *backend, int lowat_expected)
{
    struct eddy_tcp_callbacks cb = {.on_connected = on_connected_files,
                                    .on_write_complete = on_write_complete_files,
                                    .on_close = on_close_count};
    size_t cap = BIG_LEN + SMALL_LEN + 64, n = 0, got_n = 0;
    char *expect = malloc(cap), *got = malloc(cap);
    struct fx f;
    int fd;

    memset(&st, 0, sizeof st);
    st.lowat = -1;
    ASSERT(expect != NULL && got != NULL);
    n = expect_append(expect, n, "HEAD", 4);
    n = expect_append(expect, n, fx_file.data + BIG_OFF, BIG_LEN);
    n = expect_append(expect, n, "MID", 3);
    n = expect_append(expect, n, fx_file.data + SMALL_OFF, SMALL_LEN);
    n = expect_append(expect, n, "TAIL", 4);
    fd = fx_start_client(&f, backend, NULL, &cb, 4096);
    ASSERT(fd >= 0);
    /* Small reads with pauses early on, so the server meets a full socket mid-chunk. */
    for (int i = 0; i < 20 && got_n < n; i++) {
        got_n += fx_read_n(fd, got + got_n, 3000);
        fx_sleep_ms(2);
    }
    got_n += fx_read_n(fd, got + got_n, cap - got_n); /* to EOF */
    ASSERT_EQ(got_n, n);
    ASSERT_MEM_EQ(got, expect, n);
    free(got);
    free(expect);
    ASSERT(fx_wait_ge(&st.write_complete, 1, 5));
    ASSERT_EQ(fx_load(&st.lowat), lowat_expected);
    ASSERT(fx_finish(&f, fd, &st.closed, 1));
}

static void copied_case(const char *backend)
{
    eddy_transport_socket_set_file_copy_min(COPY_MIN);
    eddy_transport_socket_set_file_lowat(LOWAT);
    files_case(backend, LOWAT);
    eddy_transport_socket_set_file_copy_min(0);
    eddy_transport_socket_set_file_lowat(0);
}

/* A lowat floor above both ranges: the socket option is left alone; at the large
 * range's length: set. */
static void lowat_min_case(const char *backend)
{
    eddy_transport_socket_set_file_lowat(LOWAT);
    eddy_transport_socket_set_file_lowat_min(BIG_LEN + 1);
    files_case(backend, 0);
    eddy_transport_socket_set_file_lowat_min(BIG_LEN);
    files_case(backend, LOWAT);
    eddy_transport_socket_set_file_lowat_min(0);
    eddy_transport_socket_set_file_lowat(0);
}

/* The defaults: sendfile for both ranges, the socket option left alone (0: unset). */
static void default_case(const char *backend)
{
    files_case(backend, 0);
}

static void test_copied_ranges(void)
{
    fx_with_file(copied_case, FX_NBACKENDS, FILE_LEN, 1);
}

static void test_default_sendfile(void)
{
    fx_with_file(default_case, FX_NBACKENDS, FILE_LEN, 1);
}

static void test_lowat_min(void)
{
    fx_with_file(lowat_min_case, FX_NBACKENDS, FILE_LEN, 1);
}

int main(void)
{
    RUN(test_copied_ranges);
    RUN(test_default_sendfile);
    RUN(test_lowat_min);
    return eddy_test_done();
}
