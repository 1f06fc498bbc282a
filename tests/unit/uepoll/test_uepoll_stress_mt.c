/*
 * Stress: 8 threads doing random epoll_ctl / read / write / epoll_wait / dup / close on
 * shared descriptors (two of the epolls nested), then the invariants: every eventpoll's
 * tree and ready list consistent, no ready level-triggered item missing from a ready
 * list, and no file leaked once everything is closed. A second test checks that no
 * wake-up is lost between producers and consumers blocked in ue_epoll_wait.
 * Runs under TSan (name ends in _mt) and ASan.
 */
#include "../../lib/test.h"

#include <eddy/uepoll.h>
#include <uepoll/ue_internal.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>

#define NTHREADS 8
#define NEPOLL   4
#define NSLOTS   16

static atomic_int eps[NEPOLL];
static atomic_int slots[NSLOTS]; /* pipe ends and eventfds; replaced by dup + close */
static atomic_int stop;
static atomic_long ops;

static uint32_t rnd(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return (uint32_t)(*s >> 11);
}

static uint32_t random_events(uint64_t *s)
{
    static const uint32_t modes[] = {0, EPOLLET, EPOLLONESHOT, EPOLLET | EPOLLONESHOT};
    uint32_t ev = (rnd(s) & 1 ? EPOLLIN : 0) | (rnd(s) & 1 ? EPOLLOUT : 0);
    return ev | modes[rnd(s) % 4];
}

static void one_op(uint64_t *s)
{
    char buf[512];
    struct epoll_event ev = {.events = random_events(s)}, out[8];
    int ep = atomic_load(&eps[rnd(s) % NEPOLL]), fd = atomic_load(&slots[rnd(s) % NSLOTS]);
    if (rnd(s) % 8 == 0) {
        /* Epolls into epolls, always a lower index containing a higher one. A nested
         * scan holds the outer ep->mtx while it takes the inner one; if the nesting
         * direction flipped over time, TSan's global lock-order graph would report an
         * inversion even though ELOOP makes the two orders impossible at the same time
         * (the kernel tells lockdep the same thing with mutex_lock_nested by depth). */
        int i = (int)(rnd(s) % (NEPOLL - 1));
        ep = atomic_load(&eps[i]);
        fd = atomic_load(&eps[i + 1 + (int)(rnd(s) % (uint32_t)(NEPOLL - 1 - i))]);
    }
    ev.data.u64 = (uint64_t)fd;
    switch (rnd(s) % 8) {
    case 0:
        ue_epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
        break;
    case 1:
        ue_epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev);
        break;
    case 2:
        ue_epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
        break;
    case 3: {
        uint64_t one = 1;
        if (ue_write(fd, &one, 8) < 0)
            ue_write(fd, buf, rnd(s) % sizeof buf + 1);
        break;
    }
    case 4:
        ue_read(fd, buf, rnd(s) % sizeof buf + 8);
        break;
    case 5:
        ue_epoll_wait(ep, out, 1 + (int)(rnd(s) % 8), rnd(s) % 4 == 0 ? 1 : 0);
        break;
    case 6: { /* replace a descriptor: the file lives on through the dup */
        int epoll = rnd(s) % 4 == 0;
        atomic_int *slot = epoll ? &eps[rnd(s) % NEPOLL] : &slots[rnd(s) % NSLOTS];
        int old = atomic_load(slot), d = ue_dup(old);
        if (d >= 0 && atomic_compare_exchange_strong(slot, &old, d))
            ue_close(old);
        else if (d >= 0)
            ue_close(d);
        break;
    }
    case 7:
        if (rnd(s) % 64 == 0 && eddy__ue_check_invariants(0) != 0)
            atomic_store(&stop, 2);
        break;
    }
}

static void *worker(void *arg)
{
    uint64_t s = 0x9e3779b97f4a7c15ull * (uint64_t)((intptr_t)arg + 1);
    while (!atomic_load(&stop)) {
        for (int i = 0; i < 64; i++)
            one_op(&s);
        atomic_fetch_add(&ops, 64);
    }
    return NULL;
}

