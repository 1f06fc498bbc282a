/*
 * libFuzzer target for a whole HTTP connection: the real server (http library, static
 * handler on a temporary docroot made once per process, plus small body-echo, chunked
 * stream and deferred handlers) on one reactor, driven from this thread through a
 * client socket on 127.0.0.1. The loop is run one iteration at a time, so everything
 * happens in this thread and a run is deterministic.
 *
 * Input: byte 0 = mode, bytes 1-4 = two split points (u16, modulo the length), the rest
 * is what the client sends, in up to three writes with the loop run until idle in
 * between. Mode bit 0x04 set: the client resets the connection (SO_LINGER 0) after
 * reading part of the answer instead of half-closing and reading to the end.
 *
 * Invariants (abort() on violation): no crash or sanitizer report; the bytes received
 * are a sequence of well-formed responses, each "HTTP/1.1 " + 3-digit status + SP,
 * header lines with token names, at most one Content-Length and never with
 * Transfer-Encoding, a body that matches its framing, nothing after a response that
 * said "Connection: close", and the stream ends at a response boundary; once the client
 * is gone the server holds no connection.
 */
#include "eddy/event_loop.h"
#include "eddy/http.h"
#include "eddy/http_static.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            fprintf(stderr, "fuzz_http_conn: check failed at line %d: %s\n", __LINE__, #c);        \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#define RESP_CAP (4u << 20) /* response bytes kept for checking; beyond, only counted */

static struct eddy_event_loop *loop;
static struct eddy_http_server *srv;
static struct eddy_http_static *st;
static char docroot[64];
static char port_addr[64];

/* ---- the docroot --------------------------------------------------------------------- */

static void put_file(const char *rel, const char *text, size_t repeat)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/%s", docroot, rel);
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    for (size_t i = 0; i < repeat; i++)
        fputs(text, f);
    fclose(f);
}

static void put_dir(const char *rel)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/%s", docroot, rel);
    CHECK(mkdir(path, 0755) == 0);
}

static int rm_one(const char *p, const struct stat *sb, int type, struct FTW *ftw)
{
    (void)sb, (void)type, (void)ftw;
    return remove(p);
}

