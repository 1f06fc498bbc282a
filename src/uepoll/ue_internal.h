/*
 * uepoll internals shared by the descriptor table, the wait queues, the pipe, the
 * eventfd and the eventpoll. Each piece mirrors a kernel structure:
 *
 *   struct ue_list        <-> struct list_head
 *   struct ue_waitqueue   <-> wait_queue_head_t   (lock + list of entries)
 *   struct ue_wait_entry  <-> wait_queue_entry_t  (flags + wake function)
 *   struct ue_waiter      <-> a sleeping task (futex word instead of task state)
 *   struct ue_poll_table  <-> poll_table          (queue proc + key)
 *   struct ue_file        <-> struct file         (refcount, f_op, f_ep list)
 */
#ifndef EDDY_UEPOLL_INTERNAL_H
#define EDDY_UEPOLL_INTERNAL_H

#include <eddy/uepoll.h>

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>
#include <time.h>

#define ue_container_of(ptr, type, member) ((type *)(void *)((char *)(ptr)-offsetof(type, member)))

/* ---- intrusive doubly linked list ---- */
struct ue_list {
    struct ue_list *next, *prev;
};

static inline void ue_list_init(struct ue_list *l)
{
    l->next = l->prev = l;
}
static inline int ue_list_empty(const struct ue_list *l)
{
    return l->next == l;
}
static inline void ue_list_insert_(struct ue_list *n, struct ue_list *prev, struct ue_list *next)
{
    next->prev = n;
    n->next = next;
    n->prev = prev;
    prev->next = n;
}
/* At the head, like list_add(). */
static inline void ue_list_add(struct ue_list *n, struct ue_list *head)
{
    ue_list_insert_(n, head, head->next);
}
static inline void ue_list_add_tail(struct ue_list *n, struct ue_list *head)
{
    ue_list_insert_(n, head->prev, head);
}
/* Unlinks and leaves the node self-linked, so ue_list_empty(node) says "not linked". */
static inline void ue_list_del_init(struct ue_list *n)
{
    n->prev->next = n->next;
    n->next->prev = n->prev;
    ue_list_init(n);
}
/* Moves every node of `list` to the head of `head` (list_splice_init). */
static inline void ue_list_splice_init(struct ue_list *list, struct ue_list *head)
{
    if (ue_list_empty(list))
        return;
    struct ue_list *first = list->next, *last = list->prev, *at = head->next;
    first->prev = head;
    head->next = first;
    last->next = at;
    at->prev = last;
    ue_list_init(list);
}
static inline void ue_list_splice_tail_init(struct ue_list *list, struct ue_list *head)
{
    if (ue_list_empty(list))
        return;
    struct ue_list *first = list->next, *last = list->prev, *at = head->prev;
    first->prev = at;
    at->next = first;
    last->next = head;
    head->prev = last;
    ue_list_init(list);
}

/* ---- wait queues ---- */
struct ue_waitqueue;
struct ue_wait_entry;
/* Called with the queue's lock held. Returns > 0 if it woke someone (counts against
 * nr_exclusive for exclusive entries), 0 otherwise. May unlink itself. */
typedef int (*ue_wait_func)(struct ue_waitqueue *wq, struct ue_wait_entry *we, uint32_t key);

#define UE_WQ_EXCLUSIVE 1u

struct ue_wait_entry {
    struct ue_list link;
    unsigned flags;
    ue_wait_func func;
};

struct ue_waitqueue {
    pthread_mutex_t lock;
    struct ue_list head;
    atomic_int nr; /* entries, readable without the lock (waitqueue_active) */
};

