/*
 * thread_pool: N event_loop_threads handed out round-robin.
 */
#include "eddy/thread_pool.h"

#include <errno.h>
#include <stdlib.h>

#include "eddy/event_loop.h"
#include "eddy/event_loop_thread.h"

struct eddy_thread_pool {
    struct eddy_event_loop *base;
    const char *backend; /* a dispatcher's own name */
    int nthreads;
    int started; /* threads running */
    int next;
    struct eddy_event_loop_thread **threads;
    struct eddy_event_loop **loops;
};

int eddy_thread_pool_new(struct eddy_thread_pool **out, struct eddy_event_loop *base, int nthreads,
                         const char *backend)
{
    const struct eddy_event_dispatcher *d = eddy_event_dispatcher_find(backend);
    struct eddy_thread_pool *p;

    *out = NULL;
    if (base == NULL || nthreads < 0 || d == NULL)
        return -EINVAL;
    p = calloc(1, sizeof(*p));
    if (p == NULL)
        return -ENOMEM;
    p->base = base;
    p->backend = d->name; /* static: the caller's string need not outlive us */
    p->nthreads = nthreads;
    if (nthreads > 0) {
        p->threads = calloc((size_t)nthreads, sizeof(*p->threads));
        p->loops = calloc((size_t)nthreads, sizeof(*p->loops));
        if (p->threads == NULL || p->loops == NULL) {
            free(p->threads);
            free(p->loops);
            free(p);
            return -ENOMEM;
        }
    }
    *out = p;
    return 0;
}

static void stop_all(struct eddy_thread_pool *p)
{
    int i;
    /* Ask every loop first so they wind down in parallel, then join one by one. */
    for (i = 0; i < p->started; i++)
        eddy_event_loop_stop(p->loops[i]);
    for (i = 0; i < p->started; i++) {
        eddy_event_loop_thread_stop(p->threads[i]);
        p->threads[i] = NULL;
        p->loops[i] = NULL;
    }
    p->started = 0;
}

int eddy_thread_pool_start(struct eddy_thread_pool *p)
{
    if (p->started > 0)
        return -EALREADY;
    while (p->started < p->nthreads) {
        int i = p->started;
        int r = eddy_event_loop_thread_start(&p->threads[i], p->backend);
        if (r < 0) {
            stop_all(p);
            return r;
        }
        p->loops[i] = eddy_event_loop_thread_loop(p->threads[i]);
        p->started++;
    }
    return 0;
}

struct eddy_event_loop *eddy_thread_pool_next_loop(struct eddy_thread_pool *p)
{
    struct eddy_event_loop *loop;
    if (p->started == 0)
        return p->base;
    loop = p->loops[p->next];
    if (++p->next == p->started)
        p->next = 0;
    return loop;
}

int eddy_thread_pool_size(const struct eddy_thread_pool *p)
{
    return p->nthreads;
}

struct eddy_event_loop *eddy_thread_pool_loop_at(const struct eddy_thread_pool *p, int i)
{
    if (p->nthreads == 0)
        return i == 0 ? p->base : NULL;
    if (i < 0 || i >= p->started)
        return NULL;
    return p->loops[i];
}

void eddy_thread_pool_free(struct eddy_thread_pool *p)
{
    if (p == NULL)
        return;
    stop_all(p);
    free(p->threads);
    free(p->loops);
    free(p);
}
