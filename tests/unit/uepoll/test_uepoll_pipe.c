/* uepoll pipes: the two shapes issue 11 found (a write from a NULL buffer claimed a slot;
 * a read that released no buffer of a full pipe woke writers), and the calls added
 * for the differential (fcntl flags on every file kind, F_SETPIPE_SZ, readv/writev). */
#include "../../lib/test.h"

#include <eddy/uepoll.h>

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>

static char big[1 << 17];

/* write(w, NULL, 1) is EFAULT and leaves nothing: no IN on the read end, a 64 KiB
 * write still fits whole, and a packet pipe reads EAGAIN, not an empty message. */
static void test_write_null_claims_no_slot(void)
{
    struct epoll_event ev = {.events = EPOLLIN}, out[4];
    int p[2], q[2], ep = ue_epoll_create1(0);
    ASSERT_EQ(ue_pipe2(p, O_NONBLOCK), 0);
    ASSERT_EQ(ue_epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev), 0);
    ASSERT_EQ(ue_write(p[1], NULL, 1), -1);
    ASSERT_EQ(errno, EFAULT);
    ASSERT_EQ(ue_epoll_wait(ep, out, 4, 0), 0);
    ASSERT_EQ(ue_write(p[1], big, 65536), 65536);
    ASSERT_EQ(ue_read(p[0], big, sizeof big), 65536);
    ASSERT_EQ(ue_pipe2(q, O_NONBLOCK | O_DIRECT), 0);
    ASSERT_EQ(ue_write(q[1], NULL, 1), -1);
    ASSERT_EQ(errno, EFAULT);
    ASSERT_EQ(ue_read(q[0], big, 100), -1);
    ASSERT_EQ(errno, EAGAIN);
    ue_close(p[0]), ue_close(p[1]), ue_close(q[0]), ue_close(q[1]), ue_close(ep);
}

/* A full pipe, its write end watched (edge-triggered) for OUT, an eventfd for IN. A
 * one-byte read and a faulting read release no buffer and wake no writer; the read
 * that releases the first page does. So the eventfd, signalled in between, comes
 * first in the ready list, as on Linux. */
static void test_read_of_full_pipe_wakes_writer_only_on_release(void)
{
    struct epoll_event ev, out[4];
    uint64_t one = 1;
    int p[2], ep = ue_epoll_create1(0), e = ue_eventfd(0, EFD_NONBLOCK);
    ASSERT_EQ(ue_pipe2(p, O_NONBLOCK), 0);
    ASSERT_EQ(ue_write(p[1], big, 65536), 65536);
    ev = (struct epoll_event){.events = EPOLLOUT | EPOLLET, .data.u64 = 1};
    ASSERT_EQ(ue_epoll_ctl(ep, EPOLL_CTL_ADD, p[1], &ev), 0);
    ev = (struct epoll_event){.events = EPOLLIN, .data.u64 = 2};
    ASSERT_EQ(ue_epoll_ctl(ep, EPOLL_CTL_ADD, e, &ev), 0);
    ASSERT_EQ(ue_read(p[0], big, 1), 1);
    ASSERT_EQ(ue_read(p[0], NULL, 1), -1);
    ASSERT_EQ(ue_write(e, &one, 8), 8);
    ASSERT_EQ(ue_read(p[0], big, 4095), 4095);
    ASSERT_EQ(ue_epoll_wait(ep, out, 4, 0), 2);
    ASSERT_EQ(out[0].data.u64, 2);
    ASSERT_EQ(out[1].data.u64, 1);
    ue_close(p[0]), ue_close(p[1]), ue_close(e), ue_close(ep);
}

/* The same through a nested epoll: the outer one sees the eventfd before the inner. */
static void test_read_of_full_pipe_nested(void)
{
    struct epoll_event ev, out[4];
    uint64_t one = 1;
    int p[2], in = ue_epoll_create1(0), outer = ue_epoll_create1(0);
    int e = ue_eventfd(0, EFD_NONBLOCK);
    ASSERT_EQ(ue_pipe2(p, O_NONBLOCK), 0);
    ASSERT_EQ(ue_write(p[1], big, 65536), 65536);
    ev = (struct epoll_event){.events = EPOLLOUT, .data.u64 = 1};
    ASSERT_EQ(ue_epoll_ctl(in, EPOLL_CTL_ADD, p[1], &ev), 0);
    ev = (struct epoll_event){.events = EPOLLIN | EPOLLET, .data.u64 = 2};
    ASSERT_EQ(ue_epoll_ctl(outer, EPOLL_CTL_ADD, in, &ev), 0);
    ev = (struct epoll_event){.events = EPOLLIN, .data.u64 = 3};
    ASSERT_EQ(ue_epoll_ctl(outer, EPOLL_CTL_ADD, e, &ev), 0);
    ASSERT_EQ(ue_epoll_wait(outer, out, 4, 0), 0);
    ASSERT_EQ(ue_read(p[0], big, 1), 1);
    ASSERT_EQ(ue_write(e, &one, 8), 8);
    ASSERT_EQ(ue_read(p[0], big, 4095), 4095);
    ASSERT_EQ(ue_epoll_wait(outer, out, 4, 0), 2);
    ASSERT_EQ(out[0].data.u64, 3);
    ASSERT_EQ(out[1].data.u64, 2);
    ue_close(p[0]), ue_close(p[1]), ue_close(e), ue_close(in), ue_close(outer);
}

