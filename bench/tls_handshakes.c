/*
 * tls_handshakes: new TLS handshakes per second against a server, with several connections
 * at once so the server, not the round trips, sets the rate.
 *
 *   build/bench/tls_handshakes -p 8443 [-H 127.0.0.1] [-c 8] [-d SECONDS | -n COUNT] [-r]
 *                              [-u /hello.txt] [-s localhost] [-2]
 *
 * Each of -c connections at a time: connect, TLS 1.3 handshake (1.2 with -2), one
 * "GET -u HTTP/1.1" with Connection: close, the whole response read to the server's close,
 * close; then the next one. -r resumes: one full handshake first takes a session (its ticket),
 * then every connection offers it (as openssl s_time -reuse does). Runs -d seconds (default 5)
 * or until -n handshakes are done. Prints on stdout
 *
 *   EDDYHS handshakes=N resumed=R errors=E duration_us=D client_cpu_us=U
 *
 * where handshakes counts connections that got a complete 200 response, resumed those the
 * server resumed, and client_cpu_us is this process's own CPU (to tell a saturated client
 * from a saturated server). Exit status 0 when N > 0 and E == 0, 1 otherwise, 2 on bad usage.
 *
 * The client does no more than a TLS client must: no chain verification (the certificate
 * callback accepts; the server's CertificateVerify signature is still checked by OpenSSL),
 * so more of the client core is left to drive the server. Unlike s_time (one connection at a
 * time, so client and server alternate and the rate swings with scheduling), the server core
 * stays busy as long as the client keeps up.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum state { ST_FREE, ST_CONNECT, ST_HANDSHAKE, ST_WRITE, ST_READ };

struct slot {
    int fd;
    enum state state;
    SSL *ssl;
    size_t got;     /* response bytes read */
    char head[16];  /* the first bytes of the response: its status line */
    unsigned event; /* what the slot waits for: EPOLLIN or EPOLLOUT */
};

struct opts {
    const char *host, *path, *sni;
    int port, conns, resume, tls12;
    long count;
    double seconds;
};

static struct opts opt = {"127.0.0.1", "/hello.txt", "localhost", 0, 8, 0, 0, 0, 5.0};
static SSL_CTX *ctx;
static SSL_SESSION *session; /* what -r offers */
static int ep;
static char request[512];
static size_t request_len;
static long done, resumed, errors;

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int accept_any(X509_STORE_CTX *x, void *arg)
{
    (void)x;
    (void)arg;
    return 1;
}

static SSL_CTX *make_ctx(void)
{
    SSL_CTX *c = SSL_CTX_new(TLS_client_method());

    if (c == NULL)
        return NULL;
    SSL_CTX_set_min_proto_version(c, opt.tls12 ? TLS1_2_VERSION : TLS1_3_VERSION);
    SSL_CTX_set_max_proto_version(c, opt.tls12 ? TLS1_2_VERSION : TLS1_3_VERSION);
    SSL_CTX_set_verify(c, SSL_VERIFY_NONE, NULL);
    SSL_CTX_set_cert_verify_callback(c, accept_any, NULL);
    SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_OFF); /* -r keeps its one session itself */
    return c;
}

static void watch(struct slot *s, unsigned ev)
{
    struct epoll_event e = {.events = ev, .data.ptr = s};

    if (s->event == ev)
        return;
    epoll_ctl(ep, s->event ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, s->fd, &e);
    s->event = ev;
}

