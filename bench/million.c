/*
 * million: N concurrent keep-alive HTTP connections held by one eddy server process on
 * its own TCP/IP stack (ustack), and the cost of K active ones among them.
 *
 * Two processes joined by a shmlink (ustack rings in shared memory): the server runs
 * eddy's HTTP server (the library's static handler on a docroot) on a uepoll loop whose
 * stack sits on end 0; the client (this process) runs its own stack on end 1 and drives
 * it by hand with ue_epoll. The stacks have one address each, 198.18.0.1 (server) and
 * 198.18.0.2 (client), so the server listens on several ports and the client spreads its
 * connections over them (about 28,000 ephemeral ports per server port).
 *
 *   million -n N -k 100,1000,10000 -d SECONDS -r DOCROOT [-f FILES] [-w epoll|poll]
 *
 * Phases: open N connections (at most 512 handshakes in flight), one GET on each, kept
 * open; then for each K, K connections chosen at random do one request at a time for
 * SECONDS while the rest stay idle. Server RSS and CPU come from the server itself over
 * a control socket (/proc/self/statm, getrusage). Lines starting "result" are for
 * million.sh.
 */
#include <eddy/event_loop.h>
#include <eddy/http.h>
#include <eddy/http_static.h>
#include <eddy/ustack_net.h>
#include <eddy/ustack_shm.h>

#include <arpa/inet.h>
#include <errno.h>
#include <malloc.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Internal headers, for the sizeof breakdown of an idle connection only. */
#include "http/http_internal.h"
#include "net/net_internal.h"
#include "uepoll/eventpoll.h"
#include "ustack/tcp.h"

#include "ustack_bench.h"

#define BASE_PORT  8000
#define PORT_LOAD  20000 /* connections per server port (of ~28,000 ephemeral ports) */
#define INFLIGHT   512
#define MAX_ROUNDS 15

/* ------------------------------------------------------------------ server process */

struct server {
    struct eddy_event_loop *loop;
    struct eddy_http_server *srv;
    struct ue_stack *st;
    struct eddy_channel ctl_ch;
    int ctl;
};

