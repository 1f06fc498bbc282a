/*
 * echo_client: opens N connections to an echo server, sends M messages of BYTES bytes on
 * each (one at a time, each checked byte for byte when it comes back), and exits 0 only if
 * every message came back exact.
 *
 *   echo_client --connect ADDR --connections N --messages M [--size BYTES]
 *               [--threads T] [--backend NAME] [--retries R] [--timeout SECONDS]
 *
 * ADDR: "127.0.0.1:9000", "[::1]:9000", "localhost:9000", "unix:/path", "unix:@name".
 * The connections are eddy_tcp_clients spread over T sub-reactors (0: one loop does it
 * all), each with the tcp_connection callbacks an accepted connection would have.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "eddy/eddy.h"

struct config {
    const char *addr, *backend;
    int connections, messages, threads, retries;
    size_t size;
    unsigned timeout_s;
};

static struct config cfg = {NULL, "epoll", 1, 1, 0, 10, 64, 60};
static struct eddy_event_loop *g_base;
static int g_finished, g_failed, g_connect_errors; /* atomics */
static uint64_t g_echoed;                          /* messages echoed exact; atomic */

struct conn_state {
    int msg;
    size_t got;
};

static unsigned char pattern(intptr_t id, int msg, size_t i)
{
    return (unsigned char)(id * 131 + msg * 7 + (intptr_t)i * 13);
}

static intptr_t id_of(struct eddy_tcp_connection *c)
{
    return (intptr_t)eddy_tcp_client_data(eddy_tcp_client_of(c));
}

static void one_finished(int failed)
{
    if (failed)
        __atomic_fetch_add(&g_failed, 1, __ATOMIC_RELAXED);
    if (__atomic_add_fetch(&g_finished, 1, __ATOMIC_ACQ_REL) == cfg.connections)
        eddy_event_loop_stop(g_base);
}

static void send_message(struct eddy_tcp_connection *c)
{
    struct conn_state *st = eddy_tcp_connection_context(c);
    struct eddy_buffer *out = eddy_tcp_connection_output(c);
    intptr_t id = id_of(c);
    if (eddy_buffer_ensure_writable(out, cfg.size) < 0) {
        eddy_tcp_connection_close(c);
        return;
    }
    unsigned char *p = (unsigned char *)eddy_buffer_begin_write(out);
    for (size_t i = 0; i < cfg.size; i++)
        p[i] = pattern(id, st->msg, i);
    eddy_buffer_has_written(out, cfg.size);
    st->got = 0;
    eddy_tcp_connection_flush(c);
}

static void on_connected(struct eddy_tcp_connection *c)
{
    send_message(c);
}

static void on_message(struct eddy_tcp_connection *c, struct eddy_buffer *in)
{
    struct conn_state *st = eddy_tcp_connection_context(c);
    const unsigned char *p = (const unsigned char *)eddy_buffer_peek(in);
    size_t n = eddy_buffer_readable(in);
    intptr_t id = id_of(c);
    for (size_t i = 0; i < n; i++) {
        if (st->got + i >= cfg.size || p[i] != pattern(id, st->msg, st->got + i)) {
            fprintf(stderr, "echo_client: connection %ld, message %d: byte %zu differs\n", (long)id,
                    st->msg, st->got + i);
            eddy_tcp_connection_close(c);
            return;
        }
    }
    eddy_buffer_retrieve_all(in);
    st->got += n;
    if (st->got < cfg.size)
        return;
    __atomic_fetch_add(&g_echoed, 1, __ATOMIC_RELAXED);
    if (++st->msg < cfg.messages)
        send_message(c);
    else
        eddy_tcp_connection_close(c);
}

static void on_close(struct eddy_tcp_connection *c)
{
    struct conn_state *st = eddy_tcp_connection_context(c);
    one_finished(st->msg < cfg.messages);
}

static void on_connect_error(struct eddy_tcp_client *cl, int err)
{
    fprintf(stderr, "echo_client: connection %ld: connect: %s\n",
            (long)(intptr_t)eddy_tcp_client_data(cl), strerror(-err));
    __atomic_fetch_add(&g_connect_errors, 1, __ATOMIC_RELAXED);
    one_finished(1);
}

static const struct eddy_tcp_callbacks callbacks = {
    .on_connected = on_connected, .on_message = on_message, .on_close = on_close};

static void on_deadline(struct eddy_timer *t)
{
    fprintf(stderr, "echo_client: timed out after %u s\n", cfg.timeout_s);
    eddy_event_loop_stop(t->loop);
}

static void usage(FILE *f)
{
    fprintf(f, "usage: echo_client --connect ADDR [--connections N] [--messages M] [--size BYTES]\n"
               "                   [--threads T] [--backend NAME] [--retries R] "
               "[--timeout SECONDS]\n"
               "  ADDR: IP:PORT, [IPV6]:PORT, HOST:PORT, unix:PATH or unix:@NAME\n"
               "  defaults: 1 connection, 1 message of 64 bytes, 0 threads, epoll, 10 retries,"
               " 60 s\n");
}

