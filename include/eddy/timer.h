/*
 * timer: one-shot and repeating timers of an event_loop, kept in a binary
 * min-heap (start/stop O(log n)). The loop's dispatcher waits at most until the
 * nearest timer. A struct eddy_timer is embedded by value in its owner.
 *
 * Times are milliseconds of the loop's cached monotonic clock
 * (eddy_event_loop_now). Timers with the same deadline fire in start order.
 * A callback may start or stop any timer, itself included, and may free the
 * timer's owner after stopping it (a one-shot timer is already stopped when
 * its callback runs).
 *
 * Threading: owner loop thread only (use eddy_event_loop_run_in_loop from
 * elsewhere).
 */
#ifndef EDDY_TIMER_H
#define EDDY_TIMER_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct eddy_event_loop;
struct eddy_timer;

typedef void (*eddy_timer_cb)(struct eddy_timer *t);

#define EDDY_TIMER_INACTIVE UINT32_MAX

struct eddy_timer {
    uint64_t when;       /* absolute expiry, loop time in ms */
    uint64_t repeat;     /* period in ms; 0 = one-shot */
    uint64_t seq;        /* start order, to break ties */
    uint32_t heap_index; /* EDDY_TIMER_INACTIVE when not started */
    struct eddy_event_loop *loop;
    eddy_timer_cb cb;
    void *data;
};

void eddy_timer_init(struct eddy_timer *t, struct eddy_event_loop *loop, eddy_timer_cb cb,
                     void *data);
/* Fires after timeout_ms, then every repeat_ms if repeat_ms > 0. Restarts an
 * active timer. 0 or -ENOMEM. */
int eddy_timer_start(struct eddy_timer *t, uint64_t timeout_ms, uint64_t repeat_ms);
/* Idempotent. */
void eddy_timer_stop(struct eddy_timer *t);
static inline int eddy_timer_is_active(const struct eddy_timer *t)
{
    return t->heap_index != EDDY_TIMER_INACTIVE;
}

#ifdef __cplusplus
}
#endif

#endif
