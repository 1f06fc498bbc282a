/* Signals on a loop: delivery while the loop is busy (on every backend), in the owner
 * loop's thread, one owner per signal, two loops with a signal each, and unwatch. */
#include "eddy/eddy.h"
#include "eddy/signal.h"
#include "../../lib/test.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct ctx {
    struct eddy_event_loop *loop;
    pthread_t thread;
    pthread_t self; /* set and read by the loop thread only */
    atomic_int count;
    atomic_int last_signo;
    atomic_int wrong_thread;
    atomic_int busy_slices;
    atomic_int unwatch_rc;
    struct eddy_timer busy;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void on_signal(struct eddy_event_loop *loop, int signo, void *data)
{
    struct ctx *c = data;
    if (loop != c->loop || !pthread_equal(pthread_self(), c->self))
        atomic_fetch_add(&c->wrong_thread, 1);
    atomic_store(&c->last_signo, signo);
    atomic_fetch_add(&c->count, 1);
}

/* Keeps the loop busy: every millisecond, 30 ms of spinning. */
static void on_busy(struct eddy_timer *t)
{
    struct ctx *c = t->data;
    double end = now_s() + 0.03;
    while (now_s() < end) {
    }
    atomic_fetch_add(&c->busy_slices, 1);
}

static void *loop_main(void *arg)
{
    struct ctx *c = arg;
    c->self = pthread_self();
    eddy_event_loop_run(c->loop);
    return NULL;
}

static int wait_count(struct ctx *c, int n)
{
    for (double end = now_s() + 5; now_s() < end; usleep(1000))
        if (atomic_load(&c->count) >= n)
            return 1;
    return 0;
}

/* Unwatching belongs to the loop's thread, like every channel of the loop. */
static void stop_task(void *arg)
{
    struct ctx *c = arg;
    eddy_timer_stop(&c->busy);
    atomic_store(&c->unwatch_rc, eddy_signal_unwatch(c->loop, atomic_load(&c->last_signo)));
    eddy_event_loop_stop(c->loop);
}

static void start_ctx(struct ctx *c, const char *backend)
{
    memset(c, 0, sizeof *c);
    if (eddy_event_loop_new(&c->loop, backend) < 0)
        abort();
}

static void finish_ctx(struct ctx *c)
{
    eddy_event_loop_run_in_loop(c->loop, stop_task, c);
    pthread_join(c->thread, NULL);
    eddy_event_loop_free(c->loop);
    ASSERT_EQ(atomic_load(&c->unwatch_rc), 0);
}

static void delivered_while_busy(const char *backend)
{
    struct ctx c;
    start_ctx(&c, backend);
    ASSERT_EQ(eddy_signal_watch(c.loop, SIGUSR1, on_signal, &c), 0);
    eddy_timer_init(&c.busy, c.loop, on_busy, &c);
    eddy_timer_start(&c.busy, 1, 1);
    ASSERT_EQ(pthread_create(&c.thread, NULL, loop_main, &c), 0);
    while (atomic_load(&c.busy_slices) < 2)
        usleep(1000);
    for (int i = 1; i <= 4; i++) { /* each sent while the loop spins, each seen */
        ASSERT_EQ(kill(getpid(), SIGUSR1), 0);
        ASSERT(wait_count(&c, i));
    }
    ASSERT_EQ(atomic_load(&c.count), 4);
    ASSERT_EQ(atomic_load(&c.last_signo), SIGUSR1);
    ASSERT_EQ(atomic_load(&c.wrong_thread), 0);
    ASSERT_GE(atomic_load(&c.busy_slices), 4);
    finish_ctx(&c);
}

static void test_delivered_while_busy(void)
{
    /* Every backend of the library's list: on uepoll the signalfd is a kernel fd beside. */
    for (const struct eddy_event_dispatcher *const *d = eddy_event_dispatcher_list(); *d; d++) {
        delivered_while_busy((*d)->name);
        if (eddy_test_failed()) {
            printf("# backend %s\n", (*d)->name);
            return;
        }
    }
}