static void server_report(struct server *s)
{
    long pages = 0, rss = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f) {
        if (fscanf(f, "%ld %ld", &pages, &rss) != 2)
            rss = 0;
        fclose(f);
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
                 (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
    struct ue_stack_stats ss;
    ue_stack_get_stats(s->st, &ss);
    char line[256];
    int n = snprintf(line, sizeof(line), "%ld %.6f %zu %llu\n", rss * sysconf(_SC_PAGESIZE), cpu,
                     eddy_http_server_connection_count(s->srv), (unsigned long long)ss.tcp_conns);
    if (write(s->ctl, line, (size_t)n) != n)
        eddy_event_loop_stop(s->loop);
}

static void on_ctl(struct eddy_channel *ch, int revents)
{
    struct server *s = ch->data;
    char c;
    (void)revents;
    ssize_t r = read(s->ctl, &c, 1);
    if (r <= 0 || c == 'q')
        eddy_event_loop_stop(s->loop);
    else if (c == 'm')
        server_report(s);
    else if (c == 'r') { /* for RSS: give back what the active rounds' buffers freed */
        malloc_trim(0);
        server_report(s);
    }
}

static void print_sizes(void)
{
    printf("sizes: us_sock(TCB) %zu, ue_file(socket file) %zu, ue_epitem %zu, "
           "ue_eppoll_entry %zu, eddy_tcp_connection %zu, http_conn %zu (sizeof, before "
           "malloc rounding)\n",
           sizeof(struct us_sock), sizeof(struct ue_file), sizeof(struct ue_epitem),
           sizeof(struct ue_eppoll_entry), sizeof(struct eddy_tcp_connection),
           sizeof(struct http_conn));
    fflush(stdout);
}

static int server_setup(struct server *s, const struct ue_shmlink *l, const char *root, int nports,
                        const char *backend)
{
    struct ue_stack_config c = {.prefix = 15, .syn_backlog = 8192};
    c.addr = bench_addr(BENCH_SERVER_IP);
    if (eddy_event_loop_new(&s->loop, backend) < 0 || ue_shmlink_open(&c.dev, l, 0) < 0 ||
        !(s->st = ue_stack_create(&c)))
        return -1;
    struct eddy_http_server_options o;
    eddy_http_server_options_init(&o);
    o.keepalive_timeout_ms = 0;        /* held open for the whole run */
    o.keepalive_requests = UINT32_MAX; /* an active connection is never closed by the server */
    o.tcp.max_connections = 0;
    struct eddy_http_static_options so;
    eddy_http_static_options_init(&so);
    so.root = root;
    struct eddy_http_static *sh;
    struct eddy_ustack_driver *drv;
    if (eddy_http_server_new(&s->srv, s->loop, &o) < 0 || eddy_http_static_new(&sh, &so) < 0 ||
        eddy_http_server_route_flags(s->srv, EDDY_HTTP_GET, "/", EDDY_HTTP_ROUTE_NO_BODY,
                                     eddy_http_static_handler, sh) < 0 ||
        eddy_http_server_start(s->srv) < 0 || eddy_ustack_driver_start(&drv, s->loop, s->st) < 0)
        return -1;
    for (int p = 0; p < nports; p++) {
        struct eddy_ustack_listener *lst;
        struct sockaddr_in a = {.sin_family = AF_INET,
                                .sin_port = htons((uint16_t)(BASE_PORT + p))};
        if (eddy_ustack_listen(&lst, eddy_http_server_tcp(s->srv), s->st, &a, 65535) < 0)
            return -1;
    }
    eddy_channel_init_kernel(&s->ctl_ch, s->loop, s->ctl, on_ctl, s);
    return eddy_channel_enable_reading(&s->ctl_ch);
}

static int server_main(const struct ue_shmlink *l, int ctl, const char *root, int nports,
                       const char *backend)
{
    struct server s = {.ctl = ctl};
    if (server_setup(&s, l, root, nports, backend) < 0) {
        fprintf(stderr, "million: server setup failed: %s\n", strerror(errno));
        return 1;
    }
    print_sizes();
    server_report(&s); /* "ready", with the baseline RSS */
    eddy_event_loop_run(s.loop);
    return 0;
}

/* ------------------------------------------------------------------ client process */

enum { C_NONE, C_CONNECTING, C_WAITING, C_IDLE, C_FAILED };

struct conn {
    int fd;
    uint32_t remaining; /* response bytes still to come; 0: head not seen yet */
    uint8_t state, active;
};

struct client {
    struct ue_stack *st;
    struct ue_dev *dev;
    int ep, devfd, ctl, nfiles, nports;
    struct conn *c;
    size_t total, opened, failed, inflight, outstanding;
    int measuring, reissue;
    uint64_t completed;
};

struct srv_stat {
    double rss, cpu;
    size_t http_conns, tcp_conns;
};

/* One reply line of the server (byte by byte: never a part of the next line). */
static int read_line(int fd, char *buf, size_t cap)
{
    size_t got = 0;
    while (got < cap - 1) {
        ssize_t r = read(fd, buf + got, 1);
        if (r <= 0)
            return -1;
        if (buf[got++] == '\n')
            break;
    }
    buf[got] = 0;
    return 0;
}

/* what: 'm' (a snapshot) or 'r' (the same after malloc_trim, for RSS) */
static int ask_server_for(struct client *cl, const char *what, struct srv_stat *out)
{
    char buf[256];
    if (write(cl->ctl, what, 1) != 1 || read_line(cl->ctl, buf, sizeof(buf)) < 0)
        return -1;
    return sscanf(buf, "%lf %lf %zu %zu", &out->rss, &out->cpu, &out->http_conns,
                  &out->tcp_conns) == 4
               ? 0
               : -1;
}

static int ask_server(struct client *cl, struct srv_stat *out)
{
    return ask_server_for(cl, "m", out);
}

static void conn_fail(struct client *cl, size_t i)
{
    struct conn *c = &cl->c[i];
    if (c->state == C_CONNECTING)
        cl->inflight--;
    if (c->state == C_WAITING)
        cl->outstanding--;
    c->state = C_FAILED;
    cl->failed++;
    ue_close(c->fd);
}

static void send_request(struct client *cl, size_t i)
{
    char req[128];
    int n = snprintf(req, sizeof(req), "GET /f%zu.html HTTP/1.1\r\nHost: bench\r\n\r\n",
                     i % (size_t)cl->nfiles);
    struct conn *c = &cl->c[i];
    c->remaining = 0;
    c->state = C_WAITING;
    cl->outstanding++;
    if (ue_write(c->fd, req, (size_t)n) != n)
        conn_fail(cl, i);
}

static void response_done(struct client *cl, size_t i)
{
    struct conn *c = &cl->c[i];
    c->state = C_IDLE;
    cl->outstanding--;
    if (!c->active) {
        cl->opened++;
        return;
    }
    if (cl->measuring)
        cl->completed++;
    if (cl->reissue)
        send_request(cl, i);
}

/* Reads what came; a response is the head plus Content-Length bytes. */
static void conn_readable(struct client *cl, size_t i)
{
    struct conn *c = &cl->c[i];
    char buf[4096];
    ssize_t r = ue_read(c->fd, buf, sizeof(buf));
    if (r < 0 && errno == EAGAIN)
        return;
    if (r <= 0 || c->state != C_WAITING) {
        conn_fail(cl, i); /* closed by the server, or bytes nobody asked for */
        return;
    }
    if (c->remaining == 0) {
        const char *end = memmem(buf, (size_t)r, "\r\n\r\n", 4);
        const char *cl_hdr = memmem(buf, (size_t)r, "Content-Length: ", 16);
        if (!end || !cl_hdr || memcmp(buf, "HTTP/1.1 200", 12) != 0) {
            conn_fail(cl, i);
            return;
        }
        c->remaining = (uint32_t)(end + 4 - buf) + (uint32_t)strtoul(cl_hdr + 16, NULL, 10);
    }
    if ((uint32_t)r > c->remaining) {
        conn_fail(cl, i);
        return;
    }
    c->remaining -= (uint32_t)r;
    if (c->remaining == 0)
        response_done(cl, i);
}

static void conn_event(struct client *cl, size_t i, uint32_t ev)
{
    struct conn *c = &cl->c[i];
    if (c->state == C_CONNECTING) {
        int err = 0;
        socklen_t len = sizeof(err);
        if ((ev & (EPOLLERR | EPOLLHUP)) ||
            ue_getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err) {
            conn_fail(cl, i);
            return;
        }
        struct epoll_event e = {.events = EPOLLIN, .data.u64 = i};
        ue_epoll_ctl(cl->ep, EPOLL_CTL_MOD, c->fd, &e);
        cl->inflight--;
        send_request(cl, i);
        return;
    }
    if (c->state != C_FAILED)
        conn_readable(cl, i);
}

/* One turn of the client: stack input and timers, events, or a sleep on the link. */
static void pump(struct client *cl)
{
    static struct epoll_event evs[4096];
    ue_stack_poll(cl->st, 4096);
    int n = ue_epoll_wait(cl->ep, evs, 4096, 0);
    for (int k = 0; k < n; k++) /* with 10^6 connections each entry is a miss of its own */
        __builtin_prefetch(&cl->c[evs[k].data.u64]);
    for (int k = 0; k < n; k++)
        conn_event(cl, (size_t)evs[k].data.u64, evs[k].events);
    if (n > 0)
        return;
    uint64_t next = ue_stack_next_deadline(cl->st), now = ue_stack_now(cl->st);
    int ms = next == UINT64_MAX ? 50 : next <= now ? 0 : (int)((next - now + 999) / 1000);
    struct pollfd p = {.fd = cl->devfd, .events = POLLIN};
    poll(&p, 1, ms > 50 ? 50 : ms);
}

static void start_connect(struct client *cl, size_t i)
{
    struct conn *c = &cl->c[i];
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)(BASE_PORT + i % (size_t)cl->nports))};
    a.sin_addr = bench_addr(BENCH_SERVER_IP);
    c->fd = ue_socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    c->state = C_CONNECTING;
    cl->inflight++;
    struct epoll_event e = {.events = EPOLLOUT, .data.u64 = i};
    if (c->fd < 0 ||
        (ue_connect(c->fd, (struct sockaddr *)&a, sizeof(a)) < 0 && errno != EINPROGRESS) ||
        ue_epoll_ctl(cl->ep, EPOLL_CTL_ADD, c->fd, &e) < 0)
        conn_fail(cl, i);
}

