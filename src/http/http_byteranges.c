/*
 * 206 multipart/byteranges (RFC 9110 14.6): each part is a boundary line, Content-Type
 * and Content-Range, then the bytes, from the cached copy or with sendfile. The whole
 * length is known before the first byte, so the body has a Content-Length and the
 * connection stays usable.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "eddy/http_static.h"

/* Distinct per response and hard to guess, so a file cannot be crafted to contain the
 * delimiter of the response that carries it (RFC 2046 5.1.1). */
static void make_boundary(char out[21])
{
    static _Thread_local uint64_t state;
    if (state == 0) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        state = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 30) ^ (uint64_t)(uintptr_t)&state;
    }
    uint64_t z = (state += 0x9e3779b97f4a7c15ull); /* splitmix64 */
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    snprintf(out, 21, "%020" PRIu64, z);
}

/* The delimiter and fields before part r (the first has no leading CRLF). */
static size_t part_head(char *buf, size_t cap, int first, const char *boundary, const char *mime,
                        const struct eddy_http_range *r, uint64_t size)
{
    int n = snprintf(buf, cap,
                     "%s--%s\r\nContent-Type: %s\r\nContent-Range: bytes %" PRIu64 "-%" PRIu64
                     "/%" PRIu64 "\r\n\r\n",
                     first ? "" : "\r\n", boundary, mime, r->first, r->last, size);
    return n < 0 ? 0 : (size_t)n < cap ? (size_t)n : cap - 1;
}

/* Each file part sends from its own dup: the cache may close its fd before the queued
 * parts are sent, and a part never depends on a descriptor another one closes. */
static int send_part(struct eddy_http_response *res, const struct eddy_http_file *f,
                     const struct eddy_http_range *r)
{
    size_t len = (size_t)(r->last - r->first + 1);
    if (f->body)
        return eddy_http_response_write(res, f->body + r->first, len);
    int fd = fcntl(f->fd, F_DUPFD_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    return eddy_http_response_write_file(res, fd, (off_t)r->first, len, 1);
}

void eddy_http_send_byteranges(struct eddy_http_response *res, const struct eddy_http_file *f,
                               const struct eddy_http_range *r, size_t n)
{
    char boundary[21], head[512], tail[40], ct[64];
    uint64_t size = (uint64_t)f->st.st_size, total = 0;
    make_boundary(boundary);
    for (size_t i = 0; i < n; i++)
        total += part_head(head, sizeof head, i == 0, boundary, f->mime, &r[i], size) +
                 (r[i].last - r[i].first + 1);
    int tail_len = snprintf(tail, sizeof tail, "\r\n--%s--\r\n", boundary);
    total += (uint64_t)tail_len;
    snprintf(ct, sizeof ct, "multipart/byteranges; boundary=%s", boundary);
    eddy_http_response_add_header(res, "Content-Type", ct);
    eddy_http_response_set_status(res, 206);
    int rc = eddy_http_response_start(res, (int64_t)total);
    for (size_t i = 0; i < n && rc == 0; i++) {
        size_t hl = part_head(head, sizeof head, i == 0, boundary, f->mime, &r[i], size);
        rc = eddy_http_response_write(res, head, hl);
        if (rc == 0)
            rc = send_part(res, f, &r[i]);
    }
    if (rc == 0)
        eddy_http_response_write(res, tail, (size_t)tail_len);
    /* A part that failed leaves the body short: end() then closes the connection. */
    eddy_http_response_end(res);
}
