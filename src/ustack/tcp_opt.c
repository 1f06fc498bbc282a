/*
 * shutdown, socket options and names, for TCP and AF_UNIX stream sockets.
 *
 * Options follow Linux: SO_SNDBUF/SO_RCVBUF store twice the value asked for (and
 * report that), SO_ERROR reports and clears the pending error, SO_LINGER with l_onoff
 * and l_linger 0 makes close send a reset, TCP_NODELAY turns Nagle off and pushes what
 * Nagle was holding.
 */
#include "tcp.h"

#include <fcntl.h>
#include <netinet/tcp.h>

struct us_sock *eddy__us_sock_get(int fd, struct ue_file **fp);
int eddy__us_unix_shutdown(struct ue_file *f, int how);
int eddy__us_unix_getsockopt(struct ue_file *f, int level, int name, void *val, socklen_t *len);
extern const struct ue_file_ops eddy__us_unix_fops;

/* A TCP socket with its stack locked, or an AF_UNIX file (*sk NULL); -errno if neither. */
static int sock_lookup(int fd, struct ue_file **fp, struct us_sock **sk)
{
    struct ue_file *f = eddy__ue_fget(fd);
    if (!f)
        return -EBADF;
    *fp = f;
    *sk = NULL;
    if (f->ops == &eddy__us_unix_fops)
        return 0;
    struct us_sock *s = eddy__us_sock_get(fd, fp);
    eddy__ue_fput(f);
    if (!s)
        return -errno;
    *sk = s;
    pthread_mutex_lock(&s->st->lock);
    eddy__us_now_ms(s->st);
    return 0;
}

static int sock_done(struct ue_file *f, struct us_sock *sk, int r)
{
    if (sk)
        pthread_mutex_unlock(&sk->st->lock);
    eddy__ue_fput(f);
    eddy__ue_wake_flush();
    return r < 0 ? eddy__ue_fail(-r) : r;
}

static int tcp_shutdown(struct us_sock *sk, int how)
{
    if (sk->state == TCPS_LISTEN || sk->state == TCPS_CLOSED || sk->state == TCPS_SYN_SENT)
        return -ENOTCONN;
    int mask = how + 1; /* SHUT_RD 0 -> 1, SHUT_WR 1 -> 2, SHUT_RDWR 2 -> 3 */
    sk->shut |= (uint8_t)mask;
    if (mask & SEND_SHUTDOWN)
        eddy__us_send_fin(sk);
    eddy__us_wake(sk, 0);
    return 0;
}

int ue_shutdown(int fd, int how)
{
    struct ue_file *f;
    struct us_sock *sk;
    int r = sock_lookup(fd, &f, &sk);
    if (r)
        return eddy__ue_fail(-r);
    if (how < SHUT_RD || how > SHUT_RDWR)
        r = -EINVAL;
    else
        r = sk ? tcp_shutdown(sk, how) : eddy__us_unix_shutdown(f, how);
    return sock_done(f, sk, r);
}

int eddy__us_put_int(void *val, socklen_t *len, int v);
int eddy__us_put_int(void *val, socklen_t *len, int v)
{
    if (!val || !len)
        return -EFAULT;
    if (*len < (socklen_t)sizeof(int))
        return -EINVAL;
    memcpy(val, &v, sizeof(v));
    *len = sizeof(int);
    return 0;
}

static int tcp_getsockopt(struct us_sock *sk, int level, int name, void *val, socklen_t *len)
{
    if (level == IPPROTO_TCP) {
        if (name == TCP_NODELAY)
            return eddy__us_put_int(val, len, !!(sk->fl & SKF_NODELAY));
        if (name == TCP_MAXSEG)
            return eddy__us_put_int(val, len, sk->mss);
        return -ENOPROTOOPT;
    }
    if (level != SOL_SOCKET)
        return -ENOPROTOOPT;
    switch (name) {
    case SO_ERROR: {
        int e = sk->err ? sk->err : sk->err_soft;
        sk->err = sk->err_soft = 0;
        return eddy__us_put_int(val, len, e);
    }
    case SO_SNDBUF:
        return eddy__us_put_int(val, len, (int)sk->sndbuf);
    case SO_RCVBUF:
        return eddy__us_put_int(val, len, (int)sk->rcvbuf);
    case SO_KEEPALIVE:
        return eddy__us_put_int(val, len, !!(sk->fl & SKF_KEEPALIVE));
    case SO_REUSEADDR:
        return eddy__us_put_int(val, len, !!(sk->fl & SKF_REUSEADDR));
    case SO_TYPE:
        return eddy__us_put_int(val, len, SOCK_STREAM);
    case SO_ACCEPTCONN:
        return eddy__us_put_int(val, len, sk->state == TCPS_LISTEN);
    case SO_LINGER: {
        struct linger l = {!!(sk->fl & SKF_LINGER0), 0};
        if (!val || !len)
            return -EFAULT;
        socklen_t n = *len < (socklen_t)sizeof(l) ? *len : (socklen_t)sizeof(l);
        memcpy(val, &l, n);
        *len = n;
        return 0;
    }
    }
    return -ENOPROTOOPT;
}