/* Opens connections until `target` have answered their first GET (or failed). */
static double open_to(struct client *cl, size_t target, size_t *next)
{
    double t0 = now_s(), last = t0;
    size_t seen = cl->opened + cl->failed;
    while (cl->opened + cl->failed < target) {
        /* one handshake alone first: the ARP exchange queues only a few frames */
        size_t limit = cl->opened ? INFLIGHT : 1;
        while (cl->inflight < limit && *next < target)
            start_connect(cl, (*next)++);
        pump(cl);
        if (cl->opened + cl->failed != seen) {
            seen = cl->opened + cl->failed;
            last = now_s();
        } else if (now_s() - last > 30) {
            fprintf(stderr, "million: opening stalled at %zu of %zu\n", seen, target);
            break;
        }
    }
    return now_s() - t0;
}

static uint64_t rng_next(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static double cpu_self(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

struct round {
    double rate, srv_us, cli_us, srv_busy, cli_busy, t0; /* t0: CLOCK_MONOTONIC at start */
};

/* One round: K random idle connections each do one request at a time for `dur` seconds. */
static struct round active_round(struct client *cl, size_t k, double dur, size_t next, size_t *got)
{
    static uint64_t rng = 0x2545f4914f6cdd1dull;
    size_t *set = malloc(k * sizeof(*set)), n = 0;
    for (size_t tries = 0; n < k && tries < 100 * k + 1000; tries++) {
        size_t i = (size_t)(rng_next(&rng) % next);
        if (cl->c[i].state == C_IDLE && !cl->c[i].active) {
            cl->c[i].active = 1;
            set[n++] = i;
        }
    }
    cl->reissue = 1;
    for (size_t j = 0; j < n; j++)
        send_request(cl, set[j]);
    for (double w = now_s() + 0.5; now_s() < w;)
        pump(cl); /* warm-up */
    struct srv_stat s0, s1;
    ask_server(cl, &s0);
    double t0 = now_s(), c0 = cpu_self();
    cl->completed = 0;
    cl->measuring = 1;
    while (now_s() - t0 < dur)
        pump(cl);
    cl->measuring = 0;
    double t1 = now_s(), c1 = cpu_self();
    ask_server(cl, &s1);
    cl->reissue = 0;
    for (double w = now_s() + 10; cl->outstanding && now_s() < w;)
        pump(cl);
    for (size_t j = 0; j < n; j++)
        cl->c[set[j]].active = 0;
    free(set);
    double req = cl->completed ? (double)cl->completed : 1.0;
    *got = n;
    return (struct round){.rate = (double)cl->completed / (t1 - t0),
                          .srv_us = (s1.cpu - s0.cpu) * 1e6 / req,
                          .cli_us = (c1 - c0) * 1e6 / req,
                          .srv_busy = (s1.cpu - s0.cpu) / (t1 - t0),
                          .cli_busy = (c1 - c0) / (t1 - t0),
                          .t0 = t0};
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(*v), cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void print_round(size_t n, const char *phase, const char *r, const struct round *x)
{
    printf("round k=%zu phase=%s r=%s req_s=%.0f server_us=%.2f client_us=%.2f "
           "server_busy=%.2f client_busy=%.2f t=%.3f\n",
           n, phase, r, x->rate, x->srv_us, x->cli_us, x->srv_busy, x->cli_busy, x->t0);
}

/* `warm` uncounted rounds, then `rounds` rounds of K active (a new random set each); the
 * medians of each figure. Every phase warms up the same way before it counts: the first
 * phase is also the process's first work, and a ratio of two phases would measure that. */
static void active_phase(struct client *cl, size_t k, double dur, int rounds, int warm, size_t next,
                         const char *phase)
{
    double v[5][MAX_ROUNDS];
    size_t n = 0;
    char name[16];
    for (int r = -warm; r < rounds; r++) {
        struct round x = active_round(cl, k, dur, next, &n);
        snprintf(name, sizeof(name), r < 0 ? "warm%d" : "%d", r < 0 ? r + warm : r);
        print_round(n, phase, name, &x);
        if (r < 0)
            continue;
        v[0][r] = x.rate, v[1][r] = x.srv_us, v[2][r] = x.cli_us;
        v[3][r] = x.srv_busy, v[4][r] = x.cli_busy;
    }
    double rate = median(v[0], rounds), srv = median(v[1], rounds), cli = median(v[2], rounds);
    double sb = median(v[3], rounds), cb = median(v[4], rounds);
    printf("result active k=%zu phase=%s idle=%zu req_s=%.0f server_cpu_us_per_req=%.2f "
           "client_cpu_us_per_req=%.2f server_busy=%.2f client_busy=%.2f stalled=%zu "
           "failed=%zu\n",
           n, phase, cl->opened - n, rate, srv, cli, sb, cb, cl->outstanding, cl->failed);
    fflush(stdout);
}

static int client_setup(struct client *cl, const struct ue_shmlink *l)
{
    struct ue_stack_config c = {.prefix = 15};
    c.addr = bench_addr(BENCH_CLIENT_IP);
    if (ue_shmlink_open(&c.dev, l, 1) < 0 || !(cl->st = ue_stack_create(&c)))
        return -1;
    cl->dev = c.dev;
    ue_stack_set_current(cl->st);
    cl->devfd = ue_stack_dev_fd(cl->st);
    cl->ep = ue_epoll_create1(0);
    cl->c = calloc(cl->total, sizeof(*cl->c));
    return cl->ep < 0 || !cl->c ? -1 : 0;
}

static size_t parse_ks(const char *s, size_t *ks, size_t max)
{
    size_t n = 0;
    for (char *end; *s && n < max; s = *end ? end + 1 : end)
        ks[n++] = strtoul(s, &end, 10);
    return n;
}

struct plan {
    size_t n_idle, ks[8], nk, kmax;
    double dur;
    int rounds, warm, after; /* warm: uncounted rounds first; after: close the N idle ones
                              * and measure again */
};

/* Aborts connections [from, to) with a reset (SO_LINGER 0: no TIME_WAIT on either side to
 * weigh on the next measurement), 512 at a time, each batch once the server has let the
 * one before go (a reset is not retransmitted: a full link must not drop one). */
static void close_conns(struct client *cl, size_t from, size_t to)
{
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    struct srv_stat s;
    for (size_t i = from; i < to;) {
        for (size_t end = i + INFLIGHT; i < to && i < end; i++)
            if (cl->c[i].state == C_IDLE && !cl->c[i].active) {
                ue_setsockopt(cl->c[i].fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
                ue_close(cl->c[i].fd);
                cl->c[i].state = C_NONE;
                cl->opened--;
            }
        /* no sleep in between: a reset gets no answer to wake the client; resets the
         * server never saw (none is retransmitted) must not hold the rest back */
        size_t last = SIZE_MAX;
        for (double quiet = now_s() + 0.2; now_s() < quiet;) {
            ue_stack_poll(cl->st, 4096);
            if (ask_server(cl, &s) < 0 || s.http_conns <= cl->opened + INFLIGHT)
                break;
            if (s.http_conns != last) {
                last = s.http_conns;
                quiet = now_s() + 0.2;
            }
        }
    }
    for (double w = now_s() + 2; now_s() < w;) {
        pump(cl);
        if (ask_server(cl, &s) < 0 || s.http_conns <= cl->opened)
            break;
    }
}

static void run_client(struct client *cl, const struct plan *p)
{
    struct srv_stat before, after, end;
    size_t next = 0;
    /* the baseline: the same processes before any idle connection (K only) */
    for (size_t j = 0; j < p->nk; j++) {
        open_to(cl, p->ks[j], &next);
        active_phase(cl, p->ks[j], p->dur, p->rounds, p->warm, next, "base");
    }
    open_to(cl, p->kmax, &next);
    size_t base_n = next;
    ask_server_for(cl, "r", &before);
    double t = open_to(cl, p->kmax + p->n_idle, &next);
    ask_server_for(cl, "r", &after);
    size_t n_new = cl->opened - base_n;
    printf("result open n=%zu opened=%zu failed=%zu seconds=%.2f handshakes_per_s=%.0f\n",
           p->n_idle, n_new, cl->failed, t, t > 0 ? (double)n_new / t : 0.0);
    printf("result rss before=%.0f after=%.0f per_conn=%.0f server_conns=%zu\n", before.rss,
           after.rss, n_new ? (after.rss - before.rss) / (double)n_new : 0.0, after.http_conns);
    fflush(stdout);
    for (size_t j = 0; j < p->nk; j++)
        active_phase(cl, p->ks[j], p->dur, p->rounds, p->warm, next, "idle");
    ask_server(cl, &end);
    size_t held = 0;
    for (size_t i = 0; i < next; i++)
        held += cl->c[i].state == C_IDLE;
    printf("result held=%zu n=%zu client_failed=%zu server_http_conns=%zu server_tcp_conns=%zu "
           "client_link_drops=%llu\n",
           held, next, cl->failed, end.http_conns, end.tcp_conns,
           (unsigned long long)ue_shmlink_drops(cl->dev));
    fflush(stdout);
    if (!p->after)
        return;
    double tc = now_s();
    close_conns(cl, base_n, next);
    ask_server(cl, &end);
    printf("result closed n=%zu seconds=%.2f server_http_conns=%zu\n", next - base_n, now_s() - tc,
           end.http_conns);
    for (size_t j = 0; j < p->nk; j++)
        active_phase(cl, p->ks[j], p->dur, p->rounds, p->warm, base_n, "after");
}

/* The options into p, root, wait and nfiles; 0, or -1 after a usage message. */
static int parse_args(int argc, char **argv, struct plan *p, const char **root, const char **wait,
                      int *nfiles)
{
    int opt;
    while ((opt = getopt(argc, argv, "n:k:d:r:f:w:R:W:a")) != -1) {
        if (opt == 'n')
            p->n_idle = strtoul(optarg, NULL, 10);
        else if (opt == 'k')
            p->nk = parse_ks(optarg, p->ks, 8);
        else if (opt == 'd')
            p->dur = atof(optarg);
        else if (opt == 'r')
            *root = optarg;
        else if (opt == 'f')
            *nfiles = atoi(optarg);
        else if (opt == 'w')
            *wait = optarg;
        else if (opt == 'R')
            p->rounds = atoi(optarg);
        else if (opt == 'W')
            p->warm = atoi(optarg);
        else if (opt == 'a')
            p->after = 1;
        else
            *root = NULL;
    }
    for (size_t j = 0; j < p->nk; j++)
        p->kmax = p->ks[j] > p->kmax ? p->ks[j] : p->kmax;
    if (*root && *nfiles > 0 && p->rounds >= 1 && p->rounds <= MAX_ROUNDS && p->warm >= 0 &&
        (!strcmp(*wait, "epoll") || !strcmp(*wait, "poll")))
        return 0;
    fprintf(stderr, "usage: million -r DOCROOT [-n N] [-k K,K..] [-d S] [-R ROUNDS] [-W WARM] [-a] "
                    "[-f FILES] [-w epoll|poll]\n");
    return -1;
}

int main(int argc, char **argv)
{
    struct plan p = {.n_idle = 1000, .ks = {100}, .nk = 1, .dur = 2, .rounds = 3, .warm = 1};
    const char *root = NULL, *wait = "epoll";
    int nfiles = 100;
    if (parse_args(argc, argv, &p, &root, &wait, &nfiles) < 0)
        return 2;
    /* static: the connections live until exit (the server sees them to the end) */
    static struct client cl;
    cl.nfiles = nfiles;
    cl.total = p.n_idle + p.kmax;
    cl.nports = (int)(cl.total / PORT_LOAD + 1);
    int sv[2];
    struct ue_shmlink l;
    /* room for a request or a response of every active connection at once, so the link
     * drops nothing at K = 10,000 (a drop costs an RTO, which the rate would measure) */
    unsigned slots = 4096;
    while (slots < 2 * p.kmax)
        slots *= 2;
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0 || ue_shmlink_create(&l, slots) < 0)
        return 1;
    signal(SIGPIPE, SIG_IGN);
    pid_t pid = fork();
    if (pid == 0) {
        close(sv[0]);
        _exit(server_main(&l, sv[1], root, cl.nports, strcmp(wait, "poll") ? "uepoll" : "upoll"));
    }
    close(sv[1]);
    cl.ctl = sv[0];
    char ready[256];
    if (pid < 0 || client_setup(&cl, &l) < 0 || read_line(cl.ctl, ready, sizeof(ready)) < 0)
        return 1;
    ue_shmlink_close(&l);
    run_client(&cl, &p);
    if (write(cl.ctl, "q", 1) != 1)
        kill(pid, SIGTERM);
    int status = 0;
    waitpid(pid, &status, 0);
    return 0;
}
