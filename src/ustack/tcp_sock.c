/*
 * TCP sockets as uepoll files: the file operations (poll, read, write, release), the
 * wake-ups, and the calls that create and connect sockets.
 *
 * tcp_poll computes the mask from the TCP state exactly where Linux's tcp_poll does:
 * HUP when both directions are shut or the socket is CLOSED; IN|RDNORM|RDHUP once the
 * receive side is shut (FIN, reset, shutdown); IN|RDNORM with data or, on a listener,
 * a connection to accept; OUT|WRNORM when a third of the send buffer is free (or the
 * send side is shut, so a write fails at once), never in SYN-SENT; ERR with a pending
 * error. The stack wakes the wait queue where Linux's sk callbacks run:
 *
 *   sk_data_ready    data or a FIN arrived; a connection entered the accept queue
 *   sk_write_space   ACKed bytes freed send space a writer was waiting for
 *   sk_state_change  connect completed, FIN received, our FIN acked, reset, done
 */
#include "tcp.h"

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>

int eddy__us_sock_wait(struct us_sock *sk, int (*ready)(struct us_sock *));
struct us_sock *eddy__us_sock_get(int fd, struct ue_file **fp);

static uint32_t tcp_poll(struct ue_file *f, struct ue_poll_table *pt, int depth);
static ssize_t tcp_read(struct ue_file *f, const struct ue_io *io, size_t n);
static ssize_t tcp_write(struct ue_file *f, const struct ue_io *io, size_t n);
static void tcp_release(struct ue_file *f);

const struct ue_file_ops eddy__us_tcp_fops = {
    .poll = tcp_poll, .read = tcp_read, .write = tcp_write, .release = tcp_release};

void eddy__us_wake(struct us_sock *sk, uint32_t key)
{
    if (eddy__ue_wq_active(&sk->wq))
        eddy__ue_wake_up(&sk->wq, key ? 1 : 0, key);
}

/* sk_stream_is_writeable: free space at least half of what is queued. */
static int sk_writeable(const struct us_sock *sk)
{
    uint32_t q = us_ring_len(sk->snd);
    return sk->sndbuf > q && sk->sndbuf - q >= q / 2;
}

void eddy__us_write_space(struct us_sock *sk)
{
    if (!(sk->fl & SKF_NOSPACE) || !sk_writeable(sk))
        return;
    sk->fl &= ~SKF_NOSPACE;
    eddy__us_wake(sk, EPOLLOUT | EPOLLWRNORM | EPOLLWRBAND);
}

void eddy__us_accept_enqueue(struct us_sock *sk)
{
    struct us_sock *l = sk->parent;
    struct us_listen *q = l->lst;
    if (q->syn_count)
        q->syn_count--;
    sk->fl |= SKF_ACCEPTQ;
    sk->aq_next = NULL;
    if (q->aq_tail)
        q->aq_tail->aq_next = sk;
    else
        q->aq_head = sk;
    q->aq_tail = sk;
    q->aq_len++;
    eddy__us_wake(l, EPOLLIN | EPOLLRDNORM);
}

static uint32_t tcp_poll_locked(struct us_sock *sk)
{
    if (sk->state == TCPS_LISTEN)
        return sk->lst->aq_head ? EPOLLIN | EPOLLRDNORM : 0;
    uint32_t mask = 0;
    if (sk->shut == (RCV_SHUTDOWN | SEND_SHUTDOWN) || sk->state == TCPS_CLOSED)
        mask |= EPOLLHUP;
    if (sk->shut & RCV_SHUTDOWN)
        mask |= EPOLLIN | EPOLLRDNORM | EPOLLRDHUP;
    if (sk->state != TCPS_SYN_SENT && sk->state != TCPS_SYN_RECV) {
        if (us_ring_len(sk->rcv))
            mask |= EPOLLIN | EPOLLRDNORM;
        if (sk->shut & SEND_SHUTDOWN || sk_writeable(sk))
            mask |= EPOLLOUT | EPOLLWRNORM;
        else
            sk->fl |= SKF_NOSPACE;
    }
    if (sk->err)
        mask |= EPOLLERR;
    return mask;
}

static uint32_t tcp_poll(struct ue_file *f, struct ue_poll_table *pt, int depth)
{
    struct us_sock *sk = f->priv;
    (void)depth;
    ue_poll_wait(f, &sk->wq, pt); /* hook first, then look: no lost wake-up */
    pthread_mutex_lock(&sk->st->lock);
    uint32_t mask = tcp_poll_locked(sk);
    pthread_mutex_unlock(&sk->st->lock);
    return mask;
}

/* Called with st->lock held; returns with it held. 0 once ready(sk), else -EINTR. */
int eddy__us_sock_wait(struct us_sock *sk, int (*ready)(struct us_sock *))
{
    struct ue_waiter w;
    eddy__ue_waiter_init(&w, eddy__ue_waiter_wake_ifwoken);
    int r = 0;
    while (!ready(sk)) {
        eddy__ue_prepare_to_wait(&sk->wq, &w, 0);
        if (ready(sk))
            break;
        pthread_mutex_unlock(&sk->st->lock);
        eddy__ue_wake_flush();
        r = eddy__ue_waiter_sleep(&w, NULL);
        pthread_mutex_lock(&sk->st->lock);
        if (r == EINTR) {
            r = -EINTR;
            break;
        }
        r = 0;
    }
    eddy__ue_finish_wait(&sk->wq, &w);
    return r;
}

