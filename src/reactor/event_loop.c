/*
 * event_loop: the reactor. One iteration:
 *   1. wait in the dispatcher (0 if tasks are queued, else until the nearest timer);
 *   2. refresh the cached time;
 *   3. run the callbacks of the fired batch, each channel looked up by fd right
 *      before its callback (entries of removed channels are invalidated), then the
 *      after-batch hooks (loop_hooks.h: the net layer's send batch leaves there);
 *   4. run the expired timers;
 *   5. run the queued tasks (swapped out under the lock, run without it).
 * Nothing on this path allocates once the arrays reached their working size.
 */
#include "eddy/event_loop.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "reactor/event_loop_internal.h"

#define BATCH_INITIAL 256
#define BATCH_MAX     65536
/* The after-batch hooks also run after every this many callbacks of a batch (a power of 2). */
#define AFTER_EVERY 16

/* Its address identifies the calling thread (cheaper than pthread_self + pthread_equal);
 * initial-exec keeps libeddy.so from calling __tls_get_addr on every check. */
static _Thread_local char thread_marker __attribute__((tls_model("initial-exec")));

static uintptr_t self_id(void)
{
    return (uintptr_t)&thread_marker;
}

uint64_t eddy__monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void wake_cb(struct eddy_channel *ch, int revents)
{
    struct eddy_event_loop *loop = ch->data;
    uint64_t v;
    (void)revents;
    /* Clear the flag after draining: a writer that saw it set relies on the
     * task phase of this iteration, which follows, to pick its task up. */
    while (loop->disp->io->read(loop->wake_fd, &v, sizeof(v)) < 0 && errno == EINTR)
        ;
    atomic_store(&loop->wake_pending, 0);
}

static void wakeup(struct eddy_event_loop *loop)
{
    uint64_t one = 1;
    if (atomic_exchange(&loop->wake_pending, 1))
        return;
    while (loop->disp->io->write(loop->wake_fd, &one, sizeof(one)) < 0 && errno == EINTR)
        ;
}

static int loop_init(struct eddy_event_loop *loop, const struct eddy_event_dispatcher *d)
{
    int r;

    loop->disp = d;
    eddy_channel_map_init(&loop->map);
    eddy_channel_map_init(&loop->kmap);
    eddy_buffer_init(&loop->scratch);
    atomic_init(&loop->quit, 0);
    atomic_init(&loop->wake_pending, 0);
    atomic_init(&loop->has_tasks, 0);
    atomic_init(&loop->owner, self_id());
    loop->wake_fd = -1;
    loop->now = eddy__monotonic_ms();
    loop->fired = malloc(BATCH_INITIAL * sizeof(*loop->fired));
    if (loop->fired == NULL)
        return -ENOMEM;
    loop->fired_cap = BATCH_INITIAL;
    r = d->init(&loop->disp_state);
    if (r < 0)
        return r;
    /* The wake-up is a descriptor of the backend's own kind, so waiting in the
     * backend is enough to see it. */
    loop->wake_fd = d->io->eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (loop->wake_fd < 0)
        return -errno;
    eddy_channel_init(&loop->wake_ch, loop, loop->wake_fd, wake_cb, loop);
    return eddy_channel_enable_reading(&loop->wake_ch);
}

static void loop_destroy(struct eddy_event_loop *loop)
{
    if (loop->wake_fd >= 0) {
        eddy__loop_remove_channel(loop, &loop->wake_ch, 0);
        loop->disp->io->close(loop->wake_fd);
    }
    if (loop->disp_state != NULL)
        loop->disp->destroy(loop->disp_state);
    eddy__timers_free(loop);
    eddy_channel_map_free(&loop->map);
    eddy_channel_map_free(&loop->kmap);
    free(loop->prep);
    free(loop->after);
    eddy_buffer_free(&loop->scratch);
    free(loop->fired);
    free(loop->tasks);
    free(loop->run_tasks);
    pthread_mutex_destroy(&loop->lock);
    free(loop);
}

int eddy_event_loop_new(struct eddy_event_loop **out, const char *backend)
{
    const struct eddy_event_dispatcher *d = eddy_event_dispatcher_find(backend);
    struct eddy_event_loop *loop;
    int r;

    *out = NULL;
    if (d == NULL)
        return -EINVAL;
    loop = calloc(1, sizeof(*loop));
    if (loop == NULL)
        return -ENOMEM;
    pthread_mutex_init(&loop->lock, NULL);
    r = loop_init(loop, d);
    if (r < 0) {
        loop_destroy(loop);
        return r;
    }
    *out = loop;
    return 0;
}

