/*
 * The HTTP server library through its API: routing, request accessors, response
 * headers, deferred and streamed responses, send_file, the access-log hook, handler
 * mistakes, pipelining behind a deferred response, and graceful stop.
 */
#include "http_test_util.h"

#include "../../lib/test.h"
#include "eddy/timer.h"

#include <fcntl.h>
#include <stdatomic.h>

#ifndef HTTP_TEST_THREADS
#define HTTP_TEST_THREADS 0 /* test_http_server_mt.c runs the same tests on sub-reactors */
#endif

static struct test_server T;
static struct cli C1, C2, C3;
static char g_file[64];

/* ---- access log --------------------------------------------------------------------- */

static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;
static int log_count, log_status;
static char log_line[512];

static void access_log(const struct eddy_http_log_entry *e, void *data)
{
    (void)data;
    char ip[64];
    eddy_sockaddr_format_ip(e->peer, ip, sizeof(ip));
    pthread_mutex_lock(&log_mu);
    log_count++;
    log_status = e->status;
    snprintf(log_line, sizeof(log_line), "%s %.*s %.*s %d %llu ua=%.*s ref=%.*s t=%d", ip,
             (int)e->method.len, e->method.p, (int)e->target.len, e->target.p, e->status,
             (unsigned long long)e->body_bytes, (int)e->user_agent.len, e->user_agent.p,
             (int)e->referer.len, e->referer.p, e->time > 1600000000);
    pthread_mutex_unlock(&log_mu);
}

/* The log count once earlier tests' lines are in: a response is logged once written, so
 * a client may read it a moment before (or, for one it did not read, at the close). */
static int log_count_settled(void)
{
    int n = -1, m;
    for (int i = 0; i < 100; i++) {
        usleep(20000);
        pthread_mutex_lock(&log_mu);
        m = log_count;
        pthread_mutex_unlock(&log_mu);
        if (m == n)
            break;
        n = m;
    }
    return n;
}

/* ---- handlers ----------------------------------------------------------------------- */

static void h_text(struct eddy_http_request *req, struct eddy_http_response *res, void *d)
{
    (void)req;
    eddy_http_response_reply(res, 200, "text/plain", d, strlen(d));
}

static void h_req(struct eddy_http_request *req, struct eddy_http_response *res, void *d)
{
    (void)d;
    char out[2048];
    size_t pos = 0;
    const struct eddy_http_header *h;
    struct eddy_http_str m = eddy_http_request_method_str(req), q = eddy_http_request_query(req);
    struct eddy_http_str host = eddy_http_request_host(req), t = eddy_http_request_target(req);
    struct eddy_http_str b = eddy_http_request_body(req);
    int n = snprintf(out, sizeof(out),
                     "m=%.*s id=%d t=%.*s p=%s q=%.*s host=%.*s v=%d ka=%d b=%.*s rep=", (int)m.len,
                     m.p, eddy_http_request_method(req), (int)t.len, t.p,
                     eddy_http_request_path(req), (int)q.len, q.p ? q.p : "", (int)host.len, host.p,
                     eddy_http_request_minor_version(req), eddy_http_request_keep_alive(req),
                     (int)b.len, b.p);
    while ((h = eddy_http_request_header_next(req, "x-rep", &pos)) != NULL)
        n += snprintf(out + n, sizeof(out) - (size_t)n, "[%.*s]", (int)h->value.len, h->value.p);
    const struct eddy_http_str *one = eddy_http_request_header(req, "X-ONE");
    n += snprintf(out + n, sizeof(out) - (size_t)n, " one=%.*s count=%zu", one ? (int)one->len : 0,
                  one ? one->p : "", eddy_http_request_header_count(req));
    eddy_http_response_reply(res, 200, "text/plain", out, (size_t)n);
}

static void h_hdr(struct eddy_http_request *req, struct eddy_http_response *res, void *d)
{
    (void)req, (void)d;
    char out[256];
    int bad = 0;
    eddy_http_response_add_header(res, "X-A", "1");
    eddy_http_response_add_header(res, "X-A", "2");
    eddy_http_response_set_header(res, "X-B", "old");
    eddy_http_response_set_header(res, "x-b", "new");
    bad += eddy_http_response_add_header(res, "Content-Length", "5") == -EINVAL;
    bad += eddy_http_response_add_header(res, "Connection", "close") == -EINVAL;
    bad += eddy_http_response_add_header(res, "Bad Name", "v") == -EINVAL;
    bad += eddy_http_response_add_header(res, "X-Evil", "a\r\nInjected: 1") == -EINVAL;
    eddy_http_response_set_header(res, "Server", "custom");
    eddy_http_response_set_status(res, 201);
    int n = snprintf(out, sizeof(out), "bad=%d", bad);
    eddy_http_response_send(res, out, (size_t)n);
    bad = eddy_http_response_send(res, "x", 1) == -EALREADY; /* second finish refused */
    (void)bad;
}

