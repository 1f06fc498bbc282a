/*
 * ue_socketpair(AF_UNIX, SOCK_STREAM): two connected stream sockets in memory, so
 * half-close, RDHUP and HUP can be exercised without a network.
 *
 * As in net/unix/af_unix.c, shutting down one end's send side shuts the peer's receive
 * side, and closing an end shuts both sides of the peer. unix_poll reports HUP when
 * both sides of this end are shut, IN|RDNORM|RDHUP once its receive side is, IN with
 * data, OUT while the peer's buffer has room (or our send side is shut). A write to a
 * peer that is gone or that stopped receiving is EPIPE with SIGPIPE.
 *
 * Lock: one mutex per pair, a leaf (wake-ups happen after it is dropped).
 */
#include "tcp.h"

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>

#define UNIX_BUF 212992u /* Linux's default wmem for a stream pair */

struct unix_pair;
struct unix_end {
    struct unix_pair *pair;
    struct ue_waitqueue wq;
    struct us_ring *rcv; /* bytes written by the peer */
    uint8_t shut;
    int open;
};
struct unix_pair {
    pthread_mutex_t mu;
    struct unix_end end[2];
};

static struct unix_end *peer_of(struct unix_end *e)
{
    return &e->pair->end[e == &e->pair->end[0]];
}

static void unix_wake(struct unix_end *e, uint32_t key)
{
    if (eddy__ue_wq_active(&e->wq))
        eddy__ue_wake_up(&e->wq, key ? 1 : 0, key);
}

static uint32_t unix_poll(struct ue_file *f, struct ue_poll_table *pt, int depth)
{
    struct unix_end *e = f->priv;
    (void)depth;
    ue_poll_wait(f, &e->wq, pt);
    pthread_mutex_lock(&e->pair->mu);
    struct unix_end *p = peer_of(e);
    uint32_t mask = 0;
    if (e->shut == (RCV_SHUTDOWN | SEND_SHUTDOWN))
        mask |= EPOLLHUP;
    if (e->shut & RCV_SHUTDOWN)
        mask |= EPOLLIN | EPOLLRDNORM | EPOLLRDHUP;
    if (us_ring_len(e->rcv))
        mask |= EPOLLIN | EPOLLRDNORM;
    if ((e->shut & SEND_SHUTDOWN) || us_ring_len(p->rcv) < UNIX_BUF)
        mask |= EPOLLOUT | EPOLLWRNORM | EPOLLWRBAND;
    pthread_mutex_unlock(&e->pair->mu);
    return mask;
}

static void unix_wait(struct unix_end *e, int for_read)
{
    struct ue_waiter w;
    eddy__ue_waiter_init(&w, eddy__ue_waiter_wake_ifwoken);
    for (;;) {
        eddy__ue_prepare_to_wait(&e->wq, &w, 0);
        pthread_mutex_lock(&e->pair->mu);
        struct unix_end *p = peer_of(e);
        int ok = for_read ? us_ring_len(e->rcv) || (e->shut & RCV_SHUTDOWN)
                          : us_ring_len(p->rcv) < UNIX_BUF || (e->shut & SEND_SHUTDOWN) ||
                                (p->shut & RCV_SHUTDOWN);
        pthread_mutex_unlock(&e->pair->mu);
        if (ok)
            break;
        eddy__ue_waiter_sleep(&w, NULL);
    }
    eddy__ue_finish_wait(&e->wq, &w);
}

static ssize_t unix_read(struct ue_file *f, const struct ue_io *io, size_t n)
{
    struct unix_end *e = f->priv;
    for (;;) {
        pthread_mutex_lock(&e->pair->mu);
        uint32_t have = us_ring_len(e->rcv);
        ssize_t r = -EAGAIN;
        uint32_t take = n < have ? (uint32_t)n : have;
        if (take && !eddy__ue_io_ok(io, 0, take))
            take = (uint32_t)io->valid;
        if (have && n && !take) {
            r = -EFAULT;
        } else if (have && n) {
            eddy__us_ring_peek_io(e->rcv, io, take);
            eddy__us_ring_drop(&e->rcv, take);
            r = take;
        } else if (!n || (e->shut & RCV_SHUTDOWN)) {
            r = 0;
        }
        pthread_mutex_unlock(&e->pair->mu);
        if (r > 0)
            unix_wake(peer_of(e), EPOLLOUT | EPOLLWRNORM | EPOLLWRBAND);
        if (r != -EAGAIN || (f->flags & O_NONBLOCK))
            return r;
        unix_wait(e, 1);
    }
}

