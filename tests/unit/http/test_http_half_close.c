/*
 * Clients that half-close: shutdown(SHUT_WR) right after their requests (nc -N, some
 * HTTP/1.0 clients). Every response they asked for still arrives, also deferred ones the
 * test finishes long after the FIN was read, and those pipelined behind; then the
 * connection closes. While it waits the process stays idle (a readable end of file still
 * polled would spin the loop), on every backend. A deferred response that never comes is
 * bounded by send_timeout_ms, and its handler hears gone.
 */
#include "http_test_util.h"

#include "../../lib/test.h"
#include "eddy/event_dispatcher.h"

#include <stdatomic.h>
#include <time.h>

#ifndef HTTP_TEST_THREADS
#define HTTP_TEST_THREADS 0 /* test_http_half_close_mt.c: two sub-reactors */
#endif

static struct test_server T;
static struct cli C;

/* The deferred response waiting for the test to finish it (set in its loop's thread). */
static _Atomic(struct eddy_http_response *) pending;
static _Atomic(struct eddy_event_loop *) pending_loop;
static atomic_int gone_count;

static void on_gone(struct eddy_http_response *res, void *arg)
{
    (void)arg;
    atomic_store(&pending, NULL);
    atomic_fetch_add(&gone_count, 1);
    eddy_http_response_abort(res); /* frees the handle */
}

static void h_wait(struct eddy_http_request *req, struct eddy_http_response *res, void *d)
{
    (void)d;
    struct eddy_http_response *r = eddy_http_response_defer(res);
    eddy_http_response_set_callbacks(r, NULL, on_gone, NULL);
    atomic_store(&pending_loop, eddy_http_request_loop(req));
    atomic_store(&pending, r);
}

/* An empty file served as 100 bytes (a file truncated under us): the send fails at
 * once and the stream is broken, so the connection closes inside the handler. */
static int empty_fd = -1;

static void h_short(struct eddy_http_request *req, struct eddy_http_response *res, void *d)
{
    (void)req;
    (void)d;
    eddy_http_response_send_file(res, empty_fd, 0, 100, 0);
}

static void setup(struct eddy_http_server *srv)
{
    /* Anything else is answered at once by the library: 404, or 400 and a close for a
     * target that fails normalisation. */
    eddy_http_server_route(srv, EDDY_HTTP_GET, "/wait", h_wait, NULL);
    eddy_http_server_route(srv, EDDY_HTTP_GET, "/short", h_short, NULL);
}

static void finish_task(void *arg)
{
    (void)arg;
    struct eddy_http_response *r = atomic_exchange(&pending, NULL);
    if (r)
        eddy_http_response_reply(r, 200, "text/plain", "late", 4);
}

/* 1 once a deferred response waits (within 5 s). */
static int wait_pending(void)
{
    for (int i = 0; i < 5000 && !atomic_load(&pending); i++)
        usleep(1000);
    return atomic_load(&pending) != NULL;
}

/* Streams one byte of the waiting response (starting it first if arg). */
static void write_task(void *arg)
{
    struct eddy_http_response *r = atomic_load(&pending);
    if (r && arg)
        eddy_http_response_start(r, -1);
    if (r)
        eddy_http_response_write(r, "x", 1);
}

static void end_task(void *arg)
{
    (void)arg;
    struct eddy_http_response *r = atomic_exchange(&pending, NULL);
    if (r)
        eddy_http_response_end(r);
}

/* Runs fn in the loop of the waiting deferred response. */
static int on_pending(eddy_task_fn fn, void *arg)
{
    if (!wait_pending())
        return -1;
    return eddy_event_loop_run_in_loop(atomic_load(&pending_loop), fn, arg);
}

static int finish_pending(void)
{
    return on_pending(finish_task, NULL);
}

static double cpu_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int start(const char *backend, unsigned send_timeout_ms, int defer_accept)
{
    memset(&T, 0, sizeof(T));
    eddy_http_server_options_init(&T.opt);
    T.opt.tcp.threads = HTTP_TEST_THREADS;
    T.opt.tcp.backend = backend;
    T.opt.tcp.defer_accept = defer_accept;
    T.opt.send_timeout_ms = send_timeout_ms;
    T.setup = setup;
    return test_server_start(&T);
}