static void finish(struct slot *s, int ok)
{
    if (s->ssl != NULL) {
        /* Marked closed without sending close_notify to a server that has gone (as s_time
         * does): SSL_free of an unshut SSL would make its session unresumable. */
        if (ok)
            SSL_set_shutdown(s->ssl, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
        if (ok && opt.resume && session == NULL)
            session = SSL_get1_session(s->ssl); /* its ticket came with the response */
        SSL_free(s->ssl);
    }
    if (s->fd >= 0)
        close(s->fd); /* closing drops it from the epoll set */
    s->ssl = NULL;
    s->fd = -1;
    s->event = 0;
    s->state = ST_FREE;
}

static int start(struct slot *s, const struct sockaddr_in *sa)
{
    int one = 1;

    s->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (s->fd < 0)
        return -1;
    setsockopt(s->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    s->ssl = SSL_new(ctx);
    if (s->ssl == NULL || SSL_set_fd(s->ssl, s->fd) != 1)
        return -1;
    SSL_set_tlsext_host_name(s->ssl, opt.sni);
    if (session != NULL)
        SSL_set_session(s->ssl, session);
    SSL_set_connect_state(s->ssl);
    s->got = 0;
    s->event = 0;
    s->state = ST_CONNECT;
    if (connect(s->fd, (const struct sockaddr *)sa, sizeof *sa) == 0 || errno == EINPROGRESS) {
        watch(s, EPOLLOUT);
        return 0;
    }
    return -1;
}

/* The SSL call's answer: 1 go on, 0 wait (interest set), -1 failed. */
static int wait_for(struct slot *s, int r)
{
    switch (SSL_get_error(s->ssl, r)) {
    case SSL_ERROR_WANT_READ:
        watch(s, EPOLLIN);
        return 0;
    case SSL_ERROR_WANT_WRITE:
        watch(s, EPOLLOUT);
        return 0;
    default:
        return -1;
    }
}

/* Reads the response to the server's close: 1 complete and 200, 0 wait, -1 failed. */
static int read_response(struct slot *s)
{
    char buf[16384];
    size_t n;
    int r;

    while ((r = SSL_read_ex(s->ssl, buf, sizeof buf, &n)) == 1) {
        if (s->got < sizeof s->head)
            memcpy(s->head + s->got, buf,
                   n < sizeof s->head - s->got ? n : sizeof s->head - s->got);
        s->got += n;
    }
    int e = SSL_get_error(s->ssl, r);

    if (e == SSL_ERROR_ZERO_RETURN || (e == SSL_ERROR_SYSCALL && s->got > 0)) {
        ERR_clear_error();
        return s->got >= 12 && memcmp(s->head + 9, "200", 3) == 0 ? 1 : -1;
    }
    return wait_for(s, r);
}

/* One step of a slot on readiness: 1 the connection is done, 0 waiting, -1 failed. */
static int drive(struct slot *s)
{
    int r, err = 0;
    socklen_t len = sizeof err;
    size_t w;

    switch (s->state) {
    case ST_CONNECT:
        if (getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err != 0)
            return -1;
        s->state = ST_HANDSHAKE;
        /* fall through */
    case ST_HANDSHAKE:
        if ((r = SSL_do_handshake(s->ssl)) != 1)
            return wait_for(s, r);
        s->state = ST_WRITE;
        /* fall through */
    case ST_WRITE:
        if ((r = SSL_write_ex(s->ssl, request, request_len, &w)) != 1)
            return wait_for(s, r);
        s->state = ST_READ;
        /* fall through */
    case ST_READ:
        return read_response(s);
    default:
        return -1;
    }
}

static void complete(struct slot *s, int r)
{
    if (r > 0) {
        done++;
        resumed += SSL_session_reused(s->ssl) == 1;
    } else {
        errors++;
        ERR_clear_error();
    }
    finish(s, r > 0);
}

/* Starts connections in the free slots, no more than `until` (0: no limit) would need. */
static void refill(struct slot *slots, int n, long until, const struct sockaddr_in *sa)
{
    long active = 0;

    for (int i = 0; i < n; i++)
        active += slots[i].state != ST_FREE;
    for (int i = 0; i < n; i++)
        if (slots[i].state == ST_FREE && (until == 0 || done + active < until)) {
            active++;
            if (start(&slots[i], sa) < 0) {
                complete(&slots[i], -1);
                active--;
            }
        }
}

/* Keeps n connections going until the deadline or `until` handshakes; in-flight ones at the
 * end are dropped, uncounted. */
static void run(struct slot *slots, int n, double deadline, long until,
                const struct sockaddr_in *sa)
{
    struct epoll_event evs[64];

    refill(slots, n, until, sa);
    while (now_s() < deadline && (until == 0 || done < until) && errors < 1000) {
        int k = epoll_wait(ep, evs, 64, 100);

        for (int i = 0; i < k; i++) {
            struct slot *s = evs[i].data.ptr;
            int r = drive(s);

            if (r != 0)
                complete(s, r);
        }
        refill(slots, n, until, sa);
    }
    for (int i = 0; i < n; i++)
        if (slots[i].state != ST_FREE)
            finish(&slots[i], 0);
}

static int usage(void)
{
    fprintf(stderr, "usage: tls_handshakes -p PORT [-H ADDR] [-c CONNS] [-d SECONDS | -n COUNT] "
                    "[-r] [-u PATH] [-s SNI] [-2]\n");
    return 2;
}

static int parse(int argc, char **argv)
{
    int c;

    while ((c = getopt(argc, argv, "p:H:c:d:n:ru:s:2")) != -1) {
        switch (c) {
        case 'p':
            opt.port = atoi(optarg);
            break;
        case 'H':
            opt.host = optarg;
            break;
        case 'c':
            opt.conns = atoi(optarg);
            break;
        case 'd':
            opt.seconds = atof(optarg);
            break;
        case 'n':
            opt.count = atol(optarg);
            break;
        case 'r':
            opt.resume = 1;
            break;
        case 'u':
            opt.path = optarg;
            break;
        case 's':
            opt.sni = optarg;
            break;
        case '2':
            opt.tls12 = 1;
            break;
        default:
            return -1;
        }
    }
    return opt.port > 0 && opt.port < 65536 && opt.conns > 0 && opt.conns <= 4096 &&
                   opt.seconds > 0 && opt.count >= 0
               ? 0
               : -1;
}

static double cpu_us(void)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e6 +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

int main(int argc, char **argv)
{
    struct sockaddr_in sa = {.sin_family = AF_INET};
    struct slot *slots;
    double t0, c0;
    long n0 = 0, r0 = 0;

    if (parse(argc, argv) < 0 || inet_pton(AF_INET, opt.host, &sa.sin_addr) != 1)
        return usage();
    sa.sin_port = htons((unsigned short)opt.port);
    request_len = (size_t)snprintf(request, sizeof request,
                                   "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n",
                                   opt.path, opt.sni);
    slots = calloc((size_t)opt.conns, sizeof *slots);
    ctx = make_ctx();
    ep = epoll_create1(EPOLL_CLOEXEC);
    if (slots == NULL || ctx == NULL || ep < 0 || request_len >= sizeof request)
        return 1;
    for (int i = 0; i < opt.conns; i++)
        slots[i].fd = -1;
    if (opt.resume) { /* the session to offer: one full handshake first, not counted */
        run(slots, 1, now_s() + 5, 1, &sa);
        if (session == NULL) {
            fprintf(stderr, "tls_handshakes: no session from the first connection\n");
            return 1;
        }
        n0 = done, r0 = resumed;
    }
    c0 = cpu_us();
    t0 = now_s();
    run(slots, opt.conns, t0 + (opt.count > 0 ? 3600 : opt.seconds), opt.count ? opt.count + n0 : 0,
        &sa);
    printf("EDDYHS handshakes=%ld resumed=%ld errors=%ld duration_us=%.0f client_cpu_us=%.0f\n",
           done - n0, resumed - r0, errors, (now_s() - t0) * 1e6, cpu_us() - c0);
    return done > n0 && errors == 0 ? 0 : 1;
}