static void other(struct eddy_event_loop *loop, int signo, void *data)
{
    (void)loop, (void)signo, (void)data;
}

static void test_one_owner_per_signal(void)
{
    struct eddy_event_loop *a, *b;
    ASSERT_EQ(eddy_event_loop_new(&a, "epoll"), 0);
    ASSERT_EQ(eddy_event_loop_new(&b, "poll"), 0);
    ASSERT_EQ(eddy_signal_watch(a, SIGUSR1, other, NULL), 0);
    ASSERT_EQ(eddy_signal_watch(b, SIGUSR1, other, NULL), -EBUSY);
    ASSERT_EQ(eddy_signal_watch(a, SIGUSR1, on_signal, NULL), 0); /* replaces */
    ASSERT_EQ(eddy_signal_watch(a, SIGKILL, other, NULL), -EINVAL);
    ASSERT_EQ(eddy_signal_watch(a, SIGSTOP, other, NULL), -EINVAL);
    ASSERT_EQ(eddy_signal_watch(a, 0, other, NULL), -EINVAL);
    ASSERT_EQ(eddy_signal_watch(a, 65, other, NULL), -EINVAL);
    ASSERT_EQ(eddy_signal_unwatch(b, SIGUSR1), -ENOENT);
    ASSERT_EQ(eddy_signal_unwatch(a, SIGUSR1), 0);
    ASSERT_EQ(eddy_signal_unwatch(a, SIGUSR1), -ENOENT);
    ASSERT_EQ(eddy_signal_watch(b, SIGUSR1, other, NULL), 0);
    ASSERT_EQ(eddy_signal_unwatch(b, SIGUSR1), 0);
    eddy_event_loop_free(a);
    eddy_event_loop_free(b);
}

static void test_two_loops_two_signals(void)
{
    struct ctx c1, c2;
    start_ctx(&c1, "epoll");
    start_ctx(&c2, "select");
    eddy_timer_init(&c1.busy, c1.loop, on_busy, &c1);
    eddy_timer_init(&c2.busy, c2.loop, on_busy, &c2);
    ASSERT_EQ(eddy_signal_watch(c1.loop, SIGUSR1, on_signal, &c1), 0);
    ASSERT_EQ(eddy_signal_watch(c2.loop, SIGUSR2, on_signal, &c2), 0);
    ASSERT_EQ(eddy_signal_watch(c2.loop, SIGWINCH, on_signal, &c2), 0);
    ASSERT_EQ(eddy_signal_unwatch(c2.loop, SIGWINCH), 0); /* the mask shrinks, fd kept */
    ASSERT_EQ(pthread_create(&c1.thread, NULL, loop_main, &c1), 0);
    ASSERT_EQ(pthread_create(&c2.thread, NULL, loop_main, &c2), 0);
    ASSERT_EQ(kill(getpid(), SIGUSR2), 0);
    ASSERT(wait_count(&c2, 1));
    ASSERT_EQ(kill(getpid(), SIGUSR1), 0);
    ASSERT(wait_count(&c1, 1));
    usleep(20000);
    ASSERT_EQ(atomic_load(&c1.count), 1);
    ASSERT_EQ(atomic_load(&c2.count), 1);
    ASSERT_EQ(atomic_load(&c1.last_signo), SIGUSR1);
    ASSERT_EQ(atomic_load(&c2.last_signo), SIGUSR2);
    ASSERT_EQ(atomic_load(&c1.wrong_thread) + atomic_load(&c2.wrong_thread), 0);
    finish_ctx(&c1);
    finish_ctx(&c2);
}

int main(void)
{
    /* As the header asks: block them before any thread exists, so none takes them. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    sigaddset(&set, SIGUSR2);
    sigaddset(&set, SIGWINCH);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    RUN(test_delivered_while_busy);
    RUN(test_one_owner_per_signal);
    RUN(test_two_loops_two_signals);
    return eddy_test_done();
}
