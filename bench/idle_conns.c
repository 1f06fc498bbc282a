/*
 * idle_conns: open N TCP connections to a server, make each one a real HTTP/1.1 keep-alive
 * connection (one complete request and response), then hold them all idle.
 *
 *   build/bench/idle_conns -p 8080 -n 15000 [-H 127.0.0.1] [-s 127.0.0.2] [-a 10000]
 *                          [-r /hello.txt | -R] [-d SECONDS] [-c 256] [-T 60] [-g]
 *
 * Prints "holding N" on stdout once every connection is settled (idle or failed), then holds
 * them for -d seconds (0: until SIGINT/SIGTERM) and exits. Exit status 0 when all N were
 * held to the end, 1 otherwise, 2 on bad usage. Self-contained (libc only): it must work before
 * libeddy exists and must not share code paths with the server it measures.
 *
 * Why the details:
 * - Source addresses 127.0.0.2, .3, ... (-a connections each) with IP_BIND_ADDRESS_NO_PORT, so
 *   the port is picked at connect() per 4-tuple and the ephemeral range never runs out.
 * - At most -c connections are in their handshake/request at once: a server's listen backlog
 *   (nginx: 511) would otherwise drop SYNs and stall the setup on 1 s retransmits.
 * - Connections are closed with RST (SO_LINGER 0) unless -g, so repeated runs do not leave
 *   thousands of TIME_WAIT sockets on the source addresses.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

enum state { ST_FREE, ST_CONNECTING, ST_READING, ST_IDLE, ST_DEAD };

struct conn {
    int fd;
    uint8_t state;
    uint32_t have; /* bytes of the response read so far */
    uint32_t need; /* total response size once the header is parsed, else 0 */
    char *hdr;     /* response head buffer, only while reading */
};

struct opts {
    const char *host, *src, *path;
    int port, n, per_addr, concurrency, graceful, no_request;
    double hold_s, setup_timeout_s;
};

#define HDR_CAP 4096

static struct conn *conns;
static struct opts opt;
static int ep, sfd;
static char request[512];
static size_t request_len;
static int next_to_open, in_flight, held, failed, lost;
static int fail_connect, fail_write, fail_read, fail_status;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void usage(void)
{
    fprintf(stderr, "usage: idle_conns -p PORT -n N [-H DST] [-s FIRST_SRC] [-a PER_ADDR]\n"
                    "                  [-r PATH | -R] [-d HOLD_S] [-c CONCURRENT] [-T SETUP_S] "
                    "[-g]\n");
    exit(2);
}

static void parse_opts(int argc, char **argv)
{
    opt = (struct opts){"127.0.0.1", "127.0.0.2", "/hello.txt", 0, 0, 10000, 256, 0, 0, 0, 60};
    int c;
    while ((c = getopt(argc, argv, "H:p:n:s:a:r:Rd:c:T:g")) != -1) {
        switch (c) {
        case 'H':
            opt.host = optarg;
            break;
        case 'p':
            opt.port = atoi(optarg);
            break;
        case 'n':
            opt.n = atoi(optarg);
            break;
        case 's':
            opt.src = optarg;
            break;
        case 'a':
            opt.per_addr = atoi(optarg);
            break;
        case 'r':
            opt.path = optarg;
            break;
        case 'R':
            opt.no_request = 1;
            break;
        case 'd':
            opt.hold_s = atof(optarg);
            break;
        case 'c':
            opt.concurrency = atoi(optarg);
            break;
        case 'T':
            opt.setup_timeout_s = atof(optarg);
            break;
        case 'g':
            opt.graceful = 1;
            break;
        default:
            usage();
        }
    }
    if (opt.port <= 0 || opt.port > 65535 || opt.n < 0 || opt.per_addr <= 0 ||
        opt.concurrency <= 0 || optind != argc)
        usage();
}

/* The server needs no more than we ask for, but we need N sockets plus a few of our own. */
static void raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && (rlim_t)opt.n + 16 > rl.rlim_cur) {
        fprintf(stderr, "idle_conns: %d connections need %d fds, limit is %llu (ulimit -Hn)\n",
                opt.n, opt.n + 16, (unsigned long long)rl.rlim_cur);
        exit(1);
    }
}

