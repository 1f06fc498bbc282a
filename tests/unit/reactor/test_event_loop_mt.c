/* Cross-thread use of an event loop (also run under TSan). */
#include "eddy/event_loop.h"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "eddy/channel.h"
#include "eddy/event_loop_thread.h"
#include "eddy/timer.h"
#include "../../lib/test.h"

struct runner {
    pthread_t th;
    struct eddy_event_loop *loop;
    int result;
};

static void *run_main(void *arg)
{
    struct runner *r = arg;
    r->result = eddy_event_loop_run(r->loop);
    return NULL;
}

/* Creates a loop and runs it in a new thread; returns once the loop thread owns it. */
static atomic_int started_flag;

static void mark_started(void *arg)
{
    (void)arg;
    atomic_store(&started_flag, 1);
}

static int runner_start(struct runner *r, const char *backend)
{
    if (eddy_event_loop_new(&r->loop, backend) < 0)
        return -1;
    atomic_store(&started_flag, 0);
    eddy_event_loop_queue_in_loop(r->loop, mark_started, NULL);
    if (pthread_create(&r->th, NULL, run_main, r) != 0)
        return -1;
    while (!atomic_load(&started_flag))
        usleep(100);
    return 0;
}

static void runner_join(struct runner *r)
{
    pthread_join(r->th, NULL);
}

struct counter {
    struct eddy_event_loop *loop;
    atomic_int in_loop_thread;
    int next_expected;
    int out_of_order;
    int n;
};

static void ordered_task(void *arg)
{
    struct counter *c = *(struct counter **)arg;
    int v = (int)((intptr_t *)arg)[1];
    free(arg);
    if (!eddy_event_loop_is_in_loop_thread(c->loop))
        atomic_store(&c->in_loop_thread, 0);
    if (v != c->next_expected)
        c->out_of_order++;
    c->next_expected = v + 1;
    c->n++;
}

static void stop_task(void *arg)
{
    eddy_event_loop_stop(arg);
}

static void test_queue_in_loop_cross_thread_in_order(void)
{
    struct runner r;
    struct counter c = {0};
    int i;
    ASSERT_EQ(runner_start(&r, NULL), 0);
    c.loop = r.loop;
    atomic_store(&c.in_loop_thread, 1);
    ASSERT(!eddy_event_loop_is_in_loop_thread(r.loop));
    for (i = 0; i < 10000; i++) {
        intptr_t *arg = malloc(2 * sizeof(intptr_t));
        ASSERT(arg != NULL);
        arg[0] = (intptr_t)&c;
        arg[1] = i;
        ASSERT_EQ(eddy_event_loop_queue_in_loop(r.loop, ordered_task, arg), 0);
    }
    ASSERT_EQ(eddy_event_loop_queue_in_loop(r.loop, stop_task, r.loop), 0);
    runner_join(&r);
    ASSERT_EQ(r.result, 0);
    ASSERT_EQ(c.n, 10000);
    ASSERT_EQ(c.out_of_order, 0);
    ASSERT_EQ(atomic_load(&c.in_loop_thread), 1);
    eddy_event_loop_free(r.loop);
}

static atomic_int ran_in_loop;

static void check_thread_task(void *arg)
{
    struct eddy_event_loop *loop = arg;
    atomic_store(&ran_in_loop, eddy_event_loop_is_in_loop_thread(loop) ? 1 : 2);
}

/* run_in_loop from another thread queues (and wakes a loop blocked without timers). */
static void run_in_loop_wakes(const char *backend)
{
    struct runner r;
    double t0;
    ASSERT_EQ(runner_start(&r, backend), 0);
    usleep(20000); /* let it block in the dispatcher with no timeout */
    atomic_store(&ran_in_loop, 0);
    t0 = eddy_test_now();
    ASSERT_EQ(eddy_event_loop_run_in_loop(r.loop, check_thread_task, r.loop), 0);
    while (atomic_load(&ran_in_loop) == 0 && eddy_test_now() - t0 < 5)
        usleep(100);
    ASSERT_EQ(atomic_load(&ran_in_loop), 1);
    ASSERT(eddy_test_now() - t0 < 1.0);
    eddy_event_loop_stop(r.loop);
    runner_join(&r);
    eddy_event_loop_free(r.loop);
}

