/*
 * tcp_server (also run under TSan): max_connections, running out of
 * descriptors (EMFILE) without spinning and recovering, select and
 * FD_SETSIZE, shutdown with live connections on sub-reactors (on_close for
 * each, everything freed: leaks fail under ASan), foreach, accessors.
 */
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "net_fixture.h"

static struct {
    int ctx_ok, foreach_seen, queued_big;
    struct eddy_tcp_connection *held[2];
    int big_port[16]; /* client ports of the connections that queue output */
    int nheld;
} st;

/* ---- max_connections ---- */

static void test_max_connections(void)
{
    const struct eddy_tcp_callbacks cb = fx_counting_echo;
    struct eddy_tcp_server_options o;
    struct fx f;
    int a, b, c, d;

    memset(&st, 0, sizeof st);
    eddy_tcp_server_options_init(&o);
    o.max_connections = 2;
    ASSERT_EQ(fx_start(&f, "epoll", &o, &cb, NULL), 0);
    a = fx_connect(f.port, 0);
    b = fx_connect(f.port, 0);
    ASSERT(fx_echo_ok(a, "hello") && fx_echo_ok(b, "hello"));
    c = fx_connect(f.port, 0); /* accepted and closed at once */
    ASSERT(c >= 0);
    ASSERT(fx_read_eof(c));
    close(c);
    ASSERT_EQ(eddy_tcp_server_connection_count(f.server), 2);
    ASSERT_EQ(fx_load(&fx_n.connected), 2);
    close(a);
    ASSERT(fx_wait_ge(&fx_n.closed, 1, 5));
    d = fx_connect(f.port, 0);
    ASSERT(fx_echo_ok(d, "hello") && fx_echo_ok(b, "hello"));
    close(b);
    close(d);
    ASSERT(fx_wait_ge(&fx_n.closed, 3, 5));
    fx_stop(&f);
    ASSERT_EQ(fx_load(&fx_n.connected), 3);
}

/* ---- adopt ---- */

struct adopt_ctx {
    struct fx *f;
    struct eddy_transport ends[3]; /* the server's ends, moved in by adopt */
    int r[3];
};

static void adopt_in_base(void *arg)
{
    struct adopt_ctx *a = arg;

    for (int i = 0; i < 3; i++)
        a->r[i] = eddy_tcp_server_adopt(a->f->server, &a->ends[i], NULL, 0);
}

static int mem_echo_ok(struct eddy_transport *t, const char *msg)
{
    size_t n = strlen(msg), got = 0;
    char buf[64];
    double end = eddy_test_now() + 5;

    if (eddy_transport_write(t, msg, n, 0) != (ssize_t)n)
        return 0;
    while (got < n && eddy_test_now() < end) {
        struct iovec v = {buf + got, sizeof buf - got};
        ssize_t r = eddy_transport_readv(t, &v, 1);
        if (r > 0)
            got += (size_t)r;
        else if (r != -EAGAIN)
            return 0;
        else
            fx_sleep_ms(1);
    }
    return got == n && memcmp(buf, msg, n) == 0;
}

/* Ready-made transports (memory ends) become connections of the server as if
 * accepted: spread over the sub-reactors, counted per loop (the server's count
 * is their sum), past max_connections refused. */
static void test_adopt_memory_ends(void)
{
    struct eddy_tcp_server_options o = fx_options_threads(2);
    struct eddy_transport peers[3];
    struct adopt_ctx a;
    struct fx f;

    o.max_connections = 2;
    ASSERT_EQ(fx_start(&f, "epoll", &o, &fx_counting_echo, NULL), 0);
    memset(&a, 0, sizeof a);
    a.f = &f;
    for (int i = 0; i < 3; i++)
        ASSERT_EQ(eddy_mem_transport_pair(&a.ends[i], &peers[i], EDDY_FD_KERNEL, 0), 0);
    ASSERT(fx_call(f.loop, adopt_in_base, &a));
    ASSERT_EQ(a.r[0], 0);
    ASSERT_EQ(a.r[1], 0);
    ASSERT_EQ(a.r[2], -EMFILE); /* closed by adopt: its peer reads the end */
    ASSERT(fx_wait_ge(&fx_n.connected, 2, 5));
    ASSERT_EQ(eddy_tcp_server_connection_count(f.server), 2);
    ASSERT(mem_echo_ok(&peers[0], "one") && mem_echo_ok(&peers[1], "two"));
    struct eddy_mem_stats st;
    eddy_mem_stats(&peers[2], &st);
    ASSERT(st.peer_closed);
    peers[0].ops->close(&peers[0]);
    ASSERT(fx_wait_ge(&fx_n.closed, 1, 5));
    ASSERT_EQ(eddy_tcp_server_connection_count(f.server), 1);
    fx_stop(&f);
    ASSERT_EQ(fx_load(&fx_n.closed), 2);
    peers[1].ops->close(&peers[1]);
    peers[2].ops->close(&peers[2]);
}

