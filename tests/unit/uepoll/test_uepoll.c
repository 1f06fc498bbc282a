/* Unit tests of the uepoll API: descriptors, pipes, eventfd, and epoll's modes. The
 * kernel-parity checks live in test_uepoll_diff; these pin the basics and the
 * invariant checker. */
#include "../../lib/test.h"

#include <eddy/uepoll.h>
#include <uepoll/rbtree.h>
#include <uepoll/ue_internal.h>

#include <errno.h>
#include <signal.h>
#include <stdint.h>

struct key_node {
    struct ue_rb_node rb;
    int key;
    int in;
};

static int key_cmp(const struct ue_rb_node *a, const struct ue_rb_node *b)
{
    int x = ue_container_of(a, struct key_node, rb)->key;
    int y = ue_container_of(b, struct key_node, rb)->key;
    return (x > y) - (x < y);
}

static void key_insert(struct ue_rb_root *root, struct key_node *k)
{
    struct ue_rb_node **link = &root->node, *parent = NULL;
    while (*link) {
        parent = *link;
        link = key_cmp(&k->rb, parent) < 0 ? &parent->left : &parent->right;
    }
    eddy__ue_rb_insert(root, &k->rb, parent, link);
}

/* Random inserts and erases keep the red-black shape, the order and the count. */
static void test_rbtree_random(void)
{
    enum { N = 2000 };
    static struct key_node nodes[N];
    struct ue_rb_root root = {NULL};
    uint32_t seed = 12345;
    int in = 0;
    for (int i = 0; i < N; i++)
        nodes[i] = (struct key_node){.key = i};
    for (int step = 0; step < 40000; step++) {
        seed = seed * 1103515245u + 12345u;
        struct key_node *k = &nodes[(seed >> 8) % N];
        if (k->in)
            eddy__ue_rb_erase(&root, &k->rb);
        else
            key_insert(&root, k);
        in += k->in ? -1 : 1;
        k->in = !k->in;
        if (step % 97 == 0)
            ASSERT_GT(eddy__ue_rb_check(&root, key_cmp), 0);
    }
    int n = 0, prev = -1;
    for (struct ue_rb_node *r = eddy__ue_rb_first(&root); r; r = eddy__ue_rb_next(r)) {
        int key = ue_container_of(r, struct key_node, rb)->key;
        ASSERT_GT(key, prev);
        prev = key;
        n++;
    }
    ASSERT_EQ(n, in);
}

static int wait_n(int ep, struct epoll_event *evs, int max, int ms)
{
    return ue_epoll_wait(ep, evs, max, ms);
}

static void test_lowest_free_descriptor(void)
{
    int a = ue_eventfd(0, 0), b = ue_eventfd(0, 0), c = ue_eventfd(0, 0);
    ASSERT_EQ(b, a + 1);
    ASSERT_EQ(c, a + 2);
    ASSERT_EQ(ue_close(b), 0);
    int d = ue_dup(a);
    ASSERT_EQ(d, b);
    ASSERT_EQ(ue_close(b), 0);
    ASSERT_EQ(ue_close(b), -1);
    ASSERT_EQ(errno, EBADF);
    ASSERT_EQ(ue_close(a), 0);
    ASSERT_EQ(ue_close(c), 0);
    ASSERT_EQ(ue_close(-1), -1);
    ASSERT_EQ(errno, EBADF);
}

static void test_pipe_roundtrip_and_hup(void)
{
    int p[2];
    char buf[8];
    ASSERT_EQ(ue_pipe2(p, O_NONBLOCK), 0);
    ASSERT_EQ(ue_write(p[1], "abc", 3), 3);
    ASSERT_EQ(ue_read(p[0], buf, sizeof buf), 3);
    ASSERT_MEM_EQ(buf, "abc", 3);
    ASSERT_EQ(ue_read(p[0], buf, sizeof buf), -1);
    ASSERT_EQ(errno, EAGAIN);
    ASSERT_EQ(ue_read(p[1], buf, 1), -1);
    ASSERT_EQ(errno, EBADF);
    ASSERT_EQ(ue_close(p[1]), 0);
    ASSERT_EQ(ue_read(p[0], buf, sizeof buf), 0);
    ASSERT_EQ(ue_close(p[0]), 0);
}

