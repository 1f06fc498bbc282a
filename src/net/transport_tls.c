/*
 * transport_tls: the transport table (eddy/transport.h) over OpenSSL on a
 * kernel socket. OpenSSL reads and writes the fd itself, through its socket
 * BIO where kTLS is possible and through ours (tls_bio.c) elsewhere; this
 * file maps its answers onto the table's contract:
 *
 *  - SSL_ERROR_WANT_READ / WANT_WRITE become -EAGAIN, with t->want set when
 *    the op waits for the other direction (a read that must flush, a write
 *    that must read), and the handshake returns the readiness it waits for.
 *  - Bytes OpenSSL already holds (a record decrypted ahead, or read ahead and
 *    not yet decrypted) are reported by `pending`, so an edge-triggered loop
 *    reads them without waiting for an fd event that will never come.
 *  - Records are full: writes of several small pieces are gathered into one
 *    16 KiB staging buffer first (one record, not one per piece), and file
 *    ranges are read into it and written as records of up to 16 KiB. With
 *    kernel TLS (kTLS) enabled on the socket at run time, file ranges go
 *    with SSL_sendfile instead; eddy_tls_file_stats counts which path ran.
 *  - A write OpenSSL could not finish (WANT_WRITE) has its record already
 *    encrypted; the caller offers the same bytes again (its queue did not
 *    move), so the retry passes at least as many bytes, as OpenSSL demands.
 *  - close_notify goes out on shutdown_write and on a clean close; the peer's
 *    close_notify, or its FIN without one, reads as end of input.
 *  - With our BIO, the records of a writev or a file range are encrypted
 *    into a per-thread batch buffer, up to four, and leave in one send(): a
 *    1 MiB file takes 16 sends instead of 64 (and 16 preads of 64 KiB).
 *    Handshake messages, alerts and close_notify go straight out. What the
 *    socket does not take is kept per connection (`pend`) and the plaintext
 *    of its records (`held`) is not reported as written, so the caller
 *    offers those bytes again, as for OpenSSL's own retries; the next write
 *    sends `pend` first and then takes them without encrypting them twice.
 *
 * Everything here belongs to the connection's owner thread, except the two
 * statistics counters (atomics); a batch buffer belongs to its thread and
 * serves one call at a time.
 */
#include "tls_internal.h"
#include "tls_transport.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "eddy/channel.h"
#include "eddy/inet.h"
#include "eddy/tcp_connection.h"
#include "eddy/transport.h"
#include "eddy/ustack.h"
#include "eddy/ustack_net.h"

static unsigned long long stat_records_bytes, stat_ktls_bytes;

void eddy_tls_file_stats(unsigned long long *record_bytes, unsigned long long *ktls_bytes)
{
    *record_bytes = __atomic_load_n(&stat_records_bytes, __ATOMIC_RELAXED);
    *ktls_bytes = __atomic_load_n(&stat_ktls_bytes, __ATOMIC_RELAXED);
}

static struct tls_state *st(const struct eddy_transport *t)
{
    return t->state;
}

/* An SSL answer that is not progress: -EAGAIN (and want) or a fatal -errno. */
static ssize_t ssl_fail(struct eddy_transport *t, int ret, int natural)
{
    struct tls_state *s = st(t);
    int e = SSL_get_error(s->ssl, ret);

    switch (e) {
    case SSL_ERROR_WANT_READ:
        if (natural != EDDY_EV_READ)
            t->want = EDDY_EV_READ;
        return -EAGAIN;
    case SSL_ERROR_WANT_WRITE:
        if (natural != EDDY_EV_WRITE)
            t->want = EDDY_EV_WRITE;
        return -EAGAIN;
    case SSL_ERROR_ZERO_RETURN:
        s->flags |= S_EOF;
        return 0;
    case SSL_ERROR_SYSCALL:
        s->flags |= S_FAILED;
        ERR_clear_error();
        return errno == EPIPE ? -EPIPE : -ECONNRESET;
    default:
        s->flags |= S_FAILED;
        ERR_clear_error();
        return -EPROTO;
    }
}

