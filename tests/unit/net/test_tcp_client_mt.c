/* tcp_client: a closed port (ECONNREFUSED once, with and without retries), a blackholed
 * address (the connect timeout), a server that resets mid-stream, a host name looked up
 * off the loop, and many clients on the loops of a thread pool echoing byte-exact
 * against a tcp_server, over TCP and Unix sockets, on every backend. */
#include "net_fixture.h"

#include "eddy/tcp_client.h"
#include "eddy/thread_pool.h"
#include "eddy/transport.h"

#include <dirent.h>
#include <sys/un.h>

/* ---- a client side: a base loop in its own thread and optional sub-loops ------------- */

struct side {
    struct eddy_event_loop *base;
    struct eddy_thread_pool *pool;
    pthread_t thread;
};

static void *side_main(void *arg)
{
    struct side *s = arg;
    eddy_event_loop_run(s->base);
    return NULL;
}

static void mark_running(void *arg)
{
    fx_store(arg, 1);
}

/* Returns once the base loop runs in its thread: until then the creating thread counts
 * as its owner, and a client call from here would run inline, racing the loop. */
static int side_start(struct side *s, const char *backend, int threads)
{
    static int running;
    memset(s, 0, sizeof *s);
    fx_store(&running, 0);
    if (eddy_event_loop_new(&s->base, backend) < 0 ||
        eddy_thread_pool_new(&s->pool, s->base, threads, backend) < 0 ||
        eddy_thread_pool_start(s->pool) < 0 ||
        eddy_event_loop_queue_in_loop(s->base, mark_running, &running) < 0 ||
        pthread_create(&s->thread, NULL, side_main, s) != 0)
        return -1;
    return fx_wait_ge(&running, 1, 10) ? 0 : -1;
}

/* The sub-loops round-robin, or the base loop alone. */
static struct eddy_event_loop *side_loop(struct side *s, int i)
{
    int k = eddy_thread_pool_size(s->pool);
    return k ? eddy_thread_pool_loop_at(s->pool, i % k) : s->base;
}

static void nop(void *arg)
{
    (void)arg;
}

static void side_stop(struct side *s)
{
    for (int i = 0; i < eddy_thread_pool_size(s->pool); i++) /* queued frees have run */
        fx_call(side_loop(s, i), nop, NULL);
    fx_call(s->base, nop, NULL);
    eddy_event_loop_stop(s->base);
    pthread_join(s->thread, NULL);
    eddy_thread_pool_free(s->pool);
    eddy_event_loop_free(s->base);
}

/* ---- errors -------------------------------------------------------------------------- */

static struct {
    int errors, last_err, connected, closed;
} n;

static void on_error(struct eddy_tcp_client *cl, int err)
{
    (void)cl;
    fx_store(&n.last_err, err);
    fx_inc(&n.errors);
}

static void count_connected(struct eddy_tcp_connection *c)
{
    (void)c;
    fx_inc(&n.connected);
}

static void count_closed(struct eddy_tcp_connection *c)
{
    ASSERT(eddy_tcp_client_of(c) != NULL);
    ASSERT(eddy_tcp_connection_server(c) == NULL);
    fx_inc(&n.closed);
}

static const struct eddy_tcp_callbacks counting = {.on_connected = count_connected,
                                                   .on_close = count_closed};

/* A port nobody listens on: bound, then closed. */
static int closed_port(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET};
    socklen_t len = sizeof a;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    bind(fd, (struct sockaddr *)&a, sizeof a);
    getsockname(fd, (struct sockaddr *)&a, &len);
    close(fd);
    return ntohs(a.sin_port);
}

static int open_fds(void)
{
    int k = 0;
    DIR *d = opendir("/proc/self/fd");
    while (d && readdir(d))
        k++;
    if (d)
        closedir(d);
    return k;
}

static void free_task(void *arg)
{
    eddy_tcp_client_free(arg);
}