/* Connects, sends reqs, half-closes. */
static int send_then_fin(const char *reqs)
{
    if (cli_connect(&C, T.port) < 0 || cli_sends(&C, reqs) < 0)
        return -1;
    return shutdown(C.fd, SHUT_WR);
}

/* The status of the next response C reads (its body "late" if 200), or -1. */
static int next_status(void)
{
    struct resp r;
    int rc = cli_read(&C, &r, 0);
    if (rc == 0 && r.status == 200 && strcmp(r.body, "late") != 0)
        rc = -1;
    else if (rc == 0)
        rc = r.status;
    resp_free(&r);
    return rc;
}

/* The server closes after the last response, and forgets the connection. */
static int ends(void)
{
    int closed = cli_closed(&C, 2000);
    cli_close(&C);
    for (int i = 0; i < 2000 && eddy_http_server_connection_count(T.srv) > 0; i++)
        usleep(1000);
    return closed && eddy_http_server_connection_count(T.srv) == 0;
}

/* reqs then FIN: the responses' statuses (0 ends the list), then the close. */
static void pipeline(const char *reqs, const int *status)
{
    ASSERT_EQ(send_then_fin(reqs), 0);
    for (; *status; status++) {
        if (*status == 200)
            ASSERT_EQ(finish_pending(), 0);
        ASSERT_EQ(next_status(), *status);
    }
    ASSERT(ends());
}

static void cases(void)
{
    /* Finished 300 ms after the FIN: all of it arrives, then EOF; meanwhile the
     * connection is kept and the process sleeps. */
    ASSERT_EQ(send_then_fin("GET /wait HTTP/1.1\r\nHost: h\r\n\r\n"), 0);
    ASSERT(wait_pending());
    double cpu0 = cpu_ms();
    usleep(300 * 1000);
    ASSERT_LT(cpu_ms() - cpu0, 60);
    ASSERT_EQ(eddy_http_server_connection_count(T.srv), 1);
    ASSERT_EQ(finish_pending(), 0);
    ASSERT_EQ(next_status(), 200);
    ASSERT(ends());
    /* Pipelined before the FIN (200: a deferred response the test finishes): behind a
     * deferred response, another one and a 404; a close decided by the server (400 for a
     * bad target), then by the client, while that queue is processed after the FIN, so
     * nothing behind is answered; HTTP/1.0; nothing pending (closes at once, as before). */
    static const struct {
        const char *reqs;
        int status[4];
    } pipelines[] = {
        {"GET /wait HTTP/1.1\r\nHost: h\r\n\r\nGET /wait HTTP/1.1\r\nHost: h\r\n\r\n"
         "GET /404 HTTP/1.1\r\nHost: h\r\n\r\n",
         {200, 200, 404}},
        {"GET /wait HTTP/1.1\r\nHost: h\r\n\r\nGET /%00 HTTP/1.1\r\nHost: h\r\n\r\n"
         "GET /404 HTTP/1.1\r\nHost: h\r\n\r\n",
         {200, 400}},
        {"GET /wait HTTP/1.1\r\nHost: h\r\n\r\nGET /404 HTTP/1.1\r\nHost: h\r\n"
         "Connection: close\r\n\r\nGET /404 HTTP/1.1\r\nHost: h\r\n\r\n",
         {200, 404}},
        {"GET /wait HTTP/1.0\r\n\r\n", {200}},
        {"GET /404 HTTP/1.1\r\nHost: h\r\n\r\n", {404}},
    };
    for (size_t i = 0; i < sizeof(pipelines) / sizeof(pipelines[0]); i++) {
        pipeline(pipelines[i].reqs, pipelines[i].status);
        if (eddy_test_failed()) {
            printf("# pipeline %zu\n", i);
            return;
        }
    }
}

static void test_half_closed_client_gets_every_response(void)
{
    for (const char *const *b = eddy_event_dispatcher_names(); *b; b++) {
        /* defer_accept: read before the registration, except on epoll */
        ASSERT(start(*b, 60000, strcmp(*b, "epoll") != 0) > 0);
        cases();
        cli_close(&C);
        test_server_stop(&T);
        if (eddy_test_failed()) {
            printf("# backend %s\n", *b);
            return;
        }
    }
}