struct later {
    struct eddy_timer timer;
    struct eddy_http_response *res;
    int step, steps;
    int result;
};

static atomic_int deferred_result = 1;

static void later_fire(struct eddy_timer *t)
{
    struct later *l = t->data;
    if (l->steps == 0) {
        atomic_store(&deferred_result,
                     eddy_http_response_reply(l->res, 200, "text/plain", "late", 4));
        free(l);
        return;
    }
    char chunk[32];
    if (l->step == 0)
        eddy_http_response_start(l->res, -1);
    int n = snprintf(chunk, sizeof(chunk), "part%d;", l->step);
    eddy_http_response_write(l->res, chunk, (size_t)n);
    if (++l->step == l->steps) {
        atomic_store(&deferred_result, eddy_http_response_end(l->res));
        free(l);
        return;
    }
    eddy_timer_start(t, 10, 0);
}

static void defer_for(struct eddy_http_request *req, struct eddy_http_response *res, int ms,
                      int steps)
{
    struct later *l = calloc(1, sizeof(*l));
    l->res = eddy_http_response_defer(res);
    l->steps = steps;
    eddy_timer_init(&l->timer, eddy_http_request_loop(req), later_fire, l);
    eddy_timer_start(&l->timer, (uint64_t)ms, 0);
}

static void h_defer(struct eddy_http_request *req, struct eddy_http_response *res, void *d)
{
    (void)d;
    defer_for(req, res, 100, 0);
}

static void h_defer_slow(struct eddy_http_request *req, struct eddy_http_response *res, void *d)
{
    (void)d;
    defer_for(req, res, 400, 0);
}

static void h_defer_stream(struct eddy_http_request *req, struct eddy_http_response *res, void *d)
{
    (void)d;
    defer_for(req, res, 10, 5);
}

static void h_defer_now(struct eddy_http_request *req, struct eddy_http_response *res, void *d)
{
    (void)req, (void)d; /* deferred, then finished before the handler returns */
    struct eddy_http_response *r = eddy_http_response_defer(res);
    int same = eddy_http_response_defer(res) == r && eddy_http_response_defer(r) == r;
    int already = eddy_http_response_reply(res, 200, NULL, "x", 1) == -EALREADY;
    eddy_http_response_reply(r, 200, "text/plain", same && already ? "now" : "bad", 3);
}

static void h_stream(struct eddy_http_request *req, struct eddy_http_response *res, void *d)
{
    (void)req, (void)d;
    eddy_http_response_add_header(res, "Content-Type", "text/plain");
    eddy_http_response_start(res, -1);
    eddy_http_response_write(res, "one,", 4);
    eddy_http_response_write(res, "", 0);
    eddy_http_response_write(res, "two,", 4);
    eddy_http_response_write(res, "three", 5);
    eddy_http_response_end(res);
}

static void h_stream_cl(struct eddy_http_request *req, struct eddy_http_response *res, void *d)
{
    (void)req, (void)d;
    eddy_http_response_start(res, 10);
    eddy_http_response_write(res, "01234", 5);
    int too_much = eddy_http_response_write(res, "56789X", 6) == -EINVAL;
    eddy_http_response_write(res, too_much ? "56789" : "!!!!!", 5);
    eddy_http_response_end(res);
}

static void h_file(struct eddy_http_request *req, struct eddy_http_response *res, void *d)
{
    (void)req, (void)d;
    int fd = open(g_file, O_RDONLY | O_CLOEXEC);
    eddy_http_response_add_header(res, "Content-Type", "application/octet-stream");
    eddy_http_response_send_file(res, fd, 5, 20, 1);
}

/* send_file_ref: one shared descriptor, never closed by the library; each response
 * gives its reference back exactly once (sent, HEAD, or dropped with the connection). */
static int ref_fd = -1, big_fd = -1;
static atomic_int ref_released;

static void ref_release(void *arg)
{
    ASSERT(arg == &ref_fd);
    atomic_fetch_add(&ref_released, 1);
}

/* The server thread gives the reference back just after the bytes left: wait for it. */
static int released_within(int n)
{
    for (int i = 0; i < 200 && atomic_load(&ref_released) < n; i++)
        usleep(10 * 1000);
    return atomic_load(&ref_released);
}

static void h_file_ref(struct eddy_http_request *req, struct eddy_http_response *res, void *d)
{
    (void)d;
    int big = eddy_http_request_path(req)[5] == 'b'; /* "/fileb": 64 MiB, sparse */
    eddy_http_response_send_file_ref(res, big ? big_fd : ref_fd, 5, big ? (64u << 20) - 5 : 20,
                                     ref_release, &ref_fd);
}

static void h_forget(struct eddy_http_request *req, struct eddy_http_response *res, void *d)
{
    (void)req, (void)res, (void)d;
}