/* ---- EMFILE ---- */

/* The client side runs in a child process with its own descriptor limit;
 * it uses raw system calls only (it was forked from a threaded process). */
static int child_echo(int fd)
{
    char buf[2];
    ssize_t n;

    if (write(fd, "hi", 2) != 2)
        return 0;
    n = read(fd, buf, 2);
    return n == 2 && buf[0] == 'h' && buf[1] == 'i';
}

static int child_connect(int port, long timeout_ms)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0)
        return -1;
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

#define FLOOD 40

/* Commands on cmd (one byte each), one reply byte on res. */
static void child_main(int cmd, int res, int port)
{
    int good[2] = {-1, -1}, flood[FLOOD], i, nflood = 0;
    struct rlimit rl;
    char c, r;
    struct timespec pause = {0, 10 * 1000 * 1000};

    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    while (read(cmd, &c, 1) == 1) {
        r = 0;
        if (c == 'G') { /* two good clients, echo on each */
            good[0] = child_connect(port, 5000);
            good[1] = child_connect(port, 5000);
            r = good[0] >= 0 && good[1] >= 0 && child_echo(good[0]) && child_echo(good[1]);
        } else if (c == 'E') { /* the good clients still get answers */
            r = child_echo(good[0]) && child_echo(good[1]);
        } else if (c == 'F') { /* a stream of connections the server cannot keep */
            for (i = 0; i < FLOOD; i++) {
                flood[nflood] = child_connect(port, 200);
                nflood += flood[nflood] >= 0;
                nanosleep(&pause, NULL);
            }
            r = (char)nflood;
        } else if (c == 'D') { /* how many were closed by the server */
            for (i = 0; i < nflood; i++) {
                char b;
                ssize_t n = read(flood[i], &b, 1);
                r += n == 0 || (n < 0 && errno == ECONNRESET);
                close(flood[i]);
            }
        } else if (c == 'L') {
            close(good[0]);
            close(good[1]);
            r = 1;
        } else if (c == 'N') {
            int fd = child_connect(port, 5000);
            r = fd >= 0 && child_echo(fd);
            if (fd >= 0)
                close(fd);
        }
        if (write(res, &r, 1) != 1)
            break;
    }
    _exit(0);
}

static int ask(int cmd, int res, char c)
{
    char r = 0;

    if (write(cmd, &c, 1) != 1)
        return -1;
    struct pollfd pfd = {.fd = res, .events = POLLIN};

    if (poll(&pfd, 1, 10000) != 1 || read(res, &r, 1) != 1)
        return -1;
    return (unsigned char)r;
}

static double cpu_seconds(void)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec / 1e6;
}

static pid_t spawn_client(int port, int *cmd_w, int *res_r)
{
    int cmd[2], res[2];
    pid_t pid;

    if (pipe2(cmd, O_CLOEXEC) < 0 || pipe2(res, O_CLOEXEC) < 0)
        return -1;
    pid = fork();
    if (pid == 0) {
        /* Keep only the two pipe ends: the server's sockets stay the parent's. */
        dup2(cmd[0], 100);
        dup2(res[1], 101);
        for (int fd = 3; fd < 100; fd++)
            close(fd);
        child_main(100, 101, port);
    }
    close(cmd[0]);
    close(res[1]);
    *cmd_w = cmd[1];
    *res_r = res[0];
    return pid;
}