/* A ustack descriptor is no kernel one: OpenSSL never gets it (SSL_set_fd would call
 * setsockopt on whatever kernel file has that number), only our BIO does. */
static int open_io(struct eddy_transport *t, int fd, void *arg, unsigned flags,
                   const struct eddy__tls_io *io)
{
    struct tls_state *s = malloc(sizeof *s);
    int kfd = io == &eddy__tls_kernel_io ? fd : -1;

    t->fd = fd;
    t->state = s;
    if (s != NULL) {
        s->ssl =
            (flags & EDDY_TRANSPORT_ACCEPTED) && arg != NULL ? eddy__tls_ssl_new(arg, kfd) : NULL;
        s->fd = fd;
        s->io = io;
        s->flags = s->ssl != NULL && eddy__tls_use_bio(s) ? S_OWN_BIO : 0;
    }
    if (s == NULL || s->ssl == NULL || (kfd < 0 && !(s->flags & S_OWN_BIO))) {
        if (s != NULL)
            SSL_free(s->ssl);
        free(s);
        t->state = NULL;
        io->close(fd);
        t->fd = -1;
        ERR_clear_error();
        return s == NULL ? -ENOMEM : -EINVAL;
    }
    s->inflight = 0;
    s->batch = NULL;
    s->pend = NULL;
    s->pend_len = s->held = 0;
    return 0;
}

static int tls_open(struct eddy_transport *t, int fd, void *arg, unsigned flags)
{
    return open_io(t, fd, arg, flags, &eddy__tls_kernel_io);
}

ssize_t eddy__us_writev_nosignal(int fd, const struct iovec *iov, int iovcnt);

static ssize_t us_send(int fd, const void *p, size_t len)
{
    struct iovec v = {.iov_base = (void *)p, .iov_len = len};

    return eddy__us_writev_nosignal(fd, &v, 1);
}

static int us_set_nodelay(int fd, int on)
{
    return ue_setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on) < 0 ? -errno : 0;
}

static const struct eddy__tls_io ustack_io = {us_send, ue_read, ue_shutdown, ue_close,
                                              us_set_nodelay};

static int tls_open_ustack(struct eddy_transport *t, int fd, void *arg, unsigned flags)
{
    return open_io(t, fd, arg, flags, &ustack_io);
}

static int tls_handshake(struct eddy_transport *t)
{
    struct tls_state *s = st(t);
    int r = SSL_do_handshake(s->ssl);
    ssize_t e;

    if (r == 1) {
        s->flags |= S_HANDSHAKE;
        return 0;
    }
    e = ssl_fail(t, r, 0);
    t->want = 0;
    if (e == -EAGAIN)
        return SSL_get_error(s->ssl, r) == SSL_ERROR_WANT_WRITE ? EDDY_EV_WRITE : EDDY_EV_READ;
    s->flags |= S_FAILED; /* a close_notify during the handshake is a failure too */
    return e < 0 ? (int)e : -ECONNRESET;
}

/* Fills iov[0..n) in order from decrypted records until OpenSSL has nothing
 * more without waiting. */
static ssize_t tls_readv(struct eddy_transport *t, const struct iovec *iov, int n)
{
    struct tls_state *s = st(t);
    size_t total = 0;
    ssize_t e = 0;

    if (s->flags & S_EOF)
        return 0;
    if (s->flags & S_FAILED)
        return -EPROTO;
    for (int i = 0; i < n; i++) {
        size_t off = 0;

        while (off < iov[i].iov_len) {
            size_t got = 0;
            int r = SSL_read_ex(s->ssl, (char *)iov[i].iov_base + off, iov[i].iov_len - off, &got);

            if (r != 1) {
                e = ssl_fail(t, r, EDDY_EV_READ);
                goto out;
            }
            off += got;
            total += got;
            /* OpenSSL holds nothing more: asking again would only be a read()
             * that finds the socket empty (one wasted syscall per request).
             * The caller reads again on readiness, or at once when
             * edge-triggered, so nothing is left behind. */
            if (off < iov[i].iov_len && !SSL_has_pending(s->ssl))
                goto out;
        }
    }
out:
    if (total > 0) {
        if (e == -EAGAIN || e == 0)
            t->want = 0; /* progress: the caller reads again only on readiness or pending */
        return (ssize_t)total;
    }
    return e;
}

