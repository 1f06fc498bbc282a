/*
 * Shared by the HTTP server unit tests: a server running in its own thread, and a tiny
 * blocking client that parses responses. Header-only so each test stays one binary.
 */
#ifndef EDDY_HTTP_TEST_UTIL_H
#define EDDY_HTTP_TEST_UTIL_H

#include "eddy/event_loop.h"
#include "eddy/http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "../../lib/sock.h"

struct test_server {
    pthread_t th;
    struct eddy_event_loop *loop;
    struct eddy_http_server *srv;
    struct eddy_http_server_options opt;
    void (*setup)(struct eddy_http_server *srv); /* routes */
    int port;
    int failed;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int ready;
    int stop_returned; /* eddy_event_loop_stop has returned in the stopping thread */
};

static void *test_server_main(void *arg)
{
    struct test_server *t = arg;
    union eddy_sockaddr bound;
    int rc = eddy_event_loop_new(&t->loop, t->opt.tcp.backend);
    if (rc == 0)
        rc = eddy_http_server_new(&t->srv, t->loop, &t->opt);
    if (rc == 0) {
        t->setup(t->srv);
        rc = eddy_http_server_listen(t->srv, "127.0.0.1:0", &bound);
    }
    if (rc == 0)
        rc = eddy_http_server_start(t->srv);
    pthread_mutex_lock(&t->mu);
    t->port = rc == 0 ? eddy_sockaddr_port(&bound.sa) : -1;
    t->failed = rc != 0;
    t->ready = 1;
    pthread_cond_signal(&t->cv);
    pthread_mutex_unlock(&t->mu);
    if (rc == 0) {
        eddy_event_loop_run(t->loop);
        /* The stopping thread may still be inside eddy_event_loop_stop (writing the loop's
         * wake-up eventfd) when run returns: the loop is freed only once it is out. */
        pthread_mutex_lock(&t->mu);
        while (!t->stop_returned)
            pthread_cond_wait(&t->cv, &t->mu);
        pthread_mutex_unlock(&t->mu);
    }
    if (t->srv)
        eddy_http_server_free(t->srv);
    if (t->loop)
        eddy_event_loop_free(t->loop);
    return NULL;
}

/* Starts the server thread; returns the port or -1. */
static int test_server_start(struct test_server *t)
{
    pthread_mutex_init(&t->mu, NULL);
    pthread_cond_init(&t->cv, NULL);
    t->ready = 0;
    t->stop_returned = 0;
    if (pthread_create(&t->th, NULL, test_server_main, t) != 0)
        return -1;
    pthread_mutex_lock(&t->mu);
    while (!t->ready)
        pthread_cond_wait(&t->cv, &t->mu);
    pthread_mutex_unlock(&t->mu);
    return t->port;
}

static void test_server_stop(struct test_server *t)
{
    eddy_event_loop_stop(t->loop);
    pthread_mutex_lock(&t->mu);
    t->stop_returned = 1;
    pthread_cond_broadcast(&t->cv);
    pthread_mutex_unlock(&t->mu);
    pthread_join(t->th, NULL);
    pthread_mutex_destroy(&t->mu);
    pthread_cond_destroy(&t->cv);
}

/* 1 when t's server holds no connection within ms (inline: not every test uses it). */
static inline int test_server_idle(struct test_server *t, int ms)
{
    for (int i = 0; i < ms; i++) {
        if (eddy_http_server_connection_count(t->srv) == 0)
            return 1;
        usleep(1000);
    }
    return 0;
}

/* ---- client ------------------------------------------------------------------------- */

struct cli {
    int fd;
    size_t len;
    char buf[1 << 20];
};

struct resp {
    int status;
    char head[4096]; /* the header block, NUL-terminated, for strstr checks */
    char *body;      /* malloc'd, NUL-terminated */
    size_t body_len;
};

static int cli_connect(struct cli *c, int port)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    c->len = 0;
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct timeval tv = {5, 0};
    setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return connect(c->fd, (struct sockaddr *)&a, sizeof(a));
}

static int cli_send(struct cli *c, const char *s, size_t n)
{
    return eddy_test_send_all(c->fd, s, n);
}

