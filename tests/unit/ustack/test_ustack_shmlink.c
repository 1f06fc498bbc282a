/*
 * shmlink: two processes (fork) exchange frames through rings in shared memory; the
 * doorbell wakes a receiver that armed it; a full ring drops and counts.
 */
#include <eddy/ustack_shm.h>

#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../lib/test.h"

#define FRAMES 20000

static void fill(unsigned char *b, size_t len, uint32_t seq)
{
    for (size_t i = 0; i < len; i++)
        b[i] = (unsigned char)(seq * 31u + i);
    memcpy(b, &seq, sizeof(seq));
}

static int check(const struct ue_frame *f, uint32_t seq)
{
    unsigned char want[UE_FRAME_MAX];
    size_t len = 60 + seq % 1400;
    fill(want, len, seq);
    return f->len == len && memcmp(f->data, want, len) == 0;
}

/* Sleeps on the doorbell the way the driver does: arm (next_rx), then poll the fd. */
static int wait_frames(struct ue_dev *d)
{
    if (d->ops->next_rx(d) == 0)
        return 1;
    struct pollfd p = {.fd = d->ops->fd(d), .events = POLLIN};
    return poll(&p, 1, 5000) == 1;
}

/* Sends FRAMES frames of varied sizes, and echoes what comes back checked; exit code 0
 * only if every frame arrived intact and in order. */
static int run_side(struct ue_dev *d, int sender)
{
    static struct ue_frame in[64];
    unsigned char buf[UE_FRAME_MAX];
    uint32_t sent = 0, got = 0;
    double deadline = eddy_test_now() + 30;
    while (got < FRAMES) {
        if (eddy_test_now() > deadline)
            return 5;
        while (sender && sent < FRAMES) {
            size_t len = 60 + sent % 1400;
            fill(buf, len, sent);
            if (d->ops->tx(d, buf, len) < 0)
                break; /* ring full: let the peer drain */
            sent++;
        }
        int n = d->ops->rx_burst(d, in, 64);
        for (int i = 0; i < n; i++, got++) {
            if (!check(&in[i], got))
                return 2;
            while (!sender && d->ops->tx(d, in[i].data, in[i].len) < 0)
                if (eddy_test_now() > deadline)
                    return 3; /* the sender stopped draining its ring */
        }
        if (n == 0 && (!sender || sent == FRAMES) && !wait_frames(d))
            return 4;
    }
    return 0;
}

static void test_frames_both_ways_across_fork(void)
{
    struct ue_shmlink l;
    ASSERT_EQ(ue_shmlink_create(&l, 256), 0);
    pid_t pid = fork();
    ASSERT(pid >= 0);
    if (pid == 0) {
        struct ue_dev *d;
        if (ue_shmlink_open(&d, &l, 1) < 0)
            _exit(9);
        ue_shmlink_close(&l);
        int rc = run_side(d, 0);
        ue_dev_destroy(d);
        _exit(rc);
    }
    struct ue_dev *d;
    ASSERT_EQ(ue_shmlink_open(&d, &l, 0), 0);
    ue_shmlink_close(&l);
    int rc = run_side(d, 1);
    int status = 0;
    waitpid(pid, &status, 0);
    ASSERT_EQ(rc, 0);
    ASSERT(WIFEXITED(status));
    ASSERT_EQ(WEXITSTATUS(status), 0);
    ASSERT(ue_shmlink_drops(d) > 0); /* 20000 frames through 256 slots: some hit a full ring */
    ue_dev_destroy(d);
}

static void test_full_ring_drops_and_bell_rings_once_armed(void)
{
    struct ue_shmlink l;
    ASSERT_EQ(ue_shmlink_create(&l, 4), 0);
    struct ue_dev *a, *b;
    ASSERT_EQ(ue_shmlink_open(&a, &l, 0), 0);
    ASSERT_EQ(ue_shmlink_open(&b, &l, 1), 0);
    ue_shmlink_close(&l);
    unsigned char frame[64] = {1};
    struct pollfd p = {.fd = b->ops->fd(b), .events = POLLIN};
    ASSERT_EQ(b->ops->next_rx(b), UINT64_MAX); /* empty: armed */
    ASSERT_EQ(poll(&p, 1, 0), 0);
    for (int i = 0; i < 4; i++)
        ASSERT_EQ(a->ops->tx(a, frame, sizeof(frame)), 0);
    ASSERT_EQ(poll(&p, 1, 0), 1); /* the first frame rang the armed bell */
    ASSERT_EQ(a->ops->tx(a, frame, sizeof(frame)), -ENOBUFS);
    ASSERT_EQ(ue_shmlink_drops(a), 1);
    ASSERT_EQ(b->ops->next_rx(b), 0); /* frames waiting: the loop must not sleep */
    static struct ue_frame in[8];
    ASSERT_EQ(b->ops->rx_burst(b, in, 8), 4);
    ASSERT_EQ(in[0].len, sizeof(frame));
    ASSERT_EQ(poll(&p, 1, 0), 0);                      /* the bell was drained */
    ASSERT_EQ(a->ops->tx(a, frame, sizeof(frame)), 0); /* not armed: no system call */
    ASSERT_EQ(poll(&p, 1, 0), 0);
    ASSERT_EQ(b->ops->next_rx(b), 0);
    ue_dev_destroy(a);
    ue_dev_destroy(b);
}

static void test_bad_arguments(void)
{
    struct ue_shmlink l;
    ASSERT_EQ(ue_shmlink_create(&l, 100), -EINVAL);
    ASSERT_EQ(ue_shmlink_create(&l, 8), 0);
    struct ue_dev *d;
    ASSERT_EQ(ue_shmlink_open(&d, &l, 2), -EINVAL);
    ue_shmlink_close(&l);
}

int main(void)
{
    RUN(test_frames_both_ways_across_fork);
    RUN(test_full_ring_drops_and_bell_rings_once_armed);
    RUN(test_bad_arguments);
    return eddy_test_done();
}
