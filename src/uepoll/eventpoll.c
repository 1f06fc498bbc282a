/*
 * eventpoll: epoll's mechanism in user space, after Linux fs/eventpoll.c.
 *
 * LOCKING
 *
 * Locks, outermost first. A lock may be taken only while holding locks that come
 * before it in this list, never after:
 *
 *  1. eddy__ue_epmutex (global). Held for an EPOLL_CTL_ADD of an epoll into an epoll
 *     (the loop and depth check walks other eventpolls), while releasing a file that
 *     still has epitems (eventpoll_release_file) and while tearing down an eventpoll.
 *     It plays the kernel's epnested_mutex and the older global epmutex: it keeps an
 *     eventpoll alive while a file release walks to it, which the kernel does with
 *     reference counts, the "dying" flag and RCU.
 *  2. ep->mtx (per eventpoll, the kernel's ep->mtx). Held by epoll_ctl, by every scan
 *     of the ready list (ue_epoll_wait, and the poll of an epoll by the epoll watching
 *     it) and by teardown. It keeps the tree and every item's fields stable. Nested
 *     epolls take the outer ep->mtx before the inner one; ELOOP forbids cycles.
 *  3. file->f_lock: the list of epitems watching the file. Leaf.
 *  4. a wait queue's lock (ue_waitqueue.lock, the kernel's wq_head->lock). The queue's
 *     wake functions run under it; for an epitem's hook that is ep_poll_callback,
 *     which takes
 *  5. ep->lock (the kernel's ep->lock rwlock): ready list, ovflist, and under it
 *  6. ep->wq.lock, to wake or enqueue a thread sleeping in ue_epoll_wait.
 *     After dropping ep->lock the callback takes ep->poll_wait.lock (level 4 again,
 *     one nesting level up) to wake the epolls watching this one, whose callbacks take
 *     their own ep->lock: wait queue locks and ep->locks alternate up the nesting
 *     chain, always from inner to outer.
 *  pipe->mutex and the descriptor table lock are leaves: files wake their queues after
 *  dropping their own lock; eventfd keeps its counter under its queue lock (level 4),
 *  as the kernel does.
 *
 * WHAT PROTECTS WHAT
 *  - ep->rbr, ep->nitems, epi->pwqlist, epi->data: ep->mtx.
 *  - epi->events: written under ep->mtx, read by callbacks under ep->lock (atomic).
 *  - ep->rdllist, ep->ovflist, epi->rdllink, epi->next: ep->lock. While a scan runs
 *    (ovflist != EP_UNACTIVE_PTR) the scanner owns the former ready list privately
 *    under ep->mtx, and callbacks only chain items on ovflist (ep_start_scan).
 *  - file->f_ep, epi->fllink: file->f_lock.
 *  - ep->gen, ep->loop_check_depth: eddy__ue_epmutex.
 *
 * LIFETIMES
 *  An epitem lives from ADD until DEL, the release of its file (the last descriptor
 *  closed) or the release of its eventpoll. It is freed only with ep->mtx held and
 *  after its hooks are off every wait queue, so no callback can still see it. A file
 *  whose count dropped to zero is not freed before eventpoll_release_file has removed
 *  its items, which needs each item's ep->mtx: so whoever holds ep->mtx may poll the
 *  items' files without a reference, and reports nothing for a dying one (epi_fget).
 */
#include "eventpoll.h"

#include <limits.h>
#include <signal.h>
#include <stdlib.h>

pthread_mutex_t eddy__ue_epmutex = PTHREAD_MUTEX_INITIALIZER;

struct ep_pqueue {
    struct ue_poll_table pt;
    struct ue_epitem *epi;
};

static uint32_t ep_eventpoll_poll(struct ue_file *f, struct ue_poll_table *pt, int depth);
static void ep_eventpoll_release(struct ue_file *f);

static const struct ue_file_ops eventpoll_ops = {.poll = ep_eventpoll_poll,
                                                 .release = ep_eventpoll_release};