static void h_close(struct eddy_http_request *req, struct eddy_http_response *res, void *d)
{
    (void)req, (void)d;
    eddy_http_response_set_close(res);
    eddy_http_response_reply(res, 200, NULL, "bye", 3);
}

/* A paced producer: 8 MiB in 64 KiB parts, never more than 256 KiB queued. */
struct producer {
    struct eddy_http_response *res;
    size_t sent, total;
};

static atomic_int producer_done, gone_called, poll_started;

static void produce(struct eddy_http_response *res, void *arg)
{
    struct producer *p = arg;
    static char part[65536];
    while (p->sent < p->total && eddy_http_response_queued(res) < 256 * 1024) {
        for (size_t i = 0; i < sizeof(part); i++)
            part[i] = (char)('a' + (p->sent + i) % 26);
        if (eddy_http_response_write(res, part, sizeof(part)) < 0)
            return; /* the gone callback cleans up */
        p->sent += sizeof(part);
    }
    if (p->sent == p->total) {
        atomic_store(&producer_done, eddy_http_response_end(res) == 0 ? 1 : -1);
        free(p);
    }
}

static void producer_gone(struct eddy_http_response *res, void *arg)
{
    atomic_fetch_add(&gone_called, 1);
    free(arg);
    eddy_http_response_end(res); /* frees the handle */
}

static void h_big(struct eddy_http_request *req, struct eddy_http_response *res, void *d)
{
    (void)req, (void)d;
    struct producer *p = calloc(1, sizeof(*p));
    p->total = 8u << 20;
    p->res = eddy_http_response_defer(res);
    eddy_http_response_set_callbacks(p->res, produce, producer_gone, p);
    eddy_http_response_start(p->res, -1);
    produce(p->res, p);
}

static void h_poll(struct eddy_http_request *req, struct eddy_http_response *res, void *d)
{
    (void)req, (void)d; /* a long poll that never answers by itself */
    struct eddy_http_response *r = eddy_http_response_defer(res);
    eddy_http_response_set_callbacks(r, NULL, producer_gone, calloc(1, 1));
    atomic_fetch_add(&poll_started, 1);
}

static void setup(struct eddy_http_server *s)
{
    eddy_http_server_route(s, EDDY_HTTP_GET, "/big", h_big, NULL);
    eddy_http_server_route(s, EDDY_HTTP_GET, "/poll", h_poll, NULL);
    eddy_http_server_route(s, EDDY_HTTP_ANY, "/req", h_req, NULL);
    eddy_http_server_route_flags(s, EDDY_HTTP_ANY, "/nobody", EDDY_HTTP_ROUTE_NO_BODY, h_req, NULL);
    eddy_http_server_route(s, EDDY_HTTP_GET, "/hdr", h_hdr, NULL);
    eddy_http_server_route(s, EDDY_HTTP_GET, "/a", h_text, "a");
    eddy_http_server_route(s, EDDY_HTTP_GET, "/a/b", h_text, "ab");
    eddy_http_server_route(s, EDDY_HTTP_POST, "/a/b", h_text, "ab-post");
    eddy_http_server_route(s, EDDY_HTTP_POST, "/post", h_text, "posted");
    eddy_http_server_route(s, EDDY_HTTP_DELETE, "/post", h_text, "deleted");
    eddy_http_server_route(s, EDDY_HTTP_GET, "/defer", h_defer, NULL);
    eddy_http_server_route(s, EDDY_HTTP_GET, "/dstream", h_defer_stream, NULL);
    eddy_http_server_route(s, EDDY_HTTP_GET, "/dslow", h_defer_slow, NULL);
    eddy_http_server_route(s, EDDY_HTTP_GET, "/dnow", h_defer_now, NULL);
    eddy_http_server_route(s, EDDY_HTTP_GET, "/stream", h_stream, NULL);
    eddy_http_server_route(s, EDDY_HTTP_GET, "/streamcl", h_stream_cl, NULL);
    eddy_http_server_route(s, EDDY_HTTP_GET, "/file", h_file, NULL);
    eddy_http_server_route(s, EDDY_HTTP_GET, "/filer", h_file_ref, NULL);
    eddy_http_server_route(s, EDDY_HTTP_GET, "/fileb", h_file_ref, NULL);
    eddy_http_server_route(s, EDDY_HTTP_GET, "/forget", h_forget, NULL);
    eddy_http_server_route(s, EDDY_HTTP_GET, "/close", h_close, NULL);
}

/* ---- tests -------------------------------------------------------------------------- */

/* One request on a new connection; r must be freed. */
static int fetch(const char *req, struct resp *r, int head_only)
{
    if (cli_connect(&C1, T.port) < 0 || cli_sends(&C1, req) < 0)
        return -1;
    int rc = cli_read(&C1, r, head_only);
    cli_close(&C1);
    return rc;
}

