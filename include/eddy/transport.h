/*
 * transport: how a tcp_connection moves bytes. A connection never calls the
 * socket API itself; it holds one struct eddy_transport (by value) and goes
 * through the instance's const table of operations, in the manner of nginx's
 * c->recv/c->send/c->send_chain and redis's ConnectionType. Transports:
 *
 *   socket   kernel TCP (or Unix) sockets: readv, send/sendmsg with MSG_MORE,
 *            sendfile, shutdown, close (src/net/transport_socket.c)
 *   memory   two ends joined in memory, for tests: scripted short reads and
 *            writes, EAGAIN, EOF and reset at chosen points (transport_mem.h)
 *   tls      OpenSSL over a kernel socket (branch tls)
 *   ustack   eddy's own TCP stack; its descriptors are uepoll descriptors
 *            (branch ustack)
 *
 * One instance per connection. `fd` is what the loop watches: a kernel
 * descriptor, or a uepoll descriptor for a transport whose fd_kind says so
 * (it then only works on a loop whose dispatcher speaks uepoll). `state` is
 * the transport's own per-connection data (TLS: its SSL object; memory: its
 * end of the pair); the socket transport has none. Everything about an
 * instance belongs to the owner loop's thread.
 *
 * Creating instances. A descriptor becomes a transport instance through the
 * ops' `open`, given the per-listener (or per-client) `arg` that was chosen
 * together with the ops: a tcp_server listener takes (ops, arg) in
 * eddy_tcp_server_listen_transport (plain eddy_tcp_server_listen means the
 * socket transport), the acceptor accepts a kernel fd and the server calls
 * ops->open(t, fd, arg, EDDY_TRANSPORT_ACCEPTED) before the connection
 * exists. An outgoing connection opens with EDDY_TRANSPORT_CONNECTED once its
 * connect finished. A ready-made instance (a memory end, a ustack socket) is
 * handed to a server with eddy_tcp_server_adopt or to a loop with
 * eddy_tcp_connection_adopt (tcp_server.h, tcp_connection.h).
 *
 * Errors. Every operation returns a negative errno on failure, never -1 with
 * errno, and retries EINTR itself. -EAGAIN means "nothing can move now, wait
 * for readiness": for read/readv that is read readiness of `fd`, for
 * write/writev/send_file write readiness, unless the op set `want` (below).
 * A peer that reset gives -ECONNRESET (or -EPIPE on a write); any error other
 * than -EAGAIN ends the connection: tcp_connection closes it and calls no
 * other op but close. Transports never raise SIGPIPE in the caller.
 *
 * Readiness the op waits for (`want`). An op that returns -EAGAIN because it
 * needs the *other* direction to progress sets t->want before returning: a
 * TLS read that must first flush a record (SSL_ERROR_WANT_WRITE) sets
 * EDDY_EV_WRITE, a TLS write in the middle of a renegotiation, or a memory end
 * whose peer's window is full, sets EDDY_EV_READ. tcp_connection then watches
 * that readiness instead and retries the same op when it fires. An op that
 * returns anything else, or -EAGAIN for its natural readiness, leaves want 0
 * (tcp_connection clears it before each call).
 *
 * Edge-triggered loops. A transport may hold bytes of its own (a TLS record
 * decrypted ahead, a user-space socket's receive queue): `pending` reports
 * them, and tcp_connection keeps reading while it is non-zero, also after
 * the fd stopped reporting readiness (no new fd event will come for bytes
 * that already left the kernel). Reads and writes are otherwise driven by the
 * fd, level- or edge-triggered, exactly as for a socket.
 */
#ifndef EDDY_TRANSPORT_H
#define EDDY_TRANSPORT_H

#include <stddef.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

