/* Unix domain stream sockets: "unix:" addresses parsed and formatted, a tcp_server
 * echoing over a socket file and over the abstract namespace on every backend, stale
 * socket files reclaimed, live sockets and other files left alone, the file removed
 * when the server goes, and an accepted connection's peer: named or unnamed. */
#include "net_fixture.h"

#include <stddef.h>
#include <sys/stat.h>
#include <sys/un.h>

struct pcase {
    const char *in;
    int rc;
    const char *out; /* formatted back; NULL: same as in */
};

static const struct pcase pcases[] = {
    {"unix:/tmp/a.sock", 0, NULL}, {"unix:rel/a.sock", 0, NULL}, {"unix:@name", 0, NULL},
    {"unix:", -EINVAL, NULL},      {"unix:@", -EINVAL, NULL},    {"127.0.0.1:80", 0, NULL},
};

static void test_parse_and_format(void)
{
    for (size_t i = 0; i < sizeof pcases / sizeof pcases[0]; i++) {
        union eddy_sockaddr sa;
        socklen_t len = 0;
        char out[160];
        printf("# %s\n", pcases[i].in);
        ASSERT_EQ(eddy_sockaddr_parse(pcases[i].in, &sa, &len), pcases[i].rc);
        if (pcases[i].rc < 0)
            continue;
        ASSERT_EQ(len, eddy_sockaddr_len(&sa.sa));
        ASSERT_GT(eddy_sockaddr_format(&sa.sa, out, sizeof out), 0);
        ASSERT_STR_EQ(out, pcases[i].out ? pcases[i].out : pcases[i].in);
    }
    union eddy_sockaddr sa;
    socklen_t len;
    char lng[5 + sizeof sa.un.sun_path + 1] = "unix:";
    memset(lng + 5, 'a', sizeof sa.un.sun_path - 1); /* 107 bytes: the most that fits */
    lng[5 + sizeof sa.un.sun_path - 1] = '\0';
    ASSERT_EQ(eddy_sockaddr_parse(lng, &sa, &len), 0);
    strcat(lng, "a");
    ASSERT_EQ(eddy_sockaddr_parse(lng, &sa, &len), -ENAMETOOLONG);
    ASSERT_EQ(eddy_sockaddr_parse("unix:@ab", &sa, &len), 0);
    ASSERT_EQ(len, offsetof(struct sockaddr_un, sun_path) + 3); /* NUL, 'a', 'b' */
    ASSERT_EQ(sa.un.sun_path[0], 0);
    ASSERT_EQ(eddy_sockaddr_parse("unix:/x", &sa, &len), 0);
    ASSERT_EQ(len, offsetof(struct sockaddr_un, sun_path) + 3); /* "/x" and its NUL */
    memset(sa.un.sun_path, 0, sizeof sa.un.sun_path);           /* unnamed, as an accepted peer */
    char out[16];
    ASSERT_EQ(eddy_sockaddr_format(&sa.sa, out, sizeof out), 5);
    ASSERT_STR_EQ(out, "unix:");
    ASSERT_EQ(eddy_sockaddr_format(&sa.sa, out, 3), -ENOSPC);
}

struct usrv {
    struct eddy_event_loop *loop;
    struct eddy_tcp_server *server;
    pthread_t thread;
};

static void *usrv_main(void *arg)
{
    struct usrv *u = arg;
    eddy_event_loop_run(u->loop);
    eddy_tcp_server_free(u->server);
    return NULL;
}

static const struct eddy_tcp_callbacks *g_cb = &fx_counting_echo;

static int usrv_start(struct usrv *u, const char *backend, const char *addr, int threads)
{
    struct eddy_tcp_server_options o = fx_options_threads(threads);
    memset(u, 0, sizeof *u);
    int r = eddy_event_loop_new(&u->loop, backend);
    if (r == 0)
        r = eddy_tcp_server_new(&u->server, u->loop, &o, g_cb, NULL);
    if (r == 0)
        r = eddy_tcp_server_listen(u->server, addr, NULL);
    if (r == 0)
        r = eddy_tcp_server_start(u->server);
    if (r == 0)
        r = -pthread_create(&u->thread, NULL, usrv_main, u);
    if (r < 0) {
        if (u->server)
            eddy_tcp_server_free(u->server);
        if (u->loop)
            eddy_event_loop_free(u->loop);
    }
    return r;
}

static void usrv_stop(struct usrv *u)
{
    eddy_event_loop_stop(u->loop);
    pthread_join(u->thread, NULL);
    eddy_event_loop_free(u->loop);
}