static void remove_docroot(void)
{
    nftw(docroot, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void make_docroot(void)
{
    strcpy(docroot, "/tmp/eddy-fuzz-conn-XXXXXX");
    CHECK(mkdtemp(docroot) != NULL);
    atexit(remove_docroot);
    put_file("index.html", "<!doctype html><title>eddy</title>\n", 1);
    put_file("a.txt", "hello, world\n", 1);
    put_file("style.css", "body { color: #123; }\n", 8);
    put_file("big.bin", "0123456789abcdefghijklmnopqrstuvwxyz", 9000); /* > small-file cache */
    put_file(".secret", "dotfile\n", 1);
    put_dir("sub");
    put_file("sub/index.html", "<p>sub</p>\n", 1);
    put_file("sub/x.json", "{\"a\":1}\n", 1);
    put_dir("list");
    put_file("list/a&b<c>.txt", "x\n", 1);
    put_file("list/sp ace.txt", "y\n", 1);
    put_dir("list/d");
    char path[256];
    snprintf(path, sizeof(path), "%s/out", docroot);
    CHECK(symlink("/etc", path) == 0);
    snprintf(path, sizeof(path), "%s/in", docroot);
    CHECK(symlink("sub", path) == 0);
}

/* ---- extra handlers: bodies, streaming, deferred answers --------------------------------- */

static void echo(struct eddy_http_request *req, struct eddy_http_response *res, void *data)
{
    (void)data;
    struct eddy_http_str b = eddy_http_request_body(req);
    eddy_http_response_reply(res, 200, "application/octet-stream", b.p, b.len);
}

static void stream(struct eddy_http_request *req, struct eddy_http_response *res, void *data)
{
    (void)data;
    struct eddy_http_str q = eddy_http_request_query(req);
    size_t n = q.len % 7;
    if (eddy_http_response_start(res, q.len % 2 ? (int64_t)(n * q.len) : -1) != 0)
        return;
    for (size_t i = 0; i < n; i++)
        eddy_http_response_write(res, q.p, q.len);
    eddy_http_response_end(res);
}

static void finish_deferred(void *arg)
{
    struct eddy_http_response *res = arg;
    eddy_http_response_reply(res, 202, "text/plain", "later\n", 6);
}

static void deferred(struct eddy_http_request *req, struct eddy_http_response *res, void *data)
{
    (void)req, (void)data;
    struct eddy_http_response *h = eddy_http_response_defer(res);
    if (h)
        eddy_event_loop_queue_in_loop(loop, finish_deferred, h);
}

/* ---- the server ------------------------------------------------------------------------ */

static void setup(void)
{
    make_docroot();
    CHECK(eddy_event_loop_new(&loop, "epoll") == 0);
    struct eddy_http_server_options o;
    eddy_http_server_options_init(&o);
    o.tcp.threads = 0;
    o.tcp.high_water_mark = 16 * 1024; /* reach the backpressure path */
    o.max_body = 4096;
    o.max_pipelined = 4;
    CHECK(eddy_http_server_new(&srv, loop, &o) == 0);
    struct eddy_http_static_options so;
    eddy_http_static_options_init(&so);
    so.root = docroot;
    so.dir_listing = 1;
    CHECK(eddy_http_static_new(&st, &so) == 0);
    CHECK(eddy_http_server_route_flags(srv, EDDY_HTTP_ANY, "/", EDDY_HTTP_ROUTE_NO_BODY,
                                       eddy_http_static_handler, st) == 0);
    CHECK(eddy_http_server_route(srv, EDDY_HTTP_ANY, "/echo", echo, NULL) == 0);
    CHECK(eddy_http_server_route(srv, EDDY_HTTP_GET, "/stream", stream, NULL) == 0);
    CHECK(eddy_http_server_route(srv, EDDY_HTTP_ANY, "/defer", deferred, NULL) == 0);
    union eddy_sockaddr bound;
    CHECK(eddy_http_server_listen(srv, "127.0.0.1:0", &bound) == 0);
    CHECK(bound.sa.sa_family == AF_INET);
    snprintf(port_addr, sizeof(port_addr), "%u", ntohs(bound.in4.sin_port));
    CHECK(eddy_http_server_start(srv) == 0);
}

static void stop_task(void *arg)
{
    eddy_event_loop_stop(arg);
}

/* One reactor iteration: whatever is ready now runs, then the queued stop ends it. */
static void iterate(void)
{
    CHECK(eddy_event_loop_queue_in_loop(loop, stop_task, loop) == 0);
    CHECK(eddy_event_loop_run(loop) == 0);
}

/* ---- the client ------------------------------------------------------------------------ */

struct resp {
    char *p;
    size_t len;   /* bytes kept (at most RESP_CAP) */
    size_t total; /* bytes received */
    int eof;      /* the server closed (FIN or RST) */
};

/* Reads whatever is available; returns the number of bytes read. */
static size_t drain(int fd, struct resp *r)
{
    size_t got = 0;
    char tmp[65536];
    while (!r->eof) {
        ssize_t n = recv(fd, tmp, sizeof(tmp), MSG_DONTWAIT);
        if (n > 0) {
            size_t keep = r->len + (size_t)n > RESP_CAP ? RESP_CAP - r->len : (size_t)n;
            memcpy(r->p + r->len, tmp, keep);
            r->len += keep;
            r->total += (size_t)n;
            got += (size_t)n;
        } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
            r->eof = 1;
        } else if (errno == EAGAIN) {
            break;
        }
    }
    return got;
}

/* Runs the loop until `idle` iterations in a row bring no response byte, EOF, or max. */
static void pump(int fd, struct resp *r, int idle, int max)
{
    int quiet = 0;
    for (int i = 0; i < max && quiet < idle && !r->eof; i++) {
        iterate();
        quiet = drain(fd, r) ? 0 : quiet + 1;
    }
}

/* Sends all of data, pumping the loop whenever the socket buffer is full. */
static void send_all(int fd, const uint8_t *data, size_t n, struct resp *r)
{
    int stalls = 0;
    while (n > 0 && stalls < 1000) {
        ssize_t k = send(fd, data, n, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (k > 0) {
            data += k, n -= (size_t)k, stalls = 0;
            continue;
        }
        if (k < 0 && errno != EAGAIN && errno != EINTR)
            return; /* the server closed: fine, it may after an error */
        stalls++;
        iterate();
        drain(fd, r);
    }
}

/* Each input's client binds a different 127.42.X.Y: a client that half-closes first
 * leaves a TIME_WAIT behind, and from one source address the ephemeral ports would run
 * out after some 30,000 inputs a minute. */
static int connect_client(void)
{
    static unsigned seq;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(port_addr))};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    for (int tries = 0;; tries++) {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        CHECK(fd >= 0);
        unsigned n = seq++ % (254u * 254u);
        struct sockaddr_in src = {.sin_family = AF_INET};
        src.sin_addr.s_addr = htonl(0x7f2a0000u | (n / 254 + 1) << 8 | (n % 254 + 1));
        int one = 1; /* the port is chosen at connect, knowing the whole 4-tuple */
        setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
        CHECK(bind(fd, (struct sockaddr *)&src, sizeof(src)) == 0);
        if (connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0) /* loopback: at once */
            return fd;
        int err = errno;
        close(fd);
        if ((err == EADDRNOTAVAIL || err == EADDRINUSE || err == EINTR) && tries < 100)
            continue;
        fprintf(stderr, "fuzz_http_conn: connect: %s\n", strerror(err));
        CHECK(0);
    }
}