static struct ue_epitem *epi_of(const struct ue_rb_node *n)
{
    return ue_container_of(n, struct ue_epitem, rbn);
}

/* Items are keyed by (file, fd): a dup'd descriptor is a separate registration. */
static int ffd_cmp(const struct ue_file *fa, int fda, const struct ue_file *fb, int fdb)
{
    if (fa != fb)
        return (uintptr_t)fa < (uintptr_t)fb ? -1 : 1;
    return fda < fdb ? -1 : fda > fdb;
}

int eddy__ue_ep_cmp(const struct ue_rb_node *a, const struct ue_rb_node *b)
{
    return ffd_cmp(epi_of(a)->file, epi_of(a)->fd, epi_of(b)->file, epi_of(b)->fd);
}

static struct ue_epitem *ep_find(struct ue_eventpoll *ep, struct ue_file *f, int fd)
{
    struct ue_rb_node *n = ep->rbr.node;
    while (n) {
        struct ue_epitem *epi = epi_of(n);
        int c = ffd_cmp(f, fd, epi->file, epi->fd);
        if (!c)
            return epi;
        n = c < 0 ? n->left : n->right;
    }
    return NULL;
}

static void ep_rbtree_insert(struct ue_eventpoll *ep, struct ue_epitem *epi)
{
    struct ue_rb_node **link = &ep->rbr.node, *parent = NULL;
    while (*link) {
        parent = *link;
        int c = ffd_cmp(epi->file, epi->fd, epi_of(parent)->file, epi_of(parent)->fd);
        link = c < 0 ? &parent->left : &parent->right;
    }
    eddy__ue_rb_insert(&ep->rbr, &epi->rbn, parent, link);
    ep->nitems++;
}

/* Current events of the item's file, masked by the interest (ep_item_poll). */
static uint32_t ep_item_poll(struct ue_epitem *epi, struct ue_poll_table *pt, int depth)
{
    struct ue_file *f = epi->file;
    if (!eddy__ue_file_live(f)) /* being released: "poll didn't happen" */
        return 0;
    uint32_t events = epi_events(epi);
    pt->key = events;
    return f->ops->poll(f, pt, depth) & events;
}

static int ep_events_available(struct ue_eventpoll *ep)
{
    return !ue_list_empty(&ep->rdllist) || ep->ovflist != EP_UNACTIVE_PTR;
}

/* Wakes the epolls watching this one; called without ep->lock (ep_poll_safewake). */
static void ep_poll_safewake(struct ue_eventpoll *ep)
{
    eddy__ue_wake_up(&ep->poll_wait, 1, EPOLLIN);
}

/* Which EPOLLEXCLUSIVE wake-ups count as having woken someone (ep_poll_callback). */
static int exclusive_wake(uint32_t events, uint32_t key)
{
    switch (key & EPOLLINOUT_BITS) {
    case EPOLLIN:
        return (events & EPOLLIN) != 0;
    case EPOLLOUT:
        return (events & EPOLLOUT) != 0;
    case 0:
        return 1;
    }
    return 0;
}

/*
 * The wake function hooked on the watched file's wait queue: runs under that queue's
 * lock whenever the file's state changes. Links the item on the ready list once, or on
 * ovflist while a scan owns the ready list, and wakes one epoll_wait sleeper.
 */