static int readable(struct us_sock *sk)
{
    return us_ring_len(sk->rcv) || sk->err || (sk->shut & RCV_SHUTDOWN) ||
           sk->state == TCPS_CLOSED || sk->state == TCPS_LISTEN;
}

/* tcp_cleanup_rbuf: after a read, tell the peer if the window grew enough. */
static void rbuf_cleanup(struct us_sock *sk)
{
    if (sk->state < TCPS_ESTABLISHED || (sk->shut & RCV_SHUTDOWN))
        return;
    uint32_t used = us_ring_len(sk->rcv), space = sk->rcvbuf - used;
    uint32_t cur = SEQ_GT(sk->rcv_adv, sk->rcv_nxt) ? sk->rcv_adv - sk->rcv_nxt : 0;
    if (space >= 2 * cur && space >= cur + sk->mss)
        eddy__us_send_ack(sk);
}

static int sock_error(struct us_sock *sk)
{
    int e = sk->err ? sk->err : sk->err_soft;
    sk->err = 0;
    sk->err_soft = 0;
    return e;
}

/* How much of n bytes the caller's buffer takes before its first fault; -EFAULT if
 * none (the kernel's copy stops at the fault and reports what it copied). */
static ssize_t io_room(const struct ue_io *io, size_t n)
{
    if (eddy__ue_io_ok(io, 0, n))
        return (ssize_t)n;
    return io->valid ? (ssize_t)io->valid : -EFAULT;
}

static ssize_t tcp_read(struct ue_file *f, const struct ue_io *io, size_t n)
{
    struct us_sock *sk = f->priv;
    struct ue_stack *st = sk->st;
    ssize_t r;
    pthread_mutex_lock(&st->lock);
    eddy__us_now_ms(st);
    for (;;) {
        uint32_t have = us_ring_len(sk->rcv);
        if (sk->state == TCPS_LISTEN) {
            r = -ENOTCONN;
        } else if (have && n) {
            uint32_t take = n < have ? (uint32_t)n : have;
            ssize_t room = io_room(io, take);
            if (room < 0) {
                r = room;
                break;
            }
            take = (uint32_t)room;
            eddy__us_ring_peek_io(sk->rcv, io, take);
            eddy__us_ring_drop(&sk->rcv, take);
            rbuf_cleanup(sk);
            r = take;
        } else if (!n) {
            r = 0;
        } else if (sk->err) {
            r = -sock_error(sk);
        } else if (sk->shut & RCV_SHUTDOWN) {
            r = 0;
        } else if (sk->state == TCPS_CLOSED) {
            r = -ENOTCONN;
        } else if (f->flags & O_NONBLOCK) {
            r = -EAGAIN;
        } else if ((r = eddy__us_sock_wait(sk, readable)) == 0) {
            continue;
        }
        break;
    }
    pthread_mutex_unlock(&st->lock);
    return r;
}

static int writable_or_done(struct us_sock *sk)
{
    return sk->err || (sk->shut & SEND_SHUTDOWN) ||
           (sk->state != TCPS_SYN_SENT && sk->state != TCPS_SYN_RECV &&
            us_ring_len(sk->snd) < sk->sndbuf);
}

/* One step of tcp_sendmsg; > 0 bytes queued, 0 to wait, < 0 an error. */
static ssize_t sendmsg_step(struct us_sock *sk, const struct ue_io *io, size_t n)
{
    if (sk->err)
        return -sock_error(sk);
    if (sk->shut & SEND_SHUTDOWN)
        return -EPIPE;
    if (sk->state == TCPS_SYN_SENT || sk->state == TCPS_SYN_RECV)
        return 0;
    if (sk->state != TCPS_ESTABLISHED && sk->state != TCPS_CLOSE_WAIT)
        return -EPIPE;
    if (!n)
        return 0;
    ssize_t room = io_room(io, n);
    if (room < 0)
        return room;
    uint32_t chunk = room > UINT32_MAX / 2 ? UINT32_MAX / 2 : (uint32_t)room;
    uint32_t put = eddy__us_ring_put_io(&sk->snd, io, chunk, sk->sndbuf);
    if (!put) {
        sk->fl |= SKF_NOSPACE;
        return 0;
    }
    eddy__us_tcp_output(sk);
    return put;
}

/* Set around a write that must not raise SIGPIPE (MSG_NOSIGNAL; the transport). */
static _Thread_local int no_sigpipe;

ssize_t eddy__us_writev_nosignal(int fd, const struct iovec *iov, int iovcnt);
ssize_t eddy__us_writev_nosignal(int fd, const struct iovec *iov, int iovcnt)
{
    no_sigpipe = 1;
    ssize_t r = ue_writev(fd, iov, iovcnt);
    no_sigpipe = 0;
    return r;
}

