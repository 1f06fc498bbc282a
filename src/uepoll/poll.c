/*
 * ue_poll: poll(2) over uepoll descriptors, the way the kernel's do_sys_poll works, so
 * its cost can be set beside epoll's: every call walks every entry and calls each file's
 * poll method; a call that must wait hooks an entry on the wait queue of every file
 * (the kernel's poll_table_entry, here in pages of ENTRIES_PER_PAGE), sleeps until one
 * of them wakes it or the timeout passes, then walks everything again. Nothing is kept
 * between calls: that is the cost the ready list of an eventpoll removes.
 *
 * As in the kernel: a negative fd is skipped (revents 0); a closed one reports POLLNVAL;
 * POLLERR and POLLHUP are always reported; once one entry is ready the rest of the first
 * walk no longer hooks wait queues; after the timeout the entries are walked once more.
 *
 * Locking: the caller's wake-up entries sit on the files' wait queues (their locks);
 * the wake function takes the call's own queue lock inside one of those (a leaf, as
 * ep->lock is for ep_poll_callback).
 */
#include "ue_internal.h"

#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#define ENTRIES_PER_PAGE 128

struct poll_wqueues;
struct poll_entry {
    struct ue_wait_entry we;
    struct ue_waitqueue *wq;
    struct ue_file *f;
    struct poll_wqueues *pw;
    uint32_t key;
};

struct poll_page {
    struct poll_page *next;
    int used;
    struct poll_entry e[ENTRIES_PER_PAGE];
};

struct poll_wqueues {
    struct ue_poll_table pt;
    struct ue_waitqueue wq; /* the sleeping caller */
    atomic_int triggered;
    struct poll_page *pages;
    int error;
    int bridge; /* ue_poll_kernel: a kernel eventfd a wake-up writes, or -1 */
};

static int pollwake(struct ue_waitqueue *wq, struct ue_wait_entry *we, uint32_t key)
{
    struct poll_entry *e = ue_container_of(we, struct poll_entry, we);
    (void)wq;
    if (key && !(key & e->key))
        return 0;
    atomic_store(&e->pw->triggered, 1);
    if (e->pw->bridge >= 0) {
        uint64_t one = 1;
        if (write(e->pw->bridge, &one, sizeof(one)) < 0)
            return 1; /* the counter is already set: the sleeper wakes anyway */
        return 1;
    }
    eddy__ue_wake_up(&e->pw->wq, 0, key);
    return 1;
}

static void poll_queue(struct ue_file *f, struct ue_waitqueue *wq, struct ue_poll_table *pt)
{
    struct poll_wqueues *pw = ue_container_of(pt, struct poll_wqueues, pt);
    struct poll_page *p = pw->pages;
    if (!p || p->used == ENTRIES_PER_PAGE) {
        p = malloc(sizeof(*p));
        if (!p) {
            pw->error = ENOMEM;
            return;
        }
        p->used = 0;
        p->next = pw->pages;
        pw->pages = p;
    }
    struct poll_entry *e = &p->e[p->used++];
    eddy__ue_file_get(f);
    e->f = f;
    e->wq = wq;
    e->pw = pw;
    e->key = pt->key;
    ue_list_init(&e->we.link);
    e->we.flags = 0;
    e->we.func = pollwake;
    eddy__ue_wq_add(wq, &e->we);
}

static void poll_freewait(struct poll_wqueues *pw)
{
    while (pw->pages) {
        struct poll_page *p = pw->pages;
        for (int i = 0; i < p->used; i++) {
            eddy__ue_wq_remove(p->e[i].wq, &p->e[i].we);
            eddy__ue_fput(p->e[i].f);
        }
        pw->pages = p->next;
        free(p);
    }
}

static short do_pollfd(struct pollfd *p, struct ue_poll_table *pt)
{
    if (p->fd < 0)
        return p->revents = 0;
    struct ue_file *f = eddy__ue_fget(p->fd);
    if (!f)
        return p->revents = POLLNVAL;
    uint32_t want = (uint32_t)(uint16_t)p->events | POLLERR | POLLHUP;
    if (pt)
        pt->key = want;
    uint32_t mask = f->ops->poll(f, pt, 0);
    eddy__ue_fput(f);
    return p->revents = (short)(mask & want);
}

/* One walk over every entry; the first ready one stops the hooking (as the kernel). */
static int poll_walk(struct pollfd *fds, nfds_t n, struct poll_wqueues *pw)
{
    int count = 0;
    for (nfds_t i = 0; i < n; i++) {
        if (do_pollfd(&fds[i], pw->pt.qproc ? &pw->pt : NULL)) {
            count++;
            pw->pt.qproc = NULL;
        }
    }
    pw->pt.qproc = NULL;
    return count;
}

static int poll_sleep(struct poll_wqueues *pw, const struct timespec *deadline)
{
    struct ue_waiter w;
    eddy__ue_waiter_init(&w, eddy__ue_waiter_wake_autoremove);
    eddy__ue_prepare_to_wait(&pw->wq, &w, 0);
    int rc = 0;
    if (!atomic_exchange(&pw->triggered, 0))
        rc = eddy__ue_waiter_sleep(&w, deadline);
    eddy__ue_finish_wait(&pw->wq, &w);
    atomic_store(&pw->triggered, 0);
    return rc;
}

