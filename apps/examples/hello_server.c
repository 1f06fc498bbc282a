/*
 * hello_server: the TechEmpower "plaintext" and "json" shapes on the eddy HTTP library.
 *
 *   hello_server [-l ADDR:PORT]... [-t THREADS] [-b epoll|epoll-et|poll|select]
 *
 *   GET /plaintext  -> "Hello, World!"                 (text/plain)
 *   GET /json       -> {"message":"Hello, World!"}     (application/json)
 *
 * Also used by the black-box tests: POST /echo answers the request body, GET /bytes/N
 * answers N bytes (at most 16 MiB), and the
 * environment variable EDDY_HELLO_TIMEOUTS="header,body,keepalive,send" (ms) and
 * EDDY_HELLO_MAX_BODY shorten limits so tests run fast.
 */
#include "eddy/event_loop.h"
#include "eddy/http.h"
#include "eddy/signal.h"

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct eddy_event_loop *g_loop;

static void plaintext(struct eddy_http_request *req, struct eddy_http_response *res, void *d)
{
    (void)req, (void)d;
    static const char body[] = "Hello, World!";
    eddy_http_response_reply(res, 200, "text/plain", body, sizeof(body) - 1);
}

static void json(struct eddy_http_request *req, struct eddy_http_response *res, void *d)
{
    (void)req, (void)d;
    static const char body[] = "{\"message\":\"Hello, World!\"}";
    eddy_http_response_reply(res, 200, "application/json", body, sizeof(body) - 1);
}

static void echo(struct eddy_http_request *req, struct eddy_http_response *res, void *d)
{
    (void)d;
    struct eddy_http_str b = eddy_http_request_body(req);
    eddy_http_response_reply(res, 200, "application/octet-stream", b.p, b.len);
}

static void bytes(struct eddy_http_request *req, struct eddy_http_response *res, void *d)
{
    (void)d;
    static char block[65536];
    unsigned long n = strtoul(eddy_http_request_param(req, "n").p, NULL, 10); /* "/bytes/:n" */
    if (n > 16u << 20)
        n = 16u << 20;
    if (block[0] != 'x')
        memset(block, 'x', sizeof(block));
    eddy_http_response_add_header(res, "Content-Type", "application/octet-stream");
    eddy_http_response_start(res, (int64_t)n);
    for (unsigned long k; n; n -= k) {
        k = n < sizeof(block) ? n : sizeof(block);
        eddy_http_response_write(res, block, k);
    }
    eddy_http_response_end(res);
}

static void on_signal(struct eddy_event_loop *loop, int signo, void *data)
{
    (void)signo, (void)data;
    eddy_event_loop_stop(loop);
}

static void usage(FILE *f)
{
    fprintf(f, "usage: hello_server [-l ADDR:PORT]... [-t THREADS] [-b BACKEND]\n"
               "  -l, --listen ADDR:PORT   address to listen on (default 127.0.0.1:8080)\n"
               "  -t, --threads N          sub-reactor threads, 0 = one reactor (default: CPUs)\n"
               "  -b, --backend NAME       one of:");
    for (const char *const *n = eddy_event_dispatcher_names(); *n != NULL; n++)
        fprintf(f, " %s", *n);
    fprintf(f, " (default %s)\n  -h, --help\n", eddy_event_dispatcher_find(NULL)->name);
}

static void env_options(struct eddy_http_server_options *o)
{
    const char *t = getenv("EDDY_HELLO_TIMEOUTS");
    unsigned v[4];
    if (t && sscanf(t, "%u,%u,%u,%u", &v[0], &v[1], &v[2], &v[3]) == 4) {
        o->header_timeout_ms = v[0];
        o->body_timeout_ms = v[1];
        o->keepalive_timeout_ms = v[2];
        o->send_timeout_ms = v[3];
    }
    if ((t = getenv("EDDY_HELLO_MAX_BODY")) != NULL)
        o->max_body = strtoull(t, NULL, 10);
    if ((t = getenv("EDDY_HELLO_HIGH_WATER")) != NULL)
        o->tcp.high_water_mark = strtoull(t, NULL, 10);
}

#define MAX_LISTEN 16

/* The command line into o and listens: 0 to run, 1 after --help (exit 0), -1 after a
 * usage error (exit 2). */