#ifdef __cplusplus
extern "C" {
#endif

struct eddy_transport;

/* open() flags: which side of the connection this end is. */
enum {
    EDDY_TRANSPORT_ACCEPTED = 1 << 0,  /* from accept: the server side (TLS: SSL_accept) */
    EDDY_TRANSPORT_CONNECTED = 1 << 1, /* from connect: the client side (TLS: SSL_connect) */
};

/* write/writev/send_file flags. */
enum {
    /* More bytes follow at once (the rest of the queue, or the FIN of a close):
     * hold them back to share a segment, as MSG_MORE / TCP_CORK do. A hint. */
    EDDY_TRANSPORT_MORE = 1 << 0,
    /* send_file only: keep sending until len is done or the transport is full
     * (-EAGAIN after progress is reported as the progress). Set on
     * edge-triggered loops, which must see EAGAIN to get a new edge. Without
     * it the op may stop after one short transfer. */
    EDDY_TRANSPORT_ALL = 1 << 1,
};

/* ops->caps bits. */
enum {
    /* close() releases `fd` at once and nothing else refers to it, so a kernel
     * epoll forgets the registration by itself: tcp_connection skips the
     * EPOLL_CTL_DEL before close. */
    EDDY_TRANSPORT_CLOSE_FORGETS = 1 << 0,
    /* fd is a uepoll descriptor (ue_*), not a kernel one: only a loop on the
     * uepoll dispatcher can watch it. */
    EDDY_TRANSPORT_FD_UEPOLL = 1 << 1,
    /* readv is readv(2) on the kernel descriptor fd and writev is send or
     * sendmsg on it with MSG_NOSIGNAL (MSG_MORE for EDDY_TRANSPORT_MORE), both
     * retried on EINTR, as eddy_transport_socket's: the connection's hot path
     * then makes those syscalls itself instead of the indirect calls. A table
     * copied from one with this bit that replaces readv or writev must clear it. */
    EDDY_TRANSPORT_PLAIN_SOCKET = 1 << 2,
    /* fd is a kernel TCP socket (under TLS records or not), so TCP socket options apply
     * to it: tcp_connection sets the file-output TCP_NOTSENT_LOWAT on it. */
    EDDY_TRANSPORT_TCP_FD = 1 << 3,
};

struct eddy_transport_ops {
    const char *name; /* "socket", "memory", "tls", "ustack" */
    unsigned caps;    /* EDDY_TRANSPORT_* caps bits */

    /* Makes t an instance over descriptor fd (accepted or connected, see the
     * flags), with arg as chosen with the ops (TLS: its eddy_tls_context).
     * Sets t->fd and t->state (t->ops is already set). Takes ownership of fd
     * in every case: on failure it has closed fd and returns -errno. NULL for
     * transports whose instances are made by their own constructor (memory). */
    int (*open)(struct eddy_transport *t, int fd, void *arg, unsigned flags);

    /* Reads into iov[0..n) in order, filling each before the next. Bytes read
     * (> 0), 0 at the peer's end of input (for good: later calls return 0
     * again), -EAGAIN when nothing is there now, -errno. */
    ssize_t (*readv)(struct eddy_transport *t, const struct iovec *iov, int n);

    /* Writes from iov[0..n) in order. Bytes taken (>= 1, possibly fewer than
     * offered: a short write), -EAGAIN when nothing fits now, -errno. flags:
     * EDDY_TRANSPORT_MORE. Bytes taken are the transport's to deliver: a
     * close after them still sends them (TLS: encrypted and queued in the
     * kernel). */
    ssize_t (*writev)(struct eddy_transport *t, const struct iovec *iov, int n, unsigned flags);

    /* Optional: sends len bytes of the regular file `fd` from *offset,
     * advancing *offset by what was sent. Bytes sent (> 0), -EAGAIN, -errno;
     * 0 when the file ends before len (the caller treats that as a broken
     * stream). -EOPNOTSUPP for a file this path cannot send (sendfile's EINVAL
     * on a file that cannot be mapped): the caller then sends that range by
     * the generic path. NULL: always the generic path, pread into a buffer
     * and writev, which is what TLS and memory use. flags: EDDY_TRANSPORT_*. */
    ssize_t (*send_file)(struct eddy_transport *t, int fd, off_t *offset, size_t len,
                         unsigned flags);

    /* Ends our direction once everything taken was sent (TCP: FIN; TLS:
     * close_notify then FIN). Reads go on. 0 or -errno. Called at most once. */
    int (*shutdown_write)(struct eddy_transport *t);

    /* Releases everything: frees state and closes fd (the loop has already
     * stopped watching it, or relies on EDDY_TRANSPORT_CLOSE_FORGETS). Bytes
     * taken and not yet sent may be lost or, if input was left unread, the
     * peer may see a reset: callers that care drain and shut down first. Must
     * not fail; called exactly once per opened instance, also after an error. */
    void (*close)(struct eddy_transport *t);

    /* Optional: bytes already received and held inside the transport that a
     * readv would return without waiting for the fd (decrypted TLS records,
     * a user-space socket's receive queue, a memory end's input). NULL: 0
     * (the kernel socket: its bytes always make the fd readable). */
    size_t (*pending)(const struct eddy_transport *t);

    /* Optional: the step before the connection is usable (TLS handshake).
     * Called before on_connected and again whenever the readiness it asked
     * for fires. Returns 0 when done (then on_connected runs), EDDY_EV_READ or
     * EDDY_EV_WRITE (from eddy/channel.h) for the readiness it waits for, or
     * -errno (the connection closes; on_connected and on_close are not
     * called, as for a connection that was never accepted). NULL: none. */
    int (*handshake)(struct eddy_transport *t);

    /* Optional: TCP_NODELAY on (1) or off (0). 0 or -errno. NULL: nothing to
     * set (memory). */
    int (*set_nodelay)(struct eddy_transport *t, int on);
};

/* One per connection, embedded by value in it. */
struct eddy_transport {
    const struct eddy_transport_ops *ops;
    int fd;      /* what the loop watches (kernel or uepoll descriptor, see caps) */
    int want;    /* set by an op that returned -EAGAIN waiting for the other readiness */
    void *state; /* the transport's per-connection data; NULL for sockets */
};

/* Kernel sockets: open() wraps an accepted or connected socket; arg unused. */
extern const struct eddy_transport_ops eddy_transport_socket;

/* Process-wide, any thread: the application tells the socket transport that
 * SIGPIPE is ignored (signal(SIGPIPE, SIG_IGN)) and will stay ignored, so
 * send_file need not block SIGPIPE around sendfile (which has no
 * MSG_NOSIGNAL): two rt_sigprocmask fewer per file range. on 1: 0, or
 * -EINVAL when SIGPIPE is not ignored now (the guard stays). on 0: 0, the
 * guard is back (call it before giving SIGPIPE a handler or SIG_DFL again). */
int eddy_transport_socket_sigpipe_ignored(int on);

/* Process-wide, any thread: the socket transport's send_file sends at most bytes per
 * sendfile call and, on a level-triggered loop (no EDDY_TRANSPORT_ALL), returns after
 * each, so connections sending large files take turns through the loop (lighttpd
 * writes 256 KiB per turn). Costs syscalls (sendfile, epoll_ctl, epoll_wait per
 * chunk); docs/BENCHMARKS.md has the measurements. 0 (the default): the whole range. */
void eddy_transport_socket_set_file_chunk(size_t bytes);

/* Process-wide, any thread: TCP_NOTSENT_LOWAT of bytes, set once on a connection whose
 * transport has EDDY_TRANSPORT_TCP_FD (plain sockets and TLS over them), before its first
 * file range goes out. Without it the kernel takes megabytes of a
 * large file at once and sends them as the peer's window opens, so on loopback the
 * reader's own CPU transmits them; with it the server's sends follow the reader's pace and
 * the reader spends less per byte (docs/BENCHMARKS.md, files). 0 (the default): not set. */
void eddy_transport_socket_set_file_lowat(size_t bytes);

/* Process-wide, any thread: the file-output TCP_NOTSENT_LOWAT is set only at a connection's
 * first file range of at least bytes; shorter ones leave the socket as it is. The lowat
 * moves TCP work from the reader to the sender (on loopback both halves run on the sender's
 * CPU when it sends, on the reader's when an acknowledgement releases queued bytes), so the
 * sender pays for it on every range it bounds. 0 (the default): every range. */
void eddy_transport_socket_set_file_lowat_min(size_t bytes);

/* Process-wide, any thread: file ranges of at least bytes sent on a kernel socket are read
 * into a 64 KiB buffer and sent (pread + send) instead of sendfile: the reader then copies
 * from freshly written socket pages rather than from a page cache larger than the CPU
 * caches, at the cost of the server's copy. 0 (the default): always sendfile. */
void eddy_transport_socket_set_file_copy_min(size_t bytes);

/* Owner thread. Makes t an instance of ops over fd (see open); ops NULL means
 * eddy_transport_socket. 0 or -errno (fd is then closed). */
int eddy_transport_open(struct eddy_transport *t, const struct eddy_transport_ops *ops, int fd,
                        void *arg, unsigned flags);

/* Convenience wrappers: clear want, then call the op. */
static inline ssize_t eddy_transport_readv(struct eddy_transport *t, const struct iovec *iov, int n)
{
    t->want = 0;
    return t->ops->readv(t, iov, n);
}
static inline ssize_t eddy_transport_writev(struct eddy_transport *t, const struct iovec *iov,
                                            int n, unsigned flags)
{
    t->want = 0;
    return t->ops->writev(t, iov, n, flags);
}
static inline ssize_t eddy_transport_write(struct eddy_transport *t, const void *p, size_t len,
                                           unsigned flags)
{
    struct iovec v = {(void *)p, len};
    return eddy_transport_writev(t, &v, 1, flags);
}
static inline size_t eddy_transport_pending(const struct eddy_transport *t)
{
    return t->ops->pending ? t->ops->pending(t) : 0;
}

#ifdef __cplusplus
}
#endif

#endif