static void test_run_in_loop_from_other_thread_wakes_loop(void)
{
    const struct eddy_event_dispatcher *const *d;
    for (d = eddy_event_dispatcher_list(); *d != NULL && !eddy_test_failed(); d++)
        run_in_loop_wakes((*d)->name);
}

/* On every backend: the wake-up is a descriptor of the backend's own kind. */
static void test_stop_from_other_thread(void)
{
    const struct eddy_event_dispatcher *const *d;
    for (d = eddy_event_dispatcher_list(); *d != NULL && !eddy_test_failed(); d++) {
        struct runner r;
        double t0;
        ASSERT_EQ(runner_start(&r, (*d)->name), 0);
        usleep(10000);
        t0 = eddy_test_now();
        eddy_event_loop_stop(r.loop);
        runner_join(&r);
        ASSERT(eddy_test_now() - t0 < 1.0);
        ASSERT_EQ(r.result, 0);
        eddy_event_loop_free(r.loop);
    }
}

static struct eddy_event_loop *sig_loop;

static void on_sigusr1(int sig)
{
    (void)sig;
    eddy_event_loop_stop(sig_loop); /* async-signal-safe by contract */
}

static void test_stop_from_signal_handler(void)
{
    struct sigaction sa;
    struct runner r;
    ASSERT_EQ(eddy_event_loop_new(&sig_loop, NULL), 0);
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_sigusr1;
    ASSERT_EQ(sigaction(SIGUSR1, &sa, NULL), 0);
    r.loop = sig_loop;
    ASSERT_EQ(pthread_create(&r.th, NULL, run_main, &r), 0);
    usleep(10000);
    ASSERT_EQ(pthread_kill(r.th, SIGUSR1), 0);
    runner_join(&r);
    ASSERT_EQ(r.result, 0);
    eddy_event_loop_free(sig_loop);
}

/* Many producers hammer one loop; every task runs exactly once. */
#define NPROD    4
#define PER_PROD 5000
static atomic_int hammer_count;
static int hammer_loop_count; /* loop thread only */

static void hammer_task(void *arg)
{
    (void)arg;
    hammer_loop_count++;
    atomic_fetch_add(&hammer_count, 1);
}

static void *producer(void *arg)
{
    struct eddy_event_loop *loop = arg;
    int i;
    for (i = 0; i < PER_PROD; i++)
        if (eddy_event_loop_queue_in_loop(loop, hammer_task, NULL) < 0)
            abort();
    return NULL;
}

static void test_many_producers(void)
{
    struct runner r;
    pthread_t th[NPROD];
    double t0;
    int i;
    ASSERT_EQ(runner_start(&r, NULL), 0);
    atomic_store(&hammer_count, 0);
    hammer_loop_count = 0;
    for (i = 0; i < NPROD; i++)
        ASSERT_EQ(pthread_create(&th[i], NULL, producer, r.loop), 0);
    for (i = 0; i < NPROD; i++)
        pthread_join(th[i], NULL);
    t0 = eddy_test_now();
    while (atomic_load(&hammer_count) < NPROD * PER_PROD && eddy_test_now() - t0 < 10)
        usleep(1000);
    eddy_event_loop_stop(r.loop);
    runner_join(&r);
    ASSERT_EQ(atomic_load(&hammer_count), NPROD * PER_PROD);
    ASSERT_EQ(hammer_loop_count, NPROD * PER_PROD);
    eddy_event_loop_free(r.loop);
}

struct xchan {
    struct eddy_channel ch;
    atomic_int calls;
};

static void xchan_cb(struct eddy_channel *ch, int revents)
{
    struct xchan *x = ch->data;
    char buf[16];
    (void)revents;
    while (read(ch->fd, buf, sizeof(buf)) > 0)
        ;
    atomic_fetch_add(&x->calls, 1);
}

static void wait_calls(struct xchan *x, int n)
{
    double t0 = eddy_test_now();
    while (atomic_load(&x->calls) < n && eddy_test_now() - t0 < 5)
        usleep(500);
}

