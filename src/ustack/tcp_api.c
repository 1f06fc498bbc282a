/*
 * The socket calls that mirror the system calls: bind, listen, accept4, connect,
 * shutdown, the options and the names. Each answers with Linux's errno for the same
 * situation (inet_bind, inet_listen, inet_csk_accept, tcp_v4_connect, inet_shutdown,
 * sock_setsockopt/do_tcp_setsockopt).
 */
#include "tcp.h"

#include <fcntl.h>
#include <netinet/tcp.h>
#include <stdlib.h>

int eddy__us_sock_wait(struct us_sock *sk, int (*ready)(struct us_sock *));
struct us_sock *eddy__us_sock_get(int fd, struct ue_file **fp);
int eddy__us_install(struct us_sock *sk, int nonblock);
int eddy__us_unix_shutdown(struct ue_file *f, int how);
int eddy__us_is_unix(struct ue_file *f);

/* Runs fn on fd's socket under its stack's lock; -1/errno or fn's result. */
static int with_sock(int fd, int (*fn)(struct us_sock *, struct ue_file *, void *), void *arg)
{
    struct ue_file *f;
    struct us_sock *sk = eddy__us_sock_get(fd, &f);
    if (!sk)
        return -1;
    pthread_mutex_lock(&sk->st->lock);
    eddy__us_now_ms(sk->st);
    int r = fn(sk, f, arg);
    pthread_mutex_unlock(&sk->st->lock);
    eddy__ue_fput(f);
    eddy__ue_wake_flush();
    return r < 0 ? eddy__ue_fail(-r) : r;
}

static int addr_in(const struct sockaddr *a, socklen_t len, struct sockaddr_in *out)
{
    if (!a)
        return -EFAULT;
    if (len < (socklen_t)sizeof(*out))
        return -EINVAL;
    memcpy(out, a, sizeof(*out));
    return out->sin_family == AF_INET ? 0 : -EAFNOSUPPORT;
}

struct bind_arg {
    const struct sockaddr *a;
    socklen_t len;
};

static int port_conflict(struct us_sock *sk, uint16_t port)
{
    struct ue_stack *st = sk->st;
    for (struct us_sock *o = st->listeners; o; o = o->hnext)
        if (o != sk && o->lport == port &&
            (!(sk->fl & SKF_REUSEADDR) || !(o->fl & SKF_REUSEADDR) || o->state == TCPS_LISTEN))
            return 1;
    if (sk->fl & SKF_REUSEADDR)
        return 0;
    for (size_t i = 0; i <= st->conn_mask; i++)
        for (struct us_sock *o = st->conns[i]; o; o = o->hnext)
            if (o->lport == port)
                return 1;
    return 0;
}

static int do_bind(struct us_sock *sk, struct ue_file *f, void *arg)
{
    struct bind_arg *b = arg;
    struct sockaddr_in in;
    (void)f;
    int r = addr_in(b->a, b->len, &in);
    if (r)
        return r;
    uint32_t a = ntohl(in.sin_addr.s_addr);
    if (a && a != sk->st->addr)
        return -EADDRNOTAVAIL;
    if (sk->state != TCPS_CLOSED || (sk->fl & SKF_BOUND) || sk->lport)
        return -EINVAL;
    uint16_t port = ntohs(in.sin_port);
    if (!port) {
        for (int i = 0; i < 65536 && (!port || port_conflict(sk, port)); i++)
            port = (uint16_t)(32768 + (sk->st->port_hint++ % 28232));
    }
    if (port_conflict(sk, port))
        return -EADDRINUSE;
    sk->laddr = a;
    sk->lport = port;
    sk->fl |= SKF_BOUND;
    sk->hnext = sk->st->listeners;
    sk->st->listeners = sk;
    return 0;
}

int ue_bind(int fd, const struct sockaddr *addr, socklen_t len)
{
    struct bind_arg b = {addr, len};
    return with_sock(fd, do_bind, &b);
}

static int do_listen(struct us_sock *sk, struct ue_file *f, void *arg)
{
    int backlog = *(int *)arg;
    (void)f;
    if (sk->state != TCPS_CLOSED && sk->state != TCPS_LISTEN)
        return -EINVAL;
    if (!(sk->fl & SKF_BOUND)) {
        struct sockaddr_in any = {.sin_family = AF_INET};
        struct bind_arg b = {(struct sockaddr *)&any, sizeof(any)};
        int r = do_bind(sk, f, &b);
        if (r)
            return r;
    }
    if (!sk->lst && !(sk->lst = calloc(1, sizeof(*sk->lst))))
        return -ENOMEM;
    sk->lst->backlog = backlog < 1 ? 1 : backlog > 4096 ? 4096 : (unsigned)backlog;
    eddy__us_set_state(sk, TCPS_LISTEN);
    return 0;
}

int ue_listen(int fd, int backlog)
{
    return with_sock(fd, do_listen, &backlog);
}

static void fill_addr(struct sockaddr *out, socklen_t *len, uint32_t a, uint16_t p)
{
    if (!out || !len)
        return;
    struct sockaddr_in in = {.sin_family = AF_INET};
    in.sin_addr.s_addr = htonl(a);
    in.sin_port = htons(p);
    socklen_t n = *len < (socklen_t)sizeof(in) ? *len : (socklen_t)sizeof(in);
    memcpy(out, &in, n);
    *len = sizeof(in);
}