/* Small pieces gathered into one record, and file chunks on the way to
 * their records. Per thread, not per connection (16 KiB each, and most of
 * an idle connection's memory when it was one): OpenSSL copies what it
 * encrypts, so nothing here outlives the call that filled it; a write that
 * must be retried gathers the same bytes again from the caller's queue. */
static _Thread_local char stage[RECORD];

/* The bytes of iov[0..n) gathered into the staging buffer, up to one record. */
static size_t gather(const struct iovec *iov, int n)
{
    size_t len = 0;

    for (int i = 0; i < n && len < RECORD; i++) {
        size_t k = iov[i].iov_len < RECORD - len ? iov[i].iov_len : RECORD - len;

        memcpy(stage + len, iov[i].iov_base, k);
        len += k;
    }
    return len;
}

/* Empties the thread's OpenSSL error queue before a call whose failure
 * SSL_get_error must classify (a stale entry would read as SSL_ERROR_SSL).
 * Peeking first: the queue is nearly always empty, and ERR_clear_error walks
 * all of its slots (about 900 instructions, 5 % of an HTTPS keep-alive
 * request's user-space work), where a peek is a small fraction of that. */
static void err_reset(void)
{
    if (ERR_peek_error() != 0)
        ERR_clear_error();
}

/* One SSL_write of p[0..len): bytes taken, or -EAGAIN / -errno. With partial
 * writes on, OpenSSL returns after each record it wrote out. */
static ssize_t write_once(struct eddy_transport *t, const void *p, size_t len)
{
    struct tls_state *s = st(t);
    size_t done = 0;
    int r;

    if (len < s->inflight)
        return -EIO; /* the caller's queue changed under a pending record: a bug */
    err_reset();
    r = SSL_write_ex(s->ssl, p, len, &done);
    if (r == 1) {
        s->inflight = 0;
        return (ssize_t)done;
    }
    if (SSL_get_error(s->ssl, r) == SSL_ERROR_WANT_WRITE ||
        SSL_get_error(s->ssl, r) == SSL_ERROR_WANT_READ)
        s->inflight = s->inflight > len ? s->inflight : len;
    return ssl_fail(t, r, EDDY_EV_WRITE);
}

/* Drops the first k bytes from v[0..n); returns the pieces left. */
static int advance(struct iovec *v, int n, size_t k)
{
    int i = 0;

    while (i < n && k >= v[i].iov_len)
        k -= v[i++].iov_len;
    memmove(v, v + i, sizeof v[0] * (size_t)(n - i));
    n -= i;
    if (n > 0) {
        v[0].iov_base = (char *)v[0].iov_base + k;
        v[0].iov_len -= k;
    }
    return n;
}

/* ---- batched writes (our BIO) ---- */

/* Before new records: pend goes out first, and then the bytes it held count
 * as taken (the caller offers them again, at least that many). Returns them,
 * or -EAGAIN while pend waits, or -errno. */
static ssize_t settle(struct eddy_transport *t, size_t offered)
{
    struct tls_state *s = st(t);
    size_t h = s->held;
    int e;

    if (s->pend_len == 0 && h == 0)
        return 0;
    if (offered < h)
        return -EIO; /* the caller's queue changed under pending records: a bug */
    e = s->pend_len > 0 ? eddy__tls_pend_flush(s) : 0;
    if (e == -EAGAIN)
        return -EAGAIN;
    if (e < 0) {
        s->flags |= S_FAILED;
        return e == -EPIPE ? -EPIPE : -ECONNRESET;
    }
    s->held = 0;
    return (ssize_t)h;
}

static int batch_room(const struct batch *b)
{
    return b->n < MAX_PIECES && b->len + RECORD_ROOM <= sizeof b->out;
}