/* F_SETFL's O_NONBLOCK is one flag of the open file, whatever its kind. */
static void test_fcntl_nonblock_on_every_kind(void)
{
    uint64_t v;
    int p[2], e = ue_eventfd(0, 0), ep = ue_epoll_create1(0);
    ASSERT_EQ(ue_pipe2(p, 0), 0);
    int fds[] = {p[0], p[1], e, ep};
    for (int i = 0; i < 4; i++) {
        int fl = ue_fcntl(fds[i], F_GETFL);
        ASSERT_EQ(fl & O_NONBLOCK, 0);
        ASSERT_EQ(ue_fcntl(fds[i], F_SETFL, fl | O_NONBLOCK), 0);
        ASSERT_EQ(ue_fcntl(fds[i], F_GETFL), fl | O_NONBLOCK);
    }
    ASSERT_EQ(ue_read(p[0], &v, 8), -1); /* would block without it */
    ASSERT_EQ(errno, EAGAIN);
    ASSERT_EQ(ue_read(e, &v, 8), -1);
    ASSERT_EQ(errno, EAGAIN);
    int d = ue_dup(e); /* a dup shares the open file, and so its flags */
    ASSERT_EQ(ue_fcntl(d, F_SETFL, 0), 0);
    ASSERT_EQ(ue_fcntl(e, F_GETFL) & O_NONBLOCK, 0);
    ASSERT_EQ(ue_fcntl(e, F_SETFL, O_DIRECT), -1); /* packet mode is for pipes */
    ASSERT_EQ(errno, EINVAL);
    ue_close(d), ue_close(p[0]), ue_close(p[1]), ue_close(e), ue_close(ep);
}

/* F_SETPIPE_SZ: a power of two of pages, the capacity writes see, EBUSY below what
 * is in use, and the data kept across a resize. */
static void test_setpipe_sz(void)
{
    int p[2];
    ASSERT_EQ(ue_pipe2(p, O_NONBLOCK), 0);
    ASSERT_EQ(ue_fcntl(p[0], F_GETPIPE_SZ), 65536);
    ASSERT_EQ(ue_fcntl(p[1], F_SETPIPE_SZ, 5000), 8192);
    memset(big, 'a', 4096);
    memset(big + 4096, 'b', 4096);
    ASSERT_EQ(ue_write(p[1], big, 20000), 8192);
    ASSERT_EQ(ue_fcntl(p[1], F_SETPIPE_SZ, 4096), -1);
    ASSERT_EQ(errno, EBUSY);
    ASSERT_EQ(ue_fcntl(p[1], F_SETPIPE_SZ, 1 << 20), 1 << 20);
    ASSERT_EQ(ue_write(p[1], big, sizeof big), sizeof big);
    char c[2];
    ASSERT_EQ(ue_read(p[0], c, 1), 1);
    ASSERT_EQ(c[0], 'a');
    ASSERT_EQ(ue_read(p[0], big, 8191), 8191);
    ASSERT_EQ(big[8190], 'b');
    ue_close(p[0]), ue_close(p[1]);
}

/* readv/writev move one message across pieces; a NULL piece faults the copy that
 * reaches it, and nothing is claimed or consumed. */
static void test_readv_writev(void)
{
    char a[8] = "abc", b[8] = "defgh", r1[4], r2[16];
    struct iovec w[3] = {{a, 3}, {b, 0}, {b, 5}}, r[2] = {{r1, 4}, {r2, 16}};
    struct iovec hole[2] = {{a, 3}, {NULL, 2}};
    int p[2];
    ASSERT_EQ(ue_pipe2(p, O_NONBLOCK), 0);
    ASSERT_EQ(ue_writev(p[1], w, 3), 8);
    ASSERT_EQ(ue_readv(p[0], r, 2), 8);
    ASSERT_MEM_EQ(r1, "abcd", 4);
    ASSERT_MEM_EQ(r2, "efgh", 4);
    ASSERT_EQ(ue_writev(p[1], hole, 2), -1);
    ASSERT_EQ(errno, EFAULT);
    ASSERT_EQ(ue_read(p[0], r2, 16), -1);
    ASSERT_EQ(errno, EAGAIN);
    ASSERT_EQ(ue_writev(p[1], w, 1025), -1);
    ASSERT_EQ(errno, EINVAL);
    ue_close(p[0]), ue_close(p[1]);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    RUN(test_write_null_claims_no_slot);
    RUN(test_read_of_full_pipe_wakes_writer_only_on_release);
    RUN(test_read_of_full_pipe_nested);
    RUN(test_fcntl_nonblock_on_every_kind);
    RUN(test_setpipe_sz);
    RUN(test_readv_writev);
    return eddy_test_done();
}