static void test_routes_longest_prefix(void)
{
    struct resp r;
    const struct {
        const char *req, *body;
        int status;
    } cases[] = {
        {"GET /a HTTP/1.1\r\nHost: h\r\n\r\n", "a", 200},
        {"GET /a/ HTTP/1.1\r\nHost: h\r\n\r\n", "a", 200},
        {"GET /a/b/c HTTP/1.1\r\nHost: h\r\n\r\n", "ab", 200},
        {"POST /a/b HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n", "ab-post", 200},
        {"PUT /a/b HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n", NULL, 405},
        {"GET /ab HTTP/1.1\r\nHost: h\r\n\r\n", NULL, 404},
        {"GET /x/../a/./b HTTP/1.1\r\nHost: h\r\n\r\n", "ab", 200},
        {"DELETE /post HTTP/1.1\r\nHost: h\r\n\r\n", "deleted", 200},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        ASSERT_EQ(fetch(cases[i].req, &r, 0), 0);
        ASSERT_EQ(r.status, cases[i].status);
        if (cases[i].body)
            ASSERT_STR_EQ(r.body, cases[i].body);
        resp_free(&r);
    }
    ASSERT_EQ(fetch("GET /post HTTP/1.1\r\nHost: h\r\n\r\n", &r, 0), 0);
    ASSERT_EQ(r.status, 405);
    ASSERT(strstr(r.head, "\r\nAllow: POST, DELETE\r\n") != NULL);
    resp_free(&r);
    ASSERT_EQ(fetch("PUT /a/b HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n", &r, 0), 0);
    ASSERT(strstr(r.head, "\r\nAllow: GET, HEAD, POST\r\n") != NULL);
    resp_free(&r);
}

static void test_request_accessors(void)
{
    struct resp r;
    ASSERT_EQ(fetch("PATCH /req/%7Ex?k=v&z HTTP/1.1\r\nHost: ex.com\r\nX-Rep: 1\r\nX-One: o\r\n"
                    "x-rep: 2\r\nContent-Length: 3\r\n\r\nabc",
                    &r, 0),
              0);
    ASSERT_EQ(r.status, 200);
    ASSERT_STR_EQ(r.body, "m=PATCH id=9 t=/req/%7Ex?k=v&z p=/req/~x q=k=v&z host=ex.com v=1 ka=1 "
                          "b=abc rep=[1][2] one=o count=5");
    resp_free(&r);
    ASSERT_EQ(fetch("GET http://other:81/req HTTP/1.0\r\n\r\n", &r, 0), 0);
    ASSERT_STR_EQ(r.body, "m=GET id=1 t=http://other:81/req p=/req q= host=other:81 v=0 ka=0 b= "
                          "rep= one= count=0");
    resp_free(&r);
}

/* A body sent in two reads (the slow path), then a request on the same connection. */
static void send_split_body(const char *head, const char *part1, const char *part2, struct resp *r)
{
    ASSERT_EQ(cli_sends(&C1, head), 0);
    ASSERT_EQ(cli_sends(&C1, part1), 0);
    usleep(30000);
    ASSERT_EQ(cli_sends(&C1, part2), 0);
    ASSERT_EQ(cli_read(&C1, r, 0), 0);
}

static void test_route_no_body(void)
{
    struct resp r;
    ASSERT_EQ(cli_connect(&C1, T.port), 0);
    /* A route that takes bodies gets it whole, also when it came in two reads. */
    send_split_body("POST /req HTTP/1.1\r\nHost: h\r\nContent-Length: 6\r\n\r\n", "abc", "def", &r);
    ASSERT(strstr(r.body, " b=abcdef ") != NULL);
    resp_free(&r);
    /* A NO_BODY route runs after its body was dropped, with none; keep-alive goes on. */
    send_split_body("POST /nobody HTTP/1.1\r\nHost: h\r\nContent-Length: 6\r\n\r\n", "abc", "def",
                    &r);
    ASSERT_EQ(r.status, 200);
    ASSERT(strstr(r.body, "p=/nobody ") && strstr(r.body, " b= "));
    resp_free(&r);
    send_split_body("PUT /nobody HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n",
                    "3\r\nabc\r\n", "2\r\nde\r\n0\r\n\r\n", &r);
    ASSERT(strstr(r.body, "m=PUT ") && strstr(r.body, " b= "));
    resp_free(&r);
    /* So does a request no route takes. */
    send_split_body("POST /nowhere HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n\r\n", "ab", "cd",
                    &r);
    ASSERT_EQ(r.status, 404);
    resp_free(&r);
    /* Whole in one read, the body is not shown to a NO_BODY route either. */
    ASSERT_EQ(cli_sends(&C1, "POST /nobody HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nxyz"
                             "GET /req?after HTTP/1.1\r\nHost: h\r\n\r\n"),
              0);
    ASSERT_EQ(cli_read(&C1, &r, 0), 0);
    ASSERT(strstr(r.body, " b= ") != NULL);
    resp_free(&r);
    ASSERT_EQ(cli_read(&C1, &r, 0), 0);
    ASSERT(strstr(r.body, "q=after ") != NULL);
    resp_free(&r);
    cli_close(&C1);
}