static int source_addr(int i, struct sockaddr_in *sa)
{
    memset(sa, 0, sizeof(*sa));
    sa->sin_family = AF_INET;
    if (inet_pton(AF_INET, opt.src, &sa->sin_addr) != 1)
        return -1;
    sa->sin_addr.s_addr = htonl(ntohl(sa->sin_addr.s_addr) + (uint32_t)(i / opt.per_addr));
    return 0;
}

static void mark_failed(struct conn *c, int *reason)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    free(c->hdr);
    c->hdr = NULL;
    c->state = ST_DEAD;
    (*reason)++;
    failed++;
    in_flight--;
}

static int start_connect(int i)
{
    struct conn *c = &conns[i];
    struct sockaddr_in src, dst = {.sin_family = AF_INET, .sin_port = htons((uint16_t)opt.port)};
    int one = 1;
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    in_flight++;
    if (c->fd < 0 || source_addr(i, &src) < 0 || inet_pton(AF_INET, opt.host, &dst.sin_addr) != 1)
        goto fail;
    setsockopt(c->fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
    if (bind(c->fd, (struct sockaddr *)&src, sizeof(src)) < 0)
        goto fail;
    if (connect(c->fd, (struct sockaddr *)&dst, sizeof(dst)) < 0 && errno != EINPROGRESS)
        goto fail;
    struct epoll_event ev = {.events = EPOLLOUT, .data.u32 = (uint32_t)i};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) < 0)
        goto fail;
    c->state = ST_CONNECTING;
    return 0;
fail:
    if (failed == 0)
        perror("idle_conns: connect");
    mark_failed(c, &fail_connect);
    return -1;
}

static void become_idle(struct conn *c, int i)
{
    struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP, .data.u32 = (uint32_t)i};
    free(c->hdr);
    c->hdr = NULL;
    c->state = ST_IDLE;
    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
    in_flight--;
    held++;
}

static void on_connected(struct conn *c, int i)
{
    int err = 0;
    socklen_t len = sizeof(err);
    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err != 0) {
        mark_failed(c, &fail_connect);
        return;
    }
    if (opt.no_request) {
        become_idle(c, i);
        return;
    }
    /* A request this small always fits in an empty socket buffer. */
    if (write(c->fd, request, request_len) != (ssize_t)request_len) {
        mark_failed(c, &fail_write);
        return;
    }
    c->hdr = malloc(HDR_CAP);
    if (!c->hdr) {
        mark_failed(c, &fail_read);
        return;
    }
    c->state = ST_READING;
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
}

/* Returns the full response size, 0 if the head is incomplete, -1 if unusable. */
static long parse_head(const char *buf, uint32_t len)
{
    const char *end = memmem(buf, len, "\r\n\r\n", 4);
    if (!end)
        return len >= HDR_CAP ? -1 : 0;
    if (len < 12 || strncmp(buf, "HTTP/1.1 200", 12) != 0)
        return -1;
    for (const char *p = buf; p && p < end; p = memchr(p, '\n', (size_t)(end - p))) {
        p += (*p == '\n');
        if (strncasecmp(p, "content-length:", 15) == 0)
            return (end + 4 - buf) + strtol(p + 15, NULL, 10);
        const char *eol = memchr(p, '\r', (size_t)(end + 2 - p));
        if (strncasecmp(p, "connection:", 11) == 0 && eol &&
            memmem(p, (size_t)(eol - p), "close", 5))
            return -1; /* not a keep-alive connection: useless for this measurement */
    }
    return -1;
}

static void on_readable(struct conn *c, int i)
{
    char scratch[16384];
    for (;;) {
        char *dst = c->need ? scratch : c->hdr + c->have;
        size_t room = c->need ? sizeof(scratch) : HDR_CAP - c->have;
        ssize_t r = read(c->fd, dst, room);
        if (r < 0 && (errno == EAGAIN || errno == EINTR))
            return;
        if (r <= 0) {
            mark_failed(c, &fail_read);
            return;
        }
        c->have += (uint32_t)r;
        if (!c->need) {
            long need = parse_head(c->hdr, c->have);
            if (need < 0) {
                mark_failed(c, &fail_status);
                return;
            }
            c->need = (uint32_t)need;
        }
        if (c->need && c->have >= c->need) {
            become_idle(c, i);
            return;
        }
    }
}

