/*
 * On-the-fly gzip (zlib) and Accept-Encoding.
 *
 * A file held in memory by the cache is compressed within the handler. A larger one is
 * streamed: the response is deferred and the file is read and deflated a block at a
 * time while the connection's queued output stays below a mark, resuming on drain, so
 * memory stays bounded whatever the file size. The body is chunked on HTTP/1.1 and
 * delimited by the close on HTTP/1.0 (the library's streaming responses).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <zlib.h>

#include "site.h"

#define BLOCK     (32 * 1024)
#define HIGH_MARK (256 * 1024)

struct gz_job {
    z_stream z;
    int fd;
    uint64_t off, size;
    unsigned char in[BLOCK], out[BLOCK];
};

/* q of one Accept-Encoding element ("gzip;q=0.5"), 1000 for 1. */
static int qvalue(const char *p, size_t n)
{
    const char *semi = memchr(p, ';', n);
    while (semi) {
        const char *a = semi + 1;
        while (a < p + n && (*a == ' ' || *a == '\t'))
            a++;
        if (p + n - a >= 2 && (a[0] | 0x20) == 'q' && a[1] == '=') {
            char num[8] = ""; /* the value is not NUL-terminated: copy "0.xyz" */
            size_t k =
                (size_t)(p + n - a - 2) < sizeof num - 1 ? (size_t)(p + n - a - 2) : sizeof num - 1;
            memcpy(num, a + 2, k);
            num[k] = '\0';
            double v = strtod(num, NULL);
            return v <= 0 ? 0 : v >= 1 ? 1000 : (int)(v * 1000 + 0.5) ? (int)(v * 1000 + 0.5) : 1;
        }
        semi = memchr(a, ';', (size_t)(p + n - a));
    }
    return 1000;
}

int httpd_accepts_encoding(struct eddy_http_request *req, const char *coding)
{
    size_t pos = 0, clen = strlen(coding);
    int exact = -1, star = -1;
    const struct eddy_http_header *h;
    while ((h = eddy_http_request_header_next(req, "Accept-Encoding", &pos)) != NULL) {
        const char *p = h->value.p, *end = p + h->value.len;
        while (p < end) {
            const char *comma = memchr(p, ',', (size_t)(end - p));
            const char *e = comma ? comma : end;
            while (p < e && (*p == ' ' || *p == '\t'))
                p++;
            size_t tok = 0;
            while (p + tok < e && p[tok] != ' ' && p[tok] != '\t' && p[tok] != ';')
                tok++;
            if (tok == clen && strncasecmp(p, coding, clen) == 0)
                exact = qvalue(p, (size_t)(e - p));
            else if (tok == 1 && p[0] == '*')
                star = qvalue(p, (size_t)(e - p));
            p = comma ? comma + 1 : end;
        }
    }
    return exact >= 0 ? exact > 0 : star > 0;
}

/* Deflates avail_in bytes with flush and writes the output. 0, or -1 once the client is
 * gone (the response is then finished). */
static int deflate_out(struct gz_job *j, struct eddy_http_response *res, int flush)
{
    do {
        j->z.next_out = j->out;
        j->z.avail_out = sizeof j->out;
        if (deflate(&j->z, flush) == Z_STREAM_ERROR)
            return -1;
        size_t have = sizeof j->out - j->z.avail_out;
        if (have && eddy_http_response_write(res, j->out, have) < 0)
            return -1;
    } while (j->z.avail_out == 0);
    return 0;
}

static void job_free(struct gz_job *j)
{
    deflateEnd(&j->z);
    if (j->fd >= 0)
        close(j->fd);
    free(j);
}

static void on_gone(struct eddy_http_response *res, void *arg)
{
    eddy_http_response_abort(res);
    job_free(arg);
}

/* Reads and compresses until the output backs up (then drain calls again) or the end. */
static void pump(struct eddy_http_response *res, void *arg)
{
    struct gz_job *j = arg;
    while (eddy_http_response_queued(res) < HIGH_MARK) {
        size_t want = j->size - j->off < BLOCK ? (size_t)(j->size - j->off) : BLOCK;
        ssize_t n = want ? pread(j->fd, j->in, want, (off_t)j->off) : 0;
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            httpd_log_error(HTTPD_LOG_ERROR, "gzip: reading the file: %s", strerror(errno));
            eddy_http_response_abort(res);
            job_free(j);
            return;
        }
        j->off += (uint64_t)n;
        int last = n == 0 || j->off >= j->size; /* a file that shrank ends early */
        j->z.next_in = j->in;
        j->z.avail_in = (uInt)n;
        if (deflate_out(j, res, last ? Z_FINISH : Z_NO_FLUSH) < 0) {
            job_free(j); /* the write failure finished the response */
            return;
        }
        if (last) {
            eddy_http_response_end(res);
            job_free(j);
            return;
        }
    }
}

static int init_job(struct gz_job *j, int level)
{
    memset(&j->z, 0, sizeof j->z);
    return deflateInit2(&j->z, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) == Z_OK ? 0 : -1;
}

void httpd_gzip_send(struct httpd_rq *q, const struct eddy_http_file *f, int level)
{
    struct eddy_http_response *res = q->res;
    eddy_http_response_add_header(res, "Content-Encoding", "gzip");
    struct gz_job *j = malloc(sizeof *j);
    if (j == NULL || init_job(j, level) < 0) {
        free(j);
        eddy_http_response_send_error(res, 503);
        return;
    }
    j->fd = -1;
    j->off = 0;
    j->size = (uint64_t)f->st.st_size;
    if (eddy_http_request_method(q->req) == EDDY_HTTP_HEAD) {
        eddy_http_response_start(res, -1);
        eddy_http_response_end(res);
        job_free(j);
        return;
    }
    if (f->body) { /* in memory: all of it now */
        eddy_http_response_start(res, -1);
        j->z.next_in = (unsigned char *)(uintptr_t)f->body;
        j->z.avail_in = (uInt)f->st.st_size;
        if (deflate_out(j, res, Z_FINISH) == 0)
            eddy_http_response_end(res);
        job_free(j);
        return;
    }
    j->fd = fcntl(f->fd, F_DUPFD_CLOEXEC, 0);
    struct eddy_http_response *d = j->fd >= 0 ? eddy_http_response_defer(res) : NULL;
    if (d == NULL) {
        if (j->fd < 0)
            eddy_http_response_send_error(res, 503);
        job_free(j);
        return;
    }
    eddy_http_response_set_callbacks(d, pump, on_gone, j);
    if (eddy_http_response_start(d, -1) < 0) {
        job_free(j);
        return;
    }
    pump(d, j);
}