static void reset_close(int fd)
{
    struct linger l = {1, 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
    close(fd);
}

/* ---- checking the responses ------------------------------------------------------------- */

static int is_tchar(unsigned char c)
{
    return (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') ||
           (c && strchr("!#$%&'*+-.^_`|~", c));
}

static int starts_response(const char *p, size_t n)
{
    return n == 0 || (n >= 9 && memcmp(p, "HTTP/1.1 ", 9) == 0);
}

static int name_is(const char *line, size_t nlen, const char *name)
{
    return nlen == strlen(name) && strncasecmp(line, name, nlen) == 0;
}

struct head_info {
    int status;
    long long content_length; /* -1: none */
    int chunked, close;
};

/* Checks the head at p (ending with CRLFCRLF at p + hlen - 4). */
static void check_head(const char *p, size_t hlen, struct head_info *h)
{
    CHECK(hlen >= 13 && memcmp(p, "HTTP/1.1 ", 9) == 0);
    for (int i = 9; i < 12; i++)
        CHECK(p[i] >= '0' && p[i] <= '9');
    CHECK(p[12] == ' ');
    h->status = (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');
    CHECK(h->status >= 100 && h->status <= 599);
    h->content_length = -1;
    h->chunked = h->close = 0;
    int cl_count = 0;
    const char *line = memchr(p, '\n', hlen) + 1, *end = p + hlen - 2;
    while (line < end) {
        const char *eol = memchr(line, '\n', (size_t)(end - line));
        CHECK(eol && eol > line && eol[-1] == '\r');
        const char *colon = memchr(line, ':', (size_t)(eol - line));
        CHECK(colon && colon > line);
        for (const char *c = line; c < colon; c++)
            CHECK(is_tchar((unsigned char)*c));
        for (const char *c = colon + 1; c < eol - 1; c++)
            CHECK(*c == '\t' || ((unsigned char)*c >= 0x20 && *c != 0x7f) ||
                  (unsigned char)*c >= 0x80);
        size_t nlen = (size_t)(colon - line);
        const char *v = colon + 1;
        while (*v == ' ')
            v++;
        if (name_is(line, nlen, "content-length")) {
            cl_count++;
            char *e;
            h->content_length = strtoll(v, &e, 10);
            CHECK(e == eol - 1 && h->content_length >= 0);
        } else if (name_is(line, nlen, "transfer-encoding")) {
            CHECK(strncasecmp(v, "chunked\r", 8) == 0);
            h->chunked = 1;
        } else if (name_is(line, nlen, "connection") && strncasecmp(v, "close\r", 6) == 0) {
            h->close = 1;
        }
        line = eol + 1;
    }
    CHECK(cl_count <= 1 && !(cl_count && h->chunked));
}

/* Length of a chunked body at p (n bytes available), or 0 if not a complete one. */
static size_t chunked_len(const char *p, size_t n)
{
    size_t i = 0;
    for (;;) {
        size_t size = 0, digits = 0;
        while (i < n && strchr("0123456789abcdefABCDEF", p[i]) && p[i]) {
            size = size * 16 + (size_t)(p[i] <= '9' ? p[i] - '0' : (p[i] | 0x20) - 'a' + 10);
            CHECK(++digits <= 12);
            i++;
        }
        if (!digits || i + 2 > n || p[i] != '\r' || p[i + 1] != '\n')
            return 0;
        i += 2;
        if (size == 0)
            break;
        if (i + size + 2 > n || p[i + size] != '\r' || p[i + size + 1] != '\n')
            return 0;
        i += size + 2;
    }
    while (i + 2 <= n && !(p[i] == '\r' && p[i + 1] == '\n')) { /* trailer fields */
        const char *eol = memmem(p + i, n - i, "\r\n", 2);
        if (!eol)
            return 0;
        i = (size_t)(eol - p) + 2;
    }
    return i + 2 <= n ? i + 2 : 0;
}

/* Walks the response stream; `complete`: the server closed, so it must end at a boundary. */
static void check_responses(const char *p, size_t n, int complete)
{
    size_t off = 0;
    while (off < n) {
        const char *q = p + off;
        size_t left = n - off;
        const char *eoh = memmem(q, left, "\r\n\r\n", 4);
        if (!eoh) {
            CHECK(!complete && left < 65536 && (left < 9 || memcmp(q, "HTTP/1.1 ", 9) == 0));
            return;
        }
        size_t hlen = (size_t)(eoh - q) + 4;
        struct head_info h;
        check_head(q, hlen, &h);
        q += hlen, left -= hlen;
        size_t body = 0;
        int bodiless = h.status < 200 || h.status == 204 || h.status == 304;
        if (bodiless) {
            body = 0;
        } else if (h.content_length >= 0) {
            size_t cl = (size_t)h.content_length;
            if (left >= cl && starts_response(q + cl, left - cl))
                body = cl;
            else if ((left > 0 || complete) && starts_response(q, left))
                body = 0; /* the answer to a HEAD */
            else {
                CHECK(!complete && left < cl); /* still arriving */
                return;
            }
        } else if (h.chunked) {
            body = chunked_len(q, left);
            if (body == 0) {
                CHECK(starts_response(q, left) || !complete);
                if (!starts_response(q, left))
                    return;
            }
        } else {
            body = left; /* delimited by close: must be the last response */
        }
        off += hlen + body;
        CHECK(!(h.close && off < n)); /* nothing may follow "Connection: close" */
    }
}

/* ---- one input ------------------------------------------------------------------------ */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct resp r;
    if (!srv) {
        setup();
        r.p = malloc(RESP_CAP);
        CHECK(r.p != NULL);
    }
    if (size < 5)
        return 0;
    int mode = data[0];
    size_t len = size - 5, k1 = 0, k2 = 0;
    const uint8_t *msg = data + 5;
    if (len) {
        k1 = (size_t)(data[1] | data[2] << 8) % (len + 1);
        k2 = (size_t)(data[3] | data[4] << 8) % (len + 1);
    }
    if (k1 > k2) {
        size_t t = k1;
        k1 = k2, k2 = t;
    }
    r.len = r.total = 0;
    r.eof = 0;
    int fd = connect_client();
    pump(fd, &r, 2, 50); /* accept */
    size_t cuts[3] = {k1, k2, len}, from = 0;
    for (int i = 0; i < 3; i++) {
        send_all(fd, msg + from, cuts[i] - from, &r);
        from = cuts[i];
        pump(fd, &r, 3, 2000);
    }
    if (mode & 0x04) {
        /* Reset with part of the answer unread; the server must let go of everything. */
        reset_close(fd);
    } else {
        shutdown(fd, SHUT_WR);
        pump(fd, &r, 20, 200000);
        if (getenv("FUZZ_CONN_DUMP")) /* triage: what the server answered */
            fprintf(stderr, "--- %zu bytes%s\n%.*s\n", r.total, r.eof ? ", closed" : "",
                    (int)(r.len < 4096 ? r.len : 4096), r.p);
        if (r.len == r.total)
            check_responses(r.p, r.len, r.eof);
        reset_close(fd);
    }
    for (int i = 0; i < 1000 && eddy_http_server_connection_count(srv) > 0; i++)
        iterate();
    CHECK(eddy_http_server_connection_count(srv) == 0);
    return 0;
}