/* One record of p[0..len) into the batch: the caller's bytes taken, or
 * -EAGAIN / -errno. */
static ssize_t batch_record(struct eddy_transport *t, const void *p, size_t len)
{
    struct batch *b = st(t)->batch;
    ssize_t w = write_once(t, p, len < RECORD ? len : RECORD);

    if (w > 0) {
        b->end[b->n] = b->len;
        b->plain[b->n++] = (size_t)w;
    }
    return w;
}

/* Sends the batch: the caller's bytes of the records that left whole. What
 * the socket did not take moves to pend, with their bytes held. */
static ssize_t batch_send(struct eddy_transport *t)
{
    struct tls_state *s = st(t);
    struct batch *b = s->batch;
    size_t off = 0, sent = 0;
    ssize_t n = 0;
    int i;

    s->batch = NULL;
    while (off < b->len && (n = eddy__tls_send_some(s, b->out + off, b->len - off)) > 0)
        off += (size_t)n;
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
        s->flags |= S_FAILED;
        return errno == EPIPE ? -EPIPE : -ECONNRESET;
    }
    for (i = 0; i < b->n && b->end[i] <= off; i++)
        sent += b->plain[i];
    for (; i < b->n; i++)
        s->held += b->plain[i];
    if (off < b->len && eddy__tls_pend_add(s, b->out + off, b->len - off) < 0) {
        s->flags |= S_FAILED;
        return -ENOMEM;
    }
    return (ssize_t)sent;
}

/* As tls_writev below, batched: records gathered in the thread's batch and
 * sent BATCH_RECORDS at a time. */
static ssize_t writev_batched(struct eddy_transport *t, struct iovec *rest, int nr, size_t offered)
{
    struct tls_state *s = st(t);
    ssize_t total = settle(t, offered), w = 1;

    if (total < 0)
        return total;
    nr = advance(rest, nr, (size_t)total);
    while (nr > 0 && w > 0 && s->held == 0) {
        if ((s->batch = eddy__tls_thread_batch()) == NULL)
            return total > 0 ? total : -ENOMEM;
        s->batch->len = 0;
        s->batch->n = 0;
        while (nr > 0 && batch_room(s->batch)) {
            int direct = nr == 1 || rest[0].iov_len >= RECORD;
            size_t len = direct ? rest[0].iov_len : gather(rest, nr);

            if ((w = batch_record(t, direct ? rest[0].iov_base : stage, len)) <= 0)
                break;
            nr = advance(rest, nr, (size_t)w);
        }
        ssize_t sent = batch_send(t);

        if (sent < 0)
            return sent;
        total += sent;
    }
    if (w < 0 && (total == 0 || w != -EAGAIN))
        return w;
    if (total == 0)
        return offered > 0 ? -EAGAIN : 0; /* offered > 0: the socket holds our records */
    t->want = 0;
    return total;
}

/* Several pieces smaller than a record together go out as one record (the
 * point of the staging copy); a first piece of a record or more is written
 * straight from the caller's memory. Loops until everything offered is
 * taken or OpenSSL cannot take more now. */
static ssize_t tls_writev(struct eddy_transport *t, const struct iovec *iov, int n, unsigned flags)
{
    struct tls_state *s = st(t);
    size_t total = 0;
    struct iovec rest[64];
    int nr;

    (void)flags;
    if (n > 64)
        n = 64;
    memcpy(rest, iov, sizeof rest[0] * (size_t)n);
    nr = advance(rest, n, 0);
    if (s->flags & S_OWN_BIO) {
        for (int i = 0; i < nr; i++)
            total += rest[i].iov_len;
        return writev_batched(t, rest, nr, total);
    }
    while (nr > 0) {
        int direct = nr == 1 || rest[0].iov_len >= RECORD;
        size_t len = direct ? rest[0].iov_len : gather(rest, nr);
        ssize_t w = write_once(t, direct ? rest[0].iov_base : stage, len);

        if (w <= 0)
            return total > 0 && w == -EAGAIN ? (t->want = 0, (ssize_t)total) : w;
        total += (size_t)w;
        nr = advance(rest, nr, (size_t)w);
    }
    return (ssize_t)total;
}