int ue_getsockopt(int fd, int level, int name, void *val, socklen_t *len)
{
    struct ue_file *f;
    struct us_sock *sk;
    int r = sock_lookup(fd, &f, &sk);
    if (r)
        return eddy__ue_fail(-r);
    r = sk ? tcp_getsockopt(sk, level, name, val, len)
           : eddy__us_unix_getsockopt(f, level, name, val, len);
    return sock_done(f, sk, r);
}

static uint32_t buf_size(int v)
{
    uint32_t u = v < 1024 ? 1024u : v > (1 << 22) ? (1u << 22) : (uint32_t)v;
    return u * 2; /* what Linux stores and reports */
}

static void set_flag(struct us_sock *sk, uint32_t fl, int on)
{
    if (on)
        sk->fl |= fl;
    else
        sk->fl &= ~fl;
}

static int tcp_setsockopt(struct us_sock *sk, int level, int name, const void *val, socklen_t len)
{
    if (!val)
        return -EFAULT;
    if (name == SO_LINGER && level == SOL_SOCKET) {
        struct linger l;
        if (len < (socklen_t)sizeof(l))
            return -EINVAL;
        memcpy(&l, val, sizeof(l));
        set_flag(sk, SKF_LINGER0, l.l_onoff && l.l_linger == 0);
        return 0;
    }
    int v;
    if (len < (socklen_t)sizeof(int))
        return -EINVAL;
    memcpy(&v, val, sizeof(v));
    if (level == IPPROTO_TCP && name == TCP_NODELAY) {
        set_flag(sk, SKF_NODELAY, v != 0);
        if (v)
            eddy__us_tcp_output(sk); /* push what Nagle held */
        return 0;
    }
    if (level != SOL_SOCKET)
        return -ENOPROTOOPT;
    switch (name) {
    case SO_SNDBUF:
        sk->sndbuf = buf_size(v);
        return 0;
    case SO_RCVBUF:
        sk->rcvbuf = buf_size(v);
        return 0;
    case SO_KEEPALIVE:
        set_flag(sk, SKF_KEEPALIVE, v != 0);
        sk->t_keep = 0;
        eddy__us_timer_update(sk);
        return 0;
    case SO_REUSEADDR:
        set_flag(sk, SKF_REUSEADDR, v != 0);
        return 0;
    }
    return -ENOPROTOOPT;
}

int ue_setsockopt(int fd, int level, int name, const void *val, socklen_t len)
{
    struct ue_file *f;
    struct us_sock *sk;
    int r = sock_lookup(fd, &f, &sk);
    if (r)
        return eddy__ue_fail(-r);
    r = sk ? tcp_setsockopt(sk, level, name, val, len) : (val ? 0 : -EFAULT);
    return sock_done(f, sk, r);
}

static int sock_name(int fd, struct sockaddr *addr, socklen_t *len, int peer)
{
    struct ue_file *f;
    struct us_sock *sk;
    int r = sock_lookup(fd, &f, &sk);
    if (r)
        return eddy__ue_fail(-r);
    if (!addr || !len) {
        r = -EFAULT;
    } else if (!sk) {
        sa_family_t fam = AF_UNIX;
        socklen_t n = *len < (socklen_t)sizeof(fam) ? *len : (socklen_t)sizeof(fam);
        memcpy(addr, &fam, n);
        *len = sizeof(fam);
    } else if (peer && (sk->state < TCPS_SYN_RECV || sk->state == TCPS_LISTEN)) {
        r = -ENOTCONN;
    } else {
        struct sockaddr_in in = {.sin_family = AF_INET};
        in.sin_addr.s_addr = htonl(peer ? sk->raddr : sk->laddr);
        in.sin_port = htons(peer ? sk->rport : sk->lport);
        socklen_t n = *len < (socklen_t)sizeof(in) ? *len : (socklen_t)sizeof(in);
        memcpy(addr, &in, n);
        *len = sizeof(in);
    }
    return sock_done(f, sk, r);
}

int ue_getsockname(int fd, struct sockaddr *addr, socklen_t *len)
{
    return sock_name(fd, addr, len, 0);
}

int ue_getpeername(int fd, struct sockaddr *addr, socklen_t *len)
{
    return sock_name(fd, addr, len, 1);
}
