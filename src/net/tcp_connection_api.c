/*
 * tcp_connection_api: the public calls of tcp_connection. Each one runs in the
 * owner thread (queued there with a reference when called from another) and
 * brackets its work with enter/leave, so a close it causes happens once it
 * returned (see tcp_connection.c).
 */
#include "net_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "eddy/channel.h"
#include "eddy/event_loop.h"

#define is_open eddy__tcp_conn_is_open
#define is_live eddy__tcp_conn_is_live
#define enter   eddy__tcp_conn_enter
#define leave   eddy__tcp_conn_leave

int eddy_tcp_connection_adopt(struct eddy_tcp_connection **out, struct eddy_event_loop *loop,
                              struct eddy_transport *t, const struct eddy_tcp_callbacks *cb,
                              size_t context_size)
{
    struct eddy__net_loop *nl = eddy__net_loop_new(loop, NULL, cb, (size_t)4 << 20);
    struct eddy_tcp_connection *c;
    int r;

    if (nl == NULL) {
        t->ops->close(t);
        return -ENOMEM;
    }
    nl->nodelay = 1;
    r = eddy__tcp_connection_new(&c, nl, t, NULL, 0, 0, context_size);
    if (r < 0) {
        eddy__net_loop_free(nl);
        return r;
    }
    c->flags |= F_OWN_NL;
    eddy__net_loop_count_in(nl);
    if (out != NULL)
        *out = c;
    r = eddy_event_loop_queue_in_loop(loop, eddy__tcp_connection_establish, c);
    if (r < 0) {
        eddy__tcp_connection_discard(c);
        if (out != NULL)
            *out = NULL;
    }
    return r;
}

struct send_task {
    struct eddy_tcp_connection *c;
    size_t len;
    char data[];
};

static void send_task_run(void *arg)
{
    struct send_task *t = arg;
    struct eddy_tcp_connection *c = t->c;

    enter(c);
    eddy__tcp_conn_send(c, t->data, t->len);
    leave(c);
    free(t);
    eddy_tcp_connection_unref(c);
}

int eddy_tcp_connection_send(struct eddy_tcp_connection *c, const void *data, size_t len)
{
    struct eddy_event_loop *loop = c->ch.loop;
    struct send_task *t;
    int r;

    if (!is_open(c))
        return -EPIPE;
    if (eddy_event_loop_is_in_loop_thread(loop)) {
        enter(c);
        r = eddy__tcp_conn_send(c, data, len);
        leave(c);
        return r;
    }
    t = malloc(sizeof *t + len);
    if (t == NULL)
        return -ENOMEM;
    t->c = c;
    t->len = len;
    if (len > 0)
        memcpy(t->data, data, len);
    eddy_tcp_connection_ref(c);
    r = eddy_event_loop_queue_in_loop(loop, send_task_run, t);
    if (r < 0) {
        eddy_tcp_connection_unref(c);
        free(t);
    }
    return r;
}

struct eddy_buffer *eddy_tcp_connection_output(struct eddy_tcp_connection *c)
{
    struct eddy_buffer *b = eddy__tcp_output_tail(c);

    if (is_live(c))
        eddy__net_buf_get(c->nl, b);
    return b;
}

int eddy_tcp_connection_flush(struct eddy_tcp_connection *c)
{
    int r;

    if (!is_live(c))
        return -EPIPE;
    enter(c);
    /* Inside on_message the bytes may join the loop's send batch (send_batch.c). */
    if (!eddy_channel_is_writing(&c->ch) && !((c->flags & F_BATCH) && eddy__send_batch_defer(c)))
        eddy__tcp_conn_write_out(c);
    r = is_live(c) ? 0 : -EPIPE;
    leave(c);
    return r;
}

/* Queues a file range; on failure the file is given back (closed or released). */
static int queue_file(struct eddy_tcp_connection *c, int fd, off_t offset, size_t len, int close_fd,
                      void (*release)(void *), void *arg)
{
    struct eddy__out_seg *s = NULL, undo = {.fd = fd, .close_fd = close_fd != 0 && fd >= 0};
    int r = 0;

    undo.release = release;
    undo.release_arg = arg;
    if (!is_live(c) || (c->flags & F_NO_MORE))
        r = -EPIPE;
    else if (fd < 0 || offset < 0)
        r = -EINVAL;
    else if (len > 0 && (s = eddy__net_seg_get(c->nl)) == NULL)
        r = -ENOMEM;
    if (r < 0 || len == 0) {
        eddy__tcp_output_seg_done(&undo);
        return r;
    }
    s->fd = fd;
    s->close_fd = close_fd != 0;
    s->release = release;
    s->release_arg = arg;
    /* Large ranges on a kernel socket may be copied by choice (see transport.h). */
    s->generic = c->tr.ops == &eddy_transport_socket && eddy__transport_socket_file_copy(len);
    s->offset = offset;
    s->len = len;
    eddy_buffer_init(&s->after);
    eddy__tcp_output_append_seg(c, s);
    enter(c);
    eddy__tcp_conn_check_high_water(c);
    eddy__tcp_conn_write_unless_batched(c);
    leave(c);
    return 0;
}