static void make_descriptors(void)
{
    struct epoll_event ev = {.events = EPOLLIN};
    for (int i = 0; i < NEPOLL; i++)
        atomic_store(&eps[i], ue_epoll_create1(0));
    ue_epoll_ctl(atomic_load(&eps[0]), EPOLL_CTL_ADD, atomic_load(&eps[1]), &ev); /* nested */
    ue_epoll_ctl(atomic_load(&eps[1]), EPOLL_CTL_ADD, atomic_load(&eps[2]), &ev);
    for (int i = 0; i < NSLOTS; i += 2) {
        int p[2];
        if (i % 4 == 0) {
            ue_pipe2(p, O_NONBLOCK);
        } else {
            p[0] = ue_eventfd(0, EFD_NONBLOCK);
            p[1] = ue_eventfd(3, EFD_NONBLOCK | EFD_SEMAPHORE);
        }
        atomic_store(&slots[i], p[0]);
        atomic_store(&slots[i + 1], p[1]);
    }
}

static void test_random_ops_keep_invariants(void)
{
    pthread_t t[NTHREADS];
    long files_before = eddy__ue_live_files();
    make_descriptors();
    for (intptr_t i = 0; i < NTHREADS; i++)
        pthread_create(&t[i], NULL, worker, (void *)i);
    double t0 = eddy_test_now();
    while (eddy_test_now() - t0 < 2.0 && !atomic_load(&stop)) {
        struct timespec ts = {0, 20 * 1000000L};
        nanosleep(&ts, NULL);
    }
    int broken = atomic_exchange(&stop, 1) == 2;
    for (int i = 0; i < NTHREADS; i++)
        pthread_join(t[i], NULL);
    printf("# %ld operations by %d threads\n", atomic_load(&ops), NTHREADS);
    ASSERT(!broken);
    ASSERT_EQ(eddy__ue_check_invariants(1), 0);
    ASSERT_GT(atomic_load(&ops), 1000);
    for (int i = 0; i < NSLOTS; i++)
        ASSERT_EQ(ue_close(atomic_load(&slots[i])), 0);
    for (int i = 0; i < NEPOLL; i++)
        ASSERT_EQ(ue_close(atomic_load(&eps[i])), 0);
    ASSERT_EQ(eddy__ue_live_files(), files_before);
}

/* ---- no lost wake-up: producers add to an eventfd, consumers drain it via epoll */

#define PRODUCERS    4
#define CONSUMERS    3
#define PER_PRODUCER 5000

static int lw_ep, lw_efd;
static atomic_long consumed;
static atomic_int lost;

static void *producer(void *arg)
{
    (void)arg;
    uint64_t one = 1;
    for (int i = 0; i < PER_PRODUCER; i++)
        while (ue_write(lw_efd, &one, 8) != 8)
            ;
    return NULL;
}

static void *consumer(void *arg)
{
    (void)arg;
    struct epoll_event ev[4];
    while (atomic_load(&consumed) < (long)PRODUCERS * PER_PRODUCER) {
        int n = ue_epoll_wait(lw_ep, ev, 4, 2000);
        uint64_t v;
        if (n == 0) {
            /* Two seconds without a wake-up while the counter is non-zero: lost. */
            if (ue_read(lw_efd, &v, 8) == 8) {
                atomic_fetch_add(&lost, 1);
                atomic_fetch_add(&consumed, (long)v);
            }
            continue;
        }
        if (ue_read(lw_efd, &v, 8) == 8)
            atomic_fetch_add(&consumed, (long)v);
    }
    return NULL;
}

