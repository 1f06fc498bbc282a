/* ustack with Linux as the peer: a TAP device inside a network namespace this test
 * creates (ip netns add) and deletes on exit, failure and signals included, with
 * 198.18.0.1/24 on the kernel side and 198.18.0.2 for ustack. A thread drives the stack
 * on real time (poll on the TAP descriptor until the next deadline); the test uses
 * blocking ue_ calls from other threads. Needs root; without it the test says so. */
#include "../../lib/test.h"

#include <eddy/ustack.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/ip_icmp.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define K_IP  "198.18.0.1"
#define US_IP "198.18.0.2"
#define TAP   "eddyus0"

static char ns[64];
static struct ue_stack *st;
static atomic_int stop;
static pthread_t driver;

static void cleanup(void)
{
    if (!ns[0])
        return;
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "ip netns del %s 2>/dev/null", ns);
    if (system(cmd) != 0)
        fprintf(stderr, "# could not delete namespace %s\n", ns);
    ns[0] = 0;
}

static void on_signal(int sig)
{
    cleanup();
    signal(sig, SIG_DFL);
    raise(sig);
}

static int sh(const char *fmt, const char *arg)
{
    char cmd[512];
    if (snprintf(cmd, sizeof(cmd), fmt, arg, arg, arg) >= (int)sizeof(cmd))
        return -1;
    return system(cmd);
}

static void *drive(void *arg)
{
    (void)arg;
    struct pollfd p = {.fd = ue_stack_dev_fd(st), .events = POLLIN};
    while (!atomic_load(&stop)) {
        uint64_t d = ue_stack_next_deadline(st), now = ue_stack_now(st);
        int ms = d == UINT64_MAX ? 20 : d <= now ? 0 : (int)((d - now) / 1000);
        poll(&p, 1, ms > 20 ? 20 : ms);
        ue_stack_poll(st, 256);
    }
    return NULL;
}

static int setup(void)
{
    snprintf(ns, sizeof(ns), "eddy-ustack-%d", (int)getpid());
    atexit(cleanup);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    signal(SIGALRM, on_signal);
    signal(SIGABRT, on_signal);
    signal(SIGSEGV, on_signal);
    signal(SIGPIPE, SIG_IGN);
    alarm(120);
    if (sh("ip netns add %s", ns) != 0)
        return -1;
    char path[128];
    snprintf(path, sizeof(path), "/var/run/netns/%s", ns);
    int nsfd = open(path, O_RDONLY);
    if (nsfd < 0 || setns(nsfd, CLONE_NEWNET) < 0)
        return -1;
    close(nsfd);
    struct ue_dev *dev;
    if (ue_tap_open(&dev, TAP) < 0)
        return -1;
    if (sh("ip -n %s link set lo up && ip -n %s addr add " K_IP "/24 dev " TAP
           " && ip -n %s link set " TAP " up",
           ns) != 0)
        return -1;
    struct ue_stack_config c = {.dev = dev, .prefix = 24};
    inet_pton(AF_INET, US_IP, &c.addr);
    st = ue_stack_create(&c);
    return st && pthread_create(&driver, NULL, drive, NULL) == 0 ? 0 : -1;
}

static uint16_t csum(const void *d, size_t n)
{
    const unsigned char *p = d;
    uint32_t s = 0;
    for (size_t i = 0; i + 1 < n; i += 2)
        s += (uint32_t)(p[i] << 8 | p[i + 1]);
    if (n & 1)
        s += (uint32_t)p[n - 1] << 8;
    while (s >> 16)
        s = (s & 0xffff) + (s >> 16);
    return htons((uint16_t)~s);
}

/* Echo requests from the kernel's raw socket get replies with the same payload. */
static void test_tap_ping(void)
{
    int fd = socket(AF_INET, SOCK_RAW, IPPROTO_ICMP);
    ASSERT_GE(fd, 0);
    struct sockaddr_in to = {.sin_family = AF_INET};
    inet_pton(AF_INET, US_IP, &to.sin_addr);
    int replies = 0;
    for (int seq = 1; seq <= 3; seq++) {
        unsigned char m[64] = {ICMP_ECHO, 0, 0, 0, 0x42, 0x42, 0, (unsigned char)seq};
        for (int i = 8; i < 64; i++)
            m[i] = (unsigned char)(i * seq);
        uint16_t c = csum(m, sizeof(m));
        memcpy(m + 2, &c, 2);
        ASSERT_EQ(sendto(fd, m, sizeof(m), 0, (struct sockaddr *)&to, sizeof(to)), 64);
        struct pollfd p = {.fd = fd, .events = POLLIN};
        unsigned char r[256];
        while (poll(&p, 1, 3000) == 1) {
            ssize_t n = recv(fd, r, sizeof(r), 0);
            size_t ihl = (r[0] & 15u) * 4u;
            if (n == (ssize_t)(ihl + 64) && r[ihl] == ICMP_ECHOREPLY && r[ihl + 7] == seq) {
                ASSERT_MEM_EQ(r + ihl + 8, m + 8, 56);
                replies++;
                break;
            }
        }
    }
    close(fd);
    ASSERT_EQ(replies, 3);
}

