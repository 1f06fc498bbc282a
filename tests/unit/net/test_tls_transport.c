/*
 * The TLS transport's ops, driven directly (no loop) over a non-blocking
 * socketpair against an OpenSSL client: handshake readiness, reads across
 * records, bytes held in OpenSSL (pending), record sizes of writes and file
 * ranges, retrying a write the socket could not take, close_notify both
 * ways, and hostile input.
 */
#include <errno.h>
#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../../lib/test.h"
#include "eddy/channel.h"
#include "eddy/tls.h"
#include "eddy/transport.h"
#include "tls_fixture.h"

static struct eddy_tls_context *ctx;
static SSL_CTX *cctx;

struct rig {
    struct eddy_transport t;
    SSL *c;
    int cfd;
    /* Records the client received after the handshake: count and plaintext-ish sizes. */
    int records;
    int small_records; /* under 1 KiB of ciphertext */
};

static void msg_cb(int write_p, int version, int type, const void *buf, size_t len, SSL *ssl,
                   void *arg)
{
    struct rig *r = arg;
    const unsigned char *b = buf;

    (void)version, (void)ssl;
    if (write_p || type != SSL3_RT_HEADER || len < 5 || b[0] != SSL3_RT_APPLICATION_DATA)
        return;
    r->records++;
    if (((b[3] << 8) | b[4]) < 1024)
        r->small_records++;
}

