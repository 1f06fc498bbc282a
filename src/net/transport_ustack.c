/*
 * transport_ustack: connections over eddy's own TCP stack (include/eddy/ustack_net.h).
 *
 * Each op is one ue_ call on the connection's ustack socket, whose descriptor is a
 * uepoll descriptor (caps FD_UEPOLL), so the loop watches it like a socket and TCP's
 * own wake-ups become the loop's events. Writes never raise SIGPIPE (the transport
 * contract): they go through eddy__us_writev_nosignal, the MSG_NOSIGNAL of ustack.
 * Closing releases the uepoll file, which removes its epoll registration with it
 * (CLOSE_FORGETS).
 */
#include "eddy/ustack_net.h"

#include <errno.h>
#include <netinet/tcp.h>
#include <stdlib.h>

#include "eddy/channel.h"
#include "eddy/event_loop.h"
#include "net_internal.h"

ssize_t eddy__us_writev_nosignal(int fd, const struct iovec *iov, int iovcnt);

static ssize_t us_readv(struct eddy_transport *t, const struct iovec *iov, int n)
{
    ssize_t r = ue_readv(t->fd, iov, n);
    return r < 0 ? -errno : r;
}

static ssize_t us_writev(struct eddy_transport *t, const struct iovec *iov, int n, unsigned flags)
{
    (void)flags; /* MORE: Nagle already coalesces what a queue hands over at once */
    ssize_t r = eddy__us_writev_nosignal(t->fd, iov, n);
    return r < 0 ? -errno : r;
}

static int us_shutdown_write(struct eddy_transport *t)
{
    return ue_shutdown(t->fd, SHUT_WR) < 0 ? -errno : 0;
}

static void us_close(struct eddy_transport *t)
{
    ue_close(t->fd);
    t->fd = -1;
}

static int us_set_nodelay(struct eddy_transport *t, int on)
{
    return ue_setsockopt(t->fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on)) < 0 ? -errno : 0;
}

const struct eddy_transport_ops eddy_transport_ustack = {
    .name = "ustack",
    .caps = EDDY_TRANSPORT_FD_UEPOLL | EDDY_TRANSPORT_CLOSE_FORGETS,
    .open = eddy__transport_fd_open,
    .readv = us_readv,
    .writev = us_writev,
    .shutdown_write = us_shutdown_write,
    .close = us_close,
    .set_nodelay = us_set_nodelay,
};

/* ---- driver ---- */
struct eddy_ustack_driver {
    struct eddy_event_loop *loop;
    struct ue_stack *st;
    struct eddy_channel dev; /* the TAP descriptor, if the device has one */
    int has_dev;
};

static int drive(struct eddy_event_loop *loop, void *arg)
{
    struct eddy_ustack_driver *d = arg;
    (void)loop;
    ue_stack_poll(d->st, 1024);
    uint64_t next = ue_stack_next_deadline(d->st), now = ue_stack_now(d->st);
    if (next == UINT64_MAX)
        return -1;
    if (next <= now)
        return 0;
    uint64_t ms = (next - now + 999) / 1000;
    return ms > 1000 ? 1000 : (int)ms;
}

static void on_dev(struct eddy_channel *ch, int revents)
{
    struct eddy_ustack_driver *d = ch->data;
    (void)revents;
    ue_stack_poll(d->st, 1024);
}

int eddy_ustack_driver_start(struct eddy_ustack_driver **out, struct eddy_event_loop *loop,
                             struct ue_stack *st)
{
    struct eddy_ustack_driver *d = calloc(1, sizeof(*d));
    if (!d)
        return -ENOMEM;
    d->loop = loop;
    d->st = st;
    int fd = ue_stack_dev_fd(st);
    int rc = 0;
    if (fd >= 0) {
        eddy_channel_init_kernel(&d->dev, loop, fd, on_dev, d);
        rc = eddy_channel_enable_reading(&d->dev);
        d->has_dev = rc == 0;
    }
    if (rc == 0)
        rc = eddy_event_loop_add_prepare(loop, drive, d);
    if (rc < 0) {
        if (d->has_dev)
            eddy_channel_remove(&d->dev);
        free(d);
        return rc;
    }
    *out = d;
    return 0;
}