int eddy_tcp_connection_send_file(struct eddy_tcp_connection *c, int fd, off_t offset, size_t len,
                                  int close_fd)
{
    return queue_file(c, fd, offset, len, close_fd, NULL, NULL);
}

int eddy_tcp_connection_send_file_ref(struct eddy_tcp_connection *c, int fd, off_t offset,
                                      size_t len, void (*release)(void *arg), void *arg)
{
    return queue_file(c, fd, offset, len, 0, release, arg);
}

/* Records what follows the queued output (half close or close), then writes. */
static void flag_and_write(struct eddy_tcp_connection *c, unsigned flag)
{
    if (!is_live(c))
        return;
    c->flags |= flag;
    enter(c);
    eddy__tcp_conn_write_unless_batched(c);
    leave(c);
}

static void shutdown_in_loop(struct eddy_tcp_connection *c)
{
    flag_and_write(c, F_SHUT_WR_REQ);
}

/* A plain close after the output overrides a lingering one not yet started. */
static void close_flushed_in_loop(struct eddy_tcp_connection *c)
{
    if ((c->flags & (F_LINGER_REQ | F_LINGERING)) == F_LINGER_REQ) {
        c->flags &= ~F_LINGER_REQ;
        eddy__net_linger_remove(c->nl, c);
    }
    flag_and_write(c, F_CLOSE_FLUSHED);
}

/* With linger_ms 0 (or no memory for the entry) this is close_flushed. A
 * close already decided (flushed or lingering) stands. */
static void close_lingering_in_loop(struct eddy_tcp_connection *c, unsigned ms)
{
    if (!is_live(c) || (c->flags & (F_CLOSE_FLUSHED | F_LINGER_REQ)))
        return;
    if (ms == 0 || eddy__net_linger_add(c->nl, c, ms) < 0)
        flag_and_write(c, F_CLOSE_FLUSHED);
    else
        flag_and_write(c, F_LINGER_REQ);
}

static void close_flushed_task(void *arg)
{
    close_flushed_in_loop(arg);
    eddy_tcp_connection_unref(arg);
}

static void shutdown_task(void *arg)
{
    shutdown_in_loop(arg);
    eddy_tcp_connection_unref(arg);
}

struct linger_task {
    struct eddy_tcp_connection *c;
    unsigned ms;
};

static void close_lingering_task(void *arg)
{
    struct linger_task *t = arg;

    close_lingering_in_loop(t->c, t->ms);
    eddy_tcp_connection_unref(t->c);
    free(t);
}

static void close_task(void *arg)
{
    eddy__tcp_conn_request_close(arg);
    eddy_tcp_connection_unref(arg);
}

/* Runs fn in c's loop: inline in the owner thread, else queued with a reference. */
static void run_owned(struct eddy_tcp_connection *c,
                      void (*inline_fn)(struct eddy_tcp_connection *), eddy_task_fn task)
{
    struct eddy_event_loop *loop = c->ch.loop;

    if (eddy_event_loop_is_in_loop_thread(loop)) {
        inline_fn(c);
        return;
    }
    eddy_tcp_connection_ref(c);
    if (eddy_event_loop_queue_in_loop(loop, task, c) < 0)
        eddy_tcp_connection_unref(c);
}

void eddy_tcp_connection_shutdown(struct eddy_tcp_connection *c)
{
    if (is_open(c))
        run_owned(c, shutdown_in_loop, shutdown_task);
}

void eddy_tcp_connection_close_flushed(struct eddy_tcp_connection *c)
{
    if (is_open(c))
        run_owned(c, close_flushed_in_loop, close_flushed_task);
}

void eddy_tcp_connection_close_lingering(struct eddy_tcp_connection *c, unsigned linger_ms)
{
    struct linger_task *t;

    if (!is_open(c))
        return;
    if (eddy_event_loop_is_in_loop_thread(c->ch.loop)) {
        close_lingering_in_loop(c, linger_ms);
        return;
    }
    t = malloc(sizeof *t);
    if (t == NULL)
        return;
    t->c = c;
    t->ms = linger_ms;
    eddy_tcp_connection_ref(c);
    if (eddy_event_loop_queue_in_loop(c->ch.loop, close_lingering_task, t) < 0) {
        eddy_tcp_connection_unref(c);
        free(t);
    }
}

