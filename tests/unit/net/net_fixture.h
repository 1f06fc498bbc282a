/*
 * A tcp_server on 127.0.0.1:0 whose base loop runs in its own thread, and
 * blocking loopback clients, for the net tests. Header-only (static
 * functions) so each test binary stays one file.
 *
 * State shared between callbacks (loop threads) and the test thread is read
 * and written with __atomic builtins; fx_call runs a function in the base
 * loop's thread and waits for it.
 */
#ifndef EDDY_NET_FIXTURE_H
#define EDDY_NET_FIXTURE_H

#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "eddy/eddy.h"
#include "../../lib/sock.h"
#include "../../lib/test.h"

#define FX_UNUSED __attribute__((unused))

/* The library's list of backends that can watch kernel descriptors (sockets are
 * kernel fds; on uepoll they sit beside the uepoll descriptors). */
#define fx_backends (eddy_event_dispatcher_names())
static FX_UNUSED int fx_nbackends(void)
{
    int n = 0;
    while (fx_backends[n] != NULL)
        n++;
    return n;
}
#define FX_NBACKENDS fx_nbackends()

/* Runs fn on each of the first n backends, stopping at the first failure (and naming it). */
static FX_UNUSED void fx_first_backends(void (*fn)(const char *backend), int n)
{
    for (int i = 0; i < n; i++) {
        fn(fx_backends[i]);
        if (eddy_test_failed()) {
            printf("# backend %s\n", fx_backends[i]);
            return;
        }
    }
}

static FX_UNUSED void fx_each_backend(void (*fn)(const char *backend))
{
    fx_first_backends(fn, FX_NBACKENDS);
}

/* Like RUN: one test (one ok / not ok line called name) running body on each of the first n
 * backends in turn until the first failure, which names the backend. */
typedef void (*fx_body)(const char *backend);

static struct {
    fx_body body;
    int n;
} fx_run_args_ FX_UNUSED;

static FX_UNUSED void fx_run_(void)
{
    fx_first_backends(fx_run_args_.body, fx_run_args_.n);
}

static FX_UNUSED void fx_run_backends(const char *name, fx_body body, int n)
{
    fx_run_args_.body = body;
    fx_run_args_.n = n;
    eddy_test_run(name, fx_run_);
}

#define RUN_BACKENDS(fn, n)  fx_run_backends(#fn, fn, n)
#define RUN_EACH_BACKEND(fn) fx_run_backends(#fn, fn, FX_NBACKENDS)

struct fx {
    struct eddy_event_loop *loop;
    struct eddy_tcp_server *server;
    pthread_t thread;
    int port;
    int running;
    void (*before_free)(struct fx *f); /* in the loop thread, after run returned */
};