void eddy__ue_wq_init(struct ue_waitqueue *wq);
void eddy__ue_wq_destroy(struct ue_waitqueue *wq);
/* Non-exclusive entries go to the head, exclusive ones to the tail, as in the kernel. */
void eddy__ue_wq_add(struct ue_waitqueue *wq, struct ue_wait_entry *we);
void eddy__ue_wq_add_exclusive(struct ue_waitqueue *wq, struct ue_wait_entry *we);
void eddy__ue_wq_add_locked(struct ue_waitqueue *wq, struct ue_wait_entry *we, int exclusive);
void eddy__ue_wq_remove(struct ue_waitqueue *wq, struct ue_wait_entry *we);
void eddy__ue_wq_del_locked(struct ue_waitqueue *wq, struct ue_wait_entry *we);
static inline int eddy__ue_wq_active(struct ue_waitqueue *wq)
{
    return atomic_load_explicit(&wq->nr, memory_order_acquire) > 0;
}
/* nr_exclusive 0 wakes everyone (wake_up_all). */
void eddy__ue_wake_up(struct ue_waitqueue *wq, int nr_exclusive, uint32_t key);
void eddy__ue_wake_up_locked(struct ue_waitqueue *wq, int nr_exclusive, uint32_t key);

/* A thread sleeping on a wait queue. state: ARMED, WOKEN or GAVE_UP (timeout), plus
 * the SLEEPING flag while armed and blocked in the kernel (then a wake-up owes a futex
 * wake; a waiter still spinning does not need one). */
struct ue_waiter {
    struct ue_wait_entry we;
    atomic_int state;
};
#define UE_WAITER_ARMED    0
#define UE_WAITER_WOKEN    1
#define UE_WAITER_GAVE_UP  2
#define UE_WAITER_STATE    3
#define UE_WAITER_SLEEPING 4
/* Spin iterations (each a CPU pause) before sleeping. 0 by default: on the 2-core
 * build box, ping-pong fell from ~0.9x to 0.19x of the kernel with 2000 and to 0.02x
 * with 20000, since a spinning waiter steals the core its partner needs. */
#ifndef UE_WAITER_SPIN
#define UE_WAITER_SPIN 0
#endif

/* Wake function that unlinks the entry whatever happens (ep_autoremove_wake_function). */
int eddy__ue_waiter_wake_autoremove(struct ue_waitqueue *wq, struct ue_wait_entry *we,
                                    uint32_t key);
/* Wake function that unlinks the entry only if it woke it (autoremove_wake_function). */
int eddy__ue_waiter_wake_ifwoken(struct ue_waitqueue *wq, struct ue_wait_entry *we, uint32_t key);
void eddy__ue_waiter_init(struct ue_waiter *w, ue_wait_func func);
/* Issues the futex wake-ups this thread deferred; every ue_ call ends with it. */
void eddy__ue_wake_flush(void);
/* Sleeps until woken or the CLOCK_MONOTONIC deadline (NULL: forever) passes.
 * Returns 0 if woken, ETIMEDOUT if the deadline passed first, EINTR on a signal. */
int eddy__ue_waiter_sleep(struct ue_waiter *w, const struct timespec *deadline);
/* prepare_to_wait / finish_wait for blocking reads and writes. */
void eddy__ue_prepare_to_wait(struct ue_waitqueue *wq, struct ue_waiter *w, int exclusive);
void eddy__ue_finish_wait(struct ue_waitqueue *wq, struct ue_waiter *w);

/* ---- files ---- */
struct ue_file;
struct ue_poll_table;
typedef void (*ue_queue_proc)(struct ue_file *f, struct ue_waitqueue *wq, struct ue_poll_table *pt);
struct ue_poll_table {
    ue_queue_proc qproc; /* NULL: just report the state */
    uint32_t key;
};
static inline void ue_poll_wait(struct ue_file *f, struct ue_waitqueue *wq,
                                struct ue_poll_table *pt)
{
    if (pt && pt->qproc && wq)
        pt->qproc(f, wq, pt);
}

/* A caller's buffer: one piece (read/write) or an iovec (readv/writev), and how many
 * bytes of it come before the first fault (a NULL base): copying past `valid` is the
 * EFAULT the kernel's copy would take. */