static int parse_int(const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *s == '\0' || *end != '\0' || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

static int parse_args(int argc, char **argv)
{
    static const struct option opts[] = {
        {"connect", required_argument, NULL, 'c'},  {"connections", required_argument, NULL, 'n'},
        {"messages", required_argument, NULL, 'm'}, {"size", required_argument, NULL, 's'},
        {"threads", required_argument, NULL, 't'},  {"backend", required_argument, NULL, 'b'},
        {"retries", required_argument, NULL, 'r'},  {"timeout", required_argument, NULL, 'T'},
        {"help", no_argument, NULL, 'h'},           {NULL, 0, NULL, 0}};
    int ch;
    long v;
    while ((ch = getopt_long(argc, argv, "c:n:m:s:t:b:r:T:h", opts, NULL)) != -1) {
        int bad = 0;
        switch (ch) {
        case 'c':
            cfg.addr = optarg;
            break;
        case 'n':
            bad = parse_int(optarg, 1, 1000000, &v) || !(cfg.connections = (int)v);
            break;
        case 'm':
            bad = parse_int(optarg, 1, 1 << 30, &v) || !(cfg.messages = (int)v);
            break;
        case 's':
            bad = parse_int(optarg, 1, 64 << 20, &v) || !(cfg.size = (size_t)v);
            break;
        case 't':
            bad = parse_int(optarg, 0, 256, &v) || ((cfg.threads = (int)v), 0);
            break;
        case 'b':
            cfg.backend = optarg;
            break;
        case 'r':
            bad = parse_int(optarg, -1, 1000000, &v) || ((cfg.retries = (int)v), 0);
            break;
        case 'T':
            bad = parse_int(optarg, 1, 86400, &v) || !(cfg.timeout_s = (unsigned)v);
            break;
        case 'h':
            usage(stdout);
            exit(0);
        default:
            usage(stderr);
            return -1;
        }
        if (bad) {
            fprintf(stderr, "echo_client: bad value for -%c: %s\n", ch, optarg);
            return -1;
        }
    }
    if (!cfg.addr || optind != argc) {
        usage(stderr);
        return -1;
    }
    return 0;
}

/* Creates the clients, runs until every connection finished or the deadline. */
static int run(struct eddy_thread_pool *pool, struct eddy_tcp_client **cls)
{
    struct eddy_tcp_client_options o;
    eddy_tcp_client_options_init(&o);
    o.context_size = sizeof(struct conn_state);
    o.retries = cfg.retries;
    int nloops = eddy_thread_pool_size(pool);
    for (int i = 0; i < cfg.connections; i++) {
        struct eddy_event_loop *loop = nloops ? eddy_thread_pool_loop_at(pool, i % nloops) : g_base;
        int rc = eddy_tcp_client_new(&cls[i], loop, cfg.addr, &o, &callbacks, on_connect_error,
                                     (void *)(intptr_t)i);
        if (rc == 0)
            rc = eddy_tcp_client_connect(cls[i]);
        if (rc < 0) {
            fprintf(stderr, "echo_client: %s: %s\n", cfg.addr, strerror(-rc));
            return rc;
        }
    }
    struct eddy_timer deadline;
    eddy_timer_init(&deadline, g_base, on_deadline, NULL);
    eddy_timer_start(&deadline, (uint64_t)cfg.timeout_s * 1000, 0);
    int rc = eddy_event_loop_run(g_base);
    eddy_timer_stop(&deadline);
    return rc;
}

int main(int argc, char **argv)
{
    struct eddy_thread_pool *pool = NULL;
    struct timespec t0, t1;
    if (parse_args(argc, argv) < 0)
        return 2;
    signal(SIGPIPE, SIG_IGN);
    int rc = eddy_event_loop_new(&g_base, cfg.backend);
    if (rc == 0)
        rc = eddy_thread_pool_new(&pool, g_base, cfg.threads, cfg.backend);
    if (rc == 0)
        rc = eddy_thread_pool_start(pool);
    struct eddy_tcp_client **cls = calloc((size_t)cfg.connections, sizeof *cls);
    if (rc < 0 || !cls) {
        fprintf(stderr, "echo_client: %s\n", strerror(rc < 0 ? -rc : ENOMEM));
        return 1;
    }
    clock_gettime(CLOCK_MONOTONIC, &t0);
    rc = run(pool, cls);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    for (int i = 0; i < cfg.connections; i++)
        eddy_tcp_client_free(cls[i]); /* queued to their loops, which still run */
    eddy_thread_pool_free(pool);
    eddy_event_loop_free(g_base);
    free(cls);

    int finished = __atomic_load_n(&g_finished, __ATOMIC_ACQUIRE);
    int failed = __atomic_load_n(&g_failed, __ATOMIC_ACQUIRE) + (cfg.connections - finished);
    uint64_t echoed = __atomic_load_n(&g_echoed, __ATOMIC_ACQUIRE);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    printf("echo_client: %d connections to %s, %d messages of %zu bytes each, %d threads, %s\n",
           cfg.connections, cfg.addr, cfg.messages, cfg.size, cfg.threads, cfg.backend);
    printf("echo_client: %llu of %llu messages came back byte-exact (%llu bytes) in %.3f s; "
           "%d connections failed (%d could not connect)\n",
           (unsigned long long)echoed, (unsigned long long)cfg.connections * (unsigned)cfg.messages,
           (unsigned long long)(echoed * cfg.size), secs, failed,
           __atomic_load_n(&g_connect_errors, __ATOMIC_RELAXED));
    return failed == 0 && rc == 0 && echoed == (uint64_t)cfg.connections * (uint64_t)cfg.messages
               ? 0
               : 1;
}
