#include "eddy/timer.h"

#include <stdlib.h>

#include "reactor/event_loop_internal.h"
#include "reactor_test_util.h"

#define MAXLOG 16

struct rec {
    struct eddy_timer t;
    int id;
    int fired;
};

static int order_log[MAXLOG];
static int norder;

static void log_cb(struct eddy_timer *t)
{
    struct rec *r = t->data;
    r->fired++;
    if (norder < MAXLOG)
        order_log[norder++] = r->id;
}

/* Sets up r as timer id and starts it: eddy_timer_start's result. */
static int rec_start(struct rec *r, struct eddy_event_loop *loop, int id, eddy_timer_cb cb,
                     uint64_t ms, uint64_t repeat_ms)
{
    r->id = id;
    r->fired = 0;
    eddy_timer_init(&r->t, loop, cb, r);
    return eddy_timer_start(&r->t, ms, repeat_ms);
}

static void test_timer_fires_in_deadline_order(struct fix *f)
{
    struct eddy_event_loop *loop = f->loop;
    struct rec a, b, c;
    norder = 0;
    ASSERT_EQ(rec_start(&a, loop, 1, log_cb, 30, 0), 0);
    ASSERT_EQ(rec_start(&b, loop, 2, log_cb, 10, 0), 0);
    ASSERT_EQ(rec_start(&c, loop, 3, log_cb, 20, 0), 0);
    ASSERT(eddy_timer_is_active(&a.t));
    ASSERT_EQ(run_for(loop, 60), 0);
    ASSERT_EQ(norder, 3);
    ASSERT_EQ(order_log[0], 2);
    ASSERT_EQ(order_log[1], 3);
    ASSERT_EQ(order_log[2], 1);
    ASSERT(!eddy_timer_is_active(&a.t)); /* one-shot: inactive once fired */
}

static void test_timer_ties_fire_in_start_order(struct fix *f)
{
    struct eddy_event_loop *loop = f->loop;
    struct rec r[6];
    int i;
    norder = 0;
    for (i = 0; i < 6; i++)
        ASSERT_EQ(rec_start(&r[i], loop, i, log_cb, 5, 0), 0);
    ASSERT_EQ(run_for(loop, 20), 0);
    ASSERT_EQ(norder, 6);
    for (i = 0; i < 6; i++)
        ASSERT_EQ(order_log[i], i);
}

static void repeat_cb(struct eddy_timer *t)
{
    struct rec *r = t->data;
    if (++r->fired == 5) {
        eddy_timer_stop(t);
        eddy_event_loop_stop(t->loop);
    }
}

static void test_timer_repeats_until_stopped_in_callback(struct fix *f)
{
    struct eddy_event_loop *loop = f->loop;
    struct rec r;
    double t0;
    ASSERT_EQ(rec_start(&r, loop, 0, repeat_cb, 2, 3), 0);
    t0 = eddy_test_now();
    ASSERT_EQ(eddy_event_loop_run(loop), 0);
    ASSERT_EQ(r.fired, 5);
    ASSERT(!eddy_timer_is_active(&r.t));
    ASSERT(eddy_test_now() - t0 >= 0.013); /* 2 + 4 * 3 ms, at least */
    /* Stopped inside its callback: it does not fire again. */
    ASSERT_EQ(run_for(loop, 15), 0);
    ASSERT_EQ(r.fired, 5);
}

static void test_timer_cancel(struct fix *f)
{
    struct eddy_event_loop *loop = f->loop;
    struct rec a, b;
    norder = 0;
    ASSERT_EQ(rec_start(&a, loop, 1, log_cb, 5, 0), 0);
    ASSERT_EQ(rec_start(&b, loop, 2, log_cb, 5, 10), 0);
    eddy_timer_stop(&b.t);
    eddy_timer_stop(&b.t); /* idempotent */
    ASSERT(!eddy_timer_is_active(&b.t));
    ASSERT_EQ(run_for(loop, 30), 0);
    ASSERT_EQ(a.fired, 1);
    ASSERT_EQ(b.fired, 0);
}

static struct rec *victim;

static void stop_other_cb(struct eddy_timer *t)
{
    log_cb(t);
    eddy_timer_stop(&victim->t);
}

static void test_timer_callback_stops_another_due_timer(struct fix *f)
{
    struct eddy_event_loop *loop = f->loop;
    struct rec a, b;
    victim = &b;
    ASSERT_EQ(rec_start(&a, loop, 1, stop_other_cb, 5, 0), 0);
    ASSERT_EQ(rec_start(&b, loop, 2, log_cb, 5, 0), 0); /* same deadline, due in the same pass */
    ASSERT_EQ(run_for(loop, 20), 0);
    ASSERT_EQ(a.fired, 1);
    ASSERT_EQ(b.fired, 0);
}

static void test_timer_restart_moves_deadline(struct fix *f)
{
    struct eddy_event_loop *loop = f->loop;
    struct rec a;
    ASSERT_EQ(rec_start(&a, loop, 1, log_cb, 10000, 0), 0);
    ASSERT_EQ(eddy_timer_start(&a.t, 5, 0), 0); /* restart an active timer */
    ASSERT_EQ(loop->heap_len, 1);
    ASSERT_EQ(run_for(loop, 30), 0);
    ASSERT_EQ(a.fired, 1);
    ASSERT_EQ(eddy_timer_start(&a.t, 40, 0), 0);
    ASSERT_EQ(run_for(loop, 10), 0);
    ASSERT_EQ(eddy_timer_start(&a.t, 1, 0), 0); /* pulled in before it fired */
    ASSERT_EQ(run_for(loop, 10), 0);
    ASSERT_EQ(a.fired, 2);
    ASSERT(!eddy_timer_is_active(&a.t));
}