static int ep_poll_callback(struct ue_waitqueue *wq, struct ue_wait_entry *we, uint32_t key)
{
    struct ue_eppoll_entry *pwq = ue_container_of(we, struct ue_eppoll_entry, wait);
    struct ue_epitem *epi = pwq->base;
    struct ue_eventpoll *ep = epi->ep;
    uint32_t events = epi_events(epi);
    int pwake = 0, ewake = 0;
    (void)wq;

    pthread_mutex_lock(&ep->lock);
    /* A disarmed EPOLLONESHOT item has nothing but private bits left. */
    if (!(events & ~EP_PRIVATE_BITS))
        goto out;
    if (key && !(key & events))
        goto out;
    if (ep->ovflist != EP_UNACTIVE_PTR) {
        if (epi->next == EP_UNACTIVE_PTR) {
            epi->next = ep->ovflist;
            ep->ovflist = epi;
        }
    } else if (!ep_is_linked(epi)) {
        ue_list_add_tail(&epi->rdllink, &ep->rdllist);
    }
    if (eddy__ue_wq_active(&ep->wq)) {
        if (events & EPOLLEXCLUSIVE)
            ewake = exclusive_wake(events, key);
        eddy__ue_wake_up(&ep->wq, 1, 0);
    }
    if (eddy__ue_wq_active(&ep->poll_wait))
        pwake = 1;
out:
    pthread_mutex_unlock(&ep->lock);
    if (pwake)
        ep_poll_safewake(ep);
    if (!(events & EPOLLEXCLUSIVE))
        ewake = 1;
    return ewake;
}

/* The poll table's queue proc during ADD: hooks the item on one of the file's queues. */
static void ep_ptable_queue_proc(struct ue_file *f, struct ue_waitqueue *whead,
                                 struct ue_poll_table *pt)
{
    struct ep_pqueue *epq = ue_container_of(pt, struct ep_pqueue, pt);
    struct ue_epitem *epi = epq->epi;
    (void)f;
    if (!epi)
        return;
    struct ue_eppoll_entry *pwq = malloc(sizeof(*pwq));
    if (!pwq) {
        epq->epi = NULL;
        return;
    }
    ue_list_init(&pwq->wait.link);
    pwq->wait.flags = 0;
    pwq->wait.func = ep_poll_callback;
    pwq->whead = whead;
    pwq->base = epi;
    if (epi_events(epi) & EPOLLEXCLUSIVE)
        eddy__ue_wq_add_exclusive(whead, &pwq->wait);
    else
        eddy__ue_wq_add(whead, &pwq->wait);
    pwq->next = epi->pwqlist;
    epi->pwqlist = pwq;
}

static void ep_unregister_pollwait(struct ue_epitem *epi)
{
    struct ue_eppoll_entry *pwq;
    while ((pwq = epi->pwqlist) != NULL) {
        epi->pwqlist = pwq->next;
        eddy__ue_wq_remove(pwq->whead, &pwq->wait);
        free(pwq);
    }
}

/* Called with ep->mtx held (ep_remove). */
static void ep_remove(struct ue_eventpoll *ep, struct ue_epitem *epi)
{
    struct ue_file *f = epi->file;
    ep_unregister_pollwait(epi); /* no callback can reach epi after this */
    pthread_mutex_lock(&f->f_lock);
    ue_list_del_init(&epi->fllink);
    pthread_mutex_unlock(&f->f_lock);
    eddy__ue_rb_erase(&ep->rbr, &epi->rbn);
    ep->nitems--;
    pthread_mutex_lock(&ep->lock);
    if (ep_is_linked(epi))
        ue_list_del_init(&epi->rdllink);
    pthread_mutex_unlock(&ep->lock);
    free(epi);
}

/* Links a ready item and wakes sleepers; returns whether outer epolls need a wake-up. */
static int ep_link_ready(struct ue_eventpoll *ep, struct ue_epitem *epi)
{
    int pwake = 0;
    pthread_mutex_lock(&ep->lock);
    if (!ep_is_linked(epi)) {
        ue_list_add_tail(&epi->rdllink, &ep->rdllist);
        if (eddy__ue_wq_active(&ep->wq))
            eddy__ue_wake_up(&ep->wq, 1, 0);
        if (eddy__ue_wq_active(&ep->poll_wait))
            pwake = 1;
    }
    pthread_mutex_unlock(&ep->lock);
    return pwake;
}

