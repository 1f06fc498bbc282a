/*
 * acceptor: a listening socket on a loop. Accepts in bursts of at most
 * max_accepts per wake-up so one busy listener cannot starve the
 * connections already served by the same loop.
 *
 * Two situations would otherwise make a level-triggered loop spin on a
 * listening socket that stays readable:
 *  - the process is out of descriptors (EMFILE/ENFILE): the reserve fd is
 *    given up for a moment to accept the pending connection and drop it;
 *  - no reserve is left, or the kernel is out of memory: reading is paused
 *    and a timer resumes it a little later.
 * With an edge-triggered backend, stopping at the cap would lose the edge, so
 * the remaining connections are taken by a zero-delay timer after the batch.
 */
#include "eddy/acceptor.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "eddy/channel.h"
#include "eddy/event_loop.h"
#include "eddy/timer.h"
#include "unix_socket.h"

#define DEFAULT_BACKLOG     511
#define DEFAULT_MAX_ACCEPTS 64
#define BACKOFF_MS          100

struct eddy_acceptor {
    struct eddy_channel ch;
    struct eddy_timer resume; /* ET continuation or out-of-resource back-off */
    struct eddy_event_loop *loop;
    int fd;
    int reserve_fd;
    int max_accepts;
    int started;
    eddy_acceptor_cb cb;
    eddy_acceptor_burst_cb burst_end;
    void *data;
    unsigned long dropped; /* atomic: read from any thread */
    union eddy_sockaddr local;
    uint64_t unix_ino; /* a Unix socket file we bound: removed on stop */
};

static int open_reserve(void)
{
    return open("/dev/null", O_RDONLY | O_CLOEXEC);
}

static int set_int_opt(int fd, int level, int name, int v)
{
    if (setsockopt(fd, level, name, &v, sizeof v) < 0)
        return -errno;
    return 0;
}