static void test_response_headers(void)
{
    struct resp r;
    ASSERT_EQ(fetch("GET /hdr HTTP/1.1\r\nHost: h\r\n\r\n", &r, 0), 0);
    ASSERT_EQ(r.status, 201);
    ASSERT(strncmp(r.head, "HTTP/1.1 201 Created\r\n", 22) == 0);
    ASSERT_STR_EQ(r.body, "bad=4");
    ASSERT_EQ(count_of(r.head, "\r\nX-A: "), 2);
    ASSERT_EQ(count_of(r.head, "\r\nx-b: new\r\n"), 1);
    ASSERT_EQ(count_of(r.head, "X-B: old"), 0);
    ASSERT_EQ(count_of(r.head, "\r\nServer: custom\r\n"), 1);
    ASSERT_EQ(count_of(r.head, "\r\nServer: "), 1);
    ASSERT_EQ(count_of(r.head, "\r\nDate: "), 1);
    ASSERT_EQ(count_of(r.head, "Injected"), 0);
    resp_free(&r);
}

static void test_stream_chunked_and_http10(void)
{
    struct resp r;
    ASSERT_EQ(fetch("GET /stream HTTP/1.1\r\nHost: h\r\n\r\n", &r, 0), 0);
    ASSERT(strstr(r.head, "Transfer-Encoding: chunked") != NULL);
    ASSERT_STR_EQ(r.body, "one,two,three");
    resp_free(&r);
    /* HTTP/1.0: no chunked coding; the body ends with the connection */
    ASSERT_EQ(fetch("GET /stream HTTP/1.0\r\n\r\n", &r, 0), 0);
    ASSERT(strstr(r.head, "Transfer-Encoding") == NULL);
    ASSERT(strstr(r.head, "Connection: close") != NULL);
    ASSERT_STR_EQ(r.body, "one,two,three");
    resp_free(&r);
    ASSERT_EQ(fetch("GET /streamcl HTTP/1.1\r\nHost: h\r\n\r\n", &r, 0), 0);
    ASSERT(strstr(r.head, "Content-Length: 10\r\n") != NULL);
    ASSERT_STR_EQ(r.body, "0123456789");
    resp_free(&r);
    ASSERT_EQ(fetch("HEAD /stream HTTP/1.1\r\nHost: h\r\n\r\n", &r, 1), 0);
    ASSERT_EQ(r.status, 200);
    ASSERT_EQ(C1.len, 0);
    resp_free(&r);
}

static void test_send_file(void)
{
    struct resp r;
    ASSERT_EQ(cli_connect(&C1, T.port), 0);
    ASSERT_EQ(cli_sends(&C1, "GET /file HTTP/1.1\r\nHost: h\r\n\r\nHEAD /file HTTP/1.1\r\nHost: "
                             "h\r\n\r\nGET /file HTTP/1.1\r\nHost: h\r\n\r\n"),
              0);
    ASSERT_EQ(cli_read(&C1, &r, 0), 0);
    ASSERT_EQ(r.body_len, 20);
    ASSERT_STR_EQ(r.body, "56789abcdefghijklmno");
    resp_free(&r);
    ASSERT_EQ(cli_read(&C1, &r, 1), 0);
    ASSERT(strstr(r.head, "Content-Length: 20\r\n") != NULL);
    resp_free(&r);
    ASSERT_EQ(cli_read(&C1, &r, 0), 0);
    ASSERT_STR_EQ(r.body, "56789abcdefghijklmno");
    resp_free(&r);
    cli_close(&C1);
}

static void test_send_file_ref(void)
{
    struct resp r;
    ASSERT_EQ(cli_connect(&C1, T.port), 0);
    ASSERT_EQ(cli_sends(&C1, "GET /filer HTTP/1.1\r\nHost: h\r\n\r\nHEAD /filer HTTP/1.1\r\n"
                             "Host: h\r\n\r\nGET /filer HTTP/1.1\r\nHost: h\r\n\r\n"),
              0);
    for (int i = 0; i < 3; i++) {
        ASSERT_EQ(cli_read(&C1, &r, i == 1), 0);
        ASSERT(strstr(r.head, "Content-Length: 20\r\n") != NULL);
        if (i != 1)
            ASSERT_STR_EQ(r.body, "56789abcdefghijklmno");
        resp_free(&r);
    }
    ASSERT_EQ(released_within(3), 3);
    ASSERT_GE(fcntl(ref_fd, F_GETFD), 0); /* the caller's descriptor, still open */
    /* 64 MiB the client never reads, then it leaves: the queued range is dropped and its
     * reference given back once. */
    ASSERT_EQ(cli_sends(&C1, "GET /fileb HTTP/1.1\r\nHost: h\r\n\r\n"), 0);
    usleep(50 * 1000);
    ASSERT_EQ(atomic_load(&ref_released), 3);
    cli_close(&C1);
    ASSERT_EQ(released_within(4), 4);
    ASSERT_GE(fcntl(big_fd, F_GETFD), 0);
}