/* The client cannot tell us it left: the wait ends at send_timeout_ms, then gone. */
static void test_half_closed_wait_is_bounded(void)
{
    int before = atomic_load(&gone_count);
    ASSERT(start(NULL, 300, 0) > 0);
    ASSERT_EQ(send_then_fin("GET /wait HTTP/1.1\r\nHost: h\r\n\r\n"), 0);
    double t0 = eddy_test_now();
    int closed = cli_closed(&C, 3000);
    double waited_ms = (eddy_test_now() - t0) * 1000;
    cli_close(&C);
    for (int i = 0; i < 1000 && atomic_load(&gone_count) == before; i++)
        usleep(1000);
    test_server_stop(&T);
    ASSERT(closed);
    ASSERT_GE(waited_ms, 250); /* not at the FIN */
    ASSERT_EQ(atomic_load(&gone_count), before + 1);
    ASSERT(atomic_load(&pending) == NULL);
}

/* A response streamed to a half-closed client outlives send_timeout_ms while it makes
 * progress: each write renews the wait. */
static void test_half_closed_stream_renews_wait(void)
{
    struct resp r = {0};
    ASSERT(start(NULL, 300, 0) > 0);
    ASSERT_EQ(send_then_fin("GET /wait HTTP/1.1\r\nHost: h\r\n\r\n"), 0);
    int rc = 0;
    for (int i = 0; i < 6 && rc == 0; i++) {
        rc = on_pending(write_task, i == 0 ? "start" : NULL);
        usleep(150 * 1000); /* 900 ms in all: three times the timeout */
    }
    if (rc == 0)
        rc = on_pending(end_task, NULL);
    if (rc == 0)
        rc = cli_read(&C, &r, 0);
    int ok = rc == 0 && strcmp(r.body, "xxxxxx") == 0;
    resp_free(&r);
    ok = ok && ends();
    cli_close(&C);
    test_server_stop(&T);
    ASSERT_EQ(rc, 0);
    ASSERT(ok);
}

/* Reads until the server closes (within 2 s): 1 if it did, with the bytes in C.buf. */
static int read_to_eof(void)
{
    int rc;
    while ((rc = cli_fill(&C)) > 0)
        ;
    return rc == 0 || errno == ECONNRESET;
}

/* The requests queued behind a deferred response run when it is finished, outside the
 * connection's callbacks: a send that fails there closes the connection while the
 * queue is still being read (a use after free under ASan before the fix). The client
 * gets the late response, then the head of the broken one, then the close; the request
 * behind is never answered. With and without the client's FIN. */
static void test_close_while_queue_runs(void)
{
    char path[] = "/tmp/eddy_half_close_XXXXXX";
    empty_fd = mkstemp(path);
    ASSERT(empty_fd >= 0);
    unlink(path);
    ASSERT(start(NULL, 60000, 0) > 0);
    static const char reqs[] = "GET /wait HTTP/1.1\r\nHost: h\r\n\r\n"
                               "GET /short HTTP/1.1\r\nHost: h\r\n\r\n"
                               "GET /404 HTTP/1.1\r\nHost: h\r\n\r\n";
    for (int fin = 0; fin < 2 && !eddy_test_failed(); fin++) {
        if (fin)
            ASSERT_EQ(send_then_fin(reqs), 0);
        else
            ASSERT(cli_connect(&C, T.port) == 0 && cli_sends(&C, reqs) == 0);
        ASSERT(wait_pending());
        ASSERT_EQ(finish_pending(), 0);
        ASSERT_EQ(next_status(), 200);
        ASSERT(read_to_eof());
        C.buf[C.len < sizeof(C.buf) ? C.len : sizeof(C.buf) - 1] = 0;
        ASSERT(strstr(C.buf, "404") == NULL);
        C.len = 0;
        ASSERT(ends());
    }
    cli_close(&C);
    test_server_stop(&T);
    close(empty_fd);
}

int main(void)
{
    (void)count_of; /* a helper of http_test_util.h this file has no use for */
    RUN(test_half_closed_client_gets_every_response);
    RUN(test_half_closed_wait_is_bounded);
    RUN(test_half_closed_stream_renews_wait);
    RUN(test_close_while_queue_runs);
    return eddy_test_done();
}