static ssize_t tcp_write(struct ue_file *f, const struct ue_io *io, size_t n)
{
    struct us_sock *sk = f->priv;
    struct ue_stack *st = sk->st;
    ssize_t r;
    pthread_mutex_lock(&st->lock);
    eddy__us_now_ms(st);
    for (;;) {
        r = sendmsg_step(sk, io, n);
        if (r != 0 || !n)
            break;
        if (f->flags & O_NONBLOCK) {
            r = -EAGAIN;
            break;
        }
        if ((r = eddy__us_sock_wait(sk, writable_or_done)) != 0)
            break;
    }
    pthread_mutex_unlock(&st->lock);
    if (r == -EPIPE && !no_sigpipe)
        pthread_kill(pthread_self(), SIGPIPE);
    return r;
}

/* inet_csk_listen_stop: queued children are reset, embryos dropped. */
static void listen_stop(struct us_sock *l)
{
    struct ue_stack *st = l->st;
    while (l->lst->aq_head) {
        struct us_sock *c = l->lst->aq_head;
        l->lst->aq_head = c->aq_next;
        c->fl &= ~SKF_ACCEPTQ;
        c->parent = NULL;
        if (c->state != TCPS_CLOSED)
            eddy__us_send_active_reset(c);
        eddy__us_tcp_done(c, 0); /* no file, off the queue: freed */
    }
    l->lst->aq_tail = NULL;
    l->lst->aq_len = 0;
    for (size_t i = 0; i <= st->conn_mask; i++) {
        struct us_sock *c = st->conns[i];
        while (c) {
            struct us_sock *next = c->hnext;
            if (c->parent == l)
                eddy__us_tcp_done(c, 0);
            c = next;
        }
    }
}

/* tcp_close */
static void tcp_close_locked(struct us_sock *sk)
{
    sk->file = NULL;
    sk->fl |= SKF_ORPHAN;
    if (sk->state == TCPS_LISTEN) {
        listen_stop(sk);
        eddy__us_tcp_done(sk, 0);
        return;
    }
    int unread = us_ring_len(sk->rcv) != 0;
    if (sk->state == TCPS_CLOSED || sk->state == TCPS_SYN_SENT) {
        eddy__us_tcp_done(sk, 0);
    } else if (unread || (sk->fl & SKF_LINGER0)) {
        eddy__us_send_active_reset(sk);
        eddy__us_tcp_done(sk, 0);
    } else {
        sk->shut = RCV_SHUTDOWN | SEND_SHUTDOWN;
        eddy__us_send_fin(sk);
        eddy__us_timer_update(sk); /* an orphan already in FIN_WAIT2 gets its timeout */
    }
}

static void tcp_release(struct ue_file *f)
{
    struct us_sock *sk = f->priv;
    struct ue_stack *st = sk->st;
    pthread_mutex_lock(&st->lock);
    eddy__us_now_ms(st);
    tcp_close_locked(sk);
    pthread_mutex_unlock(&st->lock);
}

struct us_sock *eddy__us_sock_get(int fd, struct ue_file **fp)
{
    struct ue_file *f = eddy__ue_fget(fd);
    if (!f) {
        errno = EBADF;
        return NULL;
    }
    if (f->ops != &eddy__us_tcp_fops) {
        eddy__ue_fput(f);
        errno = ENOTSOCK;
        return NULL;
    }
    *fp = f;
    return f->priv;
}

int eddy__us_install(struct us_sock *sk, int nonblock);
int eddy__us_install(struct us_sock *sk, int nonblock)
{
    int fd = eddy__ue_fd_reserve();
    if (fd < 0)
        return fd;
    struct ue_file *f = eddy__ue_file_alloc(&eddy__us_tcp_fops, sk, UE_FMODE_READ | UE_FMODE_WRITE,
                                            nonblock ? O_NONBLOCK : 0);
    if (!f) {
        eddy__ue_fd_unreserve(fd);
        return -ENOMEM;
    }
    sk->file = f;
    eddy__ue_fd_install(fd, f);
    return fd;
}

int ue_socket(int domain, int type, int protocol)
{
    struct ue_stack *st = ue_stack_current();
    int base = type & ~(SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (domain != AF_INET)
        return eddy__ue_fail(EAFNOSUPPORT);
    if (base != SOCK_STREAM)
        return eddy__ue_fail(ESOCKTNOSUPPORT);
    if (protocol != 0 && protocol != IPPROTO_TCP)
        return eddy__ue_fail(EPROTONOSUPPORT);
    if (!st)
        return eddy__ue_fail(ENETDOWN);
    pthread_mutex_lock(&st->lock);
    struct us_sock *sk = eddy__us_sock_alloc(st);
    int fd = sk ? eddy__us_install(sk, type & SOCK_NONBLOCK) : -ENOMEM;
    if (fd < 0 && sk)
        eddy__us_sock_maybe_free(sk);
    pthread_mutex_unlock(&st->lock);
    return fd < 0 ? eddy__ue_fail(-fd) : fd;
}