static void test_deferred_keeps_order(void)
{
    struct resp r;
    ASSERT_EQ(cli_connect(&C1, T.port), 0);
    /* the deferred response holds up the two behind it, which arrive in order after it */
    ASSERT_EQ(cli_sends(&C1, "GET /defer HTTP/1.1\r\nHost: h\r\n\r\nGET /a HTTP/1.1\r\nHost: "
                             "h\r\n\r\nGET /dstream HTTP/1.1\r\nHost: h\r\n\r\nGET /dnow "
                             "HTTP/1.1\r\nHost: h\r\n\r\nGET /a/b HTTP/1.1\r\nHost: h\r\n\r\n"),
              0);
    double t0 = eddy_test_now();
    ASSERT_EQ(cli_read(&C1, &r, 0), 0);
    ASSERT_STR_EQ(r.body, "late");
    ASSERT_GE(eddy_test_now() - t0, 0.05);
    resp_free(&r);
    ASSERT_EQ(cli_read(&C1, &r, 0), 0);
    ASSERT_STR_EQ(r.body, "a");
    resp_free(&r);
    ASSERT_EQ(cli_read(&C1, &r, 0), 0);
    ASSERT_STR_EQ(r.body, "part0;part1;part2;part3;part4;");
    resp_free(&r);
    ASSERT_EQ(cli_read(&C1, &r, 0), 0);
    ASSERT_STR_EQ(r.body, "now");
    resp_free(&r);
    ASSERT_EQ(cli_read(&C1, &r, 0), 0);
    ASSERT_STR_EQ(r.body, "ab");
    resp_free(&r);
    ASSERT_EQ(atomic_load(&deferred_result), 0);
    cli_close(&C1);
}

/* 300 requests queued behind a deferred response: more than max_pipelined (32), so the
 * connection stops reading, then resumes; every response arrives, in order. */
static void test_deferred_bounded_queue(void)
{
    static char batch[300 * 40];
    struct resp r;
    size_t n = (size_t)snprintf(batch, sizeof(batch), "GET /defer HTTP/1.1\r\nHost: h\r\n\r\n");
    for (int i = 0; i < 300; i++)
        n += (size_t)snprintf(batch + n, sizeof(batch) - n, "GET /%s HTTP/1.1\r\nHost: h\r\n\r\n",
                              i % 2 ? "a" : "a/b");
    ASSERT_EQ(cli_connect(&C1, T.port), 0);
    ASSERT_EQ(cli_send(&C1, batch, n), 0);
    ASSERT_EQ(cli_read(&C1, &r, 0), 0);
    ASSERT_STR_EQ(r.body, "late");
    resp_free(&r);
    for (int i = 0; i < 300; i++) {
        ASSERT_EQ(cli_read(&C1, &r, 0), 0);
        ASSERT_STR_EQ(r.body, i % 2 ? "a" : "ab");
        resp_free(&r);
    }
    ASSERT_EQ(C1.len, 0);
    cli_close(&C1);
}

static void test_deferred_access_log(void)
{
    struct resp r;
    int before = log_count_settled();
    ASSERT_EQ(fetch("GET /defer?q HTTP/1.1\r\nHost: h\r\nUser-Agent: later/2\r\n\r\n", &r, 0), 0);
    resp_free(&r);
    usleep(20000);
    pthread_mutex_lock(&log_mu);
    int after = log_count;
    char line[512];
    memcpy(line, log_line, sizeof(line));
    pthread_mutex_unlock(&log_mu);
    ASSERT_EQ(after, before + 1);
    ASSERT_STR_EQ(line, "127.0.0.1 GET /defer?q 200 4 ua=later/2 ref= t=1");
}

