/*
 * timer: a binary min-heap of timer pointers ordered by (when, seq); each
 * timer knows its heap slot, so stop and restart are O(log n) without search.
 */
#include "eddy/timer.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>

#include "reactor/event_loop_internal.h"

static int before(const struct eddy_timer *a, const struct eddy_timer *b)
{
    return a->when < b->when || (a->when == b->when && a->seq < b->seq);
}

static void place(struct eddy_timer **heap, uint32_t i, struct eddy_timer *t)
{
    heap[i] = t;
    t->heap_index = i;
}

static void sift_up(struct eddy_timer **heap, uint32_t i)
{
    struct eddy_timer *t = heap[i];
    while (i > 0) {
        uint32_t parent = (i - 1) / 2;
        if (!before(t, heap[parent]))
            break;
        place(heap, i, heap[parent]);
        i = parent;
    }
    place(heap, i, t);
}

static void sift_down(struct eddy_timer **heap, uint32_t len, uint32_t i)
{
    struct eddy_timer *t = heap[i];
    for (;;) {
        uint32_t c = 2 * i + 1;
        if (c >= len)
            break;
        if (c + 1 < len && before(heap[c + 1], heap[c]))
            c++;
        if (!before(heap[c], t))
            break;
        place(heap, i, heap[c]);
        i = c;
    }
    place(heap, i, t);
}

/* Restores heap order around slot i after its key changed either way. */
static void reheap(struct eddy_event_loop *loop, uint32_t i)
{
    if (i > 0 && before(loop->heap[i], loop->heap[(i - 1) / 2]))
        sift_up(loop->heap, i);
    else
        sift_down(loop->heap, loop->heap_len, i);
}

static void heap_remove(struct eddy_event_loop *loop, struct eddy_timer *t)
{
    uint32_t i = t->heap_index;
    struct eddy_timer *last = loop->heap[--loop->heap_len];

    t->heap_index = EDDY_TIMER_INACTIVE;
    if (last == t)
        return;
    place(loop->heap, i, last);
    reheap(loop, i);
}

static int heap_push(struct eddy_event_loop *loop, struct eddy_timer *t)
{
    if (loop->heap_len == loop->heap_cap) {
        uint32_t cap = loop->heap_cap ? loop->heap_cap * 2 : 64;
        struct eddy_timer **p;
        if (cap >= EDDY_TIMER_INACTIVE)
            return -ENOMEM;
        p = realloc(loop->heap, cap * sizeof(*p));
        if (p == NULL)
            return -ENOMEM;
        loop->heap = p;
        loop->heap_cap = cap;
    }
    place(loop->heap, loop->heap_len, t);
    sift_up(loop->heap, loop->heap_len++);
    return 0;
}

void eddy_timer_init(struct eddy_timer *t, struct eddy_event_loop *loop, eddy_timer_cb cb,
                     void *data)
{
    t->when = 0;
    t->repeat = 0;
    t->seq = 0;
    t->heap_index = EDDY_TIMER_INACTIVE;
    t->loop = loop;
    t->cb = cb;
    t->data = data;
}

static uint64_t deadline(uint64_t now, uint64_t delta)
{
    return delta > UINT64_MAX - now ? UINT64_MAX : now + delta;
}

int eddy_timer_start(struct eddy_timer *t, uint64_t timeout_ms, uint64_t repeat_ms)
{
    struct eddy_event_loop *loop = t->loop;
    t->when = deadline(loop->now, timeout_ms);
    t->repeat = repeat_ms;
    t->seq = loop->timer_seq++;
    /* Restarting (an idle timeout pushed back per request) re-keys in place. */
    if (eddy_timer_is_active(t)) {
        reheap(loop, t->heap_index);
        return 0;
    }
    return heap_push(loop, t);
}

void eddy_timer_stop(struct eddy_timer *t)
{
    if (eddy_timer_is_active(t))
        heap_remove(t->loop, t);
}

int eddy__timers_timeout(const struct eddy_event_loop *loop)
{
    uint64_t when;
    if (loop->heap_len == 0)
        return -1;
    when = loop->heap[0]->when;
    if (when <= loop->now)
        return 0;
    return when - loop->now > INT_MAX ? INT_MAX : (int)(when - loop->now);
}

/*
 * Fires every timer due at the cached time. Timers (re)started by callbacks
 * during this pass have seq >= limit and wait for the next iteration, so a
 * callback that restarts itself with timeout 0 cannot starve the loop.
 */
void eddy__timers_run(struct eddy_event_loop *loop)
{
    uint64_t limit = loop->timer_seq;
    while (loop->heap_len > 0) {
        struct eddy_timer *t = loop->heap[0];
        if (t->when > loop->now || t->seq >= limit)
            break;
        if (t->repeat > 0) {
            /* Re-armed before its callback, which may stop or restart it. */
            t->when = deadline(loop->now, t->repeat);
            t->seq = loop->timer_seq++;
            sift_down(loop->heap, loop->heap_len, 0);
        } else {
            heap_remove(loop, t);
        }
        t->cb(t);
    }
}

void eddy__timers_free(struct eddy_event_loop *loop)
{
    /* Owners stop their timers before freeing the loop; those left are not touched
     * (their memory may already be gone). */
    free(loop->heap);
    loop->heap_len = 0;
    loop->heap = NULL;
    loop->heap_cap = 0;
}
