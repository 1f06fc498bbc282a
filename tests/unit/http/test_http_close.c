/*
 * How an HTTP connection ends after its last response. When the client asked for the
 * close (Connection: close, HTTP/1.0 without keep-alive) and sent nothing after the
 * request, the server closes right after the response: no half-close, no waiting for the
 * client's FIN. Otherwise (bytes left unread, or a close the server decided) it sends FIN
 * and lingers, reading, until the client closes. With and without defer_accept, single
 * loop and sub-reactors.
 */
#include "http_test_util.h"

#include "../../lib/test.h"

static struct test_server T;

static void h_text(struct eddy_http_request *req, struct eddy_http_response *res, void *d)
{
    (void)req, (void)d;
    eddy_http_response_reply(res, 200, "text/plain", "hello", 5);
}

static void h_server_close(struct eddy_http_request *req, struct eddy_http_response *res, void *d)
{
    (void)req, (void)d;
    eddy_http_response_set_close(res);
    eddy_http_response_reply(res, 200, "text/plain", "bye", 3);
}

static void setup(struct eddy_http_server *srv)
{
    eddy_http_server_route(srv, EDDY_HTTP_GET, "/", h_text, NULL);
    eddy_http_server_route(srv, EDDY_HTTP_GET, "/bye", h_server_close, NULL);
}

/* The response, then EOF; the server forgot the connection while ours is still open. */
static void expect_quick_close(const char *req)
{
    struct cli c;
    struct resp r;
    ASSERT_EQ(cli_connect(&c, T.port), 0);
    ASSERT_EQ(cli_sends(&c, req), 0);
    ASSERT_EQ(cli_read(&c, &r, 0), 0);
    ASSERT_EQ(r.status, 200);
    ASSERT(strcmp(r.body, "hello") == 0);
    ASSERT(strcasestr(r.head, "Connection: close") != NULL);
    ASSERT(cli_closed(&c, 2000));
    ASSERT(test_server_idle(&T, 2000));
    resp_free(&r);
    cli_close(&c);
}

/* The response, then FIN, but the server keeps reading until we close. */
static void expect_linger(const char *req, const char *body)
{
    struct cli c;
    struct resp r;
    ASSERT_EQ(cli_connect(&c, T.port), 0);
    ASSERT_EQ(cli_sends(&c, req), 0);
    ASSERT_EQ(cli_read(&c, &r, 0), 0);
    ASSERT_EQ(r.status, 200);
    ASSERT(strcmp(r.body, body) == 0);
    ASSERT(cli_closed(&c, 2000));
    usleep(200 * 1000);
    ASSERT_EQ(eddy_http_server_connection_count(T.srv), 1);
    /* Still read and dropped (lingering), so these bytes cause no reset. */
    ASSERT_EQ(cli_sends(&c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"), 0);
    resp_free(&r);
    cli_close(&c);
    ASSERT(test_server_idle(&T, 2000));
}

static void run_cases(int threads, int defer)
{
    memset(&T, 0, sizeof(T));
    eddy_http_server_options_init(&T.opt);
    T.opt.tcp.threads = threads;
    T.opt.tcp.defer_accept = defer;
    T.setup = setup;
    ASSERT(test_server_start(&T) > 0);
    expect_quick_close("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    expect_quick_close("GET / HTTP/1.0\r\n\r\n");
    /* Keep-alive first, then the client's close on the same connection. */
    struct cli c;
    struct resp r;
    ASSERT_EQ(cli_connect(&c, T.port), 0);
    ASSERT_EQ(cli_sends(&c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"), 0);
    ASSERT_EQ(cli_read(&c, &r, 0), 0);
    resp_free(&r);
    ASSERT_EQ(cli_sends(&c, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"), 0);
    ASSERT_EQ(cli_read(&c, &r, 0), 0);
    ASSERT(strcmp(r.body, "hello") == 0);
    resp_free(&r);
    ASSERT(cli_closed(&c, 2000));
    ASSERT(test_server_idle(&T, 2000));
    cli_close(&c);
    /* A request pipelined behind the close: never answered, and we linger. */
    expect_linger(
        "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n",
        "hello");
    /* The server decided to close: the client may be sending, so we linger. */
    expect_linger("GET /bye HTTP/1.1\r\nHost: x\r\n\r\n", "bye");
    test_server_stop(&T);
}

static void test_single_loop(void)
{
    run_cases(0, 0);
}

static void test_single_loop_defer_accept(void)
{
    run_cases(0, 1);
}

static void test_sub_reactors_defer_accept(void)
{
    run_cases(2, 1);
}

/* Many short connections in a row: each one answered and gone at once. */
static void test_many_short_connections(void)
{
    memset(&T, 0, sizeof(T));
    eddy_http_server_options_init(&T.opt);
    T.opt.tcp.defer_accept = 1;
    T.setup = setup;
    ASSERT(test_server_start(&T) > 0);
    int good = 0;
    for (int i = 0; i < 300; i++) {
        struct cli c;
        struct resp r;
        if (cli_connect(&c, T.port) != 0)
            break;
        cli_sends(&c, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        if (cli_read(&c, &r, 0) == 0 && r.status == 200 && cli_closed(&c, 2000))
            good++;
        resp_free(&r);
        cli_close(&c);
    }
    ASSERT_EQ(good, 300);
    ASSERT(test_server_idle(&T, 2000));
    test_server_stop(&T);
}

/* keepalive_requests 3: the third response, also pipelined, says Connection: close and the
 * connection ends after it (the server decided, so it lingers until our FIN); what was
 * pipelined behind it is never answered. */
static void test_keepalive_requests(void)
{
    memset(&T, 0, sizeof(T));
    eddy_http_server_options_init(&T.opt);
    T.opt.keepalive_requests = 3;
    T.setup = setup;
    ASSERT(test_server_start(&T) > 0);
    for (int pipelined = 0; pipelined < 2; pipelined++) {
        struct cli c;
        struct resp r;
        const char *req = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
        ASSERT_EQ(cli_connect(&c, T.port), 0);
        for (int i = 0; pipelined && i < 4; i++)
            ASSERT_EQ(cli_sends(&c, req), 0);
        for (int i = 1; i <= 3; i++) {
            if (!pipelined)
                ASSERT_EQ(cli_sends(&c, req), 0);
            ASSERT_EQ(cli_read(&c, &r, 0), 0);
            ASSERT_EQ(r.status, 200);
            ASSERT_EQ(strcasestr(r.head, "Connection: close") != NULL, i == 3);
            resp_free(&r);
        }
        ASSERT(cli_closed(&c, 2000));
        cli_close(&c);
        ASSERT(test_server_idle(&T, 2000));
    }
    test_server_stop(&T);
}

int main(void)
{
    (void)count_of; /* a helper of http_test_util.h this file has no use for */
    RUN(test_single_loop);
    RUN(test_single_loop_defer_accept);
    RUN(test_sub_reactors_defer_accept);
    RUN(test_many_short_connections);
    RUN(test_keepalive_requests);
    return eddy_test_done();
}
