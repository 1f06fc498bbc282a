/*
 * buffer: growable byte buffer. Memory is allocated on the first write only,
 * so an idle owner holds none; growth first tries to reuse the consumed space
 * in front (one memmove), then grows geometrically copying only live bytes.
 */
#include "eddy/buffer.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#define BUFFER_MIN_CAP 1024
#define BUFFER_SPILL   (64 * 1024)

void eddy_buffer_init(struct eddy_buffer *b)
{
    b->data = NULL;
    b->cap = b->rd = b->wr = 0;
}

void eddy_buffer_free(struct eddy_buffer *b)
{
    free(b->data);
    eddy_buffer_init(b);
}

int eddy_buffer_release(struct eddy_buffer *b)
{
    if (b->data == NULL || b->rd != b->wr)
        return 0;
    eddy_buffer_free(b);
    return 1;
}

/* Moves the readable bytes to just after the prependable area. */
static void compact(struct eddy_buffer *b)
{
    size_t n = b->wr - b->rd;
    if (b->rd == EDDY_BUFFER_PREPEND)
        return;
    if (n > 0)
        memmove(b->data + EDDY_BUFFER_PREPEND, b->data + b->rd, n);
    b->rd = EDDY_BUFFER_PREPEND;
    b->wr = EDDY_BUFFER_PREPEND + n;
}

static int grow(struct eddy_buffer *b, size_t n)
{
    size_t live = b->wr - b->rd;
    size_t need = EDDY_BUFFER_PREPEND + live;
    size_t cap;
    char *p;

    if (n > SIZE_MAX / 2 - need)
        return -ENOMEM;
    need += n;
    cap = b->cap < BUFFER_MIN_CAP ? BUFFER_MIN_CAP : b->cap;
    while (cap < need)
        cap *= 2;
    p = malloc(cap);
    if (p == NULL)
        return -ENOMEM;
    if (live > 0)
        memcpy(p + EDDY_BUFFER_PREPEND, b->data + b->rd, live);
    free(b->data);
    b->data = p;
    b->cap = cap;
    b->rd = EDDY_BUFFER_PREPEND;
    b->wr = EDDY_BUFFER_PREPEND + live;
    return 0;
}

int eddy_buffer_ensure_writable(struct eddy_buffer *b, size_t n)
{
    if (b->data != NULL && b->cap - b->wr >= n)
        return 0;
    /* Consumed space in front plus the tail is enough: slide, don't allocate. */
    if (b->data != NULL && b->cap - b->wr + (b->rd - EDDY_BUFFER_PREPEND) >= n) {
        compact(b);
        return 0;
    }
    return grow(b, n);
}

void eddy_buffer_has_written(struct eddy_buffer *b, size_t n)
{
    b->wr += n;
}

int eddy_buffer_append(struct eddy_buffer *b, const void *data, size_t n)
{
    int r;
    if (n == 0)
        return 0;
    r = eddy_buffer_ensure_writable(b, n);
    if (r < 0)
        return r;
    memcpy(b->data + b->wr, data, n);
    b->wr += n;
    return 0;
}

int eddy_buffer_append_str(struct eddy_buffer *b, const char *s)
{
    return eddy_buffer_append(b, s, strlen(s));
}

int eddy_buffer_vappendf(struct eddy_buffer *b, const char *fmt, va_list ap)
{
    va_list ap2;
    size_t room;
    int n, r;

    r = eddy_buffer_ensure_writable(b, 128);
    if (r < 0)
        return r;
    room = b->cap - b->wr;
    va_copy(ap2, ap);
    n = vsnprintf(b->data + b->wr, room, fmt, ap2);
    va_end(ap2);
    if (n < 0)
        return -EINVAL;
    if ((size_t)n >= room) {
        r = eddy_buffer_ensure_writable(b, (size_t)n + 1);
        if (r < 0)
            return r;
        va_copy(ap2, ap);
        n = vsnprintf(b->data + b->wr, (size_t)n + 1, fmt, ap2);
        va_end(ap2);
        if (n < 0)
            return -EINVAL;
    }
    b->wr += (size_t)n;
    return 0;
}

