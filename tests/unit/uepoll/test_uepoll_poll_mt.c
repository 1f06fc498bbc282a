/*
 * ue_poll: poll(2)'s answers over uepoll descriptors (pipes, eventfds), a wait that a
 * write from another thread ends, the timeout, POLLNVAL, POLLHUP, and many entries.
 */
#include <eddy/uepoll.h>

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#include "../../lib/test.h"

static void test_ready_masks_without_waiting(void)
{
    int p[2];
    ASSERT_EQ(ue_pipe2(p, 0), 0);
    struct pollfd f[3] = {
        {.fd = p[0], .events = POLLIN}, {.fd = p[1], .events = POLLOUT}, {.fd = -1}};
    ASSERT_EQ(ue_poll(f, 3, 0), 1);
    ASSERT_EQ(f[0].revents, 0);
    ASSERT_EQ(f[1].revents, POLLOUT);
    ASSERT_EQ(f[2].revents, 0);
    ASSERT_EQ(ue_write(p[1], "x", 1), 1);
    ASSERT_EQ(ue_poll(f, 3, 0), 2);
    ASSERT_EQ(f[0].revents, POLLIN);
    ue_close(p[0]);
    ue_close(p[1]);
}

static void test_closed_descriptor_is_pollnval(void)
{
    int p[2];
    ASSERT_EQ(ue_pipe2(p, 0), 0);
    ue_close(p[0]);
    struct pollfd f = {.fd = p[0], .events = POLLIN};
    ASSERT_EQ(ue_poll(&f, 1, 0), 1);
    ASSERT_EQ(f.revents, POLLNVAL);
    ue_close(p[1]);
}

static void test_hangup_reported_unasked(void)
{
    int p[2];
    ASSERT_EQ(ue_pipe2(p, 0), 0);
    ue_close(p[1]);
    struct pollfd f = {.fd = p[0], .events = 0};
    ASSERT_EQ(ue_poll(&f, 1, 1000), 1);
    ASSERT_EQ(f.revents, POLLHUP);
    ue_close(p[0]);
}

static void test_timeout_passes(void)
{
    int p[2];
    ASSERT_EQ(ue_pipe2(p, 0), 0);
    struct pollfd f = {.fd = p[0], .events = POLLIN};
    double t0 = eddy_test_now();
    ASSERT_EQ(ue_poll(&f, 1, 60), 0);
    ASSERT(eddy_test_now() - t0 >= 0.055);
    ASSERT_EQ(f.revents, 0);
    ue_close(p[0]);
    ue_close(p[1]);
}

static void *write_later(void *arg)
{
    usleep(50000);
    uint64_t one = 1;
    if (ue_write(*(int *)arg, &one, sizeof(one)) != sizeof(one))
        abort();
    return NULL;
}

/* 2000 quiet pipes and one eventfd that another thread signals: the sleeper wakes. */
static void test_write_from_another_thread_wakes(void)
{
    enum { NP = 2000 };
    static int p[NP][2];
    static struct pollfd f[NP + 1];
    for (int i = 0; i < NP; i++) {
        ASSERT_EQ(ue_pipe2(p[i], 0), 0);
        f[i] = (struct pollfd){.fd = p[i][0], .events = POLLIN};
    }
    int efd = ue_eventfd(0, 0);
    ASSERT(efd >= 0);
    f[NP] = (struct pollfd){.fd = efd, .events = POLLIN};
    pthread_t th;
    pthread_create(&th, NULL, write_later, &efd);
    double t0 = eddy_test_now();
    int n = ue_poll(f, NP + 1, 5000);
    double dt = eddy_test_now() - t0;
    pthread_join(th, NULL);
    ASSERT_EQ(n, 1);
    ASSERT_EQ(f[NP].revents, POLLIN);
    ASSERT(dt >= 0.03 && dt < 4.0);
    for (int i = 0; i < NP; i++) {
        ASSERT_EQ(f[i].revents, 0);
        ue_close(p[i][0]);
        ue_close(p[i][1]);
    }
    ue_close(efd);
    /* every wait entry was unhooked: a later write wakes nobody and nothing leaks */
    int q[2];
    ASSERT_EQ(ue_pipe2(q, 0), 0);
    ue_close(q[0]);
    ue_close(q[1]);
}

static void test_bad_count(void)
{
    struct pollfd f;
    errno = 0;
    ASSERT_EQ(ue_poll(&f, (unsigned long)UE_NR_OPEN + 1, 0), -1);
    ASSERT_EQ(errno, EINVAL);
}

int main(void)
{
    RUN(test_ready_masks_without_waiting);
    RUN(test_closed_descriptor_is_pollnval);
    RUN(test_hangup_reported_unasked);
    RUN(test_timeout_passes);
    RUN(test_write_from_another_thread_wakes);
    RUN(test_bad_count);
    return eddy_test_done();
}