static int ktls_on(const struct tls_state *s)
{
    return BIO_get_ktls_send(SSL_get_wbio(s->ssl)) != 0;
}

/* A file range as records: pread into the staging buffer, one record each.
 * A chunk OpenSSL could not finish is read again from the same offset next
 * time (same bytes, as the retry needs). */
static ssize_t file_records(struct eddy_transport *t, int fd, off_t *offset, size_t len,
                            unsigned flags)
{
    size_t done = 0;
    ssize_t r = 0;

    while (done < len) {
        size_t want = len - done < RECORD ? len - done : RECORD;
        ssize_t n;

        do
            n = pread(fd, stage, want, *offset);
        while (n < 0 && errno == EINTR);
        if (n <= 0) {
            r = n < 0 ? -errno : 0;
            break;
        }
        r = write_once(t, stage, (size_t)n);
        if (r <= 0)
            break;
        *offset += r;
        done += (size_t)r;
        __atomic_fetch_add(&stat_records_bytes, (unsigned long long)r, __ATOMIC_RELAXED);
        if (!(flags & EDDY_TRANSPORT_ALL) && done >= 4 * RECORD)
            break; /* level-triggered: let other connections have the loop */
    }
    if (done > 0) {
        t->want = 0;
        return (ssize_t)done;
    }
    return r;
}

/* A file range through the batch: one pread of up to BATCH_RECORDS records,
 * their records, one send. Bytes held in pend are not read again: they count
 * once pend is out (the caller offers the same range). */
static ssize_t file_batched(struct eddy_transport *t, int fd, off_t *offset, size_t len,
                            unsigned flags)
{
    struct tls_state *s = st(t);
    ssize_t done = settle(t, len), w = 1;

    if (done < 0)
        return done;
    *offset += done;
    __atomic_fetch_add(&stat_records_bytes, (unsigned long long)done, __ATOMIC_RELAXED);
    while ((size_t)done < len && w > 0 && s->held == 0) {
        struct batch *b = s->batch = eddy__tls_thread_batch();
        size_t want = len - (size_t)done, got = 0;
        ssize_t n, sent;

        if (b == NULL)
            return done > 0 ? done : -ENOMEM;
        b->len = 0;
        b->n = 0;
        do
            n = pread(fd, b->file, want < sizeof b->file ? want : sizeof b->file, *offset);
        while (n < 0 && errno == EINTR);
        w = n < 0 ? -errno : n;
        while (got < (size_t)(n > 0 ? n : 0) &&
               (w = batch_record(t, b->file + got, (size_t)n - got)) > 0)
            got += (size_t)w;
        sent = batch_send(t);
        if (sent < 0)
            return sent;
        *offset += sent;
        done += sent;
        __atomic_fetch_add(&stat_records_bytes, (unsigned long long)sent, __ATOMIC_RELAXED);
        if (!(flags & EDDY_TRANSPORT_ALL))
            break; /* level-triggered: let other connections have the loop */
    }
    if (done > 0) {
        t->want = 0;
        return done;
    }
    return w < 0 ? w : s->held > 0 ? -EAGAIN : 0;
}

static ssize_t tls_send_file(struct eddy_transport *t, int fd, off_t *offset, size_t len,
                             unsigned flags)
{
    struct tls_state *s = st(t);
    ossl_ssize_t n;

    if (s->flags & S_OWN_BIO)
        return file_batched(t, fd, offset, len, flags);
    if (!ktls_on(s) || s->inflight > 0)
        return file_records(t, fd, offset, len, flags);
    err_reset();
    n = SSL_sendfile(s->ssl, fd, *offset, len, 0);
    if (n > 0) {
        *offset += n;
        __atomic_fetch_add(&stat_ktls_bytes, (unsigned long long)n, __ATOMIC_RELAXED);
        return n;
    }
    return ssl_fail(t, (int)n, EDDY_EV_WRITE);
}