int eddy_buffer_appendf(struct eddy_buffer *b, const char *fmt, ...)
{
    va_list ap;
    int r;
    va_start(ap, fmt);
    r = eddy_buffer_vappendf(b, fmt, ap);
    va_end(ap);
    return r;
}

int eddy_buffer_prepend(struct eddy_buffer *b, const void *data, size_t n)
{
    if (b->data == NULL) {
        int r = grow(b, 0);
        if (r < 0)
            return r;
    }
    if (b->rd < n)
        return -ENOSPC;
    b->rd -= n;
    if (n > 0)
        memcpy(b->data + b->rd, data, n);
    return 0;
}

void eddy_buffer_retrieve(struct eddy_buffer *b, size_t n)
{
    b->rd += n;
    if (b->rd >= b->wr)
        eddy_buffer_retrieve_all(b);
}

void eddy_buffer_retrieve_all(struct eddy_buffer *b)
{
    size_t base = b->data != NULL ? EDDY_BUFFER_PREPEND : 0;
    b->rd = b->wr = base;
}

int eddy_buffer_move(struct eddy_buffer *dst, struct eddy_buffer *src)
{
    int r;
    if (eddy_buffer_readable(src) == 0)
        return 0;
    if (eddy_buffer_readable(dst) == 0) {
        /* Swap storage: no copy, and src keeps dst's (empty) memory for reuse. */
        struct eddy_buffer tmp = *dst;
        *dst = *src;
        *src = tmp;
        eddy_buffer_retrieve_all(src);
        return 0;
    }
    r = eddy_buffer_append(dst, eddy_buffer_peek(src), eddy_buffer_readable(src));
    if (r < 0)
        return r;
    eddy_buffer_retrieve_all(src);
    return 0;
}

static ssize_t find_mem(const struct eddy_buffer *b, size_t from, const char *needle, size_t nlen)
{
    size_t len = eddy_buffer_readable(b);
    const char *base, *p;
    if (from >= len || len - from < nlen)
        return -1;
    base = b->data + b->rd;
    p = memmem(base + from, len - from, needle, nlen);
    return p != NULL ? p - base : -1;
}

ssize_t eddy_buffer_find_crlf(const struct eddy_buffer *b, size_t from)
{
    return find_mem(b, from, "\r\n", 2);
}

ssize_t eddy_buffer_find_crlfcrlf(const struct eddy_buffer *b, size_t from)
{
    return find_mem(b, from, "\r\n\r\n", 4);
}

ssize_t eddy_buffer_find_eol(const struct eddy_buffer *b, size_t from)
{
    size_t len = eddy_buffer_readable(b);
    const char *base, *p;
    if (from >= len)
        return -1;
    base = b->data + b->rd;
    p = memchr(base + from, '\n', len - from);
    return p != NULL ? p - base : -1;
}

ssize_t eddy_buffer_read_fd(struct eddy_buffer *b, int fd)
{
    char spill[BUFFER_SPILL];
    struct iovec iov[2];
    size_t writable = b->data != NULL ? b->cap - b->wr : 0;
    int iovcnt = 0;
    ssize_t n;

    if (writable > 0) {
        iov[iovcnt].iov_base = b->data + b->wr;
        iov[iovcnt].iov_len = writable;
        iovcnt++;
    }
    iov[iovcnt].iov_base = spill;
    iov[iovcnt].iov_len = sizeof(spill);
    iovcnt++;
    do
        n = readv(fd, iov, iovcnt);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return -errno;
    if ((size_t)n <= writable) {
        b->wr += (size_t)n;
        return n;
    }
    b->wr = b->cap;
    if (eddy_buffer_append(b, spill, (size_t)n - writable) < 0)
        return -ENOMEM;
    return n;
}

ssize_t eddy_buffer_write_fd(struct eddy_buffer *b, int fd)
{
    size_t len = eddy_buffer_readable(b);
    ssize_t n;
    if (len == 0)
        return 0;
    do
        n = write(fd, b->data + b->rd, len);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return -errno;
    eddy_buffer_retrieve(b, (size_t)n);
    return n;
}