void eddy_tcp_connection_close(struct eddy_tcp_connection *c)
{
    if (is_open(c))
        run_owned(c, eddy__tcp_conn_request_close, close_task);
}

void eddy_tcp_connection_set_reading(struct eddy_tcp_connection *c, int on)
{
    if (!is_live(c) || (c->flags & (F_LINGERING | F_HANDSHAKE)))
        return;
    if (!on) {
        c->flags &= ~F_WANT_READ;
        if (eddy_channel_is_reading(&c->ch) && !(c->flags & F_WR_WANTS_RD))
            eddy_channel_disable_reading(&c->ch);
        return;
    }
    c->flags |= F_WANT_READ;
    if (!(c->flags & F_PEER_EOF) && !eddy_channel_is_reading(&c->ch))
        eddy_channel_enable_reading(&c->ch);
    /* Input read before the pause (or held by the transport) would otherwise
     * wait for more bytes. */
    if (eddy_buffer_readable(&c->in) > 0 || eddy_transport_pending(&c->tr) > 0)
        eddy__tcp_conn_schedule_read(c);
}

int eddy_tcp_connection_peer_eof(const struct eddy_tcp_connection *c)
{
    return (c->flags & F_PEER_EOF) != 0;
}

int eddy_tcp_connection_was_reset(const struct eddy_tcp_connection *c)
{
    return (c->flags & F_RESET) != 0;
}

int eddy_tcp_connection_is_connected(const struct eddy_tcp_connection *c)
{
    return is_open(c);
}

/* From the channel, not the per-loop state: valid after the server is gone. */
struct eddy_event_loop *eddy_tcp_connection_loop(const struct eddy_tcp_connection *c)
{
    return c->ch.loop;
}

struct eddy_tcp_server *eddy_tcp_connection_server(const struct eddy_tcp_connection *c)
{
    return c->nl->server;
}

int eddy_tcp_connection_fd(const struct eddy_tcp_connection *c)
{
    return is_open(c) ? c->tr.fd : -1;
}

uint64_t eddy_tcp_connection_id(const struct eddy_tcp_connection *c)
{
    return c->id;
}

/* The heap copy of a named Unix peer, NULL for any other. */
static struct sockaddr_un *peer_ext(const struct eddy_tcp_connection *c)
{
    struct sockaddr_un *un = NULL;

    if (c->peer.sa.sa_family == AF_UNIX)
        memcpy(&un, c->peer.un.un_ext, sizeof un);
    return un;
}

/* Apart from the IP case, which must not pay for zeroing a sockaddr_un per accept. */
static int peer_set_unix(struct eddy_tcp_connection *c, const struct sockaddr *peer, socklen_t len)
{
    struct sockaddr_un tmp = {0}, *un;

    memcpy(&tmp, peer, len < sizeof tmp ? len : sizeof tmp);
    c->peer.un.family = AF_UNIX; /* un_ext stays NULL: unnamed, the family is all */
    if (eddy_sockaddr_len((const struct sockaddr *)(const void *)&tmp) <=
        offsetof(struct sockaddr_un, sun_path))
        return 0;
    un = malloc(sizeof *un);
    if (un == NULL)
        return -ENOMEM;
    *un = tmp;
    memcpy(c->peer.un.un_ext, &un, sizeof un);
    return 0;
}

int eddy__tcp_peer_set(struct eddy_tcp_connection *c, const struct sockaddr *peer, socklen_t len)
{
    if (peer == NULL || len < (socklen_t)sizeof(sa_family_t))
        return 0;
    if (peer->sa_family == AF_UNIX)
        return peer_set_unix(c, peer, len);
    if (peer->sa_family == AF_INET && len >= sizeof c->peer.in4)
        memcpy(&c->peer.in4, peer, sizeof c->peer.in4); /* a constant size: a few moves */
    else
        memcpy(&c->peer, peer, len < sizeof c->peer ? len : sizeof c->peer);
    return 0;
}

void eddy__tcp_peer_free(struct eddy_tcp_connection *c)
{
    free(peer_ext(c));
}

const struct sockaddr *eddy_tcp_connection_peer(const struct eddy_tcp_connection *c)
{
    const struct sockaddr_un *un = peer_ext(c);

    return un != NULL ? (const struct sockaddr *)(const void *)un : &c->peer.sa;
}

const struct eddy_transport *eddy_tcp_connection_transport(const struct eddy_tcp_connection *c)
{
    return &c->tr;
}

void eddy_tcp_connection_ref(struct eddy_tcp_connection *c)
{
    __atomic_fetch_add(&c->refs, 1, __ATOMIC_RELAXED);
}

struct eddy_tcp_connection *eddy__tcp_connection_next(const struct eddy_tcp_connection *c)
{
    return c->next;
}
