/*
 * Internal to the TLS transport: the per-connection state that
 * transport_tls.c (the transport table over OpenSSL) and tls_bio.c (the
 * batching BIO OpenSSL reads and writes the socket through) share. Built only
 * with TLS=1.
 */
#ifndef EDDY_TLS_TRANSPORT_H
#define EDDY_TLS_TRANSPORT_H

#include <openssl/ssl.h>
#include <stddef.h>
#include <sys/types.h>

#define RECORD        ((size_t)16384) /* TLS's largest plaintext record */
#define BATCH_RECORDS 4               /* records per send() */
#define RECORD_ROOM   (RECORD + 1024) /* a record's ciphertext, with room to spare */
#define MAX_PIECES    16              /* records of a batch (small ones included) */

enum {
    S_FAILED = 1u << 0,    /* a fatal error: no close_notify, no more SSL calls but free */
    S_EOF = 1u << 1,       /* the peer's end of input was read */
    S_SHUT = 1u << 2,      /* our close_notify was sent (or attempted) */
    S_HANDSHAKE = 1u << 3, /* the handshake finished */
    S_BIO_EOF = 1u << 4,   /* our BIO read the socket's end of input */
    S_OWN_BIO = 1u << 5,   /* our BIO, not OpenSSL's socket BIO: writes are batched */
};

/* The thread's batch: records encrypted by one write, before their send(). */
struct batch {
    size_t len;               /* ciphertext bytes in out */
    int n;                    /* records in it */
    size_t end[MAX_PIECES];   /* where each record's ciphertext ends in out */
    size_t plain[MAX_PIECES]; /* the caller's bytes in each */
    char out[BATCH_RECORDS * RECORD_ROOM];
    char file[BATCH_RECORDS * RECORD]; /* a file range read for the batch */
};

/* The descriptor's own calls: the kernel's, or ustack's (eddy_transport_tls_ustack,
 * whose descriptors are no kernel ones). Each answers as the system call does (-1 and
 * errno); send never raises SIGPIPE. */
struct eddy__tls_io {
    ssize_t (*send)(int fd, const void *p, size_t len);
    ssize_t (*read)(int fd, void *p, size_t len);
    int (*shutdown)(int fd, int how);
    int (*close)(int fd);
    int (*set_nodelay)(int fd, int on); /* 0 or -errno */
};
extern const struct eddy__tls_io eddy__tls_kernel_io;

struct tls_state {
    SSL *ssl;
    int fd;
    const struct eddy__tls_io *io;
    unsigned flags;
    size_t inflight;     /* bytes of a write that returned WANT_WRITE, to offer again */
    struct batch *batch; /* while a batched write runs, else NULL */
    char *pend;          /* ciphertext the socket did not take yet */
    size_t pend_len;
    size_t held; /* the caller's bytes whose records are in pend */
};

/* Sends what it can of p[0..len) on s->fd, retrying EINTR: send()'s answer. */
ssize_t eddy__tls_send_some(const struct tls_state *s, const char *p, size_t len);
/* Sends what it can of s->pend: 0 once it is all out, -EAGAIN, or -errno. */
int eddy__tls_pend_flush(struct tls_state *s);
/* Appends p[0..len) to s->pend: 0 or -ENOMEM. */
int eddy__tls_pend_add(struct tls_state *s, const char *p, size_t len);
/* Puts our BIO under s->ssl (instead of the socket BIO SSL_set_fd made): 1,
 * or 0 when OpenSSL's stays (a kernel socket where kTLS is possible, or out of
 * memory). A ustack socket (s->io not the kernel's) always gets ours. */
int eddy__tls_use_bio(struct tls_state *s);
/* The calling thread's batch buffer (made on first use, freed at thread
 * exit); NULL when out of memory. */
struct batch *eddy__tls_thread_batch(void);

#endif