void eddy_ustack_driver_stop(struct eddy_ustack_driver *d)
{
    if (!d)
        return;
    eddy_event_loop_remove_prepare(d->loop, drive, d);
    if (d->has_dev)
        eddy_channel_remove(&d->dev);
    free(d);
}

/* ---- listener ---- */
struct eddy_ustack_listener {
    struct eddy_tcp_server *server;
    const struct eddy_transport_ops *ops;
    void *arg;
    struct eddy_channel ch;
    int fd;
    int loop; /* the loop that accepts and keeps the connections; -1: the base loop */
};

static void on_accept(struct eddy_channel *ch, int revents)
{
    struct eddy_ustack_listener *l = ch->data;
    (void)revents;
    for (;;) {
        struct sockaddr_in peer;
        socklen_t len = sizeof(peer);
        int fd = ue_accept4(l->fd, (struct sockaddr *)&peer, &len, SOCK_NONBLOCK);
        if (fd < 0)
            return;
        struct eddy_transport t = {.ops = l->ops};
        if (eddy_transport_open(&t, l->ops, fd, l->arg, EDDY_TRANSPORT_ACCEPTED) != 0)
            continue;
        if (l->loop < 0)
            eddy_tcp_server_adopt(l->server, &t, (struct sockaddr *)&peer, len);
        else
            eddy_tcp_server_adopt_at(l->server, l->loop, &t, (struct sockaddr *)&peer, len);
    }
}

static int listen_socket(struct ue_stack *st, const struct sockaddr_in *addr, int backlog)
{
    ue_stack_set_current(st);
    int fd = ue_socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    int one = 1;
    if (fd < 0)
        return -errno;
    ue_setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (ue_bind(fd, (const struct sockaddr *)addr, sizeof(*addr)) < 0 ||
        ue_listen(fd, backlog > 0 ? backlog : 511) < 0) {
        int err = errno;
        ue_close(fd);
        return -err;
    }
    return fd;
}

int eddy_ustack_listen(struct eddy_ustack_listener **out, struct eddy_tcp_server *s,
                       struct ue_stack *st, const struct sockaddr_in *addr, int backlog)
{
    return eddy_ustack_listen_at(out, s, -1, st, addr, backlog);
}

int eddy_ustack_listen_at(struct eddy_ustack_listener **out, struct eddy_tcp_server *s, int loop,
                          struct ue_stack *st, const struct sockaddr_in *addr, int backlog)
{
    return eddy_ustack_listen_transport_at(out, s, loop, st, addr, backlog, NULL, NULL);
}

int eddy_ustack_listen_transport_at(struct eddy_ustack_listener **out, struct eddy_tcp_server *s,
                                    int loop, struct ue_stack *st, const struct sockaddr_in *addr,
                                    int backlog, const struct eddy_transport_ops *ops, void *arg)
{
    struct eddy_ustack_listener *l = calloc(1, sizeof(*l));
    if (!l)
        return -ENOMEM;
    l->server = s;
    l->ops = ops ? ops : &eddy_transport_ustack;
    l->arg = arg;
    l->loop = loop;
    l->fd = listen_socket(st, addr, backlog);
    if (l->fd < 0) {
        int rc = l->fd;
        free(l);
        return rc;
    }
    struct eddy_event_loop *el =
        loop < 0 ? eddy_tcp_server_base_loop(s) : eddy_tcp_server_loop_at(s, loop);
    eddy_channel_init(&l->ch, el, l->fd, on_accept, l);
    int rc = eddy_channel_enable_reading(&l->ch);
    if (rc < 0) {
        ue_close(l->fd);
        free(l);
        return rc;
    }
    *out = l;
    return 0;
}

void eddy_ustack_listener_close(struct eddy_ustack_listener *l)
{
    if (!l)
        return;
    eddy_channel_remove(&l->ch);
    ue_close(l->fd);
    free(l);
}