/* Fills the descriptor table up to the limit, then frees `room` slots. */
static int fill_fds(int *fds, int cap, int room)
{
    int n = 0;

    while (n < cap) {
        int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            break;
        fds[n++] = fd;
    }
    while (room-- > 0 && n > 0)
        close(fds[--n]);
    return n;
}

struct emfile_env {
    struct fx f;
    int cmd, res, nfill;
    pid_t pid;
    struct rlimit old;
    double cpu;
};

static int fillers[1024];

/* The steps; asserts return early, emfile_case cleans up whatever happened. */
static void emfile_steps(struct emfile_env *e)
{
    struct rlimit low = e->old;
    double cpu0;

    low.rlim_cur = 256;
    ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &low), 0);
    e->nfill = fill_fds(fillers, 1024, 2); /* room for exactly two connections */
    ASSERT_EQ(ask(e->cmd, e->res, 'G'), 1);
    ASSERT(fx_wait_ge(&fx_n.connected, 2, 5));
    /* Connections keep arriving for ~0.4 s while no descriptor is free; the
     * loop must drop them, not spin on the readable listening socket. */
    cpu0 = cpu_seconds();
    ASSERT_EQ(ask(e->cmd, e->res, 'F'), FLOOD);
    fx_sleep_ms(600);
    e->cpu = cpu_seconds() - cpu0;
    ASSERT_LT(e->cpu * 1000, 300); /* a spinning loop burns ~1000 */
    ASSERT_EQ(ask(e->cmd, e->res, 'D'), FLOOD);
    ASSERT_EQ(ask(e->cmd, e->res, 'E'), 1);
    ASSERT_EQ(eddy_tcp_server_connection_count(e->f.server), 2);
    ASSERT_EQ(ask(e->cmd, e->res, 'L'), 1);
    ASSERT(fx_wait_ge(&fx_n.closed, 2, 5));
    ASSERT_EQ(ask(e->cmd, e->res, 'N'), 1); /* recovered */
}

static void emfile_case(const char *backend)
{
    const struct eddy_tcp_callbacks cb = fx_counting_echo;
    struct emfile_env e = {.cmd = -1, .res = -1, .cpu = -1};
    int status = 0, failed;

    memset(&st, 0, sizeof st);
    ASSERT_EQ(fx_start(&e.f, backend, NULL, &cb, NULL), 0);
    getrlimit(RLIMIT_NOFILE, &e.old);
    e.pid = spawn_client(e.f.port, &e.cmd, &e.res);
    if (e.pid > 0)
        emfile_steps(&e);
    failed = eddy_test_failed();
    while (e.nfill > 0)
        close(fillers[--e.nfill]);
    setrlimit(RLIMIT_NOFILE, &e.old);
    if (e.pid > 0) {
        close(e.cmd);
        waitpid(e.pid, &status, 0);
        close(e.res);
    }
    fx_stop(&e.f);
    ASSERT(e.pid > 0);
    if (failed) {
        printf("# %s: %.3f s CPU over ~1 s of EMFILE\n", backend, e.cpu);
        return;
    }
    printf("# %s: %.3f s CPU over ~1 s of EMFILE\n", backend, e.cpu);
    ASSERT_EQ(fx_load(&fx_n.connected), 3);
}

static void test_emfile_keeps_serving_without_spinning(void)
{
    emfile_case("epoll");
    if (eddy_test_failed())
        return;
    emfile_case("poll");
}

/* ---- select: a descriptor >= FD_SETSIZE is refused cleanly ---- */