/* EPOLL_CTL_ADD with ep->mtx held (ep_insert). */
static int ep_insert(struct ue_eventpoll *ep, const struct epoll_event *event, struct ue_file *tf,
                     int fd, int full_check)
{
    struct ue_epitem *epi = calloc(1, sizeof(*epi));
    if (!epi)
        return -ENOMEM;
    ue_list_init(&epi->rdllink);
    ue_list_init(&epi->fllink);
    epi->next = EP_UNACTIVE_PTR;
    epi->ep = ep;
    epi->file = tf;
    epi->fd = fd;
    atomic_init(&epi->events, event->events);
    epi->data = event->data.u64;

    pthread_mutex_lock(&tf->f_lock);
    ue_list_add(&epi->fllink, &tf->f_ep);
    pthread_mutex_unlock(&tf->f_lock);
    ep_rbtree_insert(ep, epi);
    if (full_check && !tf->is_epoll)
        eddy__ue_ep_list_file(tf);
    /* Too many wake-up paths through nested epolls: counted with the new item in. */
    if (full_check && eddy__ue_ep_reverse_path_check()) {
        ep_remove(ep, epi);
        return -EINVAL;
    }

    /* Hook on the file's queues and read its state in one poll: from here on the
     * callback can fire, so nothing that happens after this poll is missed. */
    struct ep_pqueue epq = {.pt = {.qproc = ep_ptable_queue_proc}, .epi = epi};
    uint32_t revents = ep_item_poll(epi, &epq.pt, 1);
    if (!epq.epi) {
        ep_remove(ep, epi);
        return -ENOMEM;
    }
    if (revents && ep_link_ready(ep, epi))
        ep_poll_safewake(ep);
    return 0;
}

/* EPOLL_CTL_MOD with ep->mtx held (ep_modify). A no longer ready item may stay on the
 * ready list: the next scan re-polls and drops it. */
static int ep_modify(struct ue_eventpoll *ep, struct ue_epitem *epi,
                     const struct epoll_event *event)
{
    /* The new mask goes in before the poll, so no event between them is lost. */
    atomic_store_explicit(&epi->events, event->events, memory_order_seq_cst);
    epi->data = event->data.u64;
    struct ue_poll_table pt = {0};
    if (ep_item_poll(epi, &pt, 1) && ep_link_ready(ep, epi))
        ep_poll_safewake(ep);
    return 0;
}

/* Steals the ready list for a scan; callbacks chain on ovflist meanwhile. */
static void ep_start_scan(struct ue_eventpoll *ep, struct ue_list *txlist)
{
    pthread_mutex_lock(&ep->lock);
    ue_list_splice_init(&ep->rdllist, txlist);
    ep->ovflist = NULL;
    pthread_mutex_unlock(&ep->lock);
}

/*
 * Ends a scan (ep_done_scan). The resulting ready list is, in order: what the scan did
 * not get to (txlist), then items that fired during the scan (ovflist, back in FIFO
 * order), then the level-triggered items the scan re-queued (requeued), which is the
 * order the kernel produces.
 */
static void ep_done_scan(struct ue_eventpoll *ep, struct ue_list *txlist, struct ue_list *requeued)
{
    pthread_mutex_lock(&ep->lock);
    ue_list_splice_tail_init(requeued, &ep->rdllist);
    struct ue_epitem *epi = ep->ovflist, *nepi;
    while (epi) {
        nepi = epi->next;
        epi->next = EP_UNACTIVE_PTR;
        if (!ep_is_linked(epi)) /* ovflist is LIFO: adding at the head restores FIFO */
            ue_list_add(&epi->rdllink, &ep->rdllist);
        epi = nepi;
    }
    ep->ovflist = EP_UNACTIVE_PTR;
    ue_list_splice_init(txlist, &ep->rdllist);
    if (!ue_list_empty(&ep->rdllist) && eddy__ue_wq_active(&ep->wq))
        eddy__ue_wake_up(&ep->wq, 1, 0);
    pthread_mutex_unlock(&ep->lock);
}

/* Copies at most maxevents fired events (ep_send_events). evs NULL faults like a bad
 * user pointer: the item goes back and the call fails with EFAULT if nothing was sent. */
