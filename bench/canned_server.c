/*
 * canned_server: the cheapest possible HTTP/1.1 server, a reference for the load generator.
 *
 *   build/bench/canned_server -p PORT -f RESPONSE_FILE [-l 127.0.0.1]
 *
 * It answers every request head (everything up to a blank line) with the bytes of
 * RESPONSE_FILE, a complete HTTP response captured from the server under test, so the client
 * parses exactly the bytes it parses in the real run. No parsing, no files, no timers: one
 * read per readiness event, every head in it counted, all the answers in one write. What wrk
 * counts against it shows how much of a measured rate the client and the kernel set, rather
 * than the server's own work. It is not a strict ceiling: the client's cost per response
 * depends on the server's timing too (measured: wrk -t1 pipelined counts 490-560k/s against
 * it and 540-640k/s against eddy-httpd, with the same syscalls per batch on the client side;
 * why is not established).
 *
 * Limits (it is a benchmark tool, not a server): GET-style requests only (a request body
 * would be taken for garbage), keep-alive only (Connection: close is ignored), 127.0.0.1.
 * Prints "canned_server listening on ADDR:PORT" once ready; exits 0 on SIGTERM/SIGINT.
 * Self-contained (libc only) so that it shares no code path with the servers it is
 * compared with.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define READ_CAP   (64 * 1024)
#define MAX_EVENTS 256

struct conn {
    int fd;
    unsigned matched; /* bytes of "\r\n\r\n" matched at the end of the last read */
    char *pending;    /* unsent answer bytes after a short write */
    size_t pending_len, pending_off;
};

static volatile sig_atomic_t stop_flag;
static const char *response;
static size_t response_len;
static char *out;
static size_t out_cap;

static void on_signal(int sig)
{
    (void)sig;
    stop_flag = 1;
}

static void die(const char *what)
{
    perror(what);
    exit(1);
}

static void load_response(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0)
        die(path);
    char *p = malloc((size_t)st.st_size + 1);
    if (!p)
        die("malloc");
    size_t got = 0;
    while (got < (size_t)st.st_size) {
        ssize_t n = read(fd, p + got, (size_t)st.st_size - got);
        if (n <= 0)
            die("read response file");
        got += (size_t)n;
    }
    close(fd);
    if (!got || !memmem(p, got, "\r\n\r\n", 4)) {
        fprintf(stderr, "canned_server: %s holds no HTTP response head\n", path);
        exit(2);
    }
    response = p;
    response_len = got;
}

static int listen_on(const char *addr, int port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (inet_pton(AF_INET, addr, &sa.sin_addr) != 1) {
        fprintf(stderr, "canned_server: bad address %s\n", addr);
        exit(2);
    }
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
        bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 4096) < 0)
        die("listen");
    /* As eddy-httpd does: the ACK of a request rides on its answer instead of costing the
     * client a pure ACK segment (measured: 30% fewer responses/s for wrk with quick ACKs). */
    int zero = 0;
    setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, &zero, sizeof(zero));
    return fd;
}

/* Counts the request heads completed in buf, carrying a partial "\r\n\r\n" across reads. */
static size_t count_heads(struct conn *c, const char *buf, size_t len)
{
    static const char end[] = "\r\n\r\n";
    size_t heads = 0;
    unsigned m = c->matched;
    for (size_t i = 0; i < len; i++) {
        if (buf[i] == end[m]) {
            if (++m == 4) {
                heads++;
                m = 0;
            }
        } else {
            m = buf[i] == '\r' ? 1 : 0;
        }
    }
    c->matched = m;
    return heads;
}

static void close_conn(int ep, struct conn *c)
{
    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    free(c->pending);
    free(c);
}