static void test_select_refuses_fd_beyond_fd_setsize(void)
{
    const struct eddy_tcp_callbacks cb = fx_counting_echo;
    static int fill[FD_SETSIZE + 16];
    struct rlimit old, big;
    int n = 0, fd, ok;
    struct fx f;

    memset(&st, 0, sizeof st);
    getrlimit(RLIMIT_NOFILE, &old);
    big = old;
    big.rlim_cur = FD_SETSIZE + 64;
    if (big.rlim_max < big.rlim_cur)
        big.rlim_max = big.rlim_cur; /* needs CAP_SYS_RESOURCE; fails the case otherwise */
    ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &big), 0);
    ASSERT_EQ(fx_start(&f, "select", NULL, &cb, NULL), 0);
    while (n < FD_SETSIZE + 16) { /* the next accepted socket gets a number >= FD_SETSIZE */
        fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            break;
        fill[n++] = fd;
        if (fd >= FD_SETSIZE + 2)
            break;
    }
    fd = fx_connect(f.port, 0);
    ok = fd >= 0 && fx_read_eof(fd); /* accepted, not registrable: closed at once */
    if (fd >= 0)
        close(fd);
    while (n > 0)
        close(fill[--n]);
    setrlimit(RLIMIT_NOFILE, &old);
    ASSERT(ok);
    ASSERT_EQ(fx_load(&fx_n.connected), 0);
    fd = fx_connect(f.port, 0); /* a low number again: served */
    ASSERT(fd >= 0 && fx_echo_ok(fd, "hello"));
    close(fd);
    ASSERT(fx_wait_ge(&fx_n.closed, 1, 5));
    ASSERT_EQ(eddy_tcp_server_connection_count(f.server), 0);
    fx_stop(&f);
    ASSERT_EQ(fx_load(&fx_n.connected), 1);
}

/* ---- shutdown with live connections ---- */

#define LIVE 20
#define MARK 0x5eed

static void on_connected_live(struct eddy_tcp_connection *c)
{
    int *ctx = eddy_tcp_connection_context(c);
    int n = fx_inc(&fx_n.connected);

    ctx[0] = MARK;
    ctx[15] = MARK; /* the whole area is ours */
    if (n <= 2) {   /* the test keeps these past the server's end */
        eddy_tcp_connection_ref(c);
        st.held[n - 1] = c;
        fx_inc(&st.nheld); /* counted after the store: the test waits on it */
    }
    if (n % 2 == 0) { /* unread output stays queued */
        static char big[1 << 20];
        const struct sockaddr_in *peer = (const void *)eddy_tcp_connection_peer(c);
        /* The test needs to know which of its sockets these are: connect order is not
         * on_connected order, the two sub-loops run it concurrently. */
        __atomic_store_n(&st.big_port[n / 2 - 1], ntohs(peer->sin_port), __ATOMIC_RELEASE);
        for (int i = 0; i < 4; i++)
            eddy_tcp_connection_send(c, big, sizeof big);
        if (eddy_tcp_connection_output_queued(c) > 0)
            fx_inc(&st.queued_big);
    }
}

static void on_close_live(struct eddy_tcp_connection *c)
{
    int *ctx = eddy_tcp_connection_context(c);

    if (ctx[0] == MARK && ctx[15] == MARK && eddy_tcp_connection_fd(c) == -1 &&
        !eddy_tcp_connection_is_connected(c))
        fx_inc(&st.ctx_ok);
    fx_inc(&fx_n.closed);
}

static void count_conn(struct eddy_tcp_connection *c, void *arg)
{
    (void)arg;
    if (eddy_tcp_connection_is_connected(c) &&
        eddy_event_loop_is_in_loop_thread(eddy_tcp_connection_loop(c)))
        fx_inc(&st.foreach_seen);
}

/* A socket of fds whose connection queued nothing ahead of an echo, or -1. */
static int quiet_socket(const int *fds, int n)
{
    for (int i = 0; i < n; i++) {
        struct sockaddr_in a;
        socklen_t len = sizeof a;
        int big = 0;

        if (getsockname(fds[i], (struct sockaddr *)&a, &len) < 0)
            return -1;
        for (int k = 0; k < n / 2; k++)
            big |= __atomic_load_n(&st.big_port[k], __ATOMIC_ACQUIRE) == ntohs(a.sin_port);
        if (!big)
            return fds[i];
    }
    return -1;
}

