/* inet: address parsing and formatting, v4 and v6, and bad inputs. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/tcp.h>
#include <unistd.h>

#include "eddy/inet.h"
#include "../../lib/test.h"

static void test_parse_v4(void)
{
    union eddy_sockaddr a;
    socklen_t len = 0;

    ASSERT_EQ(eddy_sockaddr_parse("127.0.0.1:8080", &a, &len), 0);
    ASSERT_EQ(a.sa.sa_family, AF_INET);
    ASSERT_EQ(len, sizeof(struct sockaddr_in));
    ASSERT_EQ(ntohl(a.in4.sin_addr.s_addr), 0x7f000001);
    ASSERT_EQ(eddy_sockaddr_port(&a.sa), 8080);
    ASSERT_EQ(eddy_sockaddr_parse("0.0.0.0:0", &a, &len), 0);
    ASSERT_EQ(eddy_sockaddr_port(&a.sa), 0);
    ASSERT_EQ(eddy_sockaddr_parse("255.255.255.255:65535", &a, NULL), 0);
    ASSERT_EQ(eddy_sockaddr_port(&a.sa), 65535);
}

static void test_parse_any(void)
{
    union eddy_sockaddr a;
    socklen_t len = 0;

    ASSERT_EQ(eddy_sockaddr_parse(":80", &a, &len), 0);
    ASSERT_EQ(a.sa.sa_family, AF_INET);
    ASSERT_EQ(a.in4.sin_addr.s_addr, htonl(INADDR_ANY));
    ASSERT_EQ(eddy_sockaddr_port(&a.sa), 80);
    ASSERT_EQ(eddy_sockaddr_parse("*:443", &a, &len), 0);
    ASSERT_EQ(a.in4.sin_addr.s_addr, htonl(INADDR_ANY));
    ASSERT_EQ(eddy_sockaddr_port(&a.sa), 443);
}

static void test_parse_v6(void)
{
    union eddy_sockaddr a;
    socklen_t len = 0;
    struct in6_addr lo = IN6ADDR_LOOPBACK_INIT;

    ASSERT_EQ(eddy_sockaddr_parse("[::1]:9000", &a, &len), 0);
    ASSERT_EQ(a.sa.sa_family, AF_INET6);
    ASSERT_EQ(len, sizeof(struct sockaddr_in6));
    ASSERT(memcmp(&a.in6.sin6_addr, &lo, sizeof lo) == 0);
    ASSERT_EQ(eddy_sockaddr_port(&a.sa), 9000);
    ASSERT_EQ(eddy_sockaddr_parse("[2001:db8::42]:1", &a, &len), 0);
    ASSERT_EQ(eddy_sockaddr_port(&a.sa), 1);
    ASSERT_EQ(eddy_sockaddr_parse("[::]:0", &a, &len), 0);
    ASSERT_EQ(eddy_sockaddr_parse("[::ffff:10.0.0.1]:5", &a, &len), 0);
}

static void test_parse_rejects_bad_input(void)
{
    static const char *const bad[] = {
        "",
        "127.0.0.1",
        "127.0.0.1:",
        "127.0.0.1:65536",
        "127.0.0.1:-1",
        "127.0.0.1:+80",
        "127.0.0.1:8o",
        "127.0.0.1:000080",
        "1.2.3:80",
        "256.0.0.1:80",
        "localhost:80",
        "::1:80",
        "[::1]80",
        "[::1]:",
        "[::1",
        "[]:80",
        "[1.2.3.4]:80",
        "[::1]:99999",
        "127.0.0.1:80 ",
        " 127.0.0.1:80",
        "[fe80::1%lo]:80",
        "[::1]:80x",
        "1.2.3.4.5:80",
        "**:80",
    };
    union eddy_sockaddr a;
    socklen_t len = 77;
    size_t i;

    for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (eddy_sockaddr_parse(bad[i], &a, &len) != -EINVAL) {
            eddy_test_fail(__FILE__, __LINE__, bad[i], "was accepted");
            return;
        }
    }
    ASSERT_EQ(len, 77); /* untouched on failure */
    ASSERT_EQ(eddy_sockaddr_parse(NULL, &a, &len), -EINVAL);
}

static void test_format_round_trip(void)
{
    static const char *const good[] = {"127.0.0.1:8080", "0.0.0.0:0", "[::1]:9000",
                                       "[2001:db8::42]:65535", "10.1.2.3:1"};
    union eddy_sockaddr a;
    char out[64];
    size_t i;

    for (i = 0; i < sizeof good / sizeof good[0]; i++) {
        ASSERT_EQ(eddy_sockaddr_parse(good[i], &a, NULL), 0);
        ASSERT_EQ(eddy_sockaddr_format(&a.sa, out, sizeof out), (int)strlen(good[i]));
        ASSERT_STR_EQ(out, good[i]);
    }
    ASSERT_EQ(eddy_sockaddr_parse("[::1]:9000", &a, NULL), 0);
    ASSERT_EQ(eddy_sockaddr_format_ip(&a.sa, out, sizeof out), 3);
    ASSERT_STR_EQ(out, "::1");
    ASSERT_EQ(eddy_sockaddr_len(&a.sa), sizeof(struct sockaddr_in6));
}

static void test_format_errors(void)
{
    union eddy_sockaddr a;
    char out[64];
    struct sockaddr un = {.sa_family = AF_UNIX}; /* unnamed (Unix addresses: test_unix_socket) */
    struct sockaddr pk = {.sa_family = AF_PACKET};

    ASSERT_EQ(eddy_sockaddr_parse("127.0.0.1:8080", &a, NULL), 0);
    ASSERT_EQ(eddy_sockaddr_format(&a.sa, out, 14), -ENOSPC); /* needs 15 with the NUL */
    ASSERT_EQ(eddy_sockaddr_format(&a.sa, out, 15), 14);
    ASSERT_EQ(eddy_sockaddr_format_ip(&a.sa, out, 9), -ENOSPC);
    ASSERT_EQ(eddy_sockaddr_format_ip(&a.sa, out, 10), 9);
    ASSERT_EQ(eddy_sockaddr_format(&pk, out, sizeof out), -EAFNOSUPPORT);
    ASSERT_EQ(eddy_sockaddr_port(&pk), -EAFNOSUPPORT);
    ASSERT_EQ(eddy_sockaddr_len(&pk), 0);
    ASSERT_EQ(eddy_sockaddr_format(&un, out, sizeof out), 5);
    ASSERT_STR_EQ(out, "unix:");
    ASSERT_EQ(eddy_sockaddr_port(&un), -EAFNOSUPPORT);
    ASSERT_EQ(eddy_sockaddr_len(&un), sizeof(sa_family_t));
}

static void test_nodelay(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0), v = 0;
    socklen_t len = sizeof v;

    ASSERT(fd >= 0);
    ASSERT_EQ(eddy_socket_set_nodelay(fd, 1), 0);
    ASSERT_EQ(getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &v, &len), 0);
    ASSERT_NE(v, 0);
    ASSERT_EQ(eddy_socket_set_nodelay(fd, 0), 0);
    ASSERT_EQ(getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &v, &len), 0);
    ASSERT_EQ(v, 0);
    close(fd);
    ASSERT_EQ(eddy_socket_set_nodelay(fd, 1), -EBADF);
}

int main(void)
{
    RUN(test_parse_v4);
    RUN(test_parse_any);
    RUN(test_parse_v6);
    RUN(test_parse_rejects_bad_input);
    RUN(test_format_round_trip);
    RUN(test_format_errors);
    RUN(test_nodelay);
    return eddy_test_done();
}
