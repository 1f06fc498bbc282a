/*
 * event_loop: one reactor, bound to the thread that runs it. Each iteration
 * waits in the dispatcher (at most until the nearest timer), runs the
 * callbacks of the channels that fired, runs expired timers, then runs the
 * tasks other threads queued. Other threads wake it through an eventfd of the
 * backend's kind (a kernel eventfd, or a uepoll one on the uepoll backends).
 *
 * Threading: everything is owner-thread-only except eddy_event_loop_stop,
 * eddy_event_loop_run_in_loop, eddy_event_loop_queue_in_loop and
 * eddy_event_loop_is_in_loop_thread, which any thread may call.
 */
#ifndef EDDY_EVENT_LOOP_H
#define EDDY_EVENT_LOOP_H

#include <stdint.h>

#include "eddy/event_dispatcher.h"

#ifdef __cplusplus
extern "C" {
#endif

struct eddy_event_loop;

typedef void (*eddy_task_fn)(void *arg);

/* Creates a loop on the named backend (NULL: "epoll"). The loop is bound to
 * the thread that calls eddy_event_loop_run (until then, to its creator).
 * 0, -EINVAL for an unknown backend, -ENOMEM, or -errno from the backend. */
int eddy_event_loop_new(struct eddy_event_loop **out, const char *backend);
/* Frees a loop that is not running. Tasks still queued are run first, in the
 * calling thread, so nothing they own leaks. Channels must be removed and
 * timers stopped by their owners before. */
void eddy_event_loop_free(struct eddy_event_loop *loop);

/* Runs until eddy_event_loop_stop. 0, or -errno if the backend fails. */
int eddy_event_loop_run(struct eddy_event_loop *loop);
/* Any thread, and async-signal-safe on a backend of kernel descriptors (on uepoll
 * it takes locks: not from a signal handler): makes run return after the current iteration.
 * From another thread, run may return while this call is still writing the loop's
 * wake-up descriptor: free the loop only after this call has returned (e.g. stop,
 * then join the loop's thread, then free, as eddy_event_loop_thread_stop does). The
 * same holds for eddy_event_loop_run_in_loop and eddy_event_loop_queue_in_loop. */
void eddy_event_loop_stop(struct eddy_event_loop *loop);

int eddy_event_loop_is_in_loop_thread(const struct eddy_event_loop *loop);
/* Runs fn(arg) now if called in the loop's thread, else queues it. 0 or -ENOMEM. */
int eddy_event_loop_run_in_loop(struct eddy_event_loop *loop, eddy_task_fn fn, void *arg);
/* Queues fn(arg) to run in the loop's thread after the current batch, and wakes
 * the loop. Tasks run in the order queued. 0 or -ENOMEM. */
int eddy_event_loop_queue_in_loop(struct eddy_event_loop *loop, eddy_task_fn fn, void *arg);

/* Cached monotonic time in ms, refreshed once per iteration. */
uint64_t eddy_event_loop_now(const struct eddy_event_loop *loop);
void eddy_event_loop_update_time(struct eddy_event_loop *loop);

const struct eddy_event_dispatcher *eddy_event_loop_dispatcher(const struct eddy_event_loop *loop);
static inline int eddy_event_loop_is_edge_triggered(const struct eddy_event_loop *loop)
{
    return (eddy_event_loop_dispatcher(loop)->flags & EDDY_DISP_EDGE_TRIGGERED) != 0;
}

/*
 * Prepare hooks run in the loop's thread at the start of every iteration, before
 * the dispatcher waits, in the order added. A user-space TCP/IP stack runs its
 * input, timers and output there, so the events it raises on uepoll descriptors
 * are harvested by the wait that follows. A hook returns the ms until it must run
 * again (-1: not before an event), which bounds that wait. Owner thread only;
 * add returns 0 or -ENOMEM, remove forgets the first hook with that fn and arg.
 */
typedef int (*eddy_prepare_fn)(struct eddy_event_loop *loop, void *arg);
int eddy_event_loop_add_prepare(struct eddy_event_loop *loop, eddy_prepare_fn fn, void *arg);
void eddy_event_loop_remove_prepare(struct eddy_event_loop *loop, eddy_prepare_fn fn, void *arg);

/* One pointer of user data per loop (per-thread state of a higher layer). */
void eddy_event_loop_set_data(struct eddy_event_loop *loop, void *data);
void *eddy_event_loop_data(const struct eddy_event_loop *loop);

/* Number of iterations so far (tests and statistics). */
uint64_t eddy_event_loop_iterations(const struct eddy_event_loop *loop);

#ifdef __cplusplus
}
#endif

#endif