static void test_free_with_live_connections(void)
{
    struct eddy_tcp_callbacks cb = {.on_connected = on_connected_live,
                                    .on_message = fx_on_message_echo,
                                    .on_close = on_close_live};
    struct eddy_tcp_server_options o;
    int fds[LIVE], i, x = 7;
    struct fx f;

    memset(&st, 0, sizeof st);
    o = fx_options_threads(2);
    o.context_size = 16 * sizeof(int);
    ASSERT_EQ(fx_start(&f, "epoll", &o, &cb, &x), 0);
    ASSERT_EQ(eddy_tcp_server_loop_count(f.server), 2);
    ASSERT(eddy_tcp_server_loop_at(f.server, 0) != eddy_tcp_server_loop_at(f.server, 1));
    ASSERT(eddy_tcp_server_loop_at(f.server, 0) != f.loop);
    ASSERT(eddy_tcp_server_loop_at(f.server, 2) == NULL);
    ASSERT(eddy_tcp_server_base_loop(f.server) == f.loop);
    ASSERT(eddy_tcp_server_data(f.server) == &x);
    ASSERT_EQ(fx_connect_many(f.port, fds, LIVE, 4096), 0);
    ASSERT(fx_wait_ge(&fx_n.connected, LIVE, 5));
    ASSERT_EQ(eddy_tcp_server_connection_count(f.server), LIVE);
    ASSERT_EQ(eddy_tcp_server_foreach_connection(f.server, count_conn, NULL), 0);
    ASSERT(fx_wait_ge(&st.foreach_seen, LIVE, 5));
    ASSERT(fx_wait_ge(&st.queued_big, LIVE / 2, 5));
    ASSERT(fx_echo_ok(quiet_socket(fds, LIVE), "hello"));
    ASSERT(fx_wait_ge(&st.nheld, 2, 5));
    /* A cross-thread send to a held connection, then the server goes away. */
    ASSERT_EQ(eddy_tcp_connection_send(st.held[1], "late", 4), 0);
    fx_stop(&f);
    ASSERT_EQ(fx_load(&fx_n.closed), LIVE);
    ASSERT_EQ(fx_load(&st.ctx_ok), LIVE);
    ASSERT_EQ(fx_load(&st.queued_big), LIVE / 2);
    /* Held references outlive the server: closed, and usable as such. */
    ASSERT_EQ(eddy_tcp_connection_is_connected(st.held[0]), 0);
    ASSERT_EQ(eddy_tcp_connection_send(st.held[0], "x", 1), -EPIPE);
    eddy_tcp_connection_unref(st.held[0]);
    eddy_tcp_connection_unref(st.held[1]);
    for (i = 0; i < LIVE; i++) {
        char buf[65536];
        ssize_t n;
        while ((n = recv(fds[i], buf, sizeof buf, 0)) > 0)
            ;
        ASSERT(n == 0 || errno == ECONNRESET);
        close(fds[i]);
    }
}

static void test_listen_errors(void)
{
    struct eddy_tcp_callbacks cb = {.on_message = fx_on_message_echo};
    struct eddy_tcp_server *s;
    struct eddy_event_loop *loop;
    union eddy_sockaddr bound;
    char text[64];

    ASSERT_EQ(eddy_event_loop_new(&loop, "poll"), 0);
    ASSERT_EQ(eddy_tcp_server_new(&s, loop, NULL, &cb, NULL), 0);
    ASSERT_EQ(eddy_tcp_server_listen(s, "nonsense", NULL), -EINVAL);
    ASSERT_EQ(eddy_tcp_server_listen(s, "127.0.0.1:0", &bound), 0);
    snprintf(text, sizeof text, "127.0.0.1:%d", eddy_sockaddr_port(&bound.sa));
    ASSERT_EQ(eddy_tcp_server_listen(s, text, NULL), -EADDRINUSE);
    ASSERT_EQ(eddy_tcp_server_loop_count(s), 1);
    eddy_tcp_server_free(s); /* never started */
    eddy_event_loop_free(loop);
}

int main(void)
{
    signal(SIGPIPE, SIG_DFL); /* the library must not need SIGPIPE ignored */
    RUN(test_max_connections);
    RUN(test_adopt_memory_ends);
    RUN(test_emfile_keeps_serving_without_spinning);
    RUN(test_select_refuses_fd_beyond_fd_setsize);
    RUN(test_free_with_live_connections);
    RUN(test_listen_errors);
    return eddy_test_done();
}
