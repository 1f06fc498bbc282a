/* event_loop_thread and thread_pool (also run under TSan). */
#include "eddy/thread_pool.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

#include "eddy/event_loop.h"
#include "eddy/event_loop_thread.h"
#include "../../lib/test.h"

struct probe {
    struct eddy_event_loop *loop;
    atomic_int state; /* 0 pending, 1 ran in the loop's thread, 2 ran elsewhere */
};

static void probe_task(void *arg)
{
    struct probe *p = arg;
    atomic_store(&p->state, eddy_event_loop_is_in_loop_thread(p->loop) ? 1 : 2);
}

static int probe_loop(struct eddy_event_loop *loop)
{
    struct probe p;
    double t0 = eddy_test_now();
    p.loop = loop;
    atomic_store(&p.state, 0);
    if (eddy_event_loop_queue_in_loop(loop, probe_task, &p) < 0)
        return -1;
    while (atomic_load(&p.state) == 0 && eddy_test_now() - t0 < 5)
        usleep(200);
    return atomic_load(&p.state);
}

static void test_loop_thread_runs_and_stops(void)
{
    struct eddy_event_loop_thread *t;
    struct eddy_event_loop *loop;
    ASSERT_EQ(eddy_event_loop_thread_start(&t, "poll"), 0);
    loop = eddy_event_loop_thread_loop(t);
    ASSERT(loop != NULL);
    ASSERT(!eddy_event_loop_is_in_loop_thread(loop));
    ASSERT_STR_EQ(eddy_event_loop_dispatcher(loop)->name, "poll");
    ASSERT_EQ(probe_loop(loop), 1);
    eddy_event_loop_thread_stop(t);
}

static void test_loop_thread_bad_backend(void)
{
    struct eddy_event_loop_thread *t;
    ASSERT_EQ(eddy_event_loop_thread_start(&t, "bogus"), -EINVAL);
    ASSERT(t == NULL);
}

static void test_loop_thread_start_stop_many(void)
{
    int i;
    for (i = 0; i < 20; i++) {
        struct eddy_event_loop_thread *t;
        ASSERT_EQ(eddy_event_loop_thread_start(&t, NULL), 0);
        eddy_event_loop_thread_stop(t);
    }
}

static void test_pool_round_robin(void)
{
    struct eddy_event_loop *base;
    struct eddy_thread_pool *pool;
    struct eddy_event_loop *seen[3];
    int i;
    ASSERT_EQ(eddy_event_loop_new(&base, NULL), 0);
    ASSERT_EQ(eddy_thread_pool_new(&pool, base, 3, NULL), 0);
    ASSERT_EQ(eddy_thread_pool_size(pool), 3);
    ASSERT_EQ(eddy_thread_pool_start(pool), 0);
    for (i = 0; i < 3; i++) {
        seen[i] = eddy_thread_pool_next_loop(pool);
        ASSERT(seen[i] != base);
        ASSERT(seen[i] == eddy_thread_pool_loop_at(pool, i));
        /* start returned only after each sub-loop runs: a task is picked up at once. */
        ASSERT_EQ(probe_loop(seen[i]), 1);
    }
    ASSERT(seen[0] != seen[1] && seen[1] != seen[2] && seen[0] != seen[2]);
    for (i = 0; i < 6; i++)
        ASSERT(eddy_thread_pool_next_loop(pool) == seen[i % 3]);
    ASSERT(eddy_thread_pool_loop_at(pool, 3) == NULL);
    ASSERT(eddy_thread_pool_loop_at(pool, -1) == NULL);
    eddy_thread_pool_free(pool);
    eddy_event_loop_free(base);
}

static void test_pool_zero_threads_uses_base(void)
{
    struct eddy_event_loop *base;
    struct eddy_thread_pool *pool;
    ASSERT_EQ(eddy_event_loop_new(&base, NULL), 0);
    ASSERT_EQ(eddy_thread_pool_new(&pool, base, 0, NULL), 0);
    ASSERT_EQ(eddy_thread_pool_start(pool), 0);
    ASSERT_EQ(eddy_thread_pool_size(pool), 0);
    ASSERT(eddy_thread_pool_next_loop(pool) == base);
    ASSERT(eddy_thread_pool_next_loop(pool) == base);
    ASSERT(eddy_thread_pool_loop_at(pool, 0) == base);
    ASSERT(eddy_thread_pool_loop_at(pool, 1) == NULL);
    eddy_thread_pool_free(pool);
    eddy_event_loop_free(base);
}

static void test_pool_bad_arguments(void)
{
    struct eddy_event_loop *base;
    struct eddy_thread_pool *pool;
    ASSERT_EQ(eddy_event_loop_new(&base, NULL), 0);
    ASSERT_EQ(eddy_thread_pool_new(&pool, base, -1, NULL), -EINVAL);
    ASSERT_EQ(eddy_thread_pool_new(&pool, base, 2, "nope"), -EINVAL);
    ASSERT_EQ(eddy_thread_pool_new(&pool, base, 2, "select"), 0);
    eddy_thread_pool_free(pool); /* never started */
    eddy_event_loop_free(base);
}

static void test_pool_start_free_repeatedly(void)
{
    struct eddy_event_loop *base;
    int i;
    ASSERT_EQ(eddy_event_loop_new(&base, NULL), 0);
    for (i = 0; i < 5; i++) {
        struct eddy_thread_pool *pool;
        ASSERT_EQ(eddy_thread_pool_new(&pool, base, 4, i % 2 ? "epoll-et" : "epoll"), 0);
        ASSERT_EQ(eddy_thread_pool_start(pool), 0);
        ASSERT_EQ(probe_loop(eddy_thread_pool_loop_at(pool, 3)), 1);
        eddy_thread_pool_free(pool);
    }
    eddy_event_loop_free(base);
}

int main(void)
{
    RUN(test_loop_thread_runs_and_stops);
    RUN(test_loop_thread_bad_backend);
    RUN(test_loop_thread_start_stop_many);
    RUN(test_pool_round_robin);
    RUN(test_pool_zero_threads_uses_base);
    RUN(test_pool_bad_arguments);
    RUN(test_pool_start_free_repeatedly);
    return eddy_test_done();
}