static ssize_t unix_write(struct ue_file *f, const struct ue_io *io, size_t n)
{
    struct unix_end *e = f->priv;
    for (;;) {
        pthread_mutex_lock(&e->pair->mu);
        struct unix_end *p = peer_of(e);
        ssize_t r = -EAGAIN;
        if ((e->shut & SEND_SHUTDOWN) || (p->shut & RCV_SHUTDOWN) || !p->open)
            r = -EPIPE;
        else if (!n)
            r = 0;
        else if (!io->valid)
            r = -EFAULT;
        else if (us_ring_len(p->rcv) < UNIX_BUF)
            r = eddy__us_ring_put_io(&p->rcv, io,
                                     n > io->valid  ? (uint32_t)io->valid
                                     : n > UNIX_BUF ? UNIX_BUF
                                                    : (uint32_t)n,
                                     UNIX_BUF);
        pthread_mutex_unlock(&e->pair->mu);
        if (r > 0)
            unix_wake(p, EPOLLIN | EPOLLRDNORM | EPOLLRDBAND);
        if (r == -EPIPE)
            pthread_kill(pthread_self(), SIGPIPE);
        if (r != -EAGAIN || (f->flags & O_NONBLOCK))
            return r;
        unix_wait(e, 0);
    }
}

int eddy__us_unix_shutdown(struct ue_file *f, int how)
{
    struct unix_end *e = f->priv;
    int mask = how + 1;
    pthread_mutex_lock(&e->pair->mu);
    struct unix_end *p = peer_of(e);
    e->shut |= (uint8_t)mask;
    if (p->open) { /* our send side is the peer's receive side and vice versa */
        if (mask & SEND_SHUTDOWN)
            p->shut |= RCV_SHUTDOWN;
        if (mask & RCV_SHUTDOWN)
            p->shut |= SEND_SHUTDOWN;
    }
    pthread_mutex_unlock(&e->pair->mu);
    unix_wake(e, 0);
    unix_wake(p, 0);
    return 0;
}

int eddy__us_put_int(void *val, socklen_t *len, int v);
int eddy__us_unix_getsockopt(struct ue_file *f, int level, int name, void *val, socklen_t *len);
int eddy__us_unix_getsockopt(struct ue_file *f, int level, int name, void *val, socklen_t *len)
{
    (void)f;
    if (level != SOL_SOCKET)
        return -EOPNOTSUPP;
    int v;
    if (name == SO_ERROR)
        v = 0;
    else if (name == SO_TYPE)
        v = SOCK_STREAM;
    else if (name == SO_SNDBUF || name == SO_RCVBUF)
        v = (int)UNIX_BUF;
    else
        return -ENOPROTOOPT;
    return eddy__us_put_int(val, len, v);
}

static void unix_release(struct ue_file *f)
{
    struct unix_end *e = f->priv;
    struct unix_pair *pair = e->pair;
    pthread_mutex_lock(&pair->mu);
    struct unix_end *p = peer_of(e);
    e->open = 0;
    e->shut = RCV_SHUTDOWN | SEND_SHUTDOWN;
    eddy__us_ring_drop(&e->rcv, UINT32_MAX);
    int last = !p->open;
    if (!last)
        p->shut = RCV_SHUTDOWN | SEND_SHUTDOWN;
    pthread_mutex_unlock(&pair->mu);
    if (!last) {
        unix_wake(p, 0);
        return;
    }
    eddy__us_ring_drop(&p->rcv, UINT32_MAX);
    eddy__ue_wq_destroy(&pair->end[0].wq);
    eddy__ue_wq_destroy(&pair->end[1].wq);
    pthread_mutex_destroy(&pair->mu);
    free(pair);
}

const struct ue_file_ops eddy__us_unix_fops = {
    .poll = unix_poll, .read = unix_read, .write = unix_write, .release = unix_release};

int ue_socketpair(int domain, int type, int protocol, int sv[2])
{
    int base = type & ~(SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (domain != AF_UNIX)
        return eddy__ue_fail(EAFNOSUPPORT);
    if (base != SOCK_STREAM)
        return eddy__ue_fail(EOPNOTSUPP);
    if (protocol != 0)
        return eddy__ue_fail(EPROTONOSUPPORT);
    if (!sv)
        return eddy__ue_fail(EFAULT);
    struct unix_pair *pair = calloc(1, sizeof(*pair));
    int fd[2] = {-1, -1};
    struct ue_file *f[2] = {NULL, NULL};
    int flags = (type & SOCK_NONBLOCK) ? O_NONBLOCK : 0;
    for (int i = 0; pair && i < 2; i++) {
        fd[i] = eddy__ue_fd_reserve();
        f[i] = fd[i] >= 0 ? eddy__ue_file_alloc(&eddy__us_unix_fops, &pair->end[i],
                                                UE_FMODE_READ | UE_FMODE_WRITE, flags)
                          : NULL;
    }
    if (!pair || !f[0] || !f[1]) {
        int err = !pair ? ENOMEM : fd[0] < 0 || fd[1] < 0 ? EMFILE : ENOMEM;
        for (int i = 0; i < 2; i++) {
            eddy__ue_file_discard(f[i]);
            if (fd[i] >= 0)
                eddy__ue_fd_unreserve(fd[i]);
        }
        free(pair);
        return eddy__ue_fail(err);
    }
    pthread_mutex_init(&pair->mu, NULL);
    for (int i = 0; i < 2; i++) {
        pair->end[i].pair = pair;
        pair->end[i].open = 1;
        eddy__ue_wq_init(&pair->end[i].wq);
        eddy__ue_fd_install(fd[i], f[i]);
        sv[i] = fd[i];
    }
    return 0;
}