/* Runs queued tasks until none is left; returns whether any ran. */
static int run_tasks(struct eddy_event_loop *loop)
{
    struct eddy__task *v;
    size_t n, i, cap;

    /* seq_cst pairs with wakeup(): a producer that skipped the eventfd write
     * because one was pending is seen here, after wake_cb cleared the flag. */
    if (!atomic_load(&loop->has_tasks))
        return 0;
    pthread_mutex_lock(&loop->lock);
    v = loop->tasks;
    n = loop->ntasks;
    cap = loop->tasks_cap;
    loop->tasks = loop->run_tasks;
    loop->tasks_cap = loop->run_cap;
    loop->ntasks = 0;
    atomic_store_explicit(&loop->has_tasks, 0, memory_order_relaxed);
    pthread_mutex_unlock(&loop->lock);
    loop->run_tasks = v;
    loop->run_cap = cap;
    /* Tasks queued by these run next iteration (has_tasks makes its wait 0). */
    for (i = 0; i < n; i++)
        v[i].fn(v[i].arg);
    return 1;
}

void eddy_event_loop_free(struct eddy_event_loop *loop)
{
    if (loop == NULL)
        return;
    while (run_tasks(loop))
        ;
    loop_destroy(loop);
}

/* The map an event's fd belongs to: the backend's own kind, or kernel fds beside it. */
static struct eddy_channel_map *map_of(struct eddy_event_loop *loop, int tag)
{
    return tag & EDDY_DISP_KERNEL_FD ? &loop->kmap : &loop->map;
}

static struct eddy_channel *lookup(struct eddy_event_loop *loop, const struct eddy_fired_event *ev)
{
    const struct eddy_channel_map *m = map_of(loop, ev->revents);
    return ev->fd >= 0 && ev->fd < m->nentries ? m->entries[ev->fd] : NULL;
}

static void run_after_batch(struct eddy_event_loop *loop);

static void dispatch_batch(struct eddy_event_loop *loop, int n)
{
    struct eddy_fired_event *ev = loop->fired;
    int i;

    loop->nfired = n;
    /* The map's slots first, all at once: with a million channels each is a miss of its
     * own, and the loop below then finds the next channel's pointer without waiting. */
    for (i = 0; i < n; i++) {
        const struct eddy_channel_map *m = map_of(loop, ev[i].revents);
        if (ev[i].fd >= 0 && ev[i].fd < m->nentries)
            __builtin_prefetch(&m->entries[ev[i].fd]);
    }
    for (i = 0; i < n; i++) {
        struct eddy_channel *ch = lookup(loop, &ev[i]);
        int revents;
        if (ch == NULL)
            continue;
        /* The next channel is cold after this callback's syscalls: start its load now.
         * A prefetch never faults, so a channel freed meanwhile is harmless. */
        if (i + 1 < n)
            __builtin_prefetch(lookup(loop, &ev[i + 1]));
        loop->fired_pos = i;
        /* Interest may have been narrowed by an earlier callback of the batch. */
        revents = ev[i].revents & (ch->events | EDDY_EV_ERROR | EDDY_EV_HUP);
        if (revents != 0)
            ch->cb(ch, revents);
        /* Output held until the end of a long batch leaves a pipelining client idle all
         * that time (wrk at 16 deep got answers ~100 connections at a time): the send
         * batch leaves every AFTER_EVERY callbacks, still one syscall for 16 answers. */
        if (((i + 1) & (AFTER_EVERY - 1)) == 0 && i + 1 < n && loop->nafter > 0)
            run_after_batch(loop);
    }
    loop->nfired = 0;
}

static void grow_batch(struct eddy_event_loop *loop)
{
    int cap = loop->fired_cap * 2;
    struct eddy_fired_event *p;
    if (cap > BATCH_MAX)
        return;
    p = realloc(loop->fired, (size_t)cap * sizeof(*p));
    if (p == NULL)
        return; /* keep the current size: correct, only less batching */
    loop->fired = p;
    loop->fired_cap = cap;
}

/* Runs the prepare hooks; returns the nearest time one asked to run again. */
static int run_prepare(struct eddy_event_loop *loop)
{
    int i, t, timeout = -1;
    for (i = 0; i < loop->nprep; i++) {
        t = loop->prep[i].fn(loop, loop->prep[i].arg);
        if (t >= 0 && (timeout < 0 || t < timeout))
            timeout = t;
    }
    return timeout;
}

static int wait_timeout(struct eddy_event_loop *loop)
{
    int hooks = loop->nprep > 0 ? run_prepare(loop) : -1;
    int timers;
    if (atomic_load_explicit(&loop->has_tasks, memory_order_relaxed) ||
        atomic_load_explicit(&loop->quit, memory_order_relaxed))
        return 0;
    timers = eddy__timers_timeout(loop);
    return hooks >= 0 && (timers < 0 || hooks < timers) ? hooks : timers;
}