static int cli_sends(struct cli *c, const char *s)
{
    return cli_send(c, s, strlen(s));
}

/* Reads more bytes; 0 at EOF, -1 on error/timeout. */
static int cli_fill(struct cli *c)
{
    if (c->len == sizeof(c->buf))
        return -1;
    ssize_t k = recv(c->fd, c->buf + c->len, sizeof(c->buf) - c->len, 0);
    if (k < 0)
        return -1;
    c->len += (size_t)k;
    return k > 0;
}

static void cli_consume(struct cli *c, size_t n)
{
    memmove(c->buf, c->buf + n, c->len - n);
    c->len -= n;
}

static char *cli_find(struct cli *c, const char *pat)
{
    return memmem(c->buf, c->len, pat, strlen(pat));
}

/* Bytes of a chunked body into r; 0 or -1. */
static int cli_read_chunked(struct cli *c, struct resp *r)
{
    for (;;) {
        char *eol;
        while (!(eol = cli_find(c, "\r\n")))
            if (cli_fill(c) <= 0)
                return -1;
        size_t size = strtoul(c->buf, NULL, 16), line = (size_t)(eol - c->buf) + 2;
        while (c->len < line + size + 2)
            if (cli_fill(c) <= 0)
                return -1;
        r->body = realloc(r->body, r->body_len + size + 1);
        memcpy(r->body + r->body_len, c->buf + line, size);
        r->body_len += size;
        r->body[r->body_len] = 0;
        cli_consume(c, line + size + 2);
        if (size == 0)
            return 0;
    }
}

/* Reads one response; 0 or -1. head_only: a response to HEAD. */
static int cli_read(struct cli *c, struct resp *r, int head_only)
{
    char *end;
    memset(r, 0, sizeof(*r));
    r->body = calloc(1, 1);
    while (!(end = cli_find(c, "\r\n\r\n")))
        if (cli_fill(c) <= 0)
            return -1;
    size_t hl = (size_t)(end - c->buf) + 4;
    if (hl >= sizeof(r->head) || sscanf(c->buf, "HTTP/1.%*d %d", &r->status) != 1)
        return -1;
    memcpy(r->head, c->buf, hl);
    r->head[hl] = 0;
    cli_consume(c, hl);
    if (head_only || r->status < 200 || r->status == 204 || r->status == 304)
        return 0;
    char *cl = strcasestr(r->head, "\r\nContent-Length: ");
    if (strcasestr(r->head, "\r\nTransfer-Encoding: chunked"))
        return cli_read_chunked(c, r);
    if (cl) {
        size_t n = strtoul(cl + 18, NULL, 10);
        while (c->len < n)
            if (cli_fill(c) <= 0)
                return -1;
        r->body = realloc(r->body, n + 1);
        memcpy(r->body, c->buf, n);
        r->body[n] = 0;
        r->body_len = n;
        cli_consume(c, n);
        return 0;
    }
    int k;
    while ((k = cli_fill(c)) > 0) /* close-delimited */
        ;
    if (k < 0)
        return -1;
    r->body = realloc(r->body, c->len + 1);
    memcpy(r->body, c->buf, c->len);
    r->body[c->len] = 0;
    r->body_len = c->len;
    c->len = 0;
    return 0;
}

/* 1 if the peer closed (EOF) within ms with no further byte. */
static int cli_closed(struct cli *c, int ms)
{
    struct pollfd p = {.fd = c->fd, .events = POLLIN};
    if (c->len || poll(&p, 1, ms) != 1)
        return 0;
    char b;
    ssize_t k = recv(c->fd, &b, 1, MSG_DONTWAIT);
    return k == 0 || (k < 0 && errno == ECONNRESET);
}

static void cli_close(struct cli *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
}

static void resp_free(struct resp *r)
{
    free(r->body);
    r->body = NULL;
}

/* Counts occurrences of pat in s. */
static int count_of(const char *s, const char *pat)
{
    int n = 0;
    for (const char *p = s; (p = strstr(p, pat)) != NULL; p++)
        n++;
    return n;
}

#endif