static int ep_send_events(struct ue_eventpoll *ep, struct epoll_event *evs, int maxevents)
{
    struct ue_list txlist, requeued;
    struct ue_poll_table pt = {0};
    int res = 0;
    ue_list_init(&txlist);
    ue_list_init(&requeued);
    pthread_mutex_lock(&ep->mtx);
    ep_start_scan(ep, &txlist);
    struct ue_list *pos, *next;
    for (pos = txlist.next; pos != &txlist && res < maxevents; pos = next) {
        next = pos->next;
        struct ue_epitem *epi = ue_container_of(pos, struct ue_epitem, rdllink);
        ue_list_del_init(&epi->rdllink);
        uint32_t revents = ep_item_poll(epi, &pt, 1);
        if (!revents)
            continue; /* queued by a wake-up but not (or no longer) ready: dropped */
        if (!evs) {
            ue_list_add(&epi->rdllink, &txlist);
            if (!res)
                res = -EFAULT;
            break;
        }
        evs[res].events = revents;
        evs[res].data.u64 = epi->data;
        res++;
        uint32_t events = epi_events(epi);
        if (events & EPOLLONESHOT)
            atomic_store_explicit(&epi->events, events & EP_PRIVATE_BITS, memory_order_relaxed);
        else if (!(events & EPOLLET))
            ue_list_add_tail(&epi->rdllink, &requeued); /* level-triggered: look again */
    }
    ep_done_scan(ep, &txlist, &requeued);
    pthread_mutex_unlock(&ep->mtx);
    return res;
}

/* Poll of an epoll file: readable if some queued item really is ready. Items queued
 * but not ready are dropped on the way, as the kernel does (__ep_eventpoll_poll). */
static uint32_t ep_eventpoll_poll(struct ue_file *f, struct ue_poll_table *pt, int depth)
{
    struct ue_eventpoll *ep = f->priv;
    struct ue_list txlist, none;
    struct ue_poll_table inner = {0};
    uint32_t res = 0;
    ue_list_init(&txlist);
    ue_list_init(&none);
    ue_poll_wait(f, &ep->poll_wait, pt);
    pthread_mutex_lock(&ep->mtx);
    ep_start_scan(ep, &txlist);
    struct ue_list *pos, *next;
    for (pos = txlist.next; pos != &txlist; pos = next) {
        next = pos->next;
        struct ue_epitem *epi = ue_container_of(pos, struct ue_epitem, rdllink);
        if (ep_item_poll(epi, &inner, depth + 1)) {
            res = EPOLLIN | EPOLLRDNORM;
            break;
        }
        ue_list_del_init(&epi->rdllink);
    }
    ep_done_scan(ep, &txlist, &none);
    pthread_mutex_unlock(&ep->mtx);
    return res;
}

/* now + rel on CLOCK_MONOTONIC, saturating far in the future. */
static void deadline_after(struct timespec *ts, const struct timespec *rel)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    if (rel->tv_sec > INT32_MAX) {
        ts->tv_sec += INT32_MAX;
        return;
    }
    ts->tv_sec += rel->tv_sec;
    ts->tv_nsec += rel->tv_nsec;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

/* Sleeps on ep->wq until woken or the deadline; returns what the kernel's ep_poll
 * computes as eavail afterwards, and sets *timed_out / *intr. */
static int ep_sleep(struct ue_eventpoll *ep, const struct timespec *to, int *timed_out, int *intr)
{
    struct ue_waiter w;
    eddy__ue_waiter_init(&w, eddy__ue_waiter_wake_autoremove);
    pthread_mutex_lock(&ep->lock);
    int eavail = ep_events_available(ep);
    if (!eavail)
        eddy__ue_wq_add_exclusive(&ep->wq, &w.we);
    pthread_mutex_unlock(&ep->lock);
    if (eavail)
        return 1;
    int r = eddy__ue_waiter_sleep(&w, to);
    *timed_out = r == ETIMEDOUT;
    *intr = r == EINTR;
    if (r == 0) /* woken: the waker already took us off ep->wq */
        return 1;
    eavail = 1;
    pthread_mutex_lock(&ep->lock);
    pthread_mutex_lock(&ep->wq.lock);
    if (!ue_list_empty(&w.we.link)) { /* nobody woke us */
        if (*timed_out)
            eavail = 0;
        eddy__ue_wq_del_locked(&ep->wq, &w.we);
    }
    pthread_mutex_unlock(&ep->wq.lock);
    pthread_mutex_unlock(&ep->lock);
    return eavail;
}