/* Unhooks every entry and turns the outcome into poll's return value. */
static int poll_end(struct poll_wqueues *pw, int count, int err)
{
    poll_freewait(pw);
    eddy__ue_wq_destroy(&pw->wq);
    eddy__ue_wake_flush();
    if (!err && !count && pw->error)
        err = pw->error;
    if (err) {
        errno = err;
        return -1;
    }
    return count;
}

int ue_poll(struct pollfd *fds, unsigned long nfds, int timeout_ms)
{
    if (nfds > UE_NR_OPEN) {
        errno = EINVAL;
        return -1;
    }
    struct timespec dl, *deadline = NULL;
    if (timeout_ms > 0) {
        clock_gettime(CLOCK_MONOTONIC, &dl);
        dl.tv_sec += timeout_ms / 1000;
        dl.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
        if (dl.tv_nsec >= 1000000000L) {
            dl.tv_sec++;
            dl.tv_nsec -= 1000000000L;
        }
        deadline = &dl;
    }
    struct poll_wqueues pw = {.pt = {.qproc = timeout_ms ? poll_queue : NULL}, .bridge = -1};
    eddy__ue_wq_init(&pw.wq);
    atomic_init(&pw.triggered, 0);
    int count, timed_out = timeout_ms == 0, err = 0;
    for (;;) {
        count = poll_walk(fds, nfds, &pw);
        if (count || timed_out || pw.error)
            break;
        int rc = poll_sleep(&pw, deadline);
        if (rc == EINTR) {
            err = EINTR;
            break;
        }
        timed_out = rc == ETIMEDOUT;
    }
    return poll_end(&pw, count, err);
}

/* The kernel side of ue_poll_kernel: kfds plus the bridge, blocking up to timeout_ms. */
static int kernel_wait(struct pollfd *kfds, unsigned long nk, int bridge, int timeout_ms)
{
    struct pollfd *all = malloc((nk + 1) * sizeof(*all));
    if (!all)
        return -ENOMEM;
    if (nk)
        memcpy(all, kfds, nk * sizeof(*all));
    all[nk] = (struct pollfd){.fd = bridge, .events = POLLIN};
    int n = poll(all, nk + 1, timeout_ms);
    int err = n < 0 ? errno : 0;
    for (unsigned long i = 0; i < nk; i++)
        kfds[i].revents = all[i].revents;
    if (n > 0 && all[nk].revents) {
        uint64_t v;
        if (read(bridge, &v, sizeof(v)) < 0)
            err = 0; /* drained by nobody else; nothing to do */
    }
    free(all);
    return err == EINTR ? 0 : -err;
}

static int count_ready(const struct pollfd *f, unsigned long n)
{
    int c = 0;
    for (unsigned long i = 0; i < n; i++)
        c += f[i].revents != 0;
    return c;
}

/* The calling thread's bridge eventfd, made on first need and closed when the thread
 * exits (a loop thread that ends must not leave a descriptor behind). -1 with errno. */
static pthread_key_t bridge_key;
static pthread_once_t bridge_once = PTHREAD_ONCE_INIT;
static __thread int bridge_fd = -1;

static void bridge_close(void *unused)
{
    (void)unused;
    if (bridge_fd >= 0)
        close(bridge_fd);
    bridge_fd = -1;
}

static void bridge_key_init(void)
{
    if (pthread_key_create(&bridge_key, bridge_close) != 0)
        abort(); /* no key: a broken invariant of the process, not of this call */
}

static int thread_bridge(void)
{
    if (bridge_fd >= 0)
        return bridge_fd;
    pthread_once(&bridge_once, bridge_key_init);
    bridge_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (bridge_fd >= 0)
        pthread_setspecific(bridge_key, &bridge_fd); /* non-NULL: the destructor runs */
    return bridge_fd;
}

int ue_poll_kernel(struct pollfd *fds, unsigned long nfds, struct pollfd *kfds, unsigned long nk,
                   int timeout_ms)
{
    int bridge = -1;
    if (nfds > UE_NR_OPEN || nk > UE_NR_OPEN) {
        errno = EINVAL;
        return -1;
    }
    if (timeout_ms != 0 && (bridge = thread_bridge()) < 0)
        return -1;
    struct poll_wqueues pw = {.pt = {.qproc = timeout_ms ? poll_queue : NULL}, .bridge = bridge};
    eddy__ue_wq_init(&pw.wq);
    atomic_init(&pw.triggered, 0);
    int count = poll_walk(fds, nfds, &pw), err = 0;
    int kn = nk ? poll(kfds, nk, 0) : 0;
    if (kn < 0)
        err = errno == EINTR ? 0 : errno;
    else
        count += kn;
    if (!count && !err && timeout_ms != 0 && !pw.error) {
        int rc = kernel_wait(kfds, nk, bridge, timeout_ms);
        pw.pt.qproc = NULL;
        err = rc < 0 ? -rc : 0;
        count = poll_walk(fds, nfds, &pw) + count_ready(kfds, nk);
    }
    return poll_end(&pw, count, err);
}