static int accept_ready(struct us_sock *sk)
{
    return sk->state != TCPS_LISTEN || sk->lst->aq_head;
}

struct accept_arg {
    struct sockaddr *addr;
    socklen_t *len;
    int flags;
};

static int do_accept(struct us_sock *l, struct ue_file *f, void *arg)
{
    struct accept_arg *a = arg;
    if (a->flags & ~(SOCK_NONBLOCK | SOCK_CLOEXEC))
        return -EINVAL;
    if (l->state != TCPS_LISTEN)
        return -EINVAL;
    if (!l->lst->aq_head) {
        if (f->flags & O_NONBLOCK)
            return -EAGAIN;
        int r = eddy__us_sock_wait(l, accept_ready);
        if (r)
            return r;
        if (l->state != TCPS_LISTEN)
            return -EINVAL;
    }
    struct us_sock *c = l->lst->aq_head;
    int fd = eddy__us_install(c, a->flags & SOCK_NONBLOCK);
    if (fd < 0)
        return fd;
    l->lst->aq_head = c->aq_next;
    if (!l->lst->aq_head)
        l->lst->aq_tail = NULL;
    l->lst->aq_len--;
    c->aq_next = NULL;
    c->parent = NULL;
    c->fl &= ~SKF_ACCEPTQ;
    fill_addr(a->addr, a->len, c->raddr, c->rport);
    return fd;
}

int ue_accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags)
{
    struct accept_arg a = {addr, len, flags};
    return with_sock(fd, do_accept, &a);
}

static int connect_done(struct us_sock *sk)
{
    return sk->state != TCPS_SYN_SENT && sk->state != TCPS_SYN_RECV;
}

static int connect_start(struct us_sock *sk, const struct sockaddr_in *in)
{
    struct ue_stack *st = sk->st;
    uint32_t ra = ntohl(in->sin_addr.s_addr);
    if ((ra & st->mask) != (st->addr & st->mask) && !st->gw)
        return -ENETUNREACH;
    if (sk->fl & SKF_BOUND)
        eddy__us_unhash(st, sk);
    sk->laddr = st->addr;
    sk->raddr = ra;
    sk->rport = ntohs(in->sin_port);
    if (!sk->lport && eddy__us_pick_ephemeral(st, sk) < 0)
        return -EADDRNOTAVAIL;
    if (eddy__us_lookup(st, sk->laddr, sk->lport, ra, sk->rport))
        return -EADDRNOTAVAIL;
    sk->iss = eddy__us_isn(st, sk->laddr, sk->lport, ra, sk->rport);
    sk->snd_una = sk->snd_nxt = sk->snd_max = sk->recover = sk->iss;
    sk->ts_off = (uint32_t)eddy__us_siphash(st->secret, &sk->iss, sizeof(sk->iss));
    sk->rcv_ws = 0;
    while (sk->rcv_ws < 14 && (sk->rcvbuf >> sk->rcv_ws) > 65535)
        sk->rcv_ws++;
    sk->err = 0;
    sk->shut = 0;
    sk->last_rx = st->now_ms;
    sk->rtt_start = (uint32_t)st->now_ms;
    eddy__us_set_state(sk, TCPS_SYN_SENT);
    eddy__us_hash(st, sk);
    eddy__us_send_syn(sk);
    eddy__us_timer_update(sk);
    return 0;
}

struct connect_arg {
    const struct sockaddr *a;
    socklen_t len;
};

/* inet_stream_connect: SS_CONNECTING is SKF_CONNECTING; a second call reports the
 * outcome of the first (0 once established, the error once failed). */
static int connect_outcome(struct us_sock *sk)
{
    sk->fl &= ~SKF_CONNECTING;
    if (sk->state != TCPS_CLOSED)
        return 0;
    int e = sk->err ? sk->err : sk->err_soft;
    sk->err = sk->err_soft = 0;
    sk->shut = 0; /* SS_UNCONNECTED: connect may be tried again */
    return e ? -e : -ECONNABORTED;
}

static int do_connect(struct us_sock *sk, struct ue_file *f, void *arg)
{
    struct connect_arg *c = arg;
    struct sockaddr_in in;
    int r = addr_in(c->a, c->len, &in);
    if (r)
        return r;
    if (sk->fl & SKF_CONNECTING) {
        if (!connect_done(sk)) {
            if (f->flags & O_NONBLOCK)
                return -EALREADY;
            if ((r = eddy__us_sock_wait(sk, connect_done)) != 0)
                return r;
        }
        return connect_outcome(sk);
    }
    if (sk->state == TCPS_LISTEN)
        return -EINVAL;
    if (sk->state != TCPS_CLOSED || sk->shut)
        return -EISCONN;
    if ((r = connect_start(sk, &in)) != 0)
        return r;
    sk->fl |= SKF_CONNECTING;
    if (f->flags & O_NONBLOCK)
        return -EINPROGRESS;
    if ((r = eddy__us_sock_wait(sk, connect_done)) != 0)
        return r;
    return connect_outcome(sk);
}

int ue_connect(int fd, const struct sockaddr *addr, socklen_t len)
{
    struct connect_arg c = {addr, len};
    return with_sock(fd, do_connect, &c);
}