/* The epoll_wait loop (ep_poll); rel NULL waits forever, a zero rel polls. */
static int ep_poll(struct ue_eventpoll *ep, struct epoll_event *evs, int maxevents,
                   const struct timespec *rel)
{
    struct timespec deadline, *to = NULL;
    int timed_out = 0, intr = 0;
    if (rel && (rel->tv_sec || rel->tv_nsec)) {
        deadline_after(&deadline, rel);
        to = &deadline;
    } else if (rel) {
        timed_out = 1;
    }
    pthread_mutex_lock(&ep->lock);
    int eavail = ep_events_available(ep);
    pthread_mutex_unlock(&ep->lock);
    for (;;) {
        if (eavail) {
            int res = ep_send_events(ep, evs, maxevents);
            if (res)
                return res;
        }
        if (timed_out)
            return 0;
        if (intr)
            return -EINTR;
        eavail = ep_sleep(ep, to, &timed_out, &intr);
    }
}

/* The kernel's access_ok(): the buffer must end below the top of user space (x86-64
 * with 4-level page tables), otherwise EFAULT before anything is harvested. */
static int user_range_ok(const void *p, size_t n)
{
#if defined(__x86_64__)
    const uintptr_t task_size_max = UINT64_C(0x7ffffffff000);
    uintptr_t a = (uintptr_t)p;
    return n <= task_size_max && a <= task_size_max - n;
#else
    (void)p;
    (void)n;
    return 1;
#endif
}

/* do_epoll_wait with the sigmask of epoll_pwait set around it. The swap is not
 * atomic with the wait as in the kernel: a signal unblocked by sigmask that arrives
 * just before the wait starts is handled, but does not interrupt it. */
static int do_wait(int epfd, struct epoll_event *evs, int maxevents, const struct timespec *rel,
                   const sigset_t *sigmask)
{
    /* Linux 6.18 looks the descriptor up before checking maxevents (the differential
     * test pins this: epoll_wait(-1, evs, 0, 0) is EBADF). */
    sigset_t old;
    struct ue_file *f = eddy__ue_fget(epfd);
    if (!f)
        return eddy__ue_fail(EBADF);
    int r = -EINVAL;
    if (sigmask)
        pthread_sigmask(SIG_SETMASK, sigmask, &old);
    if (f->is_epoll && maxevents > 0 && maxevents <= EP_MAX_EVENTS)
        r = user_range_ok(evs, (size_t)maxevents * sizeof(*evs))
                ? ep_poll(f->priv, evs, maxevents, rel)
                : -EFAULT;
    if (sigmask)
        pthread_sigmask(SIG_SETMASK, &old, NULL);
    eddy__ue_fput(f);
    eddy__ue_wake_flush();
    return r < 0 ? eddy__ue_fail(-r) : r;
}

static int wait_ms(int epfd, struct epoll_event *evs, int maxevents, int timeout_ms,
                   const sigset_t *sigmask)
{
    struct timespec rel = {timeout_ms / 1000, (long)(timeout_ms % 1000) * 1000000L};
    return do_wait(epfd, evs, maxevents, timeout_ms < 0 ? NULL : &rel, sigmask);
}

int ue_epoll_wait(int epfd, struct epoll_event *evs, int maxevents, int timeout_ms)
{
    return wait_ms(epfd, evs, maxevents, timeout_ms, NULL);
}

