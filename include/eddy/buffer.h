/*
 * buffer: a contiguous, growable byte buffer with read and write indices.
 *
 *   | prependable | readable (rd..wr) | writable (wr..cap) |
 *   0            rd                  wr                  cap
 *
 * Memory is allocated lazily on the first write and can be released when the
 * buffer is empty (eddy_buffer_release), so an idle connection holds no buffer
 * memory. Growth compacts by memmove before reallocating; nothing is copied
 * byte by byte. A struct eddy_buffer is embedded by value in its owner.
 *
 * Not thread-safe: a buffer belongs to one thread at a time.
 */
#ifndef EDDY_BUFFER_H
#define EDDY_BUFFER_H

#include <stdarg.h>
#include <stddef.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Bytes kept free in front of the data so a length or header can be prepended. */
#define EDDY_BUFFER_PREPEND 8

struct eddy_buffer {
    char *data; /* NULL until the first write, and after eddy_buffer_release */
    size_t cap;
    size_t rd;
    size_t wr;
};

/* An empty buffer that owns no memory. Equivalent to zero-initialisation. */
void eddy_buffer_init(struct eddy_buffer *b);
/* Frees the memory; the buffer is empty and usable again afterwards. */
void eddy_buffer_free(struct eddy_buffer *b);
/* Frees the memory only if no byte is readable. Returns 1 if memory was released. */
int eddy_buffer_release(struct eddy_buffer *b);

static inline size_t eddy_buffer_readable(const struct eddy_buffer *b)
{
    return b->wr - b->rd;
}
static inline size_t eddy_buffer_writable(const struct eddy_buffer *b)
{
    return b->cap - b->wr;
}
/* First readable byte; a valid (empty) pointer even when no memory is held. */
static inline const char *eddy_buffer_peek(const struct eddy_buffer *b)
{
    return b->data ? b->data + b->rd : "";
}

/* Makes room for n more bytes (compacting or growing). 0 or -ENOMEM. */
int eddy_buffer_ensure_writable(struct eddy_buffer *b, size_t n);
/* Where to write next; valid after ensure_writable, until the next growing call. */
static inline char *eddy_buffer_begin_write(struct eddy_buffer *b)
{
    return b->data + b->wr;
}
/* Commits n bytes written at begin_write (n <= writable). */
void eddy_buffer_has_written(struct eddy_buffer *b, size_t n);

int eddy_buffer_append(struct eddy_buffer *b, const void *data, size_t n); /* 0 / -ENOMEM */
int eddy_buffer_append_str(struct eddy_buffer *b, const char *s);
/* printf into the buffer. 0, -ENOMEM, or -EINVAL on a format error. */
int eddy_buffer_appendf(struct eddy_buffer *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
int eddy_buffer_vappendf(struct eddy_buffer *b, const char *fmt, va_list ap);
/* Puts n bytes in front of the readable bytes; -ENOSPC if the prependable space is smaller. */
int eddy_buffer_prepend(struct eddy_buffer *b, const void *data, size_t n);

/* Consumes n readable bytes (n <= readable). Consuming everything rewinds the indices. */
void eddy_buffer_retrieve(struct eddy_buffer *b, size_t n);
void eddy_buffer_retrieve_all(struct eddy_buffer *b);
/* Moves all readable bytes of src to the end of dst (src ends empty). 0 / -ENOMEM.
 * When dst is empty this swaps storage instead of copying. */
int eddy_buffer_move(struct eddy_buffer *dst, struct eddy_buffer *src);

/* Offset (from the first readable byte) of the first "\r\n" at or after `from`, or -1. */
ssize_t eddy_buffer_find_crlf(const struct eddy_buffer *b, size_t from);
/* Offset of the first "\r\n\r\n" at or after `from`, or -1. */
ssize_t eddy_buffer_find_crlfcrlf(const struct eddy_buffer *b, size_t from);
/* Offset of the first '\n' at or after `from`, or -1. */
ssize_t eddy_buffer_find_eol(const struct eddy_buffer *b, size_t from);

/*
 * Reads from fd with one readv: into the writable space, and past it into a
 * 64 KiB spill area on the stack that is then appended, so one call takes what
 * the socket holds without a large buffer being kept per connection.
 * Returns bytes read (> 0), 0 at end of file, or -errno (-EAGAIN included).
 * EINTR is retried.
 */
ssize_t eddy_buffer_read_fd(struct eddy_buffer *b, int fd);
/* Writes readable bytes to fd and consumes what was written. Bytes or -errno. */
ssize_t eddy_buffer_write_fd(struct eddy_buffer *b, int fd);

#ifdef __cplusplus
}
#endif

#endif