static void nonblock(int fd)
{
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

static int rig_open(struct rig *r)
{
    int sv[2];

    memset(r, 0, sizeof *r);
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
        return -1;
    nonblock(sv[0]);
    nonblock(sv[1]);
    r->cfd = sv[0];
    r->c = SSL_new(cctx);
    SSL_set_fd(r->c, sv[0]);
    SSL_set_tlsext_host_name(r->c, "localhost");
    SSL_set_connect_state(r->c);
    SSL_set_msg_callback(r->c, msg_cb);
    SSL_set_msg_callback_arg(r->c, r);
    return eddy_transport_open(&r->t, &eddy_transport_tls, sv[1], ctx, EDDY_TRANSPORT_ACCEPTED);
}

static void rig_close(struct rig *r)
{
    r->t.ops->close(&r->t);
    SSL_free(r->c);
    close(r->cfd);
    ERR_clear_error();
}

/* Runs both handshakes to the end: 0, or the server's last answer. */
static int rig_handshake(struct rig *r)
{
    int hs = -1;

    for (int i = 0; i < 50; i++) {
        SSL_do_handshake(r->c);
        hs = r->t.ops->handshake(&r->t);
        if (hs == 0 && SSL_is_init_finished(r->c))
            break;
        if (hs < 0)
            return hs;
    }
    if (hs == 0) { /* the session ticket after a TLS 1.3 handshake is a record too */
        char x;
        SSL_read(r->c, &x, 1);
        ERR_clear_error();
    }
    r->records = r->small_records = 0;
    return hs;
}

/* The client reads whatever is there (up to n bytes) into buf. */
static size_t client_read(struct rig *r, char *buf, size_t n)
{
    size_t got = 0, k;

    while (got < n && SSL_read_ex(r->c, buf + got, n - got, &k) == 1)
        got += k;
    return got;
}

static void test_handshake_waits_then_serves(void)
{
    struct rig r;
    char buf[64];
    struct iovec v = {buf, sizeof buf};

    ASSERT_EQ(rig_open(&r), 0);
    ASSERT_EQ(r.t.ops->handshake(&r.t), EDDY_EV_READ); /* no ClientHello yet */
    ASSERT_EQ(rig_handshake(&r), 0);
    ASSERT_EQ(eddy_transport_readv(&r.t, &v, 1), -EAGAIN);
    ASSERT_EQ(r.t.want, 0);
    ASSERT_EQ(SSL_write(r.c, "abc", 3), 3);
    ASSERT_EQ(SSL_write(r.c, "def", 3), 3);
    ASSERT_EQ(eddy_transport_readv(&r.t, &v, 1), 6); /* across two records */
    ASSERT_MEM_EQ(buf, "abcdef", 6);
    ASSERT_EQ(eddy_transport_write(&r.t, "hello", 5, 0), 5);
    ASSERT_EQ(client_read(&r, buf, 5), 5);
    ASSERT_MEM_EQ(buf, "hello", 5);
    rig_close(&r);
}

static void test_pending_delivers_buffered_bytes(void)
{
    static char big[40000], got[40000];
    struct rig r;
    size_t total = 0;

    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (char)('a' + i % 26);
    ASSERT_EQ(rig_open(&r), 0);
    ASSERT_EQ(rig_handshake(&r), 0);
    ASSERT_EQ(SSL_write(r.c, big, sizeof big), (int)sizeof big);
    /* One readv into a small buffer; the rest sits in OpenSSL or the socket. Reading only
     * while pending says so must get everything the first read pulled into OpenSSL. */
    struct iovec v = {got, 1000};
    ASSERT_EQ(eddy_transport_readv(&r.t, &v, 1), 1000);
    total = 1000;
    ASSERT_GT(eddy_transport_pending(&r.t), 0);
    while (eddy_transport_pending(&r.t) > 0 && total < sizeof got) {
        struct iovec w = {got + total, sizeof got - total < 1000 ? sizeof got - total : 1000};
        ssize_t n = eddy_transport_readv(&r.t, &w, 1);
        ASSERT_GT(n, 0);
        total += (size_t)n;
    }
    /* Then the fd (still readable) for what stayed in the kernel. */
    for (;;) {
        struct iovec w = {got + total, sizeof got - total};
        ssize_t n = total < sizeof got ? eddy_transport_readv(&r.t, &w, 1) : 0;
        if (n <= 0)
            break;
        total += (size_t)n;
    }
    ASSERT_EQ(total, sizeof big);
    ASSERT_MEM_EQ(got, big, sizeof big);
    ASSERT_EQ(eddy_transport_pending(&r.t), 0);
    rig_close(&r);
}

static void test_small_pieces_make_one_record(void)
{
    struct rig r;
    char buf[256];
    struct iovec v[5] = {
        {"HTTP/1.1 ", 9}, {"200 OK\r\n", 8}, {"A: b\r\n", 6}, {"\r\n", 2}, {"x", 1}};

    ASSERT_EQ(rig_open(&r), 0);
    ASSERT_EQ(rig_handshake(&r), 0);
    ASSERT_EQ(eddy_transport_writev(&r.t, v, 5, 0), 26);
    ASSERT_EQ(client_read(&r, buf, sizeof buf), 26);
    ASSERT_MEM_EQ(buf, "HTTP/1.1 200 OK\r\nA: b\r\n\r\nx", 26);
    ASSERT_EQ(r.records, 1);
    rig_close(&r);
}

static void test_large_writes_and_files_use_full_records(void)
{
    static char big[100000], got[100000];
    char path[] = "/tmp/eddy-tls-file-XXXXXX";
    int fd = mkstemp(path);
    struct rig r;
    off_t off = 0;
    unsigned long long rec0, rec1, k0, k1;

    ASSERT(fd >= 0);
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (char)(i * 7 + i / 251);
    ASSERT_EQ(write(fd, big, sizeof big), (ssize_t)sizeof big);
    ASSERT_EQ(rig_open(&r), 0);
    ASSERT_EQ(rig_handshake(&r), 0);
    /* 100000 bytes = 6 full records and one of 1696 bytes. */
    ASSERT_EQ(eddy_transport_write(&r.t, big, sizeof big, 0), (ssize_t)sizeof big);
    ASSERT_EQ(client_read(&r, got, sizeof got), sizeof got);
    ASSERT_MEM_EQ(got, big, sizeof big);
    ASSERT_EQ(r.records, 7);
    ASSERT_EQ(r.small_records, 0);
    r.records = 0;
    eddy_tls_file_stats(&rec0, &k0);
    ASSERT_EQ(r.t.ops->send_file(&r.t, fd, &off, 50000, EDDY_TRANSPORT_ALL), 50000);
    ASSERT_EQ(r.t.ops->send_file(&r.t, fd, &off, 50000, EDDY_TRANSPORT_ALL), 50000);
    ASSERT_EQ(off, 100000);
    ASSERT_EQ(client_read(&r, got, sizeof got), sizeof got);
    ASSERT_MEM_EQ(got, big, sizeof big);
    ASSERT_EQ(r.records, 8); /* 3 full + 1 of 848, twice */
    eddy_tls_file_stats(&rec1, &k1);
    ASSERT_EQ(rec1 - rec0, 100000);
    ASSERT_EQ(k1, k0); /* no kTLS on this socket (a Unix socket never has it) */
    close(fd);
    unlink(path);
    rig_close(&r);
}

static void test_full_socket_write_retried(void)
{
    static char big[1 << 20], got[1 << 20];
    struct rig r;
    size_t sent = 0, recvd = 0;
    int eagain = 0;

    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (char)(i ^ (i >> 9));
    ASSERT_EQ(rig_open(&r), 0);
    ASSERT_EQ(rig_handshake(&r), 0);
    while (sent < sizeof big) {
        ssize_t n = eddy_transport_write(&r.t, big + sent, sizeof big - sent, 0);
        if (n == -EAGAIN) {
            eagain++;
            recvd += client_read(&r, got + recvd, sizeof got - recvd);
            continue;
        }
        ASSERT_GT(n, 0);
        sent += (size_t)n;
    }
    while (recvd < sizeof got) {
        size_t n = client_read(&r, got + recvd, sizeof got - recvd);
        if (n == 0)
            break;
        recvd += n;
    }
    ASSERT_GT(eagain, 0);
    ASSERT_EQ(recvd, sizeof big);
    ASSERT_MEM_EQ(got, big, sizeof big);
    rig_close(&r);
}

/* Writes of small pieces (gathered into one record in a staging buffer shared
 * by the thread's connections) on two connections whose sockets fill, taking
 * turns: a write one connection must retry is gathered again after the other
 * has used the buffer, and both streams arrive whole and in order. */
static size_t pieces_write(struct rig *r, const char *src, size_t sent, size_t total)
{
    struct iovec v[16];
    int n = 0;
    ssize_t w;

    for (size_t off = sent; n < 16 && off < total; n++, off += 1000) {
        v[n].iov_base = (char *)src + off;
        v[n].iov_len = total - off < 1000 ? total - off : 1000;
    }
    w = eddy_transport_writev(&r->t, v, n, 0);
    return w > 0 ? (size_t)w : 0;
}

static void test_two_connections_share_the_stage(void)
{
    enum { TOTAL = 300000 };
    static char src[2][TOTAL], got[2][TOTAL];
    struct rig r[2];
    size_t sent[2] = {0, 0}, recvd[2] = {0, 0};
    int stalled = 0;

    for (int k = 0; k < 2; k++) {
        for (size_t i = 0; i < TOTAL; i++)
            src[k][i] = (char)(k ? i * 13 + i / 7 : i ^ (i >> 5));
        ASSERT_EQ(rig_open(&r[k]), 0);
        ASSERT_EQ(rig_handshake(&r[k]), 0);
    }
    for (int turn = 0; turn < 100000 && (sent[0] < TOTAL || sent[1] < TOTAL); turn++) {
        int k = turn & 1;
        size_t w = sent[k] < TOTAL ? pieces_write(&r[k], src[k], sent[k], TOTAL) : 0;

        sent[k] += w;
        if (w == 0 && sent[k] < TOTAL) {
            stalled++; /* read a little only every other turn, so the other one writes first */
            if (turn & 2)
                recvd[k] += client_read(&r[k], got[k] + recvd[k], 4096);
        }
    }
    for (int k = 0; k < 2; k++) {
        for (int i = 0; i < 1000 && recvd[k] < TOTAL; i++)
            recvd[k] += client_read(&r[k], got[k] + recvd[k], TOTAL - recvd[k]);
        ASSERT_EQ(sent[k], TOTAL);
        ASSERT_EQ(recvd[k], TOTAL);
        ASSERT_MEM_EQ(got[k], src[k], TOTAL);
        rig_close(&r[k]);
    }
    ASSERT_GT(stalled, 0);
}

/* A file range into a socket that fills: what the socket did not take is
 * offered again from the same offset and arrives once, in order, before
 * the bytes written after it. */
static void test_full_socket_file_retried(void)
{
    static char big[1 << 20], got[(1 << 20) + 4];
    char path[] = "/tmp/eddy-tls-file-XXXXXX";
    int fd = mkstemp(path), eagain = 0;
    struct rig r;
    off_t off = 0;
    size_t recvd = 0;

    ASSERT(fd >= 0);
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (char)(i * 13 + (i >> 11));
    ASSERT_EQ(write(fd, big, sizeof big), (ssize_t)sizeof big);
    ASSERT_EQ(rig_open(&r), 0);
    ASSERT_EQ(rig_handshake(&r), 0);
    while ((size_t)off < sizeof big) {
        off_t before = off;
        ssize_t n = r.t.ops->send_file(&r.t, fd, &off, sizeof big - (size_t)off, 0);

        if (n == -EAGAIN) {
            ASSERT_EQ(off, before);
            eagain++;
            recvd += client_read(&r, got + recvd, sizeof got - recvd);
            continue;
        }
        ASSERT_GT(n, 0);
        ASSERT_EQ(off, before + n);
    }
    while (eddy_transport_write(&r.t, "tail", 4, 0) == -EAGAIN)
        recvd += client_read(&r, got + recvd, sizeof got - recvd);
    for (int i = 0; i < 1000 && recvd < sizeof got; i++)
        recvd += client_read(&r, got + recvd, sizeof got - recvd);
    ASSERT_GT(eagain, 0);
    ASSERT_EQ(recvd, sizeof got);
    ASSERT_MEM_EQ(got, big, sizeof big);
    ASSERT_MEM_EQ(got + sizeof big, "tail", 4);
    close(fd);
    unlink(path);
    rig_close(&r);
}

static void test_close_notify_both_ways(void)
{
    struct rig r;
    char buf[16];
    struct iovec v = {buf, sizeof buf};

    ASSERT_EQ(rig_open(&r), 0);
    ASSERT_EQ(rig_handshake(&r), 0);
    ASSERT_EQ(r.t.ops->shutdown_write(&r.t), 0);
    ASSERT_EQ(SSL_read(r.c, buf, sizeof buf), 0);
    ASSERT_EQ(SSL_get_error(r.c, 0), SSL_ERROR_ZERO_RETURN); /* a close_notify, not a bare FIN */
    ASSERT_EQ(SSL_shutdown(r.c), 1);
    ASSERT_EQ(eddy_transport_readv(&r.t, &v, 1), 0);
    ASSERT_EQ(eddy_transport_readv(&r.t, &v, 1), 0);
    rig_close(&r);
}

static void test_bare_fin_is_end_of_input(void)
{
    struct rig r;
    char buf[16];
    struct iovec v = {buf, sizeof buf};

    ASSERT_EQ(rig_open(&r), 0);
    ASSERT_EQ(rig_handshake(&r), 0);
    ASSERT_EQ(SSL_write(r.c, "last", 4), 4);
    shutdown(r.cfd, SHUT_WR);
    ASSERT_EQ(eddy_transport_readv(&r.t, &v, 1), 4);
    ASSERT_EQ(eddy_transport_readv(&r.t, &v, 1), 0);
    rig_close(&r);
}

static void hostile_case(const void *bytes, size_t n, int close_after)
{
    struct rig r;
    int hs = 0;

    ASSERT_EQ(rig_open(&r), 0);
    ASSERT_EQ(write(r.cfd, bytes, n), (ssize_t)n);
    if (close_after)
        shutdown(r.cfd, SHUT_WR);
    for (int i = 0; i < 5 && hs >= 0; i++)
        hs = r.t.ops->handshake(&r.t);
    ASSERT_LT(hs, 0);
    rig_close(&r);
}

static void test_hostile_handshakes_fail_cleanly(void)
{
    static const char http[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    static const unsigned char garbage[] = {0x16, 0x03, 0x01, 0x00, 0x05, 1, 2, 3, 4, 5};
    static const unsigned char truncated[] = {0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00};

    hostile_case(http, sizeof http - 1, 0);
    hostile_case(garbage, sizeof garbage, 0);
    hostile_case(truncated, sizeof truncated, 1); /* a record cut short, then FIN */
    hostile_case("", 0, 1);                       /* FIN before any ClientHello */
}

static void test_garbage_after_handshake(void)
{
    struct rig r;
    char buf[16];
    struct iovec v = {buf, sizeof buf};
    static const unsigned char junk[] = {0x17, 0x03, 0x03, 0x00, 0x20, 'x', 'x', 'x', 'x', 'x',
                                         'x',  'x',  'x',  'x',  'x',  'x', 'x', 'x', 'x', 'x',
                                         'x',  'x',  'x',  'x',  'x',  'x', 'x', 'x', 'x', 'x',
                                         'x',  'x',  'x',  'x',  'x',  'x', 'x'};

    ASSERT_EQ(rig_open(&r), 0);
    ASSERT_EQ(rig_handshake(&r), 0);
    ASSERT_EQ(write(r.cfd, junk, sizeof junk), (ssize_t)sizeof junk);
    ssize_t n = eddy_transport_readv(&r.t, &v, 1);
    ASSERT_LT(n, 0);
    ASSERT_NE(n, -EAGAIN);
    rig_close(&r);
}

int main(void)
{
    if (tls_fixture_open(&ctx, &cctx) < 0)
        return 1;
    RUN(test_handshake_waits_then_serves);
    RUN(test_pending_delivers_buffered_bytes);
    RUN(test_small_pieces_make_one_record);
    RUN(test_large_writes_and_files_use_full_records);
    RUN(test_full_socket_write_retried);
    RUN(test_full_socket_file_retried);
    RUN(test_two_connections_share_the_stage);
    RUN(test_close_notify_both_ways);
    RUN(test_bare_fin_is_end_of_input);
    RUN(test_hostile_handshakes_fail_cleanly);
    RUN(test_garbage_after_handshake);
    tls_fixture_close(ctx, cctx);
    return eddy_test_done();
}