static size_t tls_pending(const struct eddy_transport *t)
{
    const struct tls_state *s = st(t);
    int n;

    if (s->flags & (S_EOF | S_FAILED))
        return 0;
    n = SSL_pending(s->ssl);
    if (n > 0)
        return (size_t)n;
    return SSL_has_pending(s->ssl) ? 1 : 0; /* read ahead, not yet decrypted */
}

/* close_notify once, only on a healthy, established connection. */
static void send_close_notify(struct tls_state *s)
{
    if ((s->flags & (S_SHUT | S_FAILED)) || !(s->flags & S_HANDSHAKE))
        return;
    s->flags |= S_SHUT;
    ERR_clear_error();
    SSL_shutdown(s->ssl); /* non-blocking: if the socket is full it is lost (rare) */
    ERR_clear_error();
}

static int tls_shutdown_write(struct eddy_transport *t)
{
    send_close_notify(st(t));
    return st(t)->io->shutdown(t->fd, SHUT_WR) < 0 ? -errno : 0;
}

static void tls_close(struct eddy_transport *t)
{
    struct tls_state *s = st(t);
    const struct eddy__tls_io *io = s != NULL ? s->io : &eddy__tls_kernel_io;

    if (s != NULL) {
        send_close_notify(s);
        SSL_free(s->ssl);
        free(s->pend);
        free(s);
        t->state = NULL;
    }
    if (t->fd >= 0)
        io->close(t->fd);
    t->fd = -1;
}

static int tls_set_nodelay(struct eddy_transport *t, int on)
{
    return st(t)->io->set_nodelay(t->fd, on);
}

/* Over kernel sockets and over ustack ones: the same record layer, only open (the
 * descriptor calls under it) and the caps differ. Written out twice, not generated. */
const struct eddy_transport_ops eddy_transport_tls = {
    .name = "tls",
    .caps = EDDY_TRANSPORT_CLOSE_FORGETS | EDDY_TRANSPORT_TCP_FD,
    .open = tls_open,
    .readv = tls_readv,
    .writev = tls_writev,
    .send_file = tls_send_file,
    .shutdown_write = tls_shutdown_write,
    .close = tls_close,
    .pending = tls_pending,
    .handshake = tls_handshake,
    .set_nodelay = tls_set_nodelay,
};

const struct eddy_transport_ops eddy_transport_tls_ustack = {
    .name = "tls",
    .caps = EDDY_TRANSPORT_CLOSE_FORGETS | EDDY_TRANSPORT_FD_UEPOLL,
    .open = tls_open_ustack,
    .readv = tls_readv,
    .writev = tls_writev,
    .send_file = tls_send_file,
    .shutdown_write = tls_shutdown_write,
    .close = tls_close,
    .pending = tls_pending,
    .handshake = tls_handshake,
    .set_nodelay = tls_set_nodelay,
};

SSL *eddy__tls_transport_ssl(const struct eddy_transport *t)
{
    int tls = t != NULL && (t->ops == &eddy_transport_tls || t->ops == &eddy_transport_tls_ustack);
    return tls && t->state != NULL ? st(t)->ssl : NULL;
}

static SSL *conn_ssl(const struct eddy_tcp_connection *c)
{
    return eddy__tls_transport_ssl(eddy_tcp_connection_transport(c));
}

const char *eddy_tls_connection_version(const struct eddy_tcp_connection *c)
{
    SSL *s = conn_ssl(c);
    return s != NULL ? SSL_get_version(s) : NULL;
}

const char *eddy_tls_connection_cipher(const struct eddy_tcp_connection *c)
{
    SSL *s = conn_ssl(c);
    return s != NULL ? SSL_get_cipher_name(s) : NULL;
}

const char *eddy_tls_connection_server_name(const struct eddy_tcp_connection *c)
{
    SSL *s = conn_ssl(c);
    return s != NULL ? SSL_get_servername(s, TLSEXT_NAMETYPE_host_name) : NULL;
}

int eddy_tls_connection_resumed(const struct eddy_tcp_connection *c)
{
    SSL *s = conn_ssl(c);
    return s != NULL && SSL_session_reused(s);
}