struct ue_io {
    const struct iovec *iov;
    int iovcnt;
    size_t valid;
};
static inline int eddy__ue_io_ok(const struct ue_io *io, size_t off, size_t n)
{
    return off + n <= io->valid;
}
/* Copies n bytes at offset off of the caller's buffer into dst, or src into it. */
void eddy__ue_io_copy_in(const struct ue_io *io, size_t off, void *dst, size_t n);
void eddy__ue_io_copy_out(const struct ue_io *io, size_t off, const void *src, size_t n);

struct ue_file_ops {
    uint32_t (*poll)(struct ue_file *f, struct ue_poll_table *pt, int depth);
    ssize_t (*read)(struct ue_file *f, const struct ue_io *io, size_t n);  /* NULL: EINVAL */
    ssize_t (*write)(struct ue_file *f, const struct ue_io *io, size_t n); /* NULL: EINVAL */
    void (*release)(struct ue_file *f);
    /* fcntl commands of one file kind (F_GETPIPE_SZ, F_SETPIPE_SZ); NULL: EBADF for
     * those, as Linux answers for a file that is not a pipe. */
    long (*fcntl)(struct ue_file *f, int cmd, unsigned long arg);
    /* writev calls write once per iovec (a file with ->write, no ->write_iter: eventfd). */
    int write_per_iovec;
};

#define UE_FMODE_READ  1u
#define UE_FMODE_WRITE 2u

struct ue_file {
    atomic_long refs;
    const struct ue_file_ops *ops;
    void *priv;
    unsigned mode;     /* UE_FMODE_* */
    _Atomic int flags; /* O_NONBLOCK, O_DIRECT, ...: F_GETFL, changed by F_SETFL */
    int is_epoll;
    pthread_mutex_t f_lock;       /* protects f_ep */
    struct ue_list f_ep;          /* epitems watching this file (epitem.fllink) */
    unsigned long path_check_gen; /* on the wake-up path check list; eddy__ue_epmutex */
};

struct ue_file *eddy__ue_file_alloc(const struct ue_file_ops *ops, void *priv, unsigned mode,
                                    int flags);
/* Frees a file that was never installed (error paths). */
void eddy__ue_file_discard(struct ue_file *f);
void eddy__ue_file_get(struct ue_file *f);
void eddy__ue_fput(struct ue_file *f);
static inline int eddy__ue_file_live(struct ue_file *f)
{
    return atomic_load_explicit(&f->refs, memory_order_acquire) > 0;
}

/* Open files not yet released (leak checks). */
long eddy__ue_live_files(void);

/* ---- descriptor table ---- */
/* Reserves the lowest free number; -EMFILE if none. */
int eddy__ue_fd_reserve(void);
void eddy__ue_fd_unreserve(int fd);
/* Publishes f at a reserved number; the table takes over the caller's reference. */
void eddy__ue_fd_install(int fd, struct ue_file *f);
/* Reference to the open file at fd, or NULL (EBADF). Release with eddy__ue_fput. */
struct ue_file *eddy__ue_fget(int fd);
/* Calls fn on every open file (with a reference held) until it returns non-zero. */
int eddy__ue_fd_for_each(int (*fn)(int fd, struct ue_file *f, void *arg), void *arg);

/* ---- eventpoll hooks used by the file layer ---- */
void eddy__ue_eventpoll_release_file(struct ue_file *f);

/* Checks every eventpoll: tree shape and order, ready list only holding registered
 * items and each at most once, counts, ovflist idle. With `quiescent` (no call in
 * progress anywhere) also that every ready level-triggered item on an ordinary file is
 * queued: a missing one is a lost wake-up. (While calls run, a file may already show a
 * state whose wake-up is still on its way, so that part would be a false alarm.)
 * Returns 0, or -1 after printing what broke to stderr. */
int eddy__ue_check_invariants(int quiescent);

/* -1 with errno, the syscall convention of the ue_ API. */
static inline int eddy__ue_fail(int err)
{
    errno = err;
    return -1;
}

#endif