static int hook_add(struct eddy__prepare **v, int *n, eddy_prepare_fn fn, void *arg)
{
    struct eddy__prepare *p = realloc(*v, (size_t)(*n + 1) * sizeof(*p));
    if (p == NULL)
        return -ENOMEM;
    p[*n].fn = fn;
    p[*n].arg = arg;
    *v = p;
    (*n)++;
    return 0;
}

static void hook_remove(struct eddy__prepare *v, int *n, eddy_prepare_fn fn, void *arg)
{
    int i;
    for (i = 0; i < *n; i++) {
        if (v[i].fn == fn && v[i].arg == arg) {
            memmove(&v[i], &v[i + 1], (size_t)(*n - i - 1) * sizeof(v[0]));
            (*n)--;
            return;
        }
    }
}

int eddy_event_loop_add_prepare(struct eddy_event_loop *loop, eddy_prepare_fn fn, void *arg)
{
    return hook_add(&loop->prep, &loop->nprep, fn, arg);
}

void eddy_event_loop_remove_prepare(struct eddy_event_loop *loop, eddy_prepare_fn fn, void *arg)
{
    hook_remove(loop->prep, &loop->nprep, fn, arg);
}

int eddy__event_loop_add_after_batch(struct eddy_event_loop *loop, eddy_prepare_fn fn, void *arg)
{
    return hook_add(&loop->after, &loop->nafter, fn, arg);
}

void eddy__event_loop_remove_after_batch(struct eddy_event_loop *loop, eddy_prepare_fn fn,
                                         void *arg)
{
    hook_remove(loop->after, &loop->nafter, fn, arg);
}

/* A hook may remove itself while they run: the one moved into its slot waits a batch. */
static void run_after_batch(struct eddy_event_loop *loop)
{
    int i;
    for (i = 0; i < loop->nafter; i++)
        loop->after[i].fn(loop, loop->after[i].arg);
}

int eddy_event_loop_run(struct eddy_event_loop *loop)
{
    int r = 0;

    atomic_store(&loop->owner, self_id());
    eddy_event_loop_update_time(loop);
    while (!atomic_load_explicit(&loop->quit, memory_order_acquire)) {
        int n = loop->disp->dispatch(loop->disp_state, wait_timeout(loop), loop->fired,
                                     loop->fired_cap);
        if (n < 0) {
            r = n;
            break;
        }
        eddy_event_loop_update_time(loop);
        if (n > 0)
            dispatch_batch(loop, n);
        if (loop->nafter > 0)
            run_after_batch(loop);
        if (loop->heap_len > 0)
            eddy__timers_run(loop);
        run_tasks(loop);
        loop->iterations++;
        if (n == loop->fired_cap)
            grow_batch(loop);
    }
    atomic_store(&loop->quit, 0);
    return r;
}

void eddy_event_loop_stop(struct eddy_event_loop *loop)
{
    uint64_t one = 1;
    /* An atomic store and write(2): both async-signal-safe (ue_write is not). */
    atomic_store(&loop->quit, 1);
    while (loop->disp->io->write(loop->wake_fd, &one, sizeof(one)) < 0 && errno == EINTR)
        ;
}

int eddy_event_loop_is_in_loop_thread(const struct eddy_event_loop *loop)
{
    return atomic_load_explicit(&loop->owner, memory_order_relaxed) == self_id();
}

int eddy__event_loop_queue_nowake(struct eddy_event_loop *loop, eddy_task_fn fn, void *arg)
{
    pthread_mutex_lock(&loop->lock);
    if (loop->ntasks == loop->tasks_cap) {
        size_t cap = loop->tasks_cap ? loop->tasks_cap * 2 : 16;
        struct eddy__task *p = realloc(loop->tasks, cap * sizeof(*p));
        if (p == NULL) {
            pthread_mutex_unlock(&loop->lock);
            return -ENOMEM;
        }
        loop->tasks = p;
        loop->tasks_cap = cap;
    }
    loop->tasks[loop->ntasks].fn = fn;
    loop->tasks[loop->ntasks].arg = arg;
    loop->ntasks++;
    atomic_store(&loop->has_tasks, 1);
    pthread_mutex_unlock(&loop->lock);
    return 0;
}

void eddy__event_loop_wake(struct eddy_event_loop *loop)
{
    /* The owner checks has_tasks before it waits, so only other threads need
     * to interrupt a wait in progress. */
    if (!eddy_event_loop_is_in_loop_thread(loop))
        wakeup(loop);
}

int eddy_event_loop_queue_in_loop(struct eddy_event_loop *loop, eddy_task_fn fn, void *arg)
{
    int r = eddy__event_loop_queue_nowake(loop, fn, arg);

    if (r == 0)
        eddy__event_loop_wake(loop);
    return r;
}

