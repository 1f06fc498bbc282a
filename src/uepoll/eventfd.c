/*
 * eventfd (fs/eventfd.c): a 64-bit counter with an optional semaphore mode.
 *
 * As in the kernel, the wait queue's own lock protects the counter, so a write that
 * raises the count and the wake-up it triggers are one atomic step for every epoll
 * callback and blocked reader on the queue.
 */
#include "ue_internal.h"

#include <stdlib.h>
#include <string.h>

struct ue_eventfd {
    struct ue_waitqueue wqh;
    uint64_t count;
    int semaphore;
};

/* Sleeps with wqh.lock held on entry and exit (wait_event_interruptible_locked_irq). */
static void efd_wait_locked(struct ue_eventfd *e, uint64_t need_room)
{
    struct ue_waiter w;
    eddy__ue_waiter_init(&w, eddy__ue_waiter_wake_ifwoken);
    for (;;) {
        int ok = need_room ? UINT64_MAX - e->count > need_room - 1 : e->count != 0;
        if (ok)
            break;
        atomic_store_explicit(&w.state, UE_WAITER_ARMED, memory_order_release);
        if (ue_list_empty(&w.we.link))
            eddy__ue_wq_add_locked(&e->wqh, &w.we, 0);
        pthread_mutex_unlock(&e->wqh.lock);
        eddy__ue_waiter_sleep(&w, NULL);
        pthread_mutex_lock(&e->wqh.lock);
    }
    eddy__ue_wq_del_locked(&e->wqh, &w.we);
}

static ssize_t efd_read(struct ue_file *f, const struct ue_io *io, size_t n)
{
    struct ue_eventfd *e = f->priv;
    if (n < sizeof(uint64_t))
        return -EINVAL;
    pthread_mutex_lock(&e->wqh.lock);
    if (!e->count) {
        if (f->flags & O_NONBLOCK) {
            pthread_mutex_unlock(&e->wqh.lock);
            return -EAGAIN;
        }
        efd_wait_locked(e, 0);
    }
    uint64_t v = e->semaphore ? 1 : e->count;
    e->count -= v;
    if (eddy__ue_wq_active(&e->wqh))
        eddy__ue_wake_up_locked(&e->wqh, 1, EPOLLOUT);
    pthread_mutex_unlock(&e->wqh.lock);
    if (!eddy__ue_io_ok(io, 0, sizeof(v))) /* consumed before the copy faults, as in Linux */
        return -EFAULT;
    eddy__ue_io_copy_out(io, 0, &v, sizeof(v));
    return sizeof(v);
}

static ssize_t efd_write(struct ue_file *f, const struct ue_io *io, size_t n)
{
    struct ue_eventfd *e = f->priv;
    uint64_t v;
    if (n != sizeof(v)) /* exactly 8 on write, at least 8 on read (Linux 6.18) */
        return -EINVAL;
    if (!eddy__ue_io_ok(io, 0, sizeof(v)))
        return -EFAULT;
    eddy__ue_io_copy_in(io, 0, &v, sizeof(v));
    if (v == UINT64_MAX)
        return -EINVAL;
    pthread_mutex_lock(&e->wqh.lock);
    ssize_t res = -EAGAIN;
    if (UINT64_MAX - e->count > v) {
        res = sizeof(v);
    } else if (!(f->flags & O_NONBLOCK)) {
        efd_wait_locked(e, v + 1);
        res = sizeof(v);
    }
    if (res > 0) {
        e->count += v;
        if (eddy__ue_wq_active(&e->wqh))
            eddy__ue_wake_up_locked(&e->wqh, 1, EPOLLIN);
    }
    pthread_mutex_unlock(&e->wqh.lock);
    return res;
}

static uint32_t efd_poll(struct ue_file *f, struct ue_poll_table *pt, int depth)
{
    struct ue_eventfd *e = f->priv;
    (void)depth;
    ue_poll_wait(f, &e->wqh, pt);
    pthread_mutex_lock(&e->wqh.lock);
    uint64_t c = e->count;
    pthread_mutex_unlock(&e->wqh.lock);
    uint32_t mask = 0;
    if (c > 0)
        mask |= EPOLLIN;
    if (c == UINT64_MAX)
        mask |= EPOLLERR;
    if (UINT64_MAX - 1 > c)
        mask |= EPOLLOUT;
    return mask;
}

static void efd_release(struct ue_file *f)
{
    struct ue_eventfd *e = f->priv;
    eddy__ue_wq_destroy(&e->wqh);
    free(e);
}

static const struct ue_file_ops efd_ops = {.poll = efd_poll,
                                           .read = efd_read,
                                           .write = efd_write,
                                           .release = efd_release,
                                           .write_per_iovec = 1};

int ue_eventfd(unsigned int initval, int flags)
{
    if (flags & ~(EFD_CLOEXEC | EFD_NONBLOCK | EFD_SEMAPHORE))
        return eddy__ue_fail(EINVAL);
    int fd = eddy__ue_fd_reserve();
    if (fd < 0)
        return eddy__ue_fail(-fd);
    struct ue_eventfd *e = calloc(1, sizeof(*e));
    struct ue_file *f =
        e ? eddy__ue_file_alloc(&efd_ops, e, UE_FMODE_READ | UE_FMODE_WRITE, flags & EFD_NONBLOCK)
          : NULL;
    if (!f) {
        free(e);
        eddy__ue_fd_unreserve(fd);
        return eddy__ue_fail(ENOMEM);
    }
    eddy__ue_wq_init(&e->wqh);
    e->count = initval;
    e->semaphore = (flags & EFD_SEMAPHORE) != 0;
    eddy__ue_fd_install(fd, f);
    return fd;
}