static void self_restart_cb(struct eddy_timer *t)
{
    struct rec *r = t->data;
    if (++r->fired < 100)
        eddy_timer_start(t, 0, 0);
}

/* A timer restarting itself with timeout 0 fires once per iteration, never in a tight inner loop.
 */
static void test_timer_zero_restart_does_not_starve(struct fix *f)
{
    struct eddy_event_loop *loop = f->loop;
    struct rec a;
    uint64_t it0;
    ASSERT_EQ(rec_start(&a, loop, 1, self_restart_cb, 0, 0), 0);
    it0 = eddy_event_loop_iterations(loop);
    ASSERT_EQ(run_for(loop, 30), 0);
    ASSERT_EQ(a.fired, 100);
    ASSERT_GE(eddy_event_loop_iterations(loop) - it0, 100);
}

#define NRANDOM 10000
static struct rec *rand_recs;
static uint64_t last_when, last_seq;
static int nrand_fired, rand_bad;

static void rand_cb(struct eddy_timer *t)
{
    if (nrand_fired > 0 && (t->when < last_when || (t->when == last_when && t->seq < last_seq)))
        rand_bad++;
    if (t->when > eddy_event_loop_now(t->loop))
        rand_bad++; /* fired early */
    last_when = t->when;
    last_seq = t->seq;
    nrand_fired++;
    if (nrand_fired == NRANDOM)
        eddy_event_loop_stop(t->loop);
}

static void test_timer_10k_random_fire_in_order(struct fix *f)
{
    struct eddy_event_loop *loop = f->loop;
    int i;
    rand_recs = calloc(NRANDOM, sizeof(*rand_recs));
    ASSERT(rand_recs != NULL);
    srand(12345);
    nrand_fired = rand_bad = 0;
    for (i = 0; i < NRANDOM; i++)
        ASSERT_EQ(rec_start(&rand_recs[i], loop, i, rand_cb, (uint64_t)(rand() % 50), 0), 0);
    /* Cancel and restart some, to exercise removal from the middle of the heap. */
    for (i = 0; i < NRANDOM; i += 7)
        eddy_timer_stop(&rand_recs[i].t);
    for (i = 0; i < NRANDOM; i += 7)
        ASSERT_EQ(eddy_timer_start(&rand_recs[i].t, (uint64_t)(rand() % 50), 0), 0);
    /* Restart active ones in place, both earlier and later. */
    for (i = 3; i < NRANDOM; i += 5)
        ASSERT_EQ(eddy_timer_start(&rand_recs[i].t, (uint64_t)(rand() % 50), 0), 0);
    ASSERT_EQ(loop->heap_len, NRANDOM);
    ASSERT_EQ(eddy_event_loop_run(loop), 0);
    ASSERT_EQ(nrand_fired, NRANDOM);
    ASSERT_EQ(rand_bad, 0);
    ASSERT_EQ(loop->heap_len, 0);
    free(rand_recs);
}

static void test_timer_wait_timeout_from_nearest(struct fix *f)
{
    struct eddy_event_loop *loop = f->loop;
    struct rec a, b;
    double t0, dt;
    ASSERT_EQ(eddy__timers_timeout(loop), -1); /* no timer: wait forever */
    eddy_event_loop_update_time(loop);
    ASSERT_EQ(rec_start(&a, loop, 1, log_cb, 500, 0), 0);
    ASSERT_EQ(eddy__timers_timeout(loop), 500);
    ASSERT_EQ(rec_start(&b, loop, 2, stop_cb, 40, 0), 0);
    ASSERT_EQ(eddy__timers_timeout(loop), 40);
    /* The loop sleeps until b in very few iterations instead of spinning. */
    t0 = eddy_test_now();
    ASSERT_EQ(eddy_event_loop_run(loop), 0);
    dt = eddy_test_now() - t0;
    ASSERT(dt >= 0.035);
    ASSERT(dt < 0.4);
    ASSERT_LE(eddy_event_loop_iterations(loop), 3);
    eddy_timer_stop(&a.t);
    ASSERT_EQ(eddy__timers_timeout(loop), -1);
}

int main(void)
{
    RUN_FIX_EACH_BACKEND(test_timer_fires_in_deadline_order, FIX_LOOP_ONLY);
    RUN_FIX_EACH_BACKEND(test_timer_ties_fire_in_start_order, FIX_LOOP_ONLY);
    RUN_FIX_EACH_BACKEND(test_timer_repeats_until_stopped_in_callback, FIX_LOOP_ONLY);
    RUN_FIX_EACH_BACKEND(test_timer_cancel, FIX_LOOP_ONLY);
    RUN_FIX_EACH_BACKEND(test_timer_callback_stops_another_due_timer, FIX_LOOP_ONLY);
    RUN_FIX_EACH_BACKEND(test_timer_restart_moves_deadline, FIX_LOOP_ONLY);
    RUN_FIX_EACH_BACKEND(test_timer_zero_restart_does_not_starve, FIX_LOOP_ONLY);
    RUN_FIX_EACH_BACKEND(test_timer_10k_random_fire_in_order, FIX_LOOP_ONLY);
    RUN_FIX_EACH_BACKEND(test_timer_wait_timeout_from_nearest, FIX_LOOP_ONLY);
    return eddy_test_done();
}
