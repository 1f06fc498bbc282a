/*
 * thread_pool: N event_loop_threads (sub-reactors) beside a base loop. The
 * base loop (the main reactor) accepts and hands each connection to
 * eddy_thread_pool_next_loop (round-robin). With N = 0 the base loop does
 * everything.
 */
#ifndef EDDY_THREAD_POOL_H
#define EDDY_THREAD_POOL_H

#ifdef __cplusplus
extern "C" {
#endif

struct eddy_event_loop;
struct eddy_thread_pool;

/* nthreads >= 0; backend as for eddy_event_loop_new. 0 or -errno. */
int eddy_thread_pool_new(struct eddy_thread_pool **out, struct eddy_event_loop *base, int nthreads,
                         const char *backend);
/* Starts the threads; returns once every sub-loop runs. 0 or -errno (then none runs). */
int eddy_thread_pool_start(struct eddy_thread_pool *pool);
/* Round-robin over the sub-loops; the base loop when there are none. Base loop thread only. */
struct eddy_event_loop *eddy_thread_pool_next_loop(struct eddy_thread_pool *pool);
int eddy_thread_pool_size(const struct eddy_thread_pool *pool);
/* Sub-loop i (0 <= i < size), or the base loop when size is 0 and i is 0. */
struct eddy_event_loop *eddy_thread_pool_loop_at(const struct eddy_thread_pool *pool, int i);
/* Stops and joins every sub-loop, then frees them and the pool. */
void eddy_thread_pool_free(struct eddy_thread_pool *pool);

#ifdef __cplusplus
}
#endif

#endif