int ue_epoll_pwait(int epfd, struct epoll_event *evs, int maxevents, int timeout_ms,
                   const sigset_t *sigmask)
{
    return wait_ms(epfd, evs, maxevents, timeout_ms, sigmask);
}

/* The timeout is checked first (poll_select_set_timeout: EINVAL), as Linux does. */
int ue_epoll_pwait2(int epfd, struct epoll_event *evs, int maxevents,
                    const struct timespec *timeout, const sigset_t *sigmask)
{
    if (timeout && (timeout->tv_sec < 0 || timeout->tv_nsec < 0 || timeout->tv_nsec >= 1000000000L))
        return eddy__ue_fail(EINVAL);
    return do_wait(epfd, evs, maxevents, timeout, sigmask);
}

/* The switch at the end of do_epoll_ctl, with ep->mtx held. */
static int ep_ctl_locked(struct ue_eventpoll *ep, int op, struct ue_file *tf, int fd,
                         struct epoll_event *epds, int full_check)
{
    struct ue_epitem *epi = ep_find(ep, tf, fd);
    switch (op) {
    case EPOLL_CTL_ADD:
        if (epi)
            return -EEXIST;
        epds->events |= EPOLLERR | EPOLLHUP;
        return ep_insert(ep, epds, tf, fd, full_check);
    case EPOLL_CTL_DEL:
        if (!epi)
            return -ENOENT;
        ep_remove(ep, epi);
        return 0;
    case EPOLL_CTL_MOD:
        if (!epi)
            return -ENOENT;
        if (epi_events(epi) & EPOLLEXCLUSIVE)
            return -EINVAL;
        epds->events |= EPOLLERR | EPOLLHUP;
        return ep_modify(ep, epi, epds);
    }
    return -EINVAL;
}

static int is_watched(struct ue_file *f)
{
    pthread_mutex_lock(&f->f_lock);
    int watched = !ue_list_empty(&f->f_ep);
    pthread_mutex_unlock(&f->f_lock);
    return watched;
}

/* do_epoll_ctl: the checks run in the kernel's order, which fixes which errno wins. */
static int do_epoll_ctl(int epfd, int op, int fd, struct epoll_event *epds)
{
    int error = -EINVAL, full_check = 0;
    struct ue_file *f = eddy__ue_fget(epfd);
    if (!f)
        return -EBADF;
    struct ue_file *tf = eddy__ue_fget(fd);
    if (!tf) {
        eddy__ue_fput(f);
        return -EBADF;
    }
    if (f == tf || !f->is_epoll)
        goto out;
    /* EPOLLEXCLUSIVE hooks at ADD only, and not on epolls nor with exotic bits. */
    if (op != EPOLL_CTL_DEL && (epds->events & EPOLLEXCLUSIVE)) {
        if (op == EPOLL_CTL_MOD)
            goto out;
        if (op == EPOLL_CTL_ADD &&
            (tf->is_epoll || (epds->events & ~(uint32_t)EPOLLEXCLUSIVE_OK_BITS)))
            goto out;
    }
    struct ue_eventpoll *ep = f->priv;
    /* Adding an epoll, or adding anything to an epoll that is itself watched, changes
     * the epoll graph's paths: loop, depth and path checks under the global mutex. */
    if (op == EPOLL_CTL_ADD && (tf->is_epoll || is_watched(f))) {
        pthread_mutex_lock(&eddy__ue_epmutex);
        full_check = 1;
        if (tf->is_epoll && eddy__ue_ep_loop_check(ep, tf->priv)) {
            error = -ELOOP;
            goto out;
        }
    }
    pthread_mutex_lock(&ep->mtx);
    error = ep_ctl_locked(ep, op, tf, fd, epds, full_check);
    pthread_mutex_unlock(&ep->mtx);
out:
    if (full_check) {
        eddy__ue_ep_clear_file_list();
        pthread_mutex_unlock(&eddy__ue_epmutex);
    }
    eddy__ue_fput(tf);
    eddy__ue_fput(f);
    return error;
}