/* Channel calls from a foreign thread are queued to the loop thread. */
static void test_channel_ops_from_other_thread(void)
{
    struct eddy_event_loop_thread *t;
    struct xchan x;
    int p[2];
    ASSERT_EQ(eddy_event_loop_thread_start(&t, NULL), 0);
    ASSERT_EQ(pipe2(p, O_NONBLOCK), 0);
    atomic_store(&x.calls, 0);
    eddy_channel_init(&x.ch, eddy_event_loop_thread_loop(t), p[0], xchan_cb, &x);
    ASSERT_EQ(eddy_channel_enable_reading(&x.ch), 0);
    ASSERT_EQ(write(p[1], "a", 1), 1);
    wait_calls(&x, 1);
    ASSERT_EQ(atomic_load(&x.calls), 1);
    eddy_channel_remove(&x.ch);
    /* The removal is queued: once a task queued after it ran, it is done. */
    atomic_store(&ran_in_loop, 0);
    ASSERT_EQ(eddy_event_loop_queue_in_loop(eddy_event_loop_thread_loop(t), check_thread_task,
                                            eddy_event_loop_thread_loop(t)),
              0);
    while (atomic_load(&ran_in_loop) == 0)
        usleep(200);
    ASSERT_EQ(write(p[1], "b", 1), 1);
    usleep(30000);
    ASSERT_EQ(atomic_load(&x.calls), 1); /* removed: the new byte is not reported */
    eddy_event_loop_thread_stop(t);
    close(p[0]);
    close(p[1]);
}

static void noop_cb(struct eddy_channel *ch, int revents)
{
    (void)ch;
    (void)revents;
}

struct flags_probe {
    struct eddy_channel *ch;
    atomic_int events;
    atomic_int flags;
};

static void read_flags_task(void *arg)
{
    struct flags_probe *p = arg;
    atomic_store(&p->flags, p->ch->flags);
    atomic_store(&p->events, p->ch->events | 0x100);
}

/* Enable calls from a foreign thread compose in the owner thread: none is lost. */
static void test_cross_thread_interest_changes_compose(void)
{
    struct eddy_event_loop_thread *t;
    struct eddy_event_loop *loop;
    struct eddy_channel ch;
    struct flags_probe p;
    int sv[2];
    ASSERT_EQ(eddy_event_loop_thread_start(&t, NULL), 0);
    loop = eddy_event_loop_thread_loop(t);
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    eddy_channel_init(&ch, loop, sv[0], noop_cb, NULL);
    ASSERT_EQ(eddy_channel_disable_writing(&ch), 0);
    ASSERT_EQ(eddy_channel_enable_reading(&ch), 0);
    ASSERT_EQ(eddy_channel_enable_writing(&ch), 0);
    ASSERT_EQ(eddy_channel_disable_reading(&ch), 0);
    ASSERT_EQ(eddy_channel_enable_reading(&ch), 0);
    p.ch = &ch;
    atomic_store(&p.events, 0);
    ASSERT_EQ(eddy_event_loop_queue_in_loop(loop, read_flags_task, &p), 0);
    while (atomic_load(&p.events) == 0)
        usleep(200);
    ASSERT_EQ(atomic_load(&p.events), 0x100 | EDDY_EV_READ | EDDY_EV_WRITE);
    ASSERT_EQ(atomic_load(&p.flags) & 3, EDDY_EV_READ | EDDY_EV_WRITE);
    eddy_channel_remove(&ch);
    eddy_event_loop_thread_stop(t); /* runs the queued removal before freeing */
    close(sv[0]);
    close(sv[1]);
}

static atomic_int chain_left;

static void chain_more(void *arg)
{
    struct eddy_event_loop *loop = arg;
    if (atomic_fetch_sub(&chain_left, 1) > 1)
        eddy_event_loop_queue_in_loop(loop, chain_more, loop);
}

/* free() runs tasks queued by tasks too, until none is left. */
static void test_free_drains_chained_tasks(void)
{
    struct runner r;
    ASSERT_EQ(runner_start(&r, NULL), 0);
    eddy_event_loop_stop(r.loop);
    runner_join(&r);
    atomic_store(&chain_left, 50);
    ASSERT_EQ(eddy_event_loop_queue_in_loop(r.loop, chain_more, r.loop), 0);
    eddy_event_loop_free(r.loop);
    ASSERT_EQ(atomic_load(&chain_left), 0);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    RUN(test_queue_in_loop_cross_thread_in_order);
    RUN(test_run_in_loop_from_other_thread_wakes_loop);
    RUN(test_stop_from_other_thread);
    RUN(test_stop_from_signal_handler);
    RUN(test_many_producers);
    RUN(test_channel_ops_from_other_thread);
    RUN(test_cross_thread_interest_changes_compose);
    RUN(test_free_drains_chained_tasks);
    return eddy_test_done();
}
