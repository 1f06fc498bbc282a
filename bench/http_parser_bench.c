/*
 * Request-head parser throughput: parses a typical browser request head and a minimal one
 * many times and prints ns per request.
 *   build/bench/http_parser_bench [iterations [minimal|browser|chunked]]
 * bench/http_parser_compare.sh builds it with -DEDDY_BENCH_PICO against the
 * picohttpparser inside Debian's libh2o (measuring only) to print its numbers too.
 */
#include "eddy/http_parser.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char browser[] =
    "GET /static/js/app.3f9a1c.js?v=20240101 HTTP/1.1\r\n"
    "Host: www.example.com\r\n"
    "Connection: keep-alive\r\n"
    "sec-ch-ua: \"Chromium\";v=\"120\", \"Not?A_Brand\";v=\"24\"\r\n"
    "sec-ch-ua-mobile: ?0\r\n"
    "User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36\r\n"
    "sec-ch-ua-platform: \"Linux\"\r\n"
    "Accept: */*\r\n"
    "Sec-Fetch-Site: same-origin\r\n"
    "Sec-Fetch-Mode: no-cors\r\n"
    "Sec-Fetch-Dest: script\r\n"
    "Referer: https://www.example.com/index.html\r\n"
    "Accept-Encoding: gzip, deflate, br\r\n"
    "Accept-Language: en-US,en;q=0.9,de;q=0.8\r\n"
    "Cookie: session=4f2a9c7e1b3d5f7a9c1e3b5d7f9a1c3e; theme=dark; "
    "_ga=GA1.2.123456789.1700000000\r\n"
    "If-None-Match: \"5f3c-60a1b2c3d4e5f\"\r\n"
    "If-Modified-Since: Mon, 20 Nov 2023 10:00:00 GMT\r\n"
    "\r\n";

static const char minimal[] = "GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n";

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void report(const char *who, const char *name, size_t len, size_t nh, long iters, double dt)
{
    printf("%-5s %-8s %4zu bytes %3zu fields: %7.1f ns/request %7.0f MB/s\n", who, name, len, nh,
           dt * 1e9 / (double)iters, (double)len * (double)iters / dt / 1e6);
}

static void bench_eddy(const char *name, const char *req, long iters)
{
    static struct eddy_http_request_head head;
    size_t len = strlen(req);
    long sum = 0;
    double t0 = now();
    for (long i = 0; i < iters; i++)
        sum += eddy_http_parse_request(req, len, &head, NULL) + (long)head.num_headers;
    double dt = now() - t0;
    if (sum != iters * ((long)len + (long)head.num_headers)) {
        fprintf(stderr, "eddy: unexpected parse result\n");
        exit(1);
    }
    report("eddy", name, len, head.num_headers, iters, dt);
}

/* A 1 MiB body in 4 KiB chunks, decoded in 16 KiB reads, as a server would see it. */
static void bench_chunked(long rounds)
{
    enum { BODY = 1 << 20, CHUNK = 4096, READ = 16384 };
    static char wire[BODY + BODY / CHUNK * 16 + 16], buf[READ];
    size_t len = 0;
    for (size_t i = 0; i < BODY / CHUNK; i++) {
        len += (size_t)sprintf(wire + len, "%x\r\n", CHUNK);
        memset(wire + len, 'a' + (int)(i % 26), CHUNK);
        len += CHUNK;
        len += (size_t)sprintf(wire + len, "\r\n");
    }
    len += (size_t)sprintf(wire + len, "0\r\n\r\n");
    double t0 = now();
    for (long r = 0; r < rounds; r++) {
        struct eddy_http_chunked_decoder d;
        eddy_http_chunked_init(&d, 0);
        ssize_t ret = EDDY_HTTP_INCOMPLETE;
        for (size_t off = 0; off < len && ret == EDDY_HTTP_INCOMPLETE; off += READ) {
            size_t n = len - off < READ ? len - off : READ;
            memcpy(buf, wire + off, n); /* the read() into the connection buffer */
            ret = eddy_http_decode_chunked(&d, buf, &n);
        }
        if (ret != 0 || d.total != BODY) {
            fprintf(stderr, "chunked: unexpected result\n");
            exit(1);
        }
    }
    double dt = now() - t0;
    printf("eddy  chunked  1 MiB body in 4 KiB chunks, 16 KiB reads: %7.0f MB/s (incl. copy-in)\n",
           (double)len * (double)rounds / dt / 1e6);
}

#ifdef EDDY_BENCH_PICO
/* The picohttpparser API as exported by libh2o (declared here; its header is not packaged). */
struct phr_header {
    const char *name;
    size_t name_len;
    const char *value;
    size_t value_len;
};
int phr_parse_request(const char *buf, size_t len, const char **method, size_t *method_len,
                      const char **path, size_t *path_len, int *minor_version,
                      struct phr_header *headers, size_t *num_headers, size_t last_len);

static void bench_pico(const char *name, const char *req, long iters)
{
    struct phr_header hdrs[100];
    size_t len = strlen(req), nh = 0;
    long sum = 0;
    double t0 = now();
    for (long i = 0; i < iters; i++) {
        const char *m, *p;
        size_t ml, pl;
        int minor;
        nh = 100;
        sum += phr_parse_request(req, len, &m, &ml, &p, &pl, &minor, hdrs, &nh, 0) + (long)nh;
    }
    double dt = now() - t0;
    if (sum != iters * ((long)len + (long)nh)) {
        fprintf(stderr, "pico: unexpected parse result\n");
        exit(1);
    }
    report("pico", name, len, nh, iters, dt);
}
#endif

int main(int argc, char **argv)
{
    long iters = argc > 1 ? atol(argv[1]) : 3000000;
    if (iters <= 0)
        iters = 3000000;
    const char *only = argc > 2 ? argv[2] : ""; /* "minimal", "browser" or "chunked" */
    int all = only[0] == '\0';
    if (all || strcmp(only, "chunked") == 0)
        bench_chunked(iters / 20000 + 1);
    /* Two rounds: the first warms caches and clocks. */
    for (int round = 0; round < 2; round++) {
        if (all || strcmp(only, "minimal") == 0)
            bench_eddy("minimal", minimal, iters);
        if (all || strcmp(only, "browser") == 0)
            bench_eddy("browser", browser, iters);
#ifdef EDDY_BENCH_PICO
        if (all || strcmp(only, "minimal") == 0)
            bench_pico("minimal", minimal, iters);
        if (all || strcmp(only, "browser") == 0)
            bench_pico("browser", browser, iters);
#endif
    }
    return 0;
}
