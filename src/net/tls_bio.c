/*
 * tls_bio: the BIO under a TLS connection's SSL where kTLS is not possible
 * (Debian's OpenSSL 3.0 is built without it, or the kernel has no "tls"
 * upper layer). OpenSSL reads and writes the socket through it, so that
 * transport_tls.c can batch: while a batched write runs (s->batch set), the
 * records OpenSSL writes are appended to the thread's batch buffer instead of
 * sent, and leave in one send() afterwards. Outside a batch (handshake
 * messages, alerts, close_notify, post-handshake messages) records go
 * straight to the socket, behind any ciphertext still pending (s->pend) from
 * an earlier batch the socket did not take whole.
 *
 * The BIO method is made once (pthread_once) and then only read; a batch
 * buffer belongs to its thread (thread-specific data) and serves one call at
 * a time; everything else is the connection's owner thread's.
 */
#include "tls_transport.h"

#include "eddy/inet.h"

#include <errno.h>
#include <openssl/bio.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static pthread_once_t bio_once = PTHREAD_ONCE_INIT;
static BIO_METHOD *bio_method; /* NULL: out of memory at its creation */
static int kernel_own_bio;     /* kernel sockets take ours (0: OpenSSL's, kTLS possible) */
static pthread_key_t batch_key;

static ssize_t kernel_send(int fd, const void *p, size_t len)
{
    return send(fd, p, len, MSG_NOSIGNAL);
}

const struct eddy__tls_io eddy__tls_kernel_io = {kernel_send, read, shutdown, close,
                                                 eddy_socket_set_nodelay};

ssize_t eddy__tls_send_some(const struct tls_state *s, const char *p, size_t len)
{
    ssize_t n;

    do
        n = s->io->send(s->fd, p, len);
    while (n < 0 && errno == EINTR);
    return n;
}

/* Sends what it can of pend; 0 once it is all out, -EAGAIN, or -errno. */
int eddy__tls_pend_flush(struct tls_state *s)
{
    size_t off = 0;
    ssize_t n = 0;

    while (off < s->pend_len && (n = eddy__tls_send_some(s, s->pend + off, s->pend_len - off)) > 0)
        off += (size_t)n;
    memmove(s->pend, s->pend + off, s->pend_len - off);
    s->pend_len -= off;
    if (s->pend_len == 0) {
        free(s->pend);
        s->pend = NULL;
        return 0;
    }
    return errno == EAGAIN || errno == EWOULDBLOCK ? -EAGAIN : -errno;
}

int eddy__tls_pend_add(struct tls_state *s, const char *p, size_t len)
{
    char *np = realloc(s->pend, s->pend_len + len);

    if (np == NULL)
        return -ENOMEM;
    memcpy(np + s->pend_len, p, len);
    s->pend = np;
    s->pend_len += len;
    return 0;
}

/* Inside a batch the record joins it (the writer made room); otherwise it
 * goes to the socket, behind anything still pending. */
static int bio_write(BIO *b, const char *p, int len)
{
    struct tls_state *s = BIO_get_data(b);
    struct batch *bt = s->batch;
    ssize_t n;

    BIO_clear_retry_flags(b);
    if (bt != NULL && bt->len + (size_t)len <= sizeof bt->out) {
        memcpy(bt->out + bt->len, p, (size_t)len);
        bt->len += (size_t)len;
        return len;
    }
    if (bt == NULL && s->pend_len > 0) {
        int e = eddy__tls_pend_flush(s);

        if (e < 0 && e != -EAGAIN)
            return -1;
        if (e == -EAGAIN) /* an alert or a post-handshake message: it waits its turn */
            return eddy__tls_pend_add(s, p, (size_t)len) == 0 ? len : -1;
    }
    if (bt != NULL || (n = eddy__tls_send_some(s, p, (size_t)len)) < 0) {
        if (bt != NULL || errno == EAGAIN || errno == EWOULDBLOCK)
            BIO_set_retry_write(b);
        return -1;
    }
    return (int)n;
}

static int bio_read(BIO *b, char *p, int len)
{
    struct tls_state *s = BIO_get_data(b);
    ssize_t n;

    BIO_clear_retry_flags(b);
    do
        n = s->io->read(s->fd, p, (size_t)len);
    while (n < 0 && errno == EINTR);
    if (n == 0)
        s->flags |= S_BIO_EOF;
    else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        BIO_set_retry_read(b);
    return (int)n;
}

static long bio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
    struct tls_state *s = BIO_get_data(b);

    (void)num;
    switch (cmd) {
    case BIO_CTRL_FLUSH:
        return 1;
    case BIO_CTRL_EOF: /* what makes OpenSSL see a FIN as end of input */
        return (s->flags & S_BIO_EOF) != 0;
    case BIO_C_GET_FD:
        if (ptr != NULL)
            *(int *)ptr = s->fd;
        return s->fd;
    default:
        return 0;
    }
}

/* kTLS needs OpenSSL's socket BIO: kept where the OpenSSL build and the
 * kernel offer it (the "tls" upper layer loaded), ours elsewhere. */
static int ktls_possible(void)
{
#ifdef OPENSSL_NO_KTLS
    return 0;
#else
    char ulp[256] = "";
    FILE *f = fopen("/proc/sys/net/ipv4/tcp_available_ulp", "re");

    if (f != NULL) {
        if (fgets(ulp, sizeof ulp, f) == NULL)
            ulp[0] = 0;
        fclose(f);
    }
    return strstr(ulp, "tls") != NULL;
#endif
}

static void bio_init(void)
{
    BIO_METHOD *m;

    if (pthread_key_create(&batch_key, free) != 0)
        return;
    m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "eddy tls socket");
    if (m == NULL || !BIO_meth_set_write(m, bio_write) || !BIO_meth_set_read(m, bio_read) ||
        !BIO_meth_set_ctrl(m, bio_ctrl)) {
        BIO_meth_free(m);
        return;
    }
    bio_method = m;
    kernel_own_bio = !ktls_possible();
}

int eddy__tls_use_bio(struct tls_state *s)
{
    BIO *b;

    pthread_once(&bio_once, bio_init);
    if (bio_method == NULL || (s->io == &eddy__tls_kernel_io && !kernel_own_bio) ||
        (b = BIO_new(bio_method)) == NULL)
        return 0;
    BIO_set_data(b, s);
    BIO_set_init(b, 1);
    SSL_set_bio(s->ssl, b, b);
    return 1;
}

struct batch *eddy__tls_thread_batch(void)
{
    struct batch *b = pthread_getspecific(batch_key);

    if (b == NULL && (b = malloc(sizeof *b)) != NULL && pthread_setspecific(batch_key, b) != 0) {
        free(b);
        b = NULL;
    }
    return b;
}
