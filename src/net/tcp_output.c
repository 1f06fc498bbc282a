/*
 * tcp_output: a connection's output queue. Memory bytes wait in `out`; a
 * file range is a segment, and memory queued after it waits in the
 * segment's `after` buffer, so bytes leave in the order they were queued.
 * Owner thread only.
 */
#include "net_internal.h"

#include <errno.h>
#include <unistd.h>

void eddy__tcp_output_append_seg(struct eddy_tcp_connection *c, struct eddy__out_seg *s)
{
    struct eddy__out_seg **pp = &c->seg_head;

    while (*pp != NULL)
        pp = &(*pp)->next;
    s->next = NULL;
    *pp = s;
}

struct eddy_buffer *eddy__tcp_output_tail(struct eddy_tcp_connection *c)
{
    struct eddy__out_seg *s = c->seg_head;

    if (s == NULL)
        return &c->out;
    while (s->next != NULL)
        s = s->next;
    return &s->after;
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

void eddy__tcp_output_seg_done(struct eddy__out_seg *s)
{
    if (s->release != NULL)
        s->release(s->release_arg);
    else if (s->close_fd)
        close(s->fd);
    s->release = NULL;
    s->close_fd = 0;
}

void eddy__tcp_output_drop(struct eddy_tcp_connection *c)
{
    struct eddy__out_seg *s = c->seg_head, *next;

    for (; s != NULL; s = next) {
        next = s->next;
        eddy__tcp_output_seg_done(s);
        eddy_buffer_retrieve_all(&s->after);
        eddy__net_seg_put(c->nl, s);
    }
    c->seg_head = NULL;
}

/* The generic path for a file range: pread into a buffer and write it, for
 * transports without send_file (TLS, memory), files sendfile refuses and, on a
 * kernel socket, ranges copied by choice (eddy_transport_socket_set_file_copy_min).
 * A short write moves the offset by what was taken; the rest is read again. A
 * kernel socket gets 64 KiB per send, as h2o does; the others 16 KiB, one TLS
 * record. *full: a kernel socket took part of a chunk, so it is full and will
 * signal when it has room (the short send set SOCK_NOSPACE): trying again now
 * would only read the rest once more to get EAGAIN. */
static ssize_t copy_file_chunk(struct eddy_tcp_connection *c, struct eddy__out_seg *s,
                               unsigned flags, int *full)
{
    char tmp[65536];
    int sock = c->tr.ops == &eddy_transport_socket;
    size_t cap = sock ? sizeof tmp : 16384, want = s->len < cap ? s->len : cap;
    ssize_t n, w;

    do
        n = pread(s->fd, tmp, want, s->offset);
    while (n < 0 && errno == EINTR);
    if (n <= 0)
        return n < 0 ? -errno : 0;
    /* "More follows" only with the range's last chunk, as for memory before a range. */
    if ((size_t)n < s->len)
        flags &= ~(unsigned)EDDY_TRANSPORT_MORE;
    w = eddy__tr_write(&c->tr, tmp, (size_t)n, flags & EDDY_TRANSPORT_MORE);
    if (w > 0)
        s->offset += w;
    *full = sock && w > 0 && w < n;
    return w;
}

static ssize_t send_file_chunk(struct eddy_tcp_connection *c, struct eddy__out_seg *s,
                               unsigned flags, int *full)
{
    ssize_t n = -EOPNOTSUPP;

    /* TLS records of a file leave the same way as its sendfile'd bytes: the lowat
     * applies to both (HTTPS 1 MiB rows in docs/BENCHMARKS.md). */
    if (!(c->flags & F_FILE_STARTED) && (!(c->tr.ops->caps & EDDY_TRANSPORT_TCP_FD) ||
                                         eddy__transport_socket_file_start(c->tr.fd, s->len)))
        c->flags |= F_FILE_STARTED;
    if (c->tr.ops->send_file != NULL && !s->generic) {
        c->tr.want = 0;
        n = c->tr.ops->send_file(&c->tr, s->fd, &s->offset, s->len, flags);
        if (n != -EOPNOTSUPP)
            return n;
        s->generic = 1; /* e.g. a file sendfile cannot map: copy it from now on */
    }
    return copy_file_chunk(c, s, flags, full);
}

/* Sends the head segment. 1 when it is done (and popped), 0 if the transport
 * is full (or, level-triggered, a short send), -errno on error. */
static int send_segment(struct eddy_tcp_connection *c, int et, unsigned more, int *wrote)
{
    struct eddy__out_seg *s = c->seg_head;
    unsigned flags = (et ? EDDY_TRANSPORT_ALL : 0) | more;
    ssize_t n = 1;

    while (s->len > 0) {
        size_t want = s->len;
        int full = 0;

        n = send_file_chunk(c, s, flags, &full);
        if (n <= 0)
            break;
        s->len -= (size_t)n;
        c->sent += (uint64_t)n;
        *wrote = 1;
        if (full || ((size_t)n < want && !et)) {
            n = -EAGAIN;
            break;
        }
    }
    if (n == -EAGAIN)
        return 0;
    if (n == 0) /* the file is shorter than promised: the stream is broken */
        return -EIO;
    if (n < 0)
        return (int)n;
    c->seg_head = s->next;
    eddy__tcp_output_seg_done(s);
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
            unsigned more = c->seg_head || fin_next ? EDDY_TRANSPORT_MORE : 0;
            ssize_t n = eddy__tr_write(&c->tr, eddy_buffer_peek(&c->out), want, more);

            if (n < 0)
                return n == -EAGAIN ? 0 : (int)n;
            eddy_buffer_retrieve(&c->out, (size_t)n);
            c->sent += (uint64_t)n;
            *wrote = 1;
            if ((size_t)n < want && !et)
                return 0;
            continue;
        }
        if (c->seg_head == NULL)
            return 1;
        int r = send_segment(c, et, fin_next || c->seg_head->next ? EDDY_TRANSPORT_MORE : 0, wrote);
        if (r <= 0)
            return r;
    }
}