static int parse_args(int argc, char **argv, struct eddy_http_server_options *o,
                      const char **listens, int *nlisten)
{
    static const struct option longs[] = {{"listen", required_argument, NULL, 'l'},
                                          {"threads", required_argument, NULL, 't'},
                                          {"backend", required_argument, NULL, 'b'},
                                          {"help", no_argument, NULL, 'h'},
                                          {NULL, 0, NULL, 0}};
    int opt;
    while ((opt = getopt_long(argc, argv, "l:t:b:h", longs, NULL)) != -1) {
        switch (opt) {
        case 'l':
            if (*nlisten == MAX_LISTEN) {
                fprintf(stderr, "hello_server: too many --listen\n");
                return -1;
            }
            listens[(*nlisten)++] = optarg;
            break;
        case 't': {
            char *end;
            long v = strtol(optarg, &end, 10);
            if (*optarg == '\0' || *end || v < 0 || v > 1024) {
                fprintf(stderr, "hello_server: bad --threads %s\n", optarg);
                return -1;
            }
            o->tcp.threads = (int)v;
            break;
        }
        case 'b':
            o->tcp.backend = optarg;
            break;
        case 'h':
            usage(stdout);
            return 1;
        default:
            usage(stderr);
            return -1;
        }
    }
    if (optind != argc || o->tcp.threads < 0) {
        usage(stderr);
        return -1;
    }
    return 0;
}

/* The routes, then every listener, then the loops: 0, or 1 after saying what failed. */
static int serve(struct eddy_http_server *srv, const char **listens, int nlisten)
{
    int rc;
    eddy_http_server_route_flags(srv, EDDY_HTTP_GET, "/plaintext", EDDY_HTTP_ROUTE_EXACT, plaintext,
                                 NULL);
    eddy_http_server_route_flags(srv, EDDY_HTTP_GET, "/json", EDDY_HTTP_ROUTE_EXACT, json, NULL);
    eddy_http_server_route_flags(srv, EDDY_HTTP_POST, "/echo", EDDY_HTTP_ROUTE_EXACT, echo, NULL);
    eddy_http_server_route_flags(srv, EDDY_HTTP_GET, "/bytes/:n", EDDY_HTTP_ROUTE_EXACT, bytes,
                                 NULL);
    for (int i = 0; i < nlisten; i++) {
        union eddy_sockaddr bound;
        char text[64];
        if ((rc = eddy_http_server_listen(srv, listens[i], &bound)) < 0) {
            fprintf(stderr, "hello_server: listen %s: %s\n", listens[i], strerror(-rc));
            return 1;
        }
        eddy_sockaddr_format(&bound.sa, text, sizeof(text));
        fprintf(stderr, "hello_server listening on http://%s\n", text);
    }
    if ((rc = eddy_http_server_start(srv)) < 0) {
        fprintf(stderr, "hello_server: start: %s\n", strerror(-rc));
        return 1;
    }
    eddy_event_loop_run(g_loop);
    return 0;
}

int main(int argc, char **argv)
{
    const char *listens[MAX_LISTEN];
    int nlisten = 0, rc;
    struct eddy_http_server_options o;
    eddy_http_server_options_init(&o);
    /* bench/hello_cpu.sh runs its peers with unlimited requests per connection too. */
    o.keepalive_requests = UINT32_MAX;
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    o.tcp.threads = cpus > 0 ? (int)cpus : 1; /* like eddy-httpd: one sub-reactor per CPU */
    if ((rc = parse_args(argc, argv, &o, listens, &nlisten)) != 0)
        return rc > 0 ? 0 : 2;
    if (nlisten == 0)
        listens[nlisten++] = "127.0.0.1:8080";
    env_options(&o);

    if ((rc = eddy_event_loop_new(&g_loop, o.tcp.backend)) < 0) {
        fprintf(stderr, "hello_server: backend %s: %s\n", o.tcp.backend ? o.tcp.backend : "epoll",
                strerror(-rc));
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);
    /* Before the sub-reactors start, so they inherit the signals blocked. */
    if ((rc = eddy_signal_watch(g_loop, SIGINT, on_signal, NULL)) < 0 ||
        (rc = eddy_signal_watch(g_loop, SIGTERM, on_signal, NULL)) < 0) {
        fprintf(stderr, "hello_server: signals: %s\n", strerror(-rc));
        return 1;
    }
    struct eddy_http_server *srv;
    if ((rc = eddy_http_server_new(&srv, g_loop, &o)) < 0) {
        fprintf(stderr, "hello_server: %s\n", strerror(-rc));
        return 1;
    }
    if (serve(srv, listens, nlisten) != 0)
        return 1;
    eddy_http_server_free(srv);
    eddy_signal_unwatch(g_loop, SIGINT);
    eddy_signal_unwatch(g_loop, SIGTERM);
    eddy_event_loop_free(g_loop);
    return 0;
}