/* An idle connection that becomes readable was closed (or written to) by the server. */
static void on_idle_event(struct conn *c)
{
    char b[512];
    if (read(c->fd, b, sizeof(b)) > 0)
        return;
    close(c->fd);
    c->fd = -1;
    c->state = ST_DEAD;
    held--;
    lost++;
}

static void dispatch(struct epoll_event *ev)
{
    int i = (int)ev->data.u32;
    struct conn *c = &conns[i];
    switch (c->state) {
    case ST_CONNECTING:
        on_connected(c, i);
        break;
    case ST_READING:
        on_readable(c, i);
        break;
    case ST_IDLE:
        on_idle_event(c);
        break;
    default:
        break;
    }
}

static void open_more(void)
{
    while (next_to_open < opt.n && in_flight < opt.concurrency)
        start_connect(next_to_open++);
}

/* Runs the loop until stop_at (or a signal); returns 1 if a signal arrived. */
static int run_loop(double stop_at, int until_settled)
{
    struct epoll_event evs[256];
    for (;;) {
        if (until_settled && next_to_open == opt.n && in_flight == 0)
            return 0;
        double left = stop_at - now_s();
        if (stop_at > 0 && left <= 0)
            return 0;
        int timeout = stop_at > 0 ? (int)(left * 1000) + 1 : -1;
        int n = epoll_wait(ep, evs, 256, timeout);
        if (n < 0 && errno != EINTR) {
            perror("idle_conns: epoll_wait");
            return 1;
        }
        for (int k = 0; k < n; k++) {
            if (evs[k].data.u32 == UINT32_MAX)
                return 1;
            dispatch(&evs[k]);
        }
        open_more();
    }
}

static void setup_signals(void)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigprocmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    sfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = UINT32_MAX};
    if (sfd < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, sfd, &ev) < 0) {
        perror("idle_conns: signalfd");
        exit(1);
    }
}

static void close_all(void)
{
    struct linger lg = {1, 0};
    for (int i = 0; i < opt.n; i++) {
        if (conns[i].fd < 0)
            continue;
        if (!opt.graceful)
            setsockopt(conns[i].fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
        close(conns[i].fd);
        free(conns[i].hdr);
    }
}

static void report_failures(void)
{
    if (failed)
        fprintf(stderr,
                "idle_conns: %d failed (connect %d, write %d, read/closed %d, bad response %d)\n",
                failed, fail_connect, fail_write, fail_read, fail_status);
}

int main(int argc, char **argv)
{
    parse_opts(argc, argv);
    raise_fd_limit();
    request_len =
        (size_t)snprintf(request, sizeof(request),
                         "GET %s HTTP/1.1\r\nHost: %s:%d\r\nUser-Agent: idle_conns\r\n\r\n",
                         opt.path, opt.host, opt.port);
    conns = calloc((size_t)opt.n + 1, sizeof(*conns));
    ep = epoll_create1(EPOLL_CLOEXEC);
    if (!conns || ep < 0 || request_len >= sizeof(request)) {
        perror("idle_conns: setup");
        return 1;
    }
    for (int i = 0; i < opt.n; i++)
        conns[i].fd = -1;
    setup_signals();
    open_more();
    int stopped = run_loop(now_s() + opt.setup_timeout_s, 1);
    report_failures();
    printf("holding %d\n", held);
    fflush(stdout);
    if (!stopped)
        run_loop(opt.hold_s > 0 ? now_s() + opt.hold_s : 0, 0);
    if (lost)
        fprintf(stderr, "idle_conns: server closed %d idle connections\n", lost);
    printf("final holding %d\n", held);
    fflush(stdout);
    close_all();
    return held == opt.n ? 0 : 1;
}