int ue_epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev)
{
    struct epoll_event epds = {0};
    /* The event is copied in first for every op but DEL, so NULL faults even for an
     * op that is about to be refused (epoll_ctl's copy_from_user). */
    if (op != EPOLL_CTL_DEL) {
        if (!ev)
            return eddy__ue_fail(EFAULT);
        epds = *ev;
    }
    int r = do_epoll_ctl(epfd, op, fd, &epds);
    eddy__ue_wake_flush();
    return r < 0 ? eddy__ue_fail(-r) : 0;
}

int ue_epoll_create1(int flags)
{
    if (flags & ~EPOLL_CLOEXEC)
        return eddy__ue_fail(EINVAL);
    int fd = eddy__ue_fd_reserve();
    if (fd < 0)
        return eddy__ue_fail(-fd);
    struct ue_eventpoll *ep = calloc(1, sizeof(*ep));
    struct ue_file *f =
        ep ? eddy__ue_file_alloc(&eventpoll_ops, ep, UE_FMODE_READ | UE_FMODE_WRITE, 0) : NULL;
    if (!f) {
        free(ep);
        eddy__ue_fd_unreserve(fd);
        return eddy__ue_fail(ENOMEM);
    }
    pthread_mutex_init(&ep->mtx, NULL);
    pthread_mutex_init(&ep->lock, NULL);
    eddy__ue_wq_init(&ep->wq);
    eddy__ue_wq_init(&ep->poll_wait);
    ue_list_init(&ep->notify.link);
    ue_list_init(&ep->rdllist);
    ep->ovflist = EP_UNACTIVE_PTR;
    ep->file = f;
    f->is_epoll = 1;
    eddy__ue_fd_install(fd, f);
    return fd;
}

/* The eventpoll's own release, once its file is gone (ep_clear_and_put + ep_free). */
static void ep_eventpoll_release(struct ue_file *f)
{
    struct ue_eventpoll *ep = f->priv;
    struct ue_rb_node *n;
    pthread_mutex_lock(&eddy__ue_epmutex);
    pthread_mutex_lock(&ep->mtx);
    while ((n = eddy__ue_rb_first(&ep->rbr)) != NULL)
        ep_remove(ep, epi_of(n));
    pthread_mutex_unlock(&ep->mtx);
    pthread_mutex_unlock(&eddy__ue_epmutex);
    eddy__ue_wq_remove(&ep->poll_wait, &ep->notify); /* an armed notify dies with it */
    eddy__ue_wq_destroy(&ep->wq);
    eddy__ue_wq_destroy(&ep->poll_wait);
    pthread_mutex_destroy(&ep->lock);
    pthread_mutex_destroy(&ep->mtx);
    free(ep);
}

/* A file's last reference is gone: drop every registration of it (eventpoll_release). */
void eddy__ue_eventpoll_release_file(struct ue_file *f)
{
    pthread_mutex_lock(&f->f_lock);
    int none = ue_list_empty(&f->f_ep);
    pthread_mutex_unlock(&f->f_lock);
    if (none)
        return;
    pthread_mutex_lock(&eddy__ue_epmutex);
    for (;;) {
        pthread_mutex_lock(&f->f_lock);
        if (ue_list_empty(&f->f_ep)) {
            pthread_mutex_unlock(&f->f_lock);
            break;
        }
        struct ue_epitem *epi = ue_container_of(f->f_ep.next, struct ue_epitem, fllink);
        pthread_mutex_unlock(&f->f_lock);
        /* epi and its eventpoll stay valid: DEL needs a reference to f, which nobody
         * can take any more, and eventpoll teardown needs epmutex. */
        struct ue_eventpoll *ep = epi->ep;
        pthread_mutex_lock(&ep->mtx);
        ep_remove(ep, epi);
        pthread_mutex_unlock(&ep->mtx);
    }
    pthread_mutex_unlock(&eddy__ue_epmutex);
}
