/*
 * eddy_tcp_server_unlisten: one listener closed (its port refuses and can be bound
 * again), the others untouched; an address not listened on is -ENOENT.
 */
#include "net_fixture.h"

static int connect_ok(const union eddy_sockaddr *a)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int rc = connect(fd, &a->sa, eddy_sockaddr_len(&a->sa));
    close(fd);
    return rc == 0;
}

static void test_unlisten_closes_one_listener(void)
{
    struct eddy_tcp_callbacks cb = {.on_message = fx_on_message_echo};
    struct eddy_tcp_server *s;
    struct eddy_event_loop *loop;
    union eddy_sockaddr a, b;
    char text[64];

    ASSERT_EQ(eddy_event_loop_new(&loop, "poll"), 0);
    ASSERT_EQ(eddy_tcp_server_new(&s, loop, NULL, &cb, NULL), 0);
    ASSERT_EQ(eddy_tcp_server_listen(s, "127.0.0.1:0", &a), 0);
    ASSERT_EQ(eddy_tcp_server_listen(s, "127.0.0.1:0", &b), 0);
    ASSERT(connect_ok(&a) && connect_ok(&b)); /* the kernel's backlog answers */
    ASSERT_EQ(eddy_tcp_server_unlisten(s, &a), 0);
    ASSERT(!connect_ok(&a));
    ASSERT(connect_ok(&b));
    ASSERT_EQ(eddy_tcp_server_unlisten(s, &a), -ENOENT);
    snprintf(text, sizeof text, "127.0.0.1:%d", eddy_sockaddr_port(&a.sa));
    ASSERT_EQ(eddy_tcp_server_listen(s, text, NULL), 0); /* the port is free again */
    eddy_tcp_server_free(s);
    eddy_event_loop_free(loop);
}

int main(void)
{
    RUN(test_unlisten_closes_one_listener);
    return eddy_test_done();
}