static void refused(const char *backend)
{
    struct side s;
    struct eddy_tcp_client *cl;
    struct eddy_tcp_client_options o;
    char addr[32];
    memset(&n, 0, sizeof n);
    int fds_before = open_fds();
    ASSERT_EQ(side_start(&s, backend, 0), 0);
    snprintf(addr, sizeof addr, "127.0.0.1:%d", closed_port());
    eddy_tcp_client_options_init(&o);
    ASSERT_EQ(eddy_tcp_client_new(&cl, s.base, addr, &o, &counting, on_error, NULL), 0);
    ASSERT_EQ(eddy_tcp_client_connect(cl), 0);
    ASSERT(fx_wait_ge(&n.errors, 1, 5));
    fx_sleep_ms(50);
    ASSERT_EQ(fx_load(&n.errors), 1);
    ASSERT_EQ(fx_load(&n.last_err), -ECONNREFUSED);
    ASSERT_EQ(eddy_tcp_client_attempts(cl), 1);
    ASSERT_EQ(fx_load(&n.connected), 0);

    /* Again with two retries: three attempts, the backoff between them, one report. */
    o.retries = 2;
    o.retry_delay_ms = 20;
    struct eddy_tcp_client *cl2;
    ASSERT_EQ(eddy_tcp_client_new(&cl2, s.base, addr, &o, &counting, on_error, NULL), 0);
    double t0 = eddy_test_now();
    ASSERT_EQ(eddy_tcp_client_connect(cl2), 0);
    ASSERT(fx_wait_ge(&n.errors, 2, 5));
    ASSERT_GE(eddy_test_now() - t0, 0.055); /* 20 + 40 ms of backoff */
    fx_sleep_ms(50);
    ASSERT_EQ(fx_load(&n.errors), 2);
    ASSERT_EQ(eddy_tcp_client_attempts(cl2), 3);
    ASSERT(fx_call(s.base, free_task, cl));
    ASSERT(fx_call(s.base, free_task, cl2));
    side_stop(&s);
    ASSERT_EQ(open_fds(), fds_before); /* no socket of a failed attempt left open */
}

static void test_refused_reported_once(void)
{
    fx_each_backend(refused);
}

/* A listener whose accept queue is full: further SYNs are dropped, so a connect hangs
 * (a blackhole on 127.0.0.1, nothing leaves the machine). */