static int unix_connect(const char *addr)
{
    union eddy_sockaddr sa;
    socklen_t len;
    struct timeval tv = {10, 0};
    if (eddy_sockaddr_parse(addr, &sa, &len) < 0)
        return -1;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (connect(fd, &sa.sa, len) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static char g_path[64], g_addr[80];

static void echo_over(const char *backend, const char *addr, int threads)
{
    struct usrv u;
    ASSERT_EQ(usrv_start(&u, backend, addr, threads), 0);
    int fds[8];
    for (int i = 0; i < 8; i++) {
        fds[i] = unix_connect(addr);
        ASSERT_GE(fds[i], 0);
    }
    for (int i = 0; i < 8; i++)
        ASSERT(fx_echo_ok(fds[i], "over a unix socket"));
    for (int i = 0; i < 8; i++)
        close(fds[i]);
    usrv_stop(&u);
}

static void echo_path(const char *backend)
{
    echo_over(backend, g_addr, 0);
    struct stat st;
    ASSERT_EQ(lstat(g_path, &st), -1); /* removed when the server went */
    echo_over(backend, g_addr, 2);
}

static void echo_abstract(const char *backend)
{
    char addr[64];
    snprintf(addr, sizeof addr, "unix:@eddy-test-%d", (int)getpid());
    echo_over(backend, addr, 0);
    echo_over(backend, addr, 2);
}

static void test_stale_file_reclaimed(void)
{
    /* A socket bound and closed without unlink: what a crashed server leaves. */
    union eddy_sockaddr sa;
    socklen_t len;
    ASSERT_EQ(eddy_sockaddr_parse(g_addr, &sa, &len), 0);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    ASSERT_EQ(bind(fd, &sa.sa, len), 0);
    close(fd);
    struct stat st;
    ASSERT_EQ(lstat(g_path, &st), 0);
    ASSERT(S_ISSOCK(st.st_mode));
    echo_over("epoll", g_addr, 0);
}

static void test_live_socket_and_other_files_kept(void)
{
    struct usrv u, v;
    ASSERT_EQ(usrv_start(&u, "epoll", g_addr, 0), 0);
    ASSERT_EQ(usrv_start(&v, "epoll", g_addr, 0), -EADDRINUSE);
    int fd = unix_connect(g_addr); /* the first server still owns it */
    ASSERT_GE(fd, 0);
    ASSERT(fx_echo_ok(fd, "still there"));
    close(fd);
    usrv_stop(&u);

    FILE *f = fopen(g_path, "w");
    ASSERT(f != NULL);
    fputs("not a socket", f);
    fclose(f);
    ASSERT_EQ(usrv_start(&v, "epoll", g_addr, 0), -EADDRINUSE);
    struct stat st;
    ASSERT_EQ(lstat(g_path, &st), 0);
    ASSERT(S_ISREG(st.st_mode));
    unlink(g_path);
}

/* The last accepted peer as on_connected (loop thread) saw it. */
static pthread_mutex_t g_peer_mu = PTHREAD_MUTEX_INITIALIZER;
static char g_peer[160];
static socklen_t g_peer_len;

static void on_connected_peer(struct eddy_tcp_connection *c)
{
    const struct sockaddr *p = eddy_tcp_connection_peer(c);
    pthread_mutex_lock(&g_peer_mu);
    g_peer_len = eddy_sockaddr_len(p);
    if (eddy_sockaddr_format(p, g_peer, sizeof g_peer) < 0)
        g_peer[0] = '\0';
    pthread_mutex_unlock(&g_peer_mu);
    fx_on_connected_count(c);
}

static const struct eddy_tcp_callbacks peer_echo = {.on_connected = on_connected_peer,
                                                    .on_message = fx_on_message_echo,
                                                    .on_close = fx_on_close_count};

/* Echoes once over fd, then gives the peer the server saw for it. */
static void echo_and_peer(int fd, char *out, size_t cap, socklen_t *len)
{
    ASSERT(fx_echo_ok(fd, "peer"));
    pthread_mutex_lock(&g_peer_mu);
    snprintf(out, cap, "%s", g_peer);
    *len = g_peer_len;
    pthread_mutex_unlock(&g_peer_mu);
}

/* The connection stores an unnamed Unix peer as its family alone and a named one (a
 * client that bound a path) out of line: both read back whole. */
static void test_accepted_peer(void)
{
    char cpath[96], want[112], got[160];
    union eddy_sockaddr ca, sa;
    socklen_t clen, len, glen = 0;
    struct timeval tv = {10, 0};
    snprintf(cpath, sizeof cpath, "%s.client", g_path);
    snprintf(want, sizeof want, "unix:%s", cpath);
    ASSERT_EQ(eddy_sockaddr_parse(want, &ca, &clen), 0);
    ASSERT_EQ(eddy_sockaddr_parse(g_addr, &sa, &len), 0);
    struct usrv u;
    g_cb = &peer_echo;
    ASSERT_EQ(usrv_start(&u, "epoll", g_addr, 0), 0);
    int fd = unix_connect(g_addr);
    ASSERT_GE(fd, 0);
    echo_and_peer(fd, got, sizeof got, &glen);
    ASSERT_EQ(glen, sizeof(sa_family_t));
    ASSERT_STR_EQ(got, "unix:");
    close(fd);

    unlink(cpath);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ASSERT_GE(fd, 0);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ASSERT_EQ(bind(fd, &ca.sa, clen), 0);
    ASSERT_EQ(connect(fd, &sa.sa, len), 0);
    echo_and_peer(fd, got, sizeof got, &glen);
    ASSERT_EQ(glen, clen);
    ASSERT_STR_EQ(got, want);
    close(fd);
    unlink(cpath);
    usrv_stop(&u);
    g_cb = &fx_counting_echo;
}

int main(void)
{
    snprintf(g_path, sizeof g_path, "/tmp/eddy_unix_test_%d.sock", (int)getpid());
    snprintf(g_addr, sizeof g_addr, "unix:%s", g_path);
    RUN(test_parse_and_format);
    RUN_EACH_BACKEND(echo_path);
    RUN_EACH_BACKEND(echo_abstract);
    RUN(test_stale_file_reclaimed);
    RUN(test_live_socket_and_other_files_kept);
    RUN(test_accepted_peer);
    unlink(g_path);
    return eddy_test_done();
}
