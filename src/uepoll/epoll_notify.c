/*
 * ue_epoll_notify_arm/disarm: an eddy extension with no Linux counterpart. It lets
 * one thread wait for a uepoll epoll and for kernel descriptors at once: the thread
 * arms a one-shot hook on the epoll's poll queue (the queue an outer epoll watching
 * this one would sit on), then blocks in the kernel on its kernel descriptors plus a
 * kernel eventfd. Anything that makes the epoll ready from then on (a write to a
 * watched uepoll pipe by another thread, a uepoll eventfd signal) runs the hook,
 * which writes the eventfd and so ends the kernel wait.
 *
 * Hook first, test after (as every poll does): arming also reports whether the
 * epoll is ready already, so nothing that became ready before the hook was on the
 * queue is missed.
 *
 * Lock: ep->poll_wait.lock (level 4 in eventpoll.c) guards the hook's membership;
 * the hook runs under it and only does a write(2) on the kernel eventfd.
 */
#include "eventpoll.h"

#include <unistd.h>

/* Runs under ep->poll_wait.lock; one-shot: unhooks itself before it writes. */
static int notify_wake(struct ue_waitqueue *wq, struct ue_wait_entry *we, uint32_t key)
{
    struct ue_eventpoll *ep = ue_container_of(we, struct ue_eventpoll, notify);
    uint64_t one = 1;
    (void)key;
    eddy__ue_wq_del_locked(wq, we);
    while (write(ep->notify_fd, &one, sizeof(one)) < 0 && errno == EINTR)
        ;
    return 0;
}

static struct ue_file *epoll_file(int epfd, int *err)
{
    struct ue_file *f = eddy__ue_fget(epfd);
    *err = 0;
    if (!f)
        *err = EBADF;
    else if (!f->is_epoll)
        *err = EINVAL;
    if (*err && f)
        eddy__ue_fput(f);
    return *err ? NULL : f;
}

int ue_epoll_notify_arm(int epfd, int kernel_eventfd)
{
    int err;
    struct ue_file *f = epoll_file(epfd, &err);
    if (!f)
        return eddy__ue_fail(err);
    struct ue_eventpoll *ep = f->priv;
    pthread_mutex_lock(&ep->poll_wait.lock);
    ep->notify_fd = kernel_eventfd;
    if (ue_list_empty(&ep->notify.link)) {
        ep->notify.func = notify_wake;
        eddy__ue_wq_add_locked(&ep->poll_wait, &ep->notify, 0);
    }
    pthread_mutex_unlock(&ep->poll_wait.lock);
    int ready = f->ops->poll(f, NULL, 0) != 0;
    if (ready)
        eddy__ue_wq_remove(&ep->poll_wait, &ep->notify);
    eddy__ue_fput(f);
    eddy__ue_wake_flush();
    return ready;
}

int ue_epoll_notify_disarm(int epfd)
{
    int err;
    struct ue_file *f = epoll_file(epfd, &err);
    if (!f)
        return eddy__ue_fail(err);
    struct ue_eventpoll *ep = f->priv;
    eddy__ue_wq_remove(&ep->poll_wait, &ep->notify);
    eddy__ue_fput(f);
    return 0;
}
