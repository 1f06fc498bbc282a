/*
 * Wait queues and sleeping threads, after kernel/sched/wait.c.
 *
 * A wait queue is a mutex-protected list of entries, each with a wake function that
 * runs under the queue's lock. A thread that blocks puts a ue_waiter on one queue and
 * sleeps on a futex word; the wake function flips the word from ARMED to WOKEN and
 * reports whether it did, which is what makes EPOLLEXCLUSIVE and the exclusive pipe
 * waiters wake exactly one live sleeper: a waiter that already gave up (timed out)
 * answers 0 and the wake-up moves on to the next exclusive entry, as try_to_wake_up()
 * does for a task that is already running.
 */
#include "ue_internal.h"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

void eddy__ue_wq_init(struct ue_waitqueue *wq)
{
    pthread_mutex_init(&wq->lock, NULL);
    ue_list_init(&wq->head);
    atomic_init(&wq->nr, 0);
}

void eddy__ue_wq_destroy(struct ue_waitqueue *wq)
{
    pthread_mutex_destroy(&wq->lock);
}

void eddy__ue_wq_add_locked(struct ue_waitqueue *wq, struct ue_wait_entry *we, int exclusive)
{
    if (exclusive) {
        we->flags |= UE_WQ_EXCLUSIVE;
        ue_list_add_tail(&we->link, &wq->head);
    } else {
        we->flags &= ~UE_WQ_EXCLUSIVE;
        ue_list_add(&we->link, &wq->head);
    }
    atomic_fetch_add_explicit(&wq->nr, 1, memory_order_release);
}

void eddy__ue_wq_add(struct ue_waitqueue *wq, struct ue_wait_entry *we)
{
    pthread_mutex_lock(&wq->lock);
    eddy__ue_wq_add_locked(wq, we, 0);
    pthread_mutex_unlock(&wq->lock);
}

void eddy__ue_wq_add_exclusive(struct ue_waitqueue *wq, struct ue_wait_entry *we)
{
    pthread_mutex_lock(&wq->lock);
    eddy__ue_wq_add_locked(wq, we, 1);
    pthread_mutex_unlock(&wq->lock);
}

void eddy__ue_wq_del_locked(struct ue_waitqueue *wq, struct ue_wait_entry *we)
{
    if (ue_list_empty(&we->link))
        return;
    ue_list_del_init(&we->link);
    atomic_fetch_sub_explicit(&wq->nr, 1, memory_order_release);
}

void eddy__ue_wq_remove(struct ue_waitqueue *wq, struct ue_wait_entry *we)
{
    pthread_mutex_lock(&wq->lock);
    eddy__ue_wq_del_locked(wq, we);
    pthread_mutex_unlock(&wq->lock);
}

/* __wake_up_common: entries may unlink themselves, so the next one is read first. */
void eddy__ue_wake_up_locked(struct ue_waitqueue *wq, int nr_exclusive, uint32_t key)
{
    struct ue_list *pos = wq->head.next, *next;
    for (; pos != &wq->head; pos = next) {
        next = pos->next;
        struct ue_wait_entry *we = ue_container_of(pos, struct ue_wait_entry, link);
        unsigned flags = we->flags;
        int ret = we->func(wq, we, key);
        if (ret < 0)
            break;
        if (ret && (flags & UE_WQ_EXCLUSIVE) && !--nr_exclusive)
            break;
    }
}

void eddy__ue_wake_up(struct ue_waitqueue *wq, int nr_exclusive, uint32_t key)
{
    pthread_mutex_lock(&wq->lock);
    eddy__ue_wake_up_locked(wq, nr_exclusive, key);
    pthread_mutex_unlock(&wq->lock);
}

static long futex(atomic_int *addr, int op, int val, const struct timespec *ts)
{
    return syscall(SYS_futex, (int *)addr, op | FUTEX_PRIVATE_FLAG, val, ts, NULL,
                   FUTEX_BITSET_MATCH_ANY);
}

/*
 * Deferred wake-ups (the kernel's wake_q). The futex wake of a sleeper is issued only
 * once the waking thread has dropped every lock, at the end of the ue_ call or before
 * it sleeps itself: a sleeper woken while its waker still holds the queue and ep locks
 * would run straight into them and sleep again, which costs a second round of context
 * switches on every hand-off.
 */
#define WAKE_Q_MAX 32
static _Thread_local struct {
    atomic_int *addr[WAKE_Q_MAX];
    int n;
} wake_q;

void eddy__ue_wake_flush(void)
{
    for (int i = 0; i < wake_q.n; i++)
        futex(wake_q.addr[i], FUTEX_WAKE, 1, NULL);
    wake_q.n = 0;
}