static unsigned char pat(size_t i)
{
    return (unsigned char)(i * 131u + (i >> 9));
}

static void *ustack_echo_server(void *arg)
{
    int l = *(int *)arg;
    int fd = ue_accept4(l, NULL, NULL, 0);
    static unsigned char b[16384];
    ssize_t n;
    while (fd >= 0 && (n = ue_read(fd, b, sizeof(b))) > 0)
        for (ssize_t off = 0; off < n;) {
            ssize_t w = ue_write(fd, b + off, (size_t)(n - off));
            if (w <= 0)
                break;
            off += w;
        }
    ue_close(fd);
    return NULL;
}

#define ECHO_BYTES (4u << 20)

/* The kernel connects to ustack's echo server and gets 4 MiB back byte-exact. */
static void test_tap_kernel_client(void)
{
    ue_stack_set_current(st);
    int l = ue_socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(7)};
    ASSERT_EQ(ue_bind(l, (struct sockaddr *)&a, sizeof(a)), 0);
    ASSERT_EQ(ue_listen(l, 8), 0);
    pthread_t t;
    pthread_create(&t, NULL, ustack_echo_server, &l);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    inet_pton(AF_INET, US_IP, &a.sin_addr);
    ASSERT_EQ(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    fcntl(fd, F_SETFL, O_NONBLOCK);
    size_t sent = 0, got = 0, bad = 0;
    unsigned char b[16384];
    while (got < ECHO_BYTES) {
        struct pollfd p = {.fd = fd, .events = POLLIN | (sent < ECHO_BYTES ? POLLOUT : 0)};
        if (poll(&p, 1, 10000) <= 0)
            break;
        if (p.revents & POLLOUT) {
            size_t n = ECHO_BYTES - sent < sizeof(b) ? ECHO_BYTES - sent : sizeof(b);
            for (size_t i = 0; i < n; i++)
                b[i] = pat(sent + i);
            ssize_t w = write(fd, b, n);
            sent += w > 0 ? (size_t)w : 0;
        }
        ssize_t r = (p.revents & POLLIN) ? read(fd, b, sizeof(b)) : -1;
        for (ssize_t i = 0; i < r; i++)
            bad += b[i] != pat(got + (size_t)i);
        got += r > 0 ? (size_t)r : 0;
        if (r == 0)
            break;
    }
    shutdown(fd, SHUT_WR);
    fcntl(fd, F_SETFL, 0);
    char c;
    ssize_t eof = read(fd, &c, 1); /* ustack closes after our FIN */
    close(fd);
    pthread_join(t, NULL);
    ue_close(l);
    ASSERT_EQ(eof, 0);
    ASSERT_EQ(got, ECHO_BYTES);
    ASSERT_EQ(bad, 0);
}

static void *kernel_echo_server(void *arg)
{
    int fd = accept(*(int *)arg, NULL, NULL);
    unsigned char b[16384];
    ssize_t n;
    while (fd >= 0 && (n = read(fd, b, sizeof(b))) > 0)
        if (write(fd, b, (size_t)n) != n)
            break;
    close(fd);
    return NULL;
}