static void test_deferred_paced_by_drain(void)
{
    struct resp r;
    int rcvbuf = 16384;
    ASSERT_EQ(cli_connect(&C1, T.port), 0);
    setsockopt(C1.fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
    ASSERT_EQ(
        cli_sends(&C1, "GET /big HTTP/1.1\r\nHost: h\r\n\r\nGET /a HTTP/1.1\r\nHost: h\r\n\r\n"),
        0);
    ASSERT_EQ(cli_read(&C1, &r, 0), 0);
    ASSERT_EQ(r.body_len, 8u << 20);
    size_t bad = 0;
    for (size_t i = 0; i < r.body_len; i++)
        bad += r.body[i] != (char)('a' + i % 26);
    ASSERT_EQ(bad, 0);
    resp_free(&r);
    ASSERT_EQ(cli_read(&C1, &r, 0), 0);
    ASSERT_STR_EQ(r.body, "a");
    resp_free(&r);
    ASSERT_EQ(atomic_load(&producer_done), 1);
    cli_close(&C1);
}

/* Gone for sure: a reset. A FIN only says the client sends nothing more (it may be
 * waiting for its answer, see the half-close tests below). */
static void cli_reset(struct cli *c)
{
    struct linger lg = {1, 0};
    setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    cli_close(c);
}

/* Waits (5 s) until h_poll has run since the count was polls: 1 if it did. A fixed
 * sleep was not enough under TSan on a loaded machine: a reset that comes before the
 * request is read closes the connection with nothing deferred, so no gone callback. */
static int poll_started_since(int polls)
{
    for (int i = 0; i < 1000 && atomic_load(&poll_started) == polls; i++)
        usleep(5000);
    return atomic_load(&poll_started) != polls;
}

static void test_deferred_gone_callback(void)
{
    int before = atomic_load(&gone_called), polls = atomic_load(&poll_started);
    ASSERT_EQ(cli_connect(&C1, T.port), 0);
    ASSERT_EQ(cli_sends(&C1, "GET /poll HTTP/1.1\r\nHost: h\r\n\r\n"), 0);
    ASSERT(poll_started_since(polls));
    cli_reset(&C1);
    for (int i = 0; i < 200 && atomic_load(&gone_called) == before; i++)
        usleep(5000);
    ASSERT_EQ(atomic_load(&gone_called), before + 1);
}

static void test_deferred_client_gone(void)
{
    ASSERT_EQ(cli_connect(&C1, T.port), 0);
    atomic_store(&deferred_result, 1);
    ASSERT_EQ(cli_sends(&C1, "GET /dslow HTTP/1.1\r\nHost: h\r\n\r\n"), 0);
    usleep(20000);
    cli_reset(&C1); /* before the answer: finishing must report -EPIPE and free the handle */
    for (int i = 0; i < 100 && atomic_load(&deferred_result) == 1; i++)
        usleep(10000);
    ASSERT_EQ(atomic_load(&deferred_result), -EPIPE);
}

static void test_handler_mistakes(void)
{
    struct resp r;
    ASSERT_EQ(fetch("GET /forget HTTP/1.1\r\nHost: h\r\n\r\n", &r, 0), 0);
    ASSERT_EQ(r.status, 500);
    resp_free(&r);
    ASSERT_EQ(cli_connect(&C1, T.port), 0);
    ASSERT_EQ(
        cli_sends(&C1, "GET /close HTTP/1.1\r\nHost: h\r\n\r\nGET /a HTTP/1.1\r\nHost: h\r\n\r\n"),
        0);
    ASSERT_EQ(cli_read(&C1, &r, 0), 0);
    ASSERT_STR_EQ(r.body, "bye");
    ASSERT(strstr(r.head, "Connection: close") != NULL);
    resp_free(&r);
    ASSERT(cli_closed(&C1, 2000));
    cli_close(&C1);
}

static void test_access_log(void)
{
    struct resp r;
    int before = log_count_settled();
    ASSERT_EQ(fetch("GET /a?x=1 HTTP/1.1\r\nHost: h\r\nUser-Agent: tester/1\r\nReferer: "
                    "http://r/\r\n\r\n",
                    &r, 0),
              0);
    resp_free(&r);
    usleep(20000);
    pthread_mutex_lock(&log_mu);
    int after = log_count;
    char line[512];
    memcpy(line, log_line, sizeof(line));
    pthread_mutex_unlock(&log_mu);
    ASSERT_EQ(after, before + 1);
    ASSERT_STR_EQ(line, "127.0.0.1 GET /a?x=1 200 1 ua=tester/1 ref=http://r/ t=1");
    ASSERT_EQ(fetch("GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nTransfer-Encoding: "
                    "chunked\r\n\r\n",
                    &r, 0),
              0);
    resp_free(&r);
    usleep(10000);
    pthread_mutex_lock(&log_mu);
    ASSERT_EQ(log_count, before + 2);
    ASSERT_EQ(log_status, 400);
    pthread_mutex_unlock(&log_mu);
}

static void test_status_reasons(void)
{
    ASSERT_STR_EQ(eddy_http_status_reason(100), "Continue");
    ASSERT_STR_EQ(eddy_http_status_reason(200), "OK");
    ASSERT_STR_EQ(eddy_http_status_reason(304), "Not Modified");
    ASSERT_STR_EQ(eddy_http_status_reason(404), "Not Found");
    ASSERT_STR_EQ(eddy_http_status_reason(413), "Content Too Large");
    ASSERT_STR_EQ(eddy_http_status_reason(505), "HTTP Version Not Supported");
    ASSERT_STR_EQ(eddy_http_status_reason(299), "Unknown");
    ASSERT_STR_EQ(eddy_http_status_reason(-1), "Unknown");
    ASSERT_STR_EQ(eddy_http_status_reason(999), "Unknown");
}

/* ---- graceful stop ------------------------------------------------------------------ */

static atomic_int stop_done;

static void on_stopped(struct eddy_http_server *s, void *arg)
{
    (void)s, (void)arg;
    atomic_store(&stop_done, 1);
}

static void do_stop(void *arg)
{
    eddy_http_server_stop(arg, 1500, on_stopped, NULL);
}

static void test_graceful_stop(void)
{
    struct resp r;
    ASSERT_EQ(cli_connect(&C2, T.port), 0); /* idle keep-alive connection */
    ASSERT_EQ(cli_sends(&C2, "GET /a HTTP/1.1\r\nHost: h\r\n\r\n"), 0);
    ASSERT_EQ(cli_read(&C2, &r, 0), 0);
    resp_free(&r);
    ASSERT_EQ(cli_connect(&C1, T.port), 0); /* a request in flight (answered in 400 ms) */
    ASSERT_EQ(cli_sends(&C1, "GET /dslow HTTP/1.1\r\nHost: h\r\n\r\n"), 0);
    int polls = atomic_load(&poll_started);
    ASSERT_EQ(cli_connect(&C3, T.port), 0); /* a long poll that outlives the drain deadline */
    ASSERT_EQ(cli_sends(&C3, "GET /poll HTTP/1.1\r\nHost: h\r\n\r\n"), 0);
    ASSERT(poll_started_since(polls));
    usleep(20000); /* and /dslow's request read too */
    int gone_before = atomic_load(&gone_called);
    double t0 = eddy_test_now();
    ASSERT_EQ(eddy_event_loop_run_in_loop(T.loop, do_stop, T.srv), 0);
    ASSERT(cli_closed(&C2, 2000));
    ASSERT_EQ(cli_read(&C1, &r, 0), 0);
    ASSERT_STR_EQ(r.body, "late");
    ASSERT(strstr(r.head, "Connection: close") != NULL);
    resp_free(&r);
    ASSERT(cli_closed(&C1, 2000));
    cli_close(&C1); /* the server lingers until our FIN (or its linger timeout) */
    cli_close(&C2);
    ASSERT_EQ(atomic_load(&stop_done), 0); /* the long poll holds the stop */
    ASSERT(cli_closed(&C3, 4000));         /* until the drain deadline closes it */
    ASSERT_GE(eddy_test_now() - t0, 1.4);
    cli_close(&C3);
    for (int i = 0; i < 300 && !atomic_load(&stop_done); i++)
        usleep(10000);
    ASSERT_EQ(atomic_load(&stop_done), 1);
    ASSERT_EQ(atomic_load(&gone_called), gone_before + 1);
    ASSERT_EQ(eddy_http_server_connection_count(T.srv), 0);
    ASSERT_LT(cli_connect(&C1, T.port), 0); /* no longer accepting */
    cli_close(&C1);
    cli_close(&C2);
}

int main(void)
{
    int fd = -1;
    snprintf(g_file, sizeof(g_file), "/tmp/eddy_http_test_%d", (int)getpid());
    fd = open(g_file, O_CREAT | O_TRUNC | O_WRONLY, 0600);
    if (fd < 0 || write(fd, "0123456789abcdefghijklmnopqrstuvwxyz", 36) != 36)
        return 1;
    close(fd);
    char big[80];
    snprintf(big, sizeof big, "%s.big", g_file);
    if ((ref_fd = open(g_file, O_RDONLY | O_CLOEXEC)) < 0 ||
        (big_fd = open(big, O_CREAT | O_TRUNC | O_RDWR | O_CLOEXEC, 0600)) < 0 ||
        ftruncate(big_fd, 64 << 20) < 0)
        return 1;
    unlink(big);
    eddy_http_server_options_init(&T.opt);
    T.opt.tcp.threads = HTTP_TEST_THREADS;
    T.opt.access_log = access_log;
    T.setup = setup;
    if (test_server_start(&T) < 0) {
        printf("not ok - server start\n");
        return 1;
    }
    RUN(test_status_reasons);
    RUN(test_routes_longest_prefix);
    RUN(test_request_accessors);
    RUN(test_route_no_body);
    RUN(test_response_headers);
    RUN(test_stream_chunked_and_http10);
    RUN(test_send_file);
    RUN(test_send_file_ref);
    RUN(test_deferred_keeps_order);
    RUN(test_deferred_bounded_queue);
    RUN(test_deferred_access_log);
    RUN(test_deferred_client_gone);
    RUN(test_deferred_paced_by_drain);
    RUN(test_deferred_gone_callback);
    RUN(test_handler_mistakes);
    RUN(test_access_log);
    RUN(test_graceful_stop);
    test_server_stop(&T);
    unlink(g_file);
    return eddy_test_done();
}