static void test_pipe_capacity_is_64k(void)
{
    int p[2];
    static char big[70000];
    ASSERT_EQ(ue_pipe2(p, O_NONBLOCK), 0);
    ASSERT_EQ(ue_write(p[1], big, sizeof big), 65536);
    ASSERT_EQ(ue_write(p[1], big, 1), -1);
    ASSERT_EQ(errno, EAGAIN);
    ue_close(p[0]);
    ue_close(p[1]);
}

static void test_epipe_after_reader_gone(void)
{
    int p[2];
    signal(SIGPIPE, SIG_IGN);
    ASSERT_EQ(ue_pipe2(p, 0), 0);
    ue_close(p[0]);
    ASSERT_EQ(ue_write(p[1], "x", 1), -1);
    ASSERT_EQ(errno, EPIPE);
    ue_close(p[1]);
}

static void test_eventfd_counter_and_semaphore(void)
{
    uint64_t v = 5;
    int e = ue_eventfd(2, EFD_NONBLOCK);
    ASSERT_EQ(ue_write(e, &v, 8), 8);
    ASSERT_EQ(ue_read(e, &v, 8), 8);
    ASSERT_EQ(v, 7);
    ASSERT_EQ(ue_read(e, &v, 8), -1);
    ASSERT_EQ(errno, EAGAIN);
    ASSERT_EQ(ue_read(e, &v, 4), -1);
    ASSERT_EQ(errno, EINVAL);
    v = UINT64_MAX;
    ASSERT_EQ(ue_write(e, &v, 8), -1);
    ASSERT_EQ(errno, EINVAL);
    ue_close(e);
    e = ue_eventfd(2, EFD_NONBLOCK | EFD_SEMAPHORE);
    ASSERT_EQ(ue_read(e, &v, 8), 8);
    ASSERT_EQ(v, 1);
    ASSERT_EQ(ue_read(e, &v, 8), 8);
    ASSERT_EQ(ue_read(e, &v, 8), -1);
    ue_close(e);
}

static void test_level_triggered_repeats(void)
{
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = 42}, out[4];
    int p[2], ep = ue_epoll_create1(0);
    ASSERT_EQ(ue_pipe2(p, O_NONBLOCK), 0);
    ASSERT_EQ(ue_epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev), 0);
    ASSERT_EQ(wait_n(ep, out, 4, 0), 0);
    ASSERT_EQ(ue_write(p[1], "x", 1), 1);
    for (int i = 0; i < 3; i++) {
        ASSERT_EQ(wait_n(ep, out, 4, 0), 1);
        ASSERT_EQ(out[0].events, EPOLLIN);
        ASSERT_EQ(out[0].data.u64, 42);
    }
    ASSERT_EQ(eddy__ue_check_invariants(1), 0);
    ue_close(p[0]);
    ue_close(p[1]);
    ue_close(ep);
}

static void test_edge_triggered_once(void)
{
    struct epoll_event ev = {.events = EPOLLIN | EPOLLET, .data.u64 = 1}, out[4];
    int e = ue_eventfd(0, EFD_NONBLOCK), ep = ue_epoll_create1(0);
    uint64_t one = 1;
    ASSERT_EQ(ue_epoll_ctl(ep, EPOLL_CTL_ADD, e, &ev), 0);
    ASSERT_EQ(ue_write(e, &one, 8), 8);
    ASSERT_EQ(wait_n(ep, out, 4, 0), 1);
    ASSERT_EQ(wait_n(ep, out, 4, 0), 0);
    ASSERT_EQ(ue_write(e, &one, 8), 8);
    ASSERT_EQ(wait_n(ep, out, 4, 0), 1);
    ue_close(e);
    ue_close(ep);
}

static void test_oneshot_needs_mod(void)
{
    struct epoll_event ev = {.events = EPOLLIN | EPOLLONESHOT}, out[4];
    int e = ue_eventfd(1, EFD_NONBLOCK), ep = ue_epoll_create1(0);
    ASSERT_EQ(ue_epoll_ctl(ep, EPOLL_CTL_ADD, e, &ev), 0);
    ASSERT_EQ(wait_n(ep, out, 4, 0), 1);
    ASSERT_EQ(wait_n(ep, out, 4, 0), 0);
    ASSERT_EQ(ue_epoll_ctl(ep, EPOLL_CTL_MOD, e, &ev), 0);
    ASSERT_EQ(wait_n(ep, out, 4, 0), 1);
    ue_close(e);
    ue_close(ep);
}