/* ustack connects to a kernel echo server (blocking ue_ calls) and gets its bytes back. */
static void test_tap_ustack_client(void)
{
    int l = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(9000)};
    inet_pton(AF_INET, K_IP, &a.sin_addr);
    ASSERT_EQ(bind(l, (struct sockaddr *)&a, sizeof(a)), 0);
    ASSERT_EQ(listen(l, 8), 0);
    pthread_t t;
    pthread_create(&t, NULL, kernel_echo_server, &l);
    ue_stack_set_current(st);
    int fd = ue_socket(AF_INET, SOCK_STREAM, 0);
    ASSERT_EQ(ue_connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    size_t done = 0, bad = 0;
    unsigned char b[8192], r[8192];
    while (done < ECHO_BYTES) {
        for (size_t i = 0; i < sizeof(b); i++)
            b[i] = pat(done + i);
        if (ue_write(fd, b, sizeof(b)) != (ssize_t)sizeof(b))
            break;
        size_t got = 0;
        while (got < sizeof(b)) {
            ssize_t n = ue_read(fd, r + got, sizeof(r) - got);
            if (n <= 0)
                break;
            got += (size_t)n;
        }
        bad += memcmp(b, r, sizeof(b)) != 0;
        if (got < sizeof(b))
            break;
        done += got;
    }
    ue_shutdown(fd, SHUT_WR);
    ssize_t eof = ue_read(fd, r, 1);
    ue_close(fd);
    pthread_join(t, NULL);
    close(l);
    ASSERT_EQ(eof, 0);
    ASSERT_EQ(done, ECHO_BYTES);
    ASSERT_EQ(bad, 0);
}

struct sink {
    int l;
    size_t got, bad;
};

static void *kernel_sink(void *arg)
{
    struct sink *k = arg;
    int fd = accept(k->l, NULL, NULL);
    unsigned char b[65536];
    ssize_t n;
    while (fd >= 0 && (n = read(fd, b, sizeof(b))) > 0)
        for (ssize_t i = 0; i < n; i++, k->got++)
            k->bad += b[i] != pat(k->got);
    close(fd);
    return NULL;
}

/* ustack sends 8 MiB to a kernel socket byte-exact in far fewer frames than segments:
 * the TAP takes frames of many segments (GSO) that the kernel receives whole. */
static void test_tap_gso_send(void)
{
    struct sink k = {.l = socket(AF_INET, SOCK_STREAM, 0)};
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(9001)};
    inet_pton(AF_INET, K_IP, &a.sin_addr);
    ASSERT_EQ(bind(k.l, (struct sockaddr *)&a, sizeof(a)), 0);
    ASSERT_EQ(listen(k.l, 8), 0);
    pthread_t t;
    pthread_create(&t, NULL, kernel_sink, &k);
    ue_stack_set_current(st);
    int fd = ue_socket(AF_INET, SOCK_STREAM, 0);
    ASSERT_EQ(ue_connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    struct ue_stack_stats s0, s1;
    ue_stack_get_stats(st, &s0);
    size_t sent = 0, total = 2 * ECHO_BYTES;
    static unsigned char b[65536];
    while (sent < total) {
        for (size_t i = 0; i < sizeof(b); i++)
            b[i] = pat(sent + i);
        size_t off = 0;
        while (off < sizeof(b)) {
            ssize_t w = ue_write(fd, b + off, sizeof(b) - off);
            if (w <= 0)
                break;
            off += (size_t)w;
        }
        if (off < sizeof(b))
            break;
        sent += sizeof(b);
    }
    ue_shutdown(fd, SHUT_WR);
    char c;
    ssize_t eof = ue_read(fd, &c, 1);
    ue_stack_get_stats(st, &s1);
    ue_close(fd);
    pthread_join(t, NULL);
    close(k.l);
    ASSERT_EQ(sent, total);
    ASSERT_EQ(eof, 0);
    ASSERT_EQ(k.got, total);
    ASSERT_EQ(k.bad, 0);
    printf("# %zu bytes in %llu TCP frames\n", total,
           (unsigned long long)(s1.tcp_out - s0.tcp_out));
    ASSERT_LT(s1.tcp_out - s0.tcp_out, total / 1448 / 4);
}

int main(void)
{
    if (geteuid() != 0 || access("/dev/net/tun", R_OK | W_OK) != 0 ||
        system("ip netns list >/dev/null 2>&1") != 0) {
        printf("# SKIP: needs root, /dev/net/tun and ip netns (not available here)\n");
        printf("ok - test_tap_skipped_without_root\n");
        return 0;
    }
    if (setup() != 0) {
        printf("not ok - namespace and TAP set-up failed\n");
        return 1;
    }
    RUN(test_tap_ping);
    RUN(test_tap_kernel_client);
    RUN(test_tap_ustack_client);
    RUN(test_tap_gso_send);
    atomic_store(&stop, 1);
    pthread_join(driver, NULL);
    ue_stack_destroy(st);
    cleanup();
    return eddy_test_done();
}
