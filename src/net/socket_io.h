/*
 * The kernel-socket transport's read and write, shared by its ops table (transport_socket.c)
 * and by the connection's hot path (eddy__tr_readv / eddy__tr_write in net_internal.h),
 * which calls them inline when a connection's transport has EDDY_TRANSPORT_PLAIN_SOCKET
 * (the socket transport, or any with the same reads and writes on its fd): the common
 * case then costs what the direct syscall did before the transport layer, with no
 * indirect call. Other transports still go through their ops.
 */
#ifndef EDDY_NET_SOCKET_IO_H
#define EDDY_NET_SOCKET_IO_H

#include <errno.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "eddy/transport.h"

static inline ssize_t eddy__sock_readv(int fd, const struct iovec *iov, int n)
{
    ssize_t r;

    /* One buffer (no leftover input, the common case): recv skips the VFS layer that readv
     * goes through (fdget_pos, rw_verify_area, the iovec copy): ~4% of keep-alive CPU. */
    do
        r = n == 1 ? recv(fd, iov[0].iov_base, iov[0].iov_len, 0) : readv(fd, iov, n);
    while (r < 0 && errno == EINTR);
    if (r < 0 && errno == ENOTSOCK) /* a stream that is no socket: readv reads any */
        do
            r = readv(fd, iov, n);
        while (r < 0 && errno == EINTR);
    return r < 0 ? -errno : r;
}

static inline ssize_t eddy__sock_writev(int fd, const struct iovec *iov, int n, unsigned flags)
{
    int f = MSG_NOSIGNAL | (flags & EDDY_TRANSPORT_MORE ? MSG_MORE : 0);
    ssize_t r;

    do {
        if (n == 1) {
            r = send(fd, iov[0].iov_base, iov[0].iov_len, f);
        } else {
            struct msghdr m = {.msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)n};
            r = sendmsg(fd, &m, f);
        }
    } while (r < 0 && errno == EINTR);
    return r < 0 ? -errno : r;
}

/* eddy_transport_readv / eddy_transport_write with the plain-socket ops inlined. */
static inline ssize_t eddy__tr_readv(struct eddy_transport *t, const struct iovec *iov, int n)
{
    t->want = 0;
    if (t->ops->caps & EDDY_TRANSPORT_PLAIN_SOCKET)
        return eddy__sock_readv(t->fd, iov, n);
    return t->ops->readv(t, iov, n);
}

static inline ssize_t eddy__tr_write(struct eddy_transport *t, const void *p, size_t len,
                                     unsigned flags)
{
    struct iovec v = {(void *)p, len};

    t->want = 0;
    if (t->ops->caps & EDDY_TRANSPORT_PLAIN_SOCKET)
        return eddy__sock_writev(t->fd, &v, 1, flags);
    return t->ops->writev(t, &v, 1, flags);
}

#endif