static void test_no_lost_wakeup(void)
{
    struct epoll_event ev = {.events = EPOLLIN | EPOLLET};
    pthread_t p[PRODUCERS], c[CONSUMERS];
    lw_ep = ue_epoll_create1(0);
    lw_efd = ue_eventfd(0, EFD_NONBLOCK);
    ASSERT_EQ(ue_epoll_ctl(lw_ep, EPOLL_CTL_ADD, lw_efd, &ev), 0);
    for (int i = 0; i < CONSUMERS; i++)
        pthread_create(&c[i], NULL, consumer, NULL);
    for (int i = 0; i < PRODUCERS; i++)
        pthread_create(&p[i], NULL, producer, NULL);
    for (int i = 0; i < PRODUCERS; i++)
        pthread_join(p[i], NULL);
    /* Consumers still blocked once everything is consumed need a nudge to leave. */
    double t0 = eddy_test_now();
    while (atomic_load(&consumed) < (long)PRODUCERS * PER_PRODUCER && eddy_test_now() - t0 < 30) {
        struct timespec ts = {0, 10 * 1000000L};
        nanosleep(&ts, NULL);
    }
    uint64_t zero = 0;
    for (int i = 0; i < CONSUMERS; i++)
        ue_write(lw_efd, &zero, 8);
    for (int i = 0; i < CONSUMERS; i++)
        pthread_join(c[i], NULL);
    ASSERT_EQ(atomic_load(&consumed), (long)PRODUCERS * PER_PRODUCER);
    ASSERT_EQ(atomic_load(&lost), 0);
    ASSERT_EQ(eddy__ue_check_invariants(1), 0);
    ue_close(lw_efd);
    ue_close(lw_ep);
}

/* ---- blocking pipes and eventfds: writers and readers sleeping on the file queues */

#define BLK_BYTES (1 << 20)

static int blk_pipe[2], blk_efd;
static atomic_long blk_read, blk_tokens;

static void *blk_writer(void *arg)
{
    static char chunk[3000];
    (void)arg;
    for (long sent = 0; sent < BLK_BYTES / 2;) {
        ssize_t n = ue_write(blk_pipe[1], chunk, sizeof chunk);
        if (n <= 0)
            break;
        sent += n;
    }
    uint64_t one = 1;
    for (int i = 0; i < 2000; i++)
        ue_write(blk_efd, &one, 8);
    return NULL;
}

static void *blk_reader(void *arg)
{
    char buf[5000];
    (void)arg;
    for (;;) {
        ssize_t n = ue_read(blk_pipe[0], buf, sizeof buf);
        if (n <= 0)
            break; /* 0: every writer gone and the pipe drained */
        atomic_fetch_add(&blk_read, n);
    }
    uint64_t v;
    while (atomic_load(&blk_tokens) < 4000 && ue_read(blk_efd, &v, 8) == 8)
        atomic_fetch_add(&blk_tokens, (long)v);
    return NULL;
}

static void test_blocking_pipe_and_eventfd(void)
{
    pthread_t w[2], r[2];
    ASSERT_EQ(ue_pipe2(blk_pipe, 0), 0);
    blk_efd = ue_eventfd(0, EFD_SEMAPHORE);
    for (int i = 0; i < 2; i++) {
        pthread_create(&r[i], NULL, blk_reader, NULL);
        pthread_create(&w[i], NULL, blk_writer, NULL);
    }
    for (int i = 0; i < 2; i++)
        pthread_join(w[i], NULL);
    ue_close(blk_pipe[1]); /* readers see EOF once drained */
    /* The semaphore hands out one token per read: a reader still blocked after the
     * 4000th needs one more token to leave. */
    double t0 = eddy_test_now();
    while (atomic_load(&blk_tokens) < 4000 && eddy_test_now() - t0 < 30) {
        struct timespec ts = {0, 5 * 1000000L};
        nanosleep(&ts, NULL);
    }
    uint64_t two = 2;
    ue_write(blk_efd, &two, 8);
    for (int i = 0; i < 2; i++)
        pthread_join(r[i], NULL);
    ASSERT_EQ(atomic_load(&blk_read), (long)BLK_BYTES / 2 / 3000 * 3000 * 2 + 2 * 3000L);
    ASSERT_GE(atomic_load(&blk_tokens), 4000);
    ue_close(blk_pipe[0]);
    ue_close(blk_efd);
}

int main(void)
{
    RUN(test_random_ops_keep_invariants);
    RUN(test_no_lost_wakeup);
    RUN(test_blocking_pipe_and_eventfd);
    return eddy_test_done();
}
