/*
 * transport_socket: the kernel-socket transport, the only place where a
 * connection's descriptor meets the socket API. Each op is one syscall on the
 * hot path (readv, send, sendmsg for several buffers, sendfile), so a request
 * costs the same syscalls as before the transport layer existed.
 */
#include "eddy/transport.h"

#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "eddy/inet.h"
#include "net_internal.h"
#include "socket_io.h"

#define MAX_CHUNK ((size_t)1 << 30)

int eddy__transport_fd_open(struct eddy_transport *t, int fd, void *arg, unsigned flags)
{
    (void)arg;
    (void)flags;
    t->fd = fd;
    t->state = NULL;
    return 0;
}

static ssize_t sock_readv(struct eddy_transport *t, const struct iovec *iov, int n)
{
    return eddy__sock_readv(t->fd, iov, n);
}

static ssize_t sock_writev(struct eddy_transport *t, const struct iovec *iov, int n, unsigned flags)
{
    return eddy__sock_writev(t->fd, iov, n, flags);
}

/* sendfile, unlike send, has no MSG_NOSIGNAL: a peer reset raises SIGPIPE in
 * the calling thread. The library must not depend on the application
 * ignoring SIGPIPE, so it is blocked around sendfile and a SIGPIPE we caused
 * is consumed before the mask is restored. */
struct pipe_guard {
    sigset_t old;
    int on;
};

/* Set by eddy_transport_socket_sigpipe_ignored: the application ignores
 * SIGPIPE process-wide, so sendfile cannot raise it and the guard (two
 * rt_sigprocmask per file range) is skipped. */
static atomic_int sigpipe_ignored;
/* eddy_transport_socket_set_file_chunk: bytes per sendfile call, 0 for no cap. */
static atomic_size_t file_chunk;

void eddy_transport_socket_set_file_chunk(size_t bytes)
{
    atomic_store_explicit(&file_chunk, bytes, memory_order_relaxed);
}

/* eddy_transport_socket_set_file_lowat / _set_file_copy_min: 0 for off. */
static atomic_size_t file_lowat, file_lowat_min, file_copy_min;

void eddy_transport_socket_set_file_lowat(size_t bytes)
{
    atomic_store_explicit(&file_lowat, bytes, memory_order_relaxed);
}

void eddy_transport_socket_set_file_lowat_min(size_t bytes)
{
    atomic_store_explicit(&file_lowat_min, bytes, memory_order_relaxed);
}

void eddy_transport_socket_set_file_copy_min(size_t bytes)
{
    atomic_store_explicit(&file_copy_min, bytes, memory_order_relaxed);
}

int eddy__transport_socket_file_copy(size_t len)
{
    size_t min = atomic_load_explicit(&file_copy_min, memory_order_relaxed);

    return min > 0 && len >= min;
}

int eddy__transport_socket_file_start(int fd, size_t len)
{
    size_t v = atomic_load_explicit(&file_lowat, memory_order_relaxed);
    int lowat = v > INT_MAX ? INT_MAX : (int)v;

    if (len < atomic_load_explicit(&file_lowat_min, memory_order_relaxed))
        return 0;
    /* Best effort: without it the bytes still go, only at the reader's expense. */
    if (lowat > 0)
        (void)setsockopt(fd, IPPROTO_TCP, TCP_NOTSENT_LOWAT, &lowat, sizeof lowat);
    return 1;
}

int eddy_transport_socket_sigpipe_ignored(int on)
{
    struct sigaction sa;

    if (!on) {
        atomic_store_explicit(&sigpipe_ignored, 0, memory_order_relaxed);
        return 0;
    }
    if (sigaction(SIGPIPE, NULL, &sa) < 0)
        return -errno;
    if (sa.sa_handler != SIG_IGN)
        return -EINVAL;
    atomic_store_explicit(&sigpipe_ignored, 1, memory_order_relaxed);
    return 0;
}

static void pipe_guard_on(struct pipe_guard *g)
{
    sigset_t s;

    g->on = !atomic_load_explicit(&sigpipe_ignored, memory_order_relaxed);
    if (!g->on)
        return;
    sigemptyset(&s);
    sigaddset(&s, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &s, &g->old);
}

static void pipe_guard_off(struct pipe_guard *g, int got_epipe)
{
    if (!g->on)
        return;
    if (got_epipe && !sigismember(&g->old, SIGPIPE)) {
        sigset_t s;
        struct timespec zero = {0, 0};

        sigemptyset(&s);
        sigaddset(&s, SIGPIPE);
        while (sigtimedwait(&s, NULL, &zero) == SIGPIPE)
            ;
    }
    pthread_sigmask(SIG_SETMASK, &g->old, NULL);
}

/* One guard around the whole burst, so an edge-triggered loop that sends until
 * EAGAIN pays the two sigprocmask calls once per range, not per chunk. */
static ssize_t sock_send_file(struct eddy_transport *t, int fd, off_t *offset, size_t len,
                              unsigned flags)
{
    struct pipe_guard g;
    size_t done = 0, chunk = atomic_load_explicit(&file_chunk, memory_order_relaxed);
    ssize_t n = 0;

    pipe_guard_on(&g);
    while (done < len) {
        size_t cap = chunk ? chunk : MAX_CHUNK, want = len - done < cap ? len - done : cap;

        do
            n = sendfile(t->fd, fd, offset, want);
        while (n < 0 && errno == EINTR);
        if (n < 0)
            n = errno == EINVAL || errno == ENOSYS ? -EOPNOTSUPP : -errno;
        if (n <= 0)
            break;
        done += (size_t)n;
        /* A capped chunk hands the loop back even when it all went (level-triggered). */
        if (((size_t)n < want || chunk) && !(flags & EDDY_TRANSPORT_ALL))
            break;
    }
    pipe_guard_off(&g, n == -EPIPE);
    if (done > 0)
        return (ssize_t)done;
    return n;
}

static int sock_shutdown_write(struct eddy_transport *t)
{
    return shutdown(t->fd, SHUT_WR) < 0 ? -errno : 0;
}

static void sock_close(struct eddy_transport *t)
{
    if (t->fd >= 0)
        close(t->fd);
    t->fd = -1;
}

static int sock_set_nodelay(struct eddy_transport *t, int on)
{
    return eddy_socket_set_nodelay(t->fd, on);
}

const struct eddy_transport_ops eddy_transport_socket = {
    .name = "socket",
    .caps = EDDY_TRANSPORT_CLOSE_FORGETS | EDDY_TRANSPORT_PLAIN_SOCKET | EDDY_TRANSPORT_TCP_FD,
    .open = eddy__transport_fd_open,
    .readv = sock_readv,
    .writev = sock_writev,
    .send_file = sock_send_file,
    .shutdown_write = sock_shutdown_write,
    .close = sock_close,
    .pending = NULL,
    .handshake = NULL,
    .set_nodelay = sock_set_nodelay,
};

int eddy_transport_open(struct eddy_transport *t, const struct eddy_transport_ops *ops, int fd,
                        void *arg, unsigned flags)
{
    if (ops == NULL)
        ops = &eddy_transport_socket;
    t->ops = ops;
    t->fd = -1;
    t->want = 0;
    t->state = NULL;
    if (ops->open == eddy__transport_fd_open) /* every accept: a direct call */
        return eddy__transport_fd_open(t, fd, arg, flags);
    if (ops->open == NULL) {
        if (fd >= 0)
            close(fd);
        return -EINVAL;
    }
    return ops->open(t, fd, arg, flags);
}