static void test_close_last_descriptor_unregisters(void)
{
    struct epoll_event ev = {.events = EPOLLIN}, out[4];
    int e = ue_eventfd(1, 0), ep = ue_epoll_create1(0);
    ASSERT_EQ(ue_epoll_ctl(ep, EPOLL_CTL_ADD, e, &ev), 0);
    int d = ue_dup(e);
    ASSERT_EQ(ue_close(e), 0);
    ASSERT_EQ(wait_n(ep, out, 4, 0), 1); /* the file lives on through d */
    ASSERT_EQ(ue_close(d), 0);
    ASSERT_EQ(wait_n(ep, out, 4, 0), 0);
    ASSERT_EQ(eddy__ue_check_invariants(1), 0);
    ue_close(ep);
}

static void test_errors(void)
{
    struct epoll_event ev = {.events = EPOLLIN}, out[1];
    int ep = ue_epoll_create1(0), e = ue_eventfd(0, 0);
    ASSERT_EQ(ue_epoll_ctl(ep, EPOLL_CTL_ADD, ep, &ev), -1);
    ASSERT_EQ(errno, EINVAL);
    ASSERT_EQ(ue_epoll_ctl(e, EPOLL_CTL_ADD, ep, &ev), -1);
    ASSERT_EQ(errno, EINVAL);
    ASSERT_EQ(ue_epoll_ctl(ep, EPOLL_CTL_DEL, e, NULL), -1);
    ASSERT_EQ(errno, ENOENT);
    ASSERT_EQ(ue_epoll_ctl(ep, EPOLL_CTL_ADD, e, &ev), 0);
    ASSERT_EQ(ue_epoll_ctl(ep, EPOLL_CTL_ADD, e, &ev), -1);
    ASSERT_EQ(errno, EEXIST);
    ASSERT_EQ(ue_epoll_wait(ep, out, 0, 0), -1);
    ASSERT_EQ(errno, EINVAL);
    ASSERT_EQ(ue_epoll_wait(999999, out, 1, 0), -1);
    ASSERT_EQ(errno, EBADF);
    ASSERT_EQ(ue_epoll_create1(1), -1);
    ASSERT_EQ(errno, EINVAL);
    ue_close(e);
    ue_close(ep);
}

static void test_nested_loop_is_eloop(void)
{
    struct epoll_event ev = {.events = EPOLLIN};
    int a = ue_epoll_create1(0), b = ue_epoll_create1(0);
    ASSERT_EQ(ue_epoll_ctl(a, EPOLL_CTL_ADD, b, &ev), 0);
    ASSERT_EQ(ue_epoll_ctl(b, EPOLL_CTL_ADD, a, &ev), -1);
    ASSERT_EQ(errno, ELOOP);
    ue_close(a);
    ue_close(b);
}

static void test_wait_times_out(void)
{
    struct epoll_event out[1];
    int ep = ue_epoll_create1(0);
    double t0 = eddy_test_now();
    ASSERT_EQ(ue_epoll_wait(ep, out, 1, 50), 0);
    ASSERT_GE(eddy_test_now() - t0, 0.049);
    ue_close(ep);
}

int main(void)
{
    RUN(test_rbtree_random);
    RUN(test_lowest_free_descriptor);
    RUN(test_pipe_roundtrip_and_hup);
    RUN(test_pipe_capacity_is_64k);
    RUN(test_epipe_after_reader_gone);
    RUN(test_eventfd_counter_and_semaphore);
    RUN(test_level_triggered_repeats);
    RUN(test_edge_triggered_once);
    RUN(test_oneshot_needs_mod);
    RUN(test_close_last_descriptor_unregisters);
    RUN(test_errors);
    RUN(test_nested_loop_is_eloop);
    RUN(test_wait_times_out);
    return eddy_test_done();
}