static FX_UNUSED int fx_load(const int *p)
{
    return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

static FX_UNUSED void fx_store(int *p, int v)
{
    __atomic_store_n(p, v, __ATOMIC_RELEASE);
}

static FX_UNUSED int fx_inc(int *p)
{
    return __atomic_add_fetch(p, 1, __ATOMIC_ACQ_REL);
}

static FX_UNUSED void fx_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

/* Waits until *p >= v; 1 if reached within timeout_s. */
static FX_UNUSED int fx_wait_ge(const int *p, int v, double timeout_s)
{
    double end = eddy_test_now() + timeout_s;

    while (fx_load(p) < v) {
        if (eddy_test_now() > end)
            return 0;
        fx_sleep_ms(1);
    }
    return 1;
}

/* Counters the shared callbacks below bump, and the first connections (for cases where one
 * acts on another); fx_start zeroes them. */
static struct {
    int connected, closed, messages;
    struct eddy_tcp_connection *conns[8];
    int nconns;
} fx_n FX_UNUSED;

static FX_UNUSED void fx_on_connected_count(struct eddy_tcp_connection *c)
{
    (void)c;
    fx_inc(&fx_n.connected);
}

/* fx_on_connected_count that also keeps c in fx_n.conns (the first 8). */
static FX_UNUSED void fx_on_connected_record(struct eddy_tcp_connection *c)
{
    if (fx_n.nconns < 8)
        fx_n.conns[fx_n.nconns++] = c;
    fx_inc(&fx_n.connected);
}

static FX_UNUSED void fx_on_close_count(struct eddy_tcp_connection *c)
{
    (void)c;
    fx_inc(&fx_n.closed);
}

/* Sends back everything received. */
static FX_UNUSED void fx_echo(struct eddy_tcp_connection *c, struct eddy_buffer *in)
{
    eddy_tcp_connection_send(c, eddy_buffer_peek(in), eddy_buffer_readable(in));
    eddy_buffer_retrieve_all(in);
}

static FX_UNUSED void fx_on_message_echo(struct eddy_tcp_connection *c, struct eddy_buffer *in)
{
    fx_echo(c, in);
    fx_inc(&fx_n.messages);
}

/* Counts connections and closes, and echoes. */
static const struct eddy_tcp_callbacks fx_counting_echo FX_UNUSED = {
    .on_connected = fx_on_connected_count,
    .on_message = fx_on_message_echo,
    .on_close = fx_on_close_count};

/* Server options with defaults and the given sub-reactor count. */
static FX_UNUSED struct eddy_tcp_server_options fx_options_threads(int threads)
{
    struct eddy_tcp_server_options o;

    eddy_tcp_server_options_init(&o);
    o.threads = threads;
    return o;
}

static void *fx_thread_main(void *arg)
{
    struct fx *f = arg;

    eddy_event_loop_run(f->loop);
    if (f->before_free)
        f->before_free(f);
    eddy_tcp_server_free(f->server);
    f->server = NULL;
    return NULL;
}

/* Starts a server whose connections are on transport ops (NULL: kernel sockets) opened
 * with ops_arg (a TLS context for eddy_transport_tls); o may be NULL (defaults). 0 or a
 * negative errno. */
static FX_UNUSED int fx_start_ops(struct fx *f, const char *backend,
                                  const struct eddy_tcp_server_options *o,
                                  const struct eddy_tcp_callbacks *cb, void *data,
                                  const struct eddy_transport_ops *ops, void *ops_arg)
{
    union eddy_sockaddr bound;
    int r;

    memset(f, 0, sizeof *f);
    memset(&fx_n, 0, sizeof fx_n);
    r = eddy_event_loop_new(&f->loop, backend);
    if (r < 0)
        return r;
    r = eddy_tcp_server_new(&f->server, f->loop, o, cb, data);
    if (r == 0)
        r = eddy_tcp_server_listen_transport(f->server, "127.0.0.1:0", &bound, ops, ops_arg);
    if (r == 0)
        r = eddy_tcp_server_start(f->server);
    if (r == 0)
        r = -pthread_create(&f->thread, NULL, fx_thread_main, f);
    if (r < 0) {
        eddy_tcp_server_free(f->server);
        eddy_event_loop_free(f->loop);
        return r;
    }
    f->port = eddy_sockaddr_port(&bound.sa);
    f->running = 1;
    return 0;
}

/* Starts a server on kernel sockets; o may be NULL (defaults). 0 or a negative errno. */
static FX_UNUSED int fx_start(struct fx *f, const char *backend,
                              const struct eddy_tcp_server_options *o,
                              const struct eddy_tcp_callbacks *cb, void *data)
{
    return fx_start_ops(f, backend, o, cb, data, NULL, NULL);
}

/* Stops the loop; the server is freed in the loop's thread, then the loop. */
static FX_UNUSED void fx_stop(struct fx *f)
{
    if (!f->running)
        return;
    eddy_event_loop_stop(f->loop);
    pthread_join(f->thread, NULL);
    eddy_event_loop_free(f->loop);
    f->running = 0;
}

struct fx_call_ctx {
    void (*fn)(void *);
    void *arg;
    int done;
};

static void fx_call_task(void *arg)
{
    struct fx_call_ctx *c = arg;

    c->fn(c->arg);
    fx_store(&c->done, 1);
}

/* Runs fn(arg) in loop's thread and waits (up to 10 s). */
static FX_UNUSED int fx_call(struct eddy_event_loop *loop, void (*fn)(void *), void *arg)
{
    struct fx_call_ctx c = {fn, arg, 0};

    if (eddy_event_loop_queue_in_loop(loop, fx_call_task, &c) < 0)
        return 0;
    return fx_wait_ge(&c.done, 1, 10.0);
}

static void fx_sleep_task(void *arg)
{
    fx_sleep_ms((int)(intptr_t)arg);
}

/* Keeps the loop busy for ms, so events pile up into one batch. */
static FX_UNUSED void fx_block_loop(struct eddy_event_loop *loop, int ms)
{
    eddy_event_loop_queue_in_loop(loop, fx_sleep_task, (void *)(intptr_t)ms);
}

/* A blocking client connected to 127.0.0.1:port, 10 s receive timeout;
 * rcvbuf > 0 sets SO_RCVBUF before connecting. -1 on error. */
static FX_UNUSED int fx_connect(int port, int rcvbuf)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    struct timeval tv = {10, 0};
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    if (fd < 0)
        return -1;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (rcvbuf > 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Connects n clients (rcvbuf as for fx_connect); 0, or -1 with none left open. */
static FX_UNUSED int fx_connect_many(int port, int *fds, int n, int rcvbuf)
{
    for (int i = 0; i < n; i++) {
        fds[i] = fx_connect(port, rcvbuf);
        if (fds[i] < 0) {
            while (i-- > 0)
                close(fds[i]);
            return -1;
        }
    }
    return 0;
}

/* fx_start then one client: its fd, or -1 (the server stopped again). */
static FX_UNUSED int fx_start_client(struct fx *f, const char *backend,
                                     const struct eddy_tcp_server_options *o,
                                     const struct eddy_tcp_callbacks *cb, int rcvbuf)
{
    int fd;

    if (fx_start(f, backend, o, cb, NULL) < 0)
        return -1;
    fd = fx_connect(f->port, rcvbuf);
    if (fd < 0)
        fx_stop(f);
    return fd;
}

/* fx_start, n clients, then waits (5 s) until fx_n.connected >= n: 0, or -1 (left as it is
 * for the failing test to report). */
static FX_UNUSED int fx_start_clients(struct fx *f, const char *backend,
                                      const struct eddy_tcp_server_options *o,
                                      const struct eddy_tcp_callbacks *cb, int *fds, int n)
{
    if (fx_start(f, backend, o, cb, NULL) < 0)
        return -1;
    if (fx_connect_many(f->port, fds, n, 0) < 0)
        return -1;
    return fx_wait_ge(&fx_n.connected, n, 5) ? 0 : -1;
}

/* Closes the client fd, waits (5 s) until *closed >= n, then stops the server: 1 if reached. */
static FX_UNUSED int fx_finish(struct fx *f, int fd, const int *closed, int n)
{
    int ok;

    close(fd);
    ok = fx_wait_ge(closed, n, 5);
    fx_stop(f);
    return ok;
}

/* An unlinked temporary file holding n bytes of data: its fd, or -1. */
static FX_UNUSED int fx_temp_file(const char *data, size_t n)
{
    char path[] = "/tmp/eddy-net-test-XXXXXX";
    int fd = mkstemp(path);

    if (fd < 0)
        return -1;
    unlink(path);
    if (write(fd, data, n) != (ssize_t)n) {
        close(fd);
        return -1;
    }
    return fd;
}

static FX_UNUSED int fx_write_all(int fd, const void *p, size_t n)
{
    return eddy_test_send_all(fd, p, n);
}

/* Reads until n bytes, EOF or error/timeout; returns the bytes read. */
static FX_UNUSED size_t fx_read_n(int fd, void *p, size_t n)
{
    char *s = p;
    size_t got = 0;

    while (got < n) {
        ssize_t r = recv(fd, s + got, n - got, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    return got;
}

/* 1 if the peer closed (EOF or reset) within the receive timeout, with no data. */
static FX_UNUSED int fx_read_eof(int fd)
{
    char c;
    ssize_t r;

    do
        r = recv(fd, &c, 1, 0);
    while (r < 0 && errno == EINTR);
    return r == 0 || (r < 0 && errno == ECONNRESET);
}

/* Reads "msg" back after sending it: 1 if the echo matched. */
static FX_UNUSED int fx_echo_ok(int fd, const char *msg)
{
    char buf[256];
    size_t n = strlen(msg);

    return n <= sizeof buf && fx_write_all(fd, msg, n) == 0 && fx_read_n(fd, buf, n) == n &&
           memcmp(buf, msg, n) == 0;
}

/* Deterministic bytes: position-dependent, so a shifted or repeated chunk shows. */
static FX_UNUSED void fx_pattern(char *p, size_t n, size_t start)
{
    size_t i;

    for (i = 0; i < n; i++) {
        size_t k = start + i;
        p[i] = (char)((k * 2654435761u) >> 13 ^ (k >> 8));
    }
}

/* The file the file tests serve: its bytes, and an unlinked temporary file holding them. */
static struct {
    char *data;
    int fd;
} fx_file FX_UNUSED = {NULL, -1};

/* Runs body on the first n backends with fx_file a len-byte file of fx_pattern's bytes, or
 * of zeros. */
static FX_UNUSED void fx_with_file(fx_body body, int n, size_t len, int pattern)
{
    fx_file.data = pattern ? malloc(len) : calloc(1, len);
    ASSERT(fx_file.data != NULL);
    if (pattern)
        fx_pattern(fx_file.data, len, 12345);
    fx_file.fd = fx_temp_file(fx_file.data, len);
    if (fx_file.fd >= 0)
        fx_first_backends(body, n);
    else
        eddy_test_fail(__FILE__, __LINE__, "fx_temp_file", "failed");
    close(fx_file.fd);
    fx_file.fd = -1;
    free(fx_file.data);
    fx_file.data = NULL;
}

#endif