/* Flips an armed waiter to WOKEN; the futex wake is owed only if it went to sleep. */
static int waiter_try_wake(struct ue_waiter *w)
{
    int v = atomic_load_explicit(&w->state, memory_order_acquire);
    do {
        if ((v & UE_WAITER_STATE) != UE_WAITER_ARMED)
            return 0;
    } while (!atomic_compare_exchange_weak_explicit(&w->state, &v, UE_WAITER_WOKEN,
                                                    memory_order_acq_rel, memory_order_acquire));
    if (!(v & UE_WAITER_SLEEPING))
        return 1; /* still spinning: it sees WOKEN by itself */
    /* Only the address is used from here on: the sleeper may already be gone, and a
     * stray wake-up on a reused address is harmless to futex users, which loop. */
    if (wake_q.n < WAKE_Q_MAX)
        wake_q.addr[wake_q.n++] = &w->state;
    else
        futex(&w->state, FUTEX_WAKE, 1, NULL);
    return 1;
}

int eddy__ue_waiter_wake_autoremove(struct ue_waitqueue *wq, struct ue_wait_entry *we, uint32_t key)
{
    (void)key;
    struct ue_waiter *w = ue_container_of(we, struct ue_waiter, we);
    eddy__ue_wq_del_locked(wq, we);
    return waiter_try_wake(w);
}

int eddy__ue_waiter_wake_ifwoken(struct ue_waitqueue *wq, struct ue_wait_entry *we, uint32_t key)
{
    (void)key;
    struct ue_waiter *w = ue_container_of(we, struct ue_waiter, we);
    int state = atomic_load_explicit(&w->state, memory_order_acquire);
    if ((state & UE_WAITER_STATE) != UE_WAITER_ARMED)
        return 0;
    eddy__ue_wq_del_locked(wq, we);
    return waiter_try_wake(w);
}

void eddy__ue_waiter_init(struct ue_waiter *w, ue_wait_func func)
{
    ue_list_init(&w->we.link);
    w->we.flags = 0;
    w->we.func = func;
    atomic_init(&w->state, UE_WAITER_ARMED);
}

static void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

/* Gives up waiting unless a wake-up got in first (then that wake-up counts). */
static int give_up(struct ue_waiter *w, int err)
{
    int v = atomic_load_explicit(&w->state, memory_order_acquire);
    do {
        if ((v & UE_WAITER_STATE) != UE_WAITER_ARMED)
            return 0;
    } while (!atomic_compare_exchange_weak_explicit(&w->state, &v, UE_WAITER_GAVE_UP,
                                                    memory_order_acq_rel, memory_order_acquire));
    return err;
}

/*
 * Optionally spins first (UE_WAITER_SPIN): a waiter that is answered before it sleeps
 * costs its waker no futex system call. Then announces SLEEPING, so that only a real
 * sleeper is owed a FUTEX_WAKE, and sleeps on the futex word.
 */
int eddy__ue_waiter_sleep(struct ue_waiter *w, const struct timespec *deadline)
{
    eddy__ue_wake_flush(); /* never sleep on wake-ups we owe others */
    for (int i = 0; i < UE_WAITER_SPIN; i++) {
        if ((atomic_load_explicit(&w->state, memory_order_acquire) & UE_WAITER_STATE) !=
            UE_WAITER_ARMED)
            return 0;
        cpu_relax();
    }
    for (;;) {
        int v = atomic_load_explicit(&w->state, memory_order_acquire);
        if ((v & UE_WAITER_STATE) != UE_WAITER_ARMED)
            return 0;
        if (!(v & UE_WAITER_SLEEPING)) {
            atomic_compare_exchange_strong_explicit(&w->state, &v, v | UE_WAITER_SLEEPING,
                                                    memory_order_acq_rel, memory_order_acquire);
            continue;
        }
        long r = futex(&w->state, FUTEX_WAIT_BITSET, v, deadline);
        int err = r == 0 ? 0 : errno;
        if (err == ETIMEDOUT || err == EINTR)
            return give_up(w, err);
    }
}

void eddy__ue_prepare_to_wait(struct ue_waitqueue *wq, struct ue_waiter *w, int exclusive)
{
    pthread_mutex_lock(&wq->lock);
    atomic_store_explicit(&w->state, UE_WAITER_ARMED, memory_order_release);
    if (ue_list_empty(&w->we.link))
        eddy__ue_wq_add_locked(wq, &w->we, exclusive);
    pthread_mutex_unlock(&wq->lock);
}

void eddy__ue_finish_wait(struct ue_waitqueue *wq, struct ue_waiter *w)
{
    /* Woken: the waker unlinked the entry before flipping the state (acquire pairs). */
    if (atomic_load_explicit(&w->state, memory_order_acquire) == UE_WAITER_WOKEN)
        return;
    pthread_mutex_lock(&wq->lock);
    atomic_store_explicit(&w->state, UE_WAITER_GAVE_UP, memory_order_release);
    eddy__ue_wq_del_locked(wq, &w->we);
    pthread_mutex_unlock(&wq->lock);
}
