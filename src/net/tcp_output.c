/*
 * tcp_output: a connection's output queue. Memory bytes wait in `out`; a
 * file range is a segment, and memory queued after it waits in the
 * segment's `after` buffer, so bytes leave in the order they were queued.
 * Owner thread only.
 */
#include "net_internal.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_CHUNK ((size_t)1 << 30)

struct eddy_buffer *eddy__tcp_output_tail(struct eddy_tcp_connection *c)
{
    return c->seg_tail ? &c->seg_tail->after : &c->out;
}

int eddy__tcp_output_empty(const struct eddy_tcp_connection *c)
{
    return c->seg_head == NULL && eddy_buffer_readable(&c->out) == 0;
}

size_t eddy_tcp_connection_output_queued(const struct eddy_tcp_connection *c)
{
    size_t n = eddy_buffer_readable(&c->out);
    const struct eddy__out_seg *s;

    for (s = c->seg_head; s != NULL; s = s->next)
        n += s->len + eddy_buffer_readable(&s->after);
    return n;
}

uint64_t eddy_tcp_connection_bytes_sent(const struct eddy_tcp_connection *c)
{
    return c->sent;
}

size_t eddy_tcp_connection_output_held(const struct eddy_tcp_connection *c)
{
    size_t n = eddy_buffer_readable(&c->out);
    const struct eddy__out_seg *s;

    for (s = c->seg_head; s != NULL; s = s->next)
        n += EDDY_TCP_FILE_RANGE_COST + eddy_buffer_readable(&s->after);
    return n;
}

void eddy__tcp_output_drop(struct eddy_tcp_connection *c)
{
    struct eddy__out_seg *s = c->seg_head, *next;

    for (; s != NULL; s = next) {
        next = s->next;
        if (s->close_fd)
            close(s->fd);
        eddy_buffer_retrieve_all(&s->after);
        eddy__net_seg_put(c->nl, s);
    }
    c->seg_head = c->seg_tail = NULL;
}

/* Copies a file range that sendfile refuses (EINVAL: not mmap-able). */
static ssize_t copy_file_chunk(struct eddy_tcp_connection *c, struct eddy__out_seg *s)
{
    char tmp[16384];
    size_t want = s->len < sizeof tmp ? s->len : sizeof tmp;
    ssize_t n, w;

    do
        n = pread(s->fd, tmp, want, s->offset);
    while (n < 0 && errno == EINTR);
    if (n <= 0)
        return n < 0 ? -errno : 0;
    do
        w = send(c->ch.fd, tmp, (size_t)n, MSG_NOSIGNAL);
    while (w < 0 && errno == EINTR);
    if (w < 0)
        return -errno;
    s->offset += w;
    return w;
}

static ssize_t send_file_chunk(struct eddy_tcp_connection *c, struct eddy__out_seg *s, size_t want)
{
    ssize_t n;

    do
        n = sendfile(c->ch.fd, s->fd, &s->offset, want);
    while (n < 0 && errno == EINTR);
    if (n < 0 && (errno == EINVAL || errno == ENOSYS))
        return copy_file_chunk(c, s);
    return n < 0 ? -errno : n;
}

/* sendfile, unlike send, has no MSG_NOSIGNAL: a peer reset raises SIGPIPE in
 * the calling thread. The library must not depend on the application
 * ignoring SIGPIPE, so it is blocked around sendfile and a SIGPIPE we caused
 * is consumed before the mask is restored. */
struct pipe_guard {
    sigset_t old;
};

static void pipe_guard_on(struct pipe_guard *g)
{
    sigset_t s;

    sigemptyset(&s);
    sigaddset(&s, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &s, &g->old);
}

static void pipe_guard_off(struct pipe_guard *g, int got_epipe)
{
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

/* Sends the head segment. 1 when it is done (and popped), 0 if the socket is
 * full (or, level-triggered, a short send), -errno on error. */
static int send_segment(struct eddy_tcp_connection *c, int et, int *wrote)
{
    struct eddy__out_seg *s = c->seg_head;
    struct pipe_guard g;
    ssize_t n = 1;

    pipe_guard_on(&g);
    while (s->len > 0) {
        size_t want = s->len < MAX_CHUNK ? s->len : MAX_CHUNK;

        n = send_file_chunk(c, s, want);
        if (n <= 0)
            break;
        s->len -= (size_t)n;
        c->sent += (uint64_t)n;
        *wrote = 1;
        if ((size_t)n < want && !et) {
            n = -EAGAIN;
            break;
        }
    }
    pipe_guard_off(&g, n == -EPIPE);
    if (n == -EAGAIN)
        return 0;
    if (n == 0) /* the file is shorter than promised: the stream is broken */
        return -EIO;
    if (n < 0)
        return (int)n;
    c->seg_head = s->next;
    if (c->seg_head == NULL)
        c->seg_tail = NULL;
    if (s->close_fd)
        close(s->fd);
    /* out is empty here, so this swaps storage rather than copying. */
    if (eddy_buffer_move(&c->out, &s->after) < 0)
        return -ENOMEM;
    eddy__net_buf_put(c->nl, &s->after);
    eddy__net_seg_put(c->nl, s);
    return 1;
}

/* Writes what is queued. 1 when drained, 0 if bytes remain, -errno on error. */
int eddy__tcp_output_drain(struct eddy_tcp_connection *c, int et, int fin_next, int *wrote)
{
    for (;;) {
        size_t want = eddy_buffer_readable(&c->out);

        if (want > 0) {
            int more = c->seg_head || fin_next ? MSG_MORE : 0;
            ssize_t n = send(c->ch.fd, eddy_buffer_peek(&c->out), want, MSG_NOSIGNAL | more);

            if (n < 0) {
                if (errno == EINTR)
                    continue;
                return errno == EAGAIN ? 0 : -errno;
            }
            eddy_buffer_retrieve(&c->out, (size_t)n);
            c->sent += (uint64_t)n;
            *wrote = 1;
            if ((size_t)n < want && !et)
                return 0;
            continue;
        }
        if (c->seg_head == NULL)
            return 1;
        int r = send_segment(c, et, wrote);
        if (r <= 0)
            return r;
    }
}