/* Sends what is pending. 1: all sent; 0: would block; -1: the connection failed. */
static int flush_pending(struct conn *c)
{
    while (c->pending_off < c->pending_len) {
        ssize_t n =
            send(c->fd, c->pending + c->pending_off, c->pending_len - c->pending_off, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return errno == EAGAIN ? 0 : -1;
        c->pending_off += (size_t)n;
    }
    free(c->pending);
    c->pending = NULL;
    c->pending_len = c->pending_off = 0;
    return 1;
}

/* Answers `heads` requests in one send; keeps what the socket did not take. */
static int answer(struct conn *c, size_t heads)
{
    size_t need = heads * response_len;
    if (need > out_cap) {
        char *p = realloc(out, need);
        if (!p)
            return -1;
        out = p;
        out_cap = need;
    }
    for (size_t i = 0; i < heads; i++)
        memcpy(out + i * response_len, response, response_len);
    ssize_t n;
    do
        n = send(c->fd, out, need, MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    if (n < 0 && errno != EAGAIN)
        return -1;
    size_t sent = n < 0 ? 0 : (size_t)n;
    if (sent == need)
        return 1;
    c->pending = malloc(need - sent);
    if (!c->pending)
        return -1;
    memcpy(c->pending, out + sent, need - sent);
    c->pending_len = need - sent;
    return 0;
}

static void set_interest(int ep, struct conn *c, unsigned events)
{
    struct epoll_event ev = {.events = events, .data.ptr = c};
    if (epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev) < 0)
        die("epoll_ctl");
}

static void on_conn(int ep, struct conn *c, unsigned events, char *buf)
{
    if (c->pending) {
        int r = flush_pending(c);
        if (r < 0) {
            close_conn(ep, c);
        } else if (r > 0) {
            set_interest(ep, c, EPOLLIN);
        }
        return;
    }
    if (!(events & (EPOLLIN | EPOLLERR | EPOLLHUP)))
        return;
    ssize_t n = read(c->fd, buf, READ_CAP);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) {
        close_conn(ep, c);
        return;
    }
    size_t heads = count_heads(c, buf, (size_t)n);
    int r = heads ? answer(c, heads) : 1;
    if (r < 0)
        close_conn(ep, c);
    else if (r == 0)
        set_interest(ep, c, EPOLLOUT); /* stop reading until the answers are out */
}

static void on_accept(int ep, int lfd)
{
    for (;;) {
        int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return; /* EAGAIN, or out of fds: the backlog waits */
        /* No TCP_NODELAY: every answer leaves in one write, which Nagle never holds. */
        struct conn *c = calloc(1, sizeof(*c));
        struct epoll_event ev = {.events = EPOLLIN};
        ev.data.ptr = c;
        if (!c || (c->fd = fd, epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0)) {
            close(fd);
            free(c);
        }
    }
}

static void usage(void)
{
    fprintf(stderr, "usage: canned_server -p PORT -f RESPONSE_FILE [-l ADDR]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    const char *addr = "127.0.0.1", *file = NULL;
    int port = 0, opt;
    while ((opt = getopt(argc, argv, "p:f:l:")) != -1) {
        if (opt == 'p')
            port = atoi(optarg);
        else if (opt == 'f')
            file = optarg;
        else if (opt == 'l')
            addr = optarg;
        else
            usage();
    }
    if (!file || port <= 0 || port > 65535)
        usage();
    load_response(file);
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    int lfd = listen_on(addr, port), ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL}, evs[MAX_EVENTS];
    if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev) < 0)
        die("epoll");
    char *buf = malloc(READ_CAP);
    if (!buf)
        die("malloc");
    printf("canned_server listening on %s:%d\n", addr, port);
    fflush(stdout);
    while (!stop_flag) {
        int n = epoll_wait(ep, evs, MAX_EVENTS, -1);
        for (int i = 0; i < n; i++) {
            if (evs[i].data.ptr)
                on_conn(ep, evs[i].data.ptr, evs[i].events, buf);
            else
                on_accept(ep, lfd);
        }
    }
    return 0;
}