int eddy_event_loop_run_in_loop(struct eddy_event_loop *loop, eddy_task_fn fn, void *arg)
{
    if (eddy_event_loop_is_in_loop_thread(loop)) {
        fn(arg);
        return 0;
    }
    return eddy_event_loop_queue_in_loop(loop, fn, arg);
}

uint64_t eddy_event_loop_now(const struct eddy_event_loop *loop)
{
    return loop->now;
}

void eddy_event_loop_update_time(struct eddy_event_loop *loop)
{
    loop->now = eddy__monotonic_ms();
}

const struct eddy_event_dispatcher *eddy_event_loop_dispatcher(const struct eddy_event_loop *loop)
{
    return loop->disp;
}

void eddy_event_loop_set_data(struct eddy_event_loop *loop, void *data)
{
    loop->data = data;
}

void *eddy_event_loop_data(const struct eddy_event_loop *loop)
{
    return loop->data;
}

uint64_t eddy_event_loop_iterations(const struct eddy_event_loop *loop)
{
    return loop->iterations;
}

struct eddy_buffer *eddy__event_loop_scratch(struct eddy_event_loop *loop)
{
    return &loop->scratch;
}

/* Drops the not-yet-dispatched entries of (fd, tag) from the current batch. */
static void invalidate_fired(struct eddy_event_loop *loop, int fd, int tag)
{
    int i;
    for (i = loop->fired_pos + 1; i < loop->nfired; i++)
        if (loop->fired[i].fd == fd && (loop->fired[i].revents & EDDY_DISP_KERNEL_FD) == tag)
            loop->fired[i].fd = -1;
}

/* EDDY_DISP_KERNEL_FD for a kernel fd on a backend of another kind, else 0. */
static int fd_tag(const struct eddy_event_loop *loop, const struct eddy_channel *ch)
{
    return (ch->flags & EDDY__CH_KERNEL) && loop->disp->kind != EDDY_FD_KERNEL ? EDDY_DISP_KERNEL_FD
                                                                               : 0;
}

static int register_channel(struct eddy_event_loop *loop, struct eddy_channel *ch, int tag)
{
    struct eddy_channel_map *m = map_of(loop, tag);
    int r;

    if (ch->fd < 0)
        return -EBADF;
    if (tag && !(loop->disp->flags & EDDY_DISP_KERNEL_FDS))
        return -EOPNOTSUPP;
    if (loop->disp->max_fd >= 0 && ch->fd > loop->disp->max_fd)
        return -ERANGE;
    /* Grow the map first: failing after the kernel registration would leak it. */
    r = eddy_channel_map_put(m, ch->fd, NULL);
    if (r < 0)
        return r;
    r = loop->disp->add(loop->disp_state, ch->fd, ch->events | tag);
    if (r < 0)
        return r;
    /* Events fetched before this registration existed belong to an earlier user of the fd. */
    invalidate_fired(loop, ch->fd, tag);
    m->entries[ch->fd] = ch;
    ch->flags = (uint8_t)((ch->flags & EDDY__CH_KERNEL) | EDDY__CH_REGISTERED | ch->events);
    return 0;
}

int eddy__loop_update_channel(struct eddy_event_loop *loop, struct eddy_channel *ch)
{
    int old = ch->flags & EDDY__CH_REG_EVENTS;
    int tag = fd_tag(loop, ch);
    int r;

    if (ch->flags & EDDY__CH_REGISTERED) {
        if (old == ch->events)
            return 0;
        r = loop->disp->mod(loop->disp_state, ch->fd, old | tag, ch->events | tag);
        if (r == 0)
            ch->flags = (uint8_t)((ch->flags & ~EDDY__CH_REG_EVENTS) | ch->events);
        return r;
    }
    if (ch->events == 0)
        return 0;
    return register_channel(loop, ch, tag);
}

void eddy__loop_remove_channel(struct eddy_event_loop *loop, struct eddy_channel *ch, int skip_del)
{
    int fd = ch->fd;
    int old = ch->flags & EDDY__CH_REG_EVENTS;
    int tag = fd_tag(loop, ch);
    struct eddy_channel_map *m = map_of(loop, tag);

    ch->events = 0;
    if (!(ch->flags & EDDY__CH_REGISTERED))
        return;
    ch->flags &= EDDY__CH_KERNEL;
    /* A different channel may own the fd now if ours was closed without removal. */
    if (eddy_channel_map_get(m, fd) != ch)
        return;
    /* A kernel fd beside uepoll ones is always unregistered: the backend counts them. */
    if (!(skip_del && !tag && (loop->disp->flags & EDDY_DISP_CLOSE_UNREGISTERS)))
        (void)loop->disp->del(loop->disp_state, fd, old | tag);
    m->entries[fd] = NULL;
    invalidate_fired(loop, fd, tag);
}