static int full_listener(int *port, int *fillers, int nfill)
{
    struct sockaddr_in a = {.sin_family = AF_INET};
    socklen_t len = sizeof a;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    if (bind(lfd, (struct sockaddr *)&a, sizeof a) < 0 || listen(lfd, 0) < 0)
        return -1;
    getsockname(lfd, (struct sockaddr *)&a, &len);
    *port = ntohs(a.sin_port);
    for (int i = 0; i < nfill; i++) {
        fillers[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        connect(fillers[i], (struct sockaddr *)&a, sizeof a);
    }
    fx_sleep_ms(50);
    return lfd;
}

static void test_connect_timeout(void)
{
    struct side s;
    struct eddy_tcp_client *cl;
    struct eddy_tcp_client_options o;
    int port, fillers[4];
    char addr[32];
    memset(&n, 0, sizeof n);
    int lfd = full_listener(&port, fillers, 4);
    ASSERT_GE(lfd, 0);
    ASSERT_EQ(side_start(&s, "epoll", 0), 0);
    snprintf(addr, sizeof addr, "127.0.0.1:%d", port);
    eddy_tcp_client_options_init(&o);
    o.connect_timeout_ms = 200;
    ASSERT_EQ(eddy_tcp_client_new(&cl, s.base, addr, &o, &counting, on_error, NULL), 0);
    double t0 = eddy_test_now();
    ASSERT_EQ(eddy_tcp_client_connect(cl), 0);
    ASSERT(fx_wait_ge(&n.errors, 1, 5));
    double dt = eddy_test_now() - t0;
    ASSERT_EQ(fx_load(&n.last_err), -ETIMEDOUT);
    ASSERT_GE(dt, 0.19);
    ASSERT_LT(dt, 3.0);
    ASSERT_EQ(fx_load(&n.connected), 0);
    ASSERT(fx_call(s.base, free_task, cl));
    side_stop(&s);
    for (int i = 0; i < 4; i++)
        close(fillers[i]);
    close(lfd);
}

/* ---- a server that resets mid-stream -------------------------------------------------- */

static void *reset_server(void *arg)
{
    int lfd = (int)(intptr_t)arg;
    int fd = accept(lfd, NULL, NULL);
    char b[4096];
    size_t got = 0;
    while (got < 10000) {
        ssize_t k = read(fd, b, sizeof b);
        if (k <= 0)
            break;
        got += (size_t)k;
    }
    struct linger l = {1, 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    close(fd); /* RST, with the client still sending */
    return NULL;
}

static void send_lots(struct eddy_tcp_connection *c)
{
    static char block[65536];
    fx_inc(&n.connected);
    for (int i = 0; i < 64; i++)
        eddy_tcp_connection_send(c, block, sizeof block);
}

static void on_write_done(struct eddy_tcp_connection *c)
{
    static char block[65536];
    eddy_tcp_connection_send(c, block, sizeof block); /* keep the stream going */
}

static const struct eddy_tcp_callbacks streaming = {
    .on_connected = send_lots, .on_write_complete = on_write_done, .on_close = count_closed};

static void reset_mid_stream(const char *backend)
{
    struct sockaddr_in a = {.sin_family = AF_INET};
    socklen_t len = sizeof a;
    pthread_t th;
    struct side s;
    struct eddy_tcp_client *cl;
    char addr[32];
    memset(&n, 0, sizeof n);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    ASSERT_EQ(bind(lfd, (struct sockaddr *)&a, sizeof a), 0);
    ASSERT_EQ(listen(lfd, 8), 0);
    getsockname(lfd, (struct sockaddr *)&a, &len);
    snprintf(addr, sizeof addr, "127.0.0.1:%d", ntohs(a.sin_port));
    ASSERT_EQ(pthread_create(&th, NULL, reset_server, (void *)(intptr_t)lfd), 0);
    ASSERT_EQ(side_start(&s, backend, 0), 0);
    ASSERT_EQ(eddy_tcp_client_new(&cl, s.base, addr, NULL, &streaming, on_error, NULL), 0);
    ASSERT_EQ(eddy_tcp_client_connect(cl), 0);
    ASSERT(fx_wait_ge(&n.closed, 1, 5));
    pthread_join(th, NULL);
    fx_sleep_ms(20);
    ASSERT_EQ(fx_load(&n.connected), 1);
    ASSERT_EQ(fx_load(&n.closed), 1);
    ASSERT_EQ(fx_load(&n.errors), 0); /* a connection that was made is not a connect error */
    ASSERT(fx_call(s.base, free_task, cl));
    side_stop(&s);
    close(lfd);
}

static void test_reset_mid_stream(void)
{
    fx_each_backend(reset_mid_stream);
}

/* ---- many echoing clients ------------------------------------------------------------- */

#define MESSAGES 20

struct cstate {
    int msg;
    size_t size, got;
};

static int g_done, g_bad;

static unsigned char pattern(intptr_t id, int msg, size_t i)
{
    return (unsigned char)(id * 31 + msg * 7 + (intptr_t)i);
}

static void send_next(struct eddy_tcp_connection *c)
{
    struct cstate *st = eddy_tcp_connection_context(c);
    intptr_t id = (intptr_t)eddy_tcp_client_data(eddy_tcp_client_of(c));
    unsigned char buf[3000];
    st->size = 1 + (size_t)((id * 131 + st->msg * 977) % (intptr_t)sizeof buf);
    st->got = 0;
    for (size_t i = 0; i < st->size; i++)
        buf[i] = pattern(id, st->msg, i);
    eddy_tcp_connection_send(c, buf, st->size);
}

static void echo_connected(struct eddy_tcp_connection *c)
{
    send_next(c);
}

static void echo_message(struct eddy_tcp_connection *c, struct eddy_buffer *in)
{
    struct cstate *st = eddy_tcp_connection_context(c);
    intptr_t id = (intptr_t)eddy_tcp_client_data(eddy_tcp_client_of(c));
    const unsigned char *p = (const unsigned char *)eddy_buffer_peek(in);
    size_t k = eddy_buffer_readable(in);
    for (size_t i = 0; i < k; i++)
        if (st->got + i >= st->size || p[i] != pattern(id, st->msg, st->got + i)) {
            printf("# connection %d: byte %zu of message %d differs: %u, want %u (msg0 %u); %zu "
                   "bytes here\n",
                   (int)id, st->got + i, st->msg, p[i], pattern(id, st->msg, st->got + i),
                   pattern(id, 0, st->got + i), k);
            fx_inc(&g_bad);
            eddy_tcp_connection_close(c);
            return;
        }
    eddy_buffer_retrieve_all(in);
    st->got += k;
    if (st->got < st->size)
        return;
    if (++st->msg < MESSAGES)
        send_next(c);
    else
        eddy_tcp_connection_close(c);
}

static void echo_closed(struct eddy_tcp_connection *c)
{
    struct cstate *st = eddy_tcp_connection_context(c);
    if (st->msg < MESSAGES) {
        printf("# connection %d closed after %d messages, %zu of %zu bytes\n",
               (int)(intptr_t)eddy_tcp_client_data(eddy_tcp_client_of(c)), st->msg, st->got,
               st->size);
        fx_inc(&g_bad);
    }
    fx_inc(&g_done);
}

static const struct eddy_tcp_callbacks echoing = {
    .on_connected = echo_connected, .on_message = echo_message, .on_close = echo_closed};

static void echo_many(const char *backend, const char *listen, int threads, int nclients)
{
    struct usrv {
        struct fx f;
    } u;
    struct eddy_tcp_server_options so = fx_options_threads(threads);
    union eddy_sockaddr bound;
    char addr[128];
    struct side s;
    memset(&u, 0, sizeof u);
    g_done = g_bad = 0;
    memset(&n, 0, sizeof n);
    ASSERT_EQ(eddy_event_loop_new(&u.f.loop, backend), 0);
    ASSERT_EQ(eddy_tcp_server_new(&u.f.server, u.f.loop, &so, &fx_counting_echo, NULL), 0);
    ASSERT_EQ(eddy_tcp_server_listen(u.f.server, listen, &bound), 0);
    ASSERT_EQ(eddy_tcp_server_start(u.f.server), 0);
    ASSERT_EQ(pthread_create(&u.f.thread, NULL, fx_thread_main, &u.f), 0);
    u.f.running = 1;
    eddy_sockaddr_format(&bound.sa, addr, sizeof addr);

    ASSERT_EQ(side_start(&s, backend, threads), 0);
    struct eddy_tcp_client **cls = calloc((size_t)nclients, sizeof *cls);
    struct eddy_tcp_client_options o;
    eddy_tcp_client_options_init(&o);
    o.context_size = sizeof(struct cstate);
    o.retries = 5; /* a burst of connects may overflow the listener's backlog */
    for (int i = 0; i < nclients; i++) {
        ASSERT_EQ(eddy_tcp_client_new(&cls[i], side_loop(&s, i), addr, &o, &echoing, on_error,
                                      (void *)(intptr_t)i),
                  0);
        ASSERT_EQ(eddy_tcp_client_connect(cls[i]), 0);
    }
    ASSERT(fx_wait_ge(&g_done, nclients, 60));
    ASSERT_EQ(fx_load(&g_bad), 0);
    for (int i = 0; i < nclients; i++)
        eddy_tcp_client_free(cls[i]); /* from another thread: queued */
    free(cls);
    side_stop(&s);
    fx_stop(&u.f);
}

static char g_unix[80];

static void echo_tcp(const char *backend)
{
    echo_many(backend, "127.0.0.1:0", 0, 200);
    if (!eddy_test_failed())
        echo_many(backend, "127.0.0.1:0", 2, 200);
}

static void echo_unix(const char *backend)
{
    echo_many(backend, g_unix, 0, 200);
    if (!eddy_test_failed())
        echo_many(backend, g_unix, 2, 200);
}

/* ---- through the transport layer -------------------------------------------------------- */

static int g_handshakes;

/* A socket transport whose handshake first waits for write readiness, then succeeds. */
static int slow_handshake(struct eddy_transport *t)
{
    (void)t;
    return fx_inc(&g_handshakes) == 1 ? EDDY_EV_WRITE : 0;
}

static int failing_handshake(struct eddy_transport *t)
{
    (void)t;
    fx_inc(&g_handshakes);
    return -EPROTO;
}

static void echo_once(struct eddy_tcp_connection *c, struct eddy_buffer *in)
{
    (void)c;
    if (eddy_buffer_readable(in) >= 5 && memcmp(eddy_buffer_peek(in), "hello", 5) == 0)
        fx_inc(&n.closed); /* reused as "echo seen" */
    eddy_buffer_retrieve_all(in);
}

static void say_hello(struct eddy_tcp_connection *c)
{
    fx_inc(&n.connected);
    eddy_tcp_connection_send(c, "hello", 5);
}

static const struct eddy_tcp_callbacks hello_cb = {.on_connected = say_hello,
                                                   .on_message = echo_once};

static void transport_road(const char *backend)
{
    struct eddy_transport_ops slow = eddy_transport_socket, bad = eddy_transport_socket;
    struct eddy_tcp_client_options o;
    struct eddy_tcp_client *cl;
    struct side s;
    struct fx f;
    char addr[32];
    slow.handshake = slow_handshake;
    bad.handshake = failing_handshake;
    memset(&n, 0, sizeof n);
    fx_store(&g_handshakes, 0);
    ASSERT_EQ(fx_start(&f, backend, NULL, &fx_counting_echo, NULL), 0);
    ASSERT_EQ(side_start(&s, backend, 0), 0);
    snprintf(addr, sizeof addr, "127.0.0.1:%d", f.port);
    eddy_tcp_client_options_init(&o);
    o.transport = &slow;
    ASSERT_EQ(eddy_tcp_client_new(&cl, s.base, addr, &o, &hello_cb, on_error, NULL), 0);
    ASSERT_EQ(eddy_tcp_client_connect(cl), 0);
    ASSERT(fx_wait_ge(&n.closed, 1, 5)); /* the echo came back over the transport */
    ASSERT_EQ(fx_load(&g_handshakes), 2);
    ASSERT_EQ(fx_load(&n.connected), 1);
    ASSERT(fx_call(s.base, free_task, cl));

    memset(&n, 0, sizeof n);
    fx_store(&g_handshakes, 0);
    o.transport = &bad;
    o.retries = 1;
    o.retry_delay_ms = 10;
    ASSERT_EQ(eddy_tcp_client_new(&cl, s.base, addr, &o, &hello_cb, on_error, NULL), 0);
    ASSERT_EQ(eddy_tcp_client_connect(cl), 0);
    ASSERT(fx_wait_ge(&n.errors, 1, 5));
    fx_sleep_ms(30);
    ASSERT_EQ(fx_load(&n.errors), 1);
    ASSERT_EQ(fx_load(&n.last_err), -ECONNABORTED);
    ASSERT_EQ(fx_load(&g_handshakes), 2); /* the first attempt and one retry */
    ASSERT_EQ(fx_load(&n.connected), 0);
    ASSERT(fx_call(s.base, free_task, cl));
    side_stop(&s);
    fx_stop(&f);
}

/* ---- cross-thread send and half-close on a client connection ----------------------------- */

static char g_got[64];
static int g_got_len;

static void collect(struct eddy_tcp_connection *c, struct eddy_buffer *in)
{
    (void)c;
    size_t k = eddy_buffer_readable(in);
    if (g_got_len + k < sizeof g_got) {
        memcpy(g_got + g_got_len, eddy_buffer_peek(in), k);
        fx_store(&g_got_len, g_got_len + (int)k);
    }
    eddy_buffer_retrieve_all(in);
}

static void peer_eof(struct eddy_tcp_connection *c)
{
    fx_inc(&n.errors); /* reused: the server's FIN was seen */
    eddy_tcp_connection_close(c);
}

static const struct eddy_tcp_callbacks collecting = {.on_connected = count_connected,
                                                     .on_message = collect,
                                                     .on_peer_eof = peer_eof,
                                                     .on_close = count_closed};

struct grab {
    struct eddy_tcp_client *cl;
    struct eddy_tcp_connection *c;
};

static void grab_connection(void *arg)
{
    struct grab *g = arg;
    g->c = eddy_tcp_client_connection(g->cl);
    if (g->c)
        eddy_tcp_connection_ref(g->c);
}

static void cross_thread_half_close(const char *backend)
{
    struct side s;
    struct fx f;
    struct grab g = {NULL, NULL};
    char addr[32];
    memset(&n, 0, sizeof n);
    g_got_len = 0;
    ASSERT_EQ(fx_start(&f, backend, NULL, &fx_counting_echo, NULL), 0);
    ASSERT_EQ(side_start(&s, backend, 2), 0);
    snprintf(addr, sizeof addr, "127.0.0.1:%d", f.port);
    ASSERT_EQ(eddy_tcp_client_new(&g.cl, side_loop(&s, 1), addr, NULL, &collecting, NULL, NULL), 0);
    ASSERT_EQ(eddy_tcp_client_connect(g.cl), 0);
    ASSERT(fx_wait_ge(&n.connected, 1, 5));
    ASSERT(fx_call(side_loop(&s, 1), grab_connection, &g));
    ASSERT(g.c != NULL);
    /* From this thread, holding a reference: two sends, then our half of the close. */
    ASSERT_EQ(eddy_tcp_connection_send(g.c, "cross-", 6), 0);
    ASSERT_EQ(eddy_tcp_connection_send(g.c, "thread", 6), 0);
    eddy_tcp_connection_shutdown(g.c);
    ASSERT(fx_wait_ge(&n.closed, 1, 5)); /* the echo server answered, then closed on our FIN */
    ASSERT_EQ(fx_load(&g_got_len), 12);
    ASSERT_MEM_EQ(g_got, "cross-thread", 12);
    /* tcp_connection.h: a peer EOF after our half-close was written closes without it. */
    ASSERT_EQ(fx_load(&n.errors), 0);
    ASSERT_EQ(eddy_tcp_connection_send(g.c, "late", 4), -EPIPE);
    eddy_tcp_connection_unref(g.c);
    eddy_tcp_client_free(g.cl);
    side_stop(&s);
    fx_stop(&f);
}

/* ---- a host name --------------------------------------------------------------------- */

static void test_host_name(void)
{
    struct side s;
    struct eddy_tcp_client *cl;
    struct fx f;
    char addr[64];
    memset(&n, 0, sizeof n);
    ASSERT_EQ(fx_start(&f, "epoll", NULL, &fx_counting_echo, NULL), 0);
    ASSERT_EQ(side_start(&s, "epoll", 0), 0);
    snprintf(addr, sizeof addr, "localhost:%d", f.port); /* /etc/hosts: no traffic out */
    ASSERT_EQ(eddy_tcp_client_new(&cl, s.base, addr, NULL, &counting, on_error, NULL), 0);
    ASSERT_EQ(eddy_tcp_client_connect(cl), 0);
    ASSERT(fx_wait_ge(&n.connected, 1, 10));
    ASSERT_EQ(fx_load(&n.errors), 0);
    ASSERT(fx_call(s.base, free_task, cl)); /* closes the connection */
    ASSERT_EQ(fx_load(&n.closed), 1);
    ASSERT_EQ(eddy_tcp_client_new(&cl, s.base, "nonsense", NULL, &counting, on_error, NULL),
              -EINVAL);
    ASSERT_EQ(eddy_tcp_client_new(&cl, s.base, "host:99999", NULL, &counting, on_error, NULL),
              -EINVAL);
    side_stop(&s);
    fx_stop(&f);
}

int main(void)
{
    snprintf(g_unix, sizeof g_unix, "unix:/tmp/eddy_client_test_%d.sock", (int)getpid());
    RUN(test_refused_reported_once);
    RUN(test_connect_timeout);
    RUN(test_reset_mid_stream);
    RUN(test_host_name);
    RUN_EACH_BACKEND(transport_road);
    RUN_EACH_BACKEND(cross_thread_half_close);
    RUN_EACH_BACKEND(echo_tcp);
    RUN_EACH_BACKEND(echo_unix);
    return eddy_test_done();
}