static int open_listener(const struct sockaddr *addr, socklen_t len,
                         const struct eddy_acceptor_options *o)
{
    int backlog = o && o->backlog > 0 ? o->backlog : DEFAULT_BACKLOG;
    int fd = socket(addr->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int r;

    int tcp = addr->sa_family != AF_UNIX;

    if (fd < 0)
        return -errno;
    r = tcp ? set_int_opt(fd, SOL_SOCKET, SO_REUSEADDR, 1) : eddy__unix_reclaim_stale(addr, len);
    if (r == 0 && o && o->reuseport)
        r = set_int_opt(fd, SOL_SOCKET, SO_REUSEPORT, 1);
    /* The wake-up then comes with the request: the first read finds it, and a
     * connection that never sends costs no descriptor before the timeout. */
    if (r == 0 && tcp && o && o->defer_accept > 0)
        r = set_int_opt(fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, o->defer_accept);
    if (r == 0 && addr->sa_family == AF_INET6)
        r = set_int_opt(fd, IPPROTO_IPV6, IPV6_V6ONLY, 1);
    if (r == 0 && bind(fd, addr, len) < 0)
        r = -errno;
    if (r == 0 && listen(fd, backlog) < 0)
        r = -errno;
    /* A new connection starts in quick-ACK mode: the request is ACKed in a segment of its
     * own right before the response. Delayed ACKs (set after listen(), which resets them) let the
     * ACK ride on the response (the kernel leaves that mode by itself after a delayed ACK that
     * found nothing to ride on). */
    if (r == 0 && tcp && o && o->delayed_ack)
        r = set_int_opt(fd, IPPROTO_TCP, TCP_QUICKACK, 0);
    if (r < 0) {
        close(fd);
        return r;
    }
    return fd;
}

static void count_drop(struct eddy_acceptor *a)
{
    __atomic_fetch_add(&a->dropped, 1, __ATOMIC_RELAXED);
}

/* EMFILE/ENFILE: frees the reserve to take one pending connection and drop
 * it. Returns 1 if a connection was dropped, 0 if nothing was pending, -1 if
 * there is no reserve (the caller then backs off). */
static int drop_one(struct eddy_acceptor *a)
{
    int fd;

    if (a->reserve_fd < 0) {
        a->reserve_fd = open_reserve();
        return -1;
    }
    close(a->reserve_fd);
    a->reserve_fd = -1;
    fd = accept4(a->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) {
        close(fd);
        count_drop(a);
    }
    a->reserve_fd = open_reserve();
    return fd >= 0 ? 1 : 0;
}

static void back_off(struct eddy_acceptor *a)
{
    eddy_channel_disable_reading(&a->ch);
    eddy_timer_start(&a->resume, BACKOFF_MS, 0);
}

/* Returns 1 to keep accepting, 0 when the queue is empty or we paused. */
static int handle_accept_error(struct eddy_acceptor *a, int err)
{
    switch (err) {
    case EAGAIN:
        return 0;
    case EINTR:
    case ECONNABORTED:
    case EPROTO:
    case EPERM:
        return 1;
    case EMFILE:
    case ENFILE: {
        int r = drop_one(a);
        if (r < 0)
            back_off(a);
        return r > 0;
    }
    default: /* ENOBUFS, ENOMEM, ...: let the system breathe */
        back_off(a);
        return 0;
    }
}

static void accept_some(struct eddy_acceptor *a)
{
    int i;

    for (i = 0; i < a->max_accepts; i++) {
        union eddy_sockaddr peer;
        socklen_t plen = sizeof peer;
        int fd = accept4(a->fd, &peer.sa, &plen, SOCK_NONBLOCK | SOCK_CLOEXEC);

        if (fd < 0) {
            if (!handle_accept_error(a, errno))
                return;
            continue;
        }
        a->cb(a, fd, &peer.sa, plen, a->data);
        if (a->fd < 0) /* the callback stopped us */
            return;
    }
    /* Cap reached: with edges, nothing would tell us about the rest. */
    if (eddy_event_loop_is_edge_triggered(a->loop))
        eddy_timer_start(&a->resume, 0, 0);
}

static void accept_burst(struct eddy_acceptor *a)
{
    accept_some(a);
    if (a->burst_end != NULL)
        a->burst_end(a, a->data);
}

static void on_readable(struct eddy_channel *ch, int revents)
{
    (void)revents;
    accept_burst(ch->data);
}

static void on_resume(struct eddy_timer *t)
{
    struct eddy_acceptor *a = t->data;

    if (a->fd < 0)
        return;
    if (!eddy_channel_is_reading(&a->ch))
        eddy_channel_enable_reading(&a->ch);
    accept_burst(a);
}

int eddy_acceptor_new(struct eddy_acceptor **out, struct eddy_event_loop *loop,
                      const struct sockaddr *addr, socklen_t len,
                      const struct eddy_acceptor_options *opts, eddy_acceptor_cb cb, void *data)
{
    struct eddy_acceptor *a;
    socklen_t llen = sizeof(union eddy_sockaddr);

    if (out == NULL || loop == NULL || addr == NULL || cb == NULL)
        return -EINVAL;
    a = calloc(1, sizeof *a);
    if (a == NULL)
        return -ENOMEM;
    a->fd = open_listener(addr, len, opts);
    if (a->fd < 0) {
        int r = a->fd;
        free(a);
        return r;
    }
    if (getsockname(a->fd, &a->local.sa, &llen) < 0)
        memcpy(&a->local, addr, len < llen ? len : llen);
    a->unix_ino = eddy__unix_inode(&a->local.sa);
    a->reserve_fd = open_reserve();
    a->loop = loop;
    a->max_accepts = opts && opts->max_accepts > 0 ? opts->max_accepts : DEFAULT_MAX_ACCEPTS;
    a->cb = cb;
    a->burst_end = opts ? opts->on_burst_end : NULL;
    a->data = data;
    /* A kernel socket, also on a loop whose backend watches uepoll descriptors. */
    if (eddy_event_loop_dispatcher(loop)->kind == EDDY_FD_UEPOLL)
        eddy_channel_init_kernel(&a->ch, loop, a->fd, on_readable, a);
    else
        eddy_channel_init(&a->ch, loop, a->fd, on_readable, a);
    eddy_timer_init(&a->resume, loop, on_resume, a);
    *out = a;
    return 0;
}

int eddy_acceptor_start(struct eddy_acceptor *a)
{
    int r;

    if (a->fd < 0)
        return -EBADF;
    if (a->started)
        return 0;
    r = eddy_channel_enable_reading(&a->ch);
    if (r == 0)
        a->started = 1;
    return r;
}

void eddy_acceptor_stop(struct eddy_acceptor *a)
{
    if (a->fd < 0)
        return;
    eddy_timer_stop(&a->resume);
    if (a->started)
        eddy_channel_remove(&a->ch);
    a->started = 0;
    close(a->fd);
    a->fd = -1;
    eddy__unix_unlink_own(&a->local.sa, a->unix_ino);
    if (a->reserve_fd >= 0)
        close(a->reserve_fd);
    a->reserve_fd = -1;
}

int eddy_acceptor_local_addr(const struct eddy_acceptor *a, union eddy_sockaddr *out)
{
    if (a == NULL || out == NULL)
        return -EINVAL;
    *out = a->local;
    return 0;
}

unsigned long eddy_acceptor_dropped(const struct eddy_acceptor *a)
{
    return __atomic_load_n(&a->dropped, __ATOMIC_RELAXED);
}

void eddy_acceptor_free(struct eddy_acceptor *a)
{
    if (a == NULL)
        return;
    eddy_acceptor_stop(a);
    free(a);
}
