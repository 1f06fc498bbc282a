/*
 * Anonymous pipes (fs/pipe.c): a ring of 16 page-sized buffers, 64 KiB in all.
 *
 * The slot accounting matters to what epoll reports: "full" means 16 slots in use, not
 * 65536 bytes, small writes merge into the last page while it has room, and a reader
 * wakes writers only if the pipe was full when it started. EPOLLOUT therefore appears
 * after a whole page is drained, exactly as on Linux. Readers wait on rd_wait, writers
 * on wr_wait; the read end polls only rd_wait and the write end only wr_wait.
 *
 * Lock: pipe->mutex protects the ring and the reader/writer counts. It is a leaf: wait
 * queues are always woken after it is dropped.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* O_DIRECT, also when built outside the Makefile */
#endif
#include "ue_internal.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>

#ifndef O_NOTIFICATION_PIPE
#define O_NOTIFICATION_PIPE O_EXCL /* linux/watch_queue.h */
#endif

#define PIPE_SLOTS 16u
#define PIPE_PAGE  4096u

struct pipe_buf {
    char *page;
    unsigned offset, len;
    int packet; /* O_DIRECT: one write is one message */
};

struct ue_pipe {
    pthread_mutex_t mutex;
    struct ue_waitqueue rd_wait, wr_wait;
    struct pipe_buf bufs[PIPE_SLOTS];
    unsigned head, tail; /* head - tail slots in use */
    int readers, writers, files;
    int watch_queue;       /* O_NOTIFICATION_PIPE: writes refused */
    atomic_int poll_usage; /* polled once: wake readers on every write */
    char *tmp_page;
};

static int pipe_empty(const struct ue_pipe *p)
{
    return p->head == p->tail;
}
static int pipe_full(const struct ue_pipe *p)
{
    return p->head - p->tail >= PIPE_SLOTS;
}

static void pipe_wait(struct ue_pipe *p, struct ue_waitqueue *wq, int for_read)
{
    struct ue_waiter w;
    eddy__ue_waiter_init(&w, eddy__ue_waiter_wake_ifwoken);
    for (;;) {
        eddy__ue_prepare_to_wait(wq, &w, 1);
        pthread_mutex_lock(&p->mutex);
        int ok = for_read ? (!pipe_empty(p) || !p->writers) : (!pipe_full(p) || !p->readers);
        pthread_mutex_unlock(&p->mutex);
        if (ok)
            break;
        eddy__ue_waiter_sleep(&w, NULL);
    }
    eddy__ue_finish_wait(wq, &w);
}

static void buf_release(struct ue_pipe *p, struct pipe_buf *b)
{
    if (!p->tmp_page)
        p->tmp_page = b->page;
    else
        free(b->page);
    b->page = NULL;
}

/* Copies from the ring; returns bytes, or a negative errno if nothing could be read. */
static ssize_t pipe_read(struct ue_file *f, void *buf, size_t total)
{
    struct ue_pipe *p = f->priv;
    ssize_t ret = 0;
    int wake_next_reader = 0;
    if (!total)
        return 0;
    pthread_mutex_lock(&p->mutex);
    int was_full = pipe_full(p);
    for (;;) {
        if (!pipe_empty(p)) {
            struct pipe_buf *b = &p->bufs[p->tail % PIPE_SLOTS];
            size_t chars = total < b->len ? total : b->len;
            if (chars && !buf) {
                if (!ret)
                    ret = -EFAULT;
                break;
            }
            if (chars)
                memcpy((char *)buf + ret, b->page + b->offset, chars);
            ret += (ssize_t)chars;
            b->offset += (unsigned)chars;
            b->len -= (unsigned)chars;
            if (b->packet) { /* a message is read whole; the rest of it is dropped */
                total = chars;
                b->len = 0;
            }
            if (!b->len) {
                buf_release(p, b);
                p->tail++;
            }
            total -= chars;
            if (!total)
                break;
            if (!pipe_empty(p))
                continue;
        }
        if (!p->writers || ret)
            break;
        if (f->flags & O_NONBLOCK) {
            ret = -EAGAIN;
            break;
        }
        pthread_mutex_unlock(&p->mutex);
        if (was_full)
            eddy__ue_wake_up(&p->wr_wait, 1, EPOLLOUT | EPOLLWRNORM);
        pipe_wait(p, &p->rd_wait, 1);
        pthread_mutex_lock(&p->mutex);
        was_full = pipe_full(p);
        wake_next_reader = 1;
    }
    if (pipe_empty(p))
        wake_next_reader = 0;
    pthread_mutex_unlock(&p->mutex);
    if (was_full)
        eddy__ue_wake_up(&p->wr_wait, 1, EPOLLOUT | EPOLLWRNORM);
    if (wake_next_reader)
        eddy__ue_wake_up(&p->rd_wait, 1, EPOLLIN | EPOLLRDNORM);
    return ret;
}

/* Small writes merge into the last page; the rest goes page by page (pipe_write). */
static ssize_t pipe_merge(struct ue_pipe *p, struct ue_file *f, const void *buf, size_t total)
{
    size_t chars = total & (PIPE_PAGE - 1);
    if (!chars || pipe_empty(p) || (f->flags & O_DIRECT))
        return 0;
    struct pipe_buf *b = &p->bufs[(p->head - 1) % PIPE_SLOTS];
    unsigned offset = b->offset + b->len;
    if (b->packet || offset + chars > PIPE_PAGE)
        return 0;
    if (!buf)
        return -EFAULT;
    memcpy(b->page + offset, buf, chars);
    b->len += (unsigned)chars;
    return (ssize_t)chars;
}

/* Takes one free slot and fills it with up to a page; returns bytes or -EFAULT/-ENOMEM. */
static ssize_t pipe_fill_slot(struct ue_pipe *p, struct ue_file *f, const char *src, size_t left)
{
    char *page = p->tmp_page ? p->tmp_page : malloc(PIPE_PAGE);
    if (!page)
        return -ENOMEM;
    p->tmp_page = NULL;
    struct pipe_buf *b = &p->bufs[p->head % PIPE_SLOTS];
    p->head++;
    b->page = page;
    b->offset = b->len = 0;
    b->packet = (f->flags & O_DIRECT) != 0;
    if (!src) /* the slot stays, empty, as the kernel leaves it after a fault */
        return -EFAULT;
    size_t n = left < PIPE_PAGE ? left : PIPE_PAGE;
    memcpy(page, src, n);
    b->len = (unsigned)n;
    return (ssize_t)n;
}

static ssize_t pipe_write(struct ue_file *f, const void *buf, size_t total)
{
    struct ue_pipe *p = f->priv;
    ssize_t ret = 0;
    int was_empty = 0, wake_next_writer = 0, sigpipe = 0;
    if (p->watch_queue)
        return -EXDEV;
    if (!total)
        return 0;
    pthread_mutex_lock(&p->mutex);
    if (!p->readers) {
        sigpipe = 1;
        ret = -EPIPE;
        goto out;
    }
    was_empty = pipe_empty(p);
    ret = pipe_merge(p, f, buf, total);
    if (ret < 0 || (size_t)ret == total)
        goto out;
    for (;;) {
        if (!p->readers) {
            sigpipe = 1;
            if (!ret)
                ret = -EPIPE;
            break;
        }
        if (!pipe_full(p)) {
            ssize_t n =
                pipe_fill_slot(p, f, buf ? (const char *)buf + ret : NULL, total - (size_t)ret);
            if (n < 0) {
                if (!ret)
                    ret = n;
                break;
            }
            ret += n;
            if ((size_t)ret == total)
                break;
        }
        if (!pipe_full(p))
            continue;
        if (f->flags & O_NONBLOCK) {
            if (!ret)
                ret = -EAGAIN;
            break;
        }
        pthread_mutex_unlock(&p->mutex);
        if (was_empty)
            eddy__ue_wake_up(&p->rd_wait, 1, EPOLLIN | EPOLLRDNORM);
        pipe_wait(p, &p->wr_wait, 0);
        pthread_mutex_lock(&p->mutex);
        was_empty = pipe_empty(p);
        wake_next_writer = 1;
    }
out:
    if (pipe_full(p))
        wake_next_writer = 0;
    pthread_mutex_unlock(&p->mutex);
    /* Epoll wants a wake-up on every write once the pipe has been polled (pipe_write). */
    if (was_empty || atomic_load_explicit(&p->poll_usage, memory_order_relaxed))
        eddy__ue_wake_up(&p->rd_wait, 1, EPOLLIN | EPOLLRDNORM);
    if (wake_next_writer)
        eddy__ue_wake_up(&p->wr_wait, 1, EPOLLOUT | EPOLLWRNORM);
    if (sigpipe) /* after every lock is dropped: the handler may call us again */
        pthread_kill(pthread_self(), SIGPIPE);
    return ret;
}

static uint32_t pipe_poll(struct ue_file *f, struct ue_poll_table *pt, int depth)
{
    struct ue_pipe *p = f->priv;
    (void)depth;
    atomic_store_explicit(&p->poll_usage, 1, memory_order_relaxed);
    /* Hook first, test after: a change in between wakes the new entry. */
    if (f->mode & UE_FMODE_READ)
        ue_poll_wait(f, &p->rd_wait, pt);
    if (f->mode & UE_FMODE_WRITE)
        ue_poll_wait(f, &p->wr_wait, pt);
    uint32_t mask = 0;
    pthread_mutex_lock(&p->mutex);
    if (f->mode & UE_FMODE_READ) {
        if (!pipe_empty(p))
            mask |= EPOLLIN | EPOLLRDNORM;
        if (!p->writers)
            mask |= EPOLLHUP;
    }
    if (f->mode & UE_FMODE_WRITE) {
        if (!pipe_full(p))
            mask |= EPOLLOUT | EPOLLWRNORM;
        if (!p->readers)
            mask |= EPOLLERR;
    }
    pthread_mutex_unlock(&p->mutex);
    return mask;
}

static void pipe_free(struct ue_pipe *p)
{
    for (unsigned i = 0; i < PIPE_SLOTS; i++)
        free(p->bufs[i].page);
    free(p->tmp_page);
    eddy__ue_wq_destroy(&p->rd_wait);
    eddy__ue_wq_destroy(&p->wr_wait);
    pthread_mutex_destroy(&p->mutex);
    free(p);
}

static void pipe_release(struct ue_file *f)
{
    struct ue_pipe *p = f->priv;
    pthread_mutex_lock(&p->mutex);
    if (f->mode & UE_FMODE_READ)
        p->readers--;
    if (f->mode & UE_FMODE_WRITE)
        p->writers--;
    int wake = !p->readers != !p->writers; /* last of one side, the other still there */
    pthread_mutex_unlock(&p->mutex);
    if (wake) {
        eddy__ue_wake_up(&p->rd_wait, 0, 0);
        eddy__ue_wake_up(&p->wr_wait, 0, 0);
    }
    pthread_mutex_lock(&p->mutex);
    int last = --p->files == 0;
    pthread_mutex_unlock(&p->mutex);
    if (last)
        pipe_free(p);
}

static const struct ue_file_ops pipe_read_ops = {
    .poll = pipe_poll, .read = pipe_read, .release = pipe_release};
static const struct ue_file_ops pipe_write_ops = {
    .poll = pipe_poll, .write = pipe_write, .release = pipe_release};

static struct ue_pipe *pipe_alloc(int flags)
{
    struct ue_pipe *p = calloc(1, sizeof(*p));
    if (!p)
        return NULL;
    pthread_mutex_init(&p->mutex, NULL);
    eddy__ue_wq_init(&p->rd_wait);
    eddy__ue_wq_init(&p->wr_wait);
    p->readers = p->writers = p->files = 1;
    p->watch_queue = (flags & O_NOTIFICATION_PIPE) != 0;
    atomic_init(&p->poll_usage, 0);
    return p;
}

int ue_pipe2(int fds[2], int flags)
{
    if (flags & ~(O_CLOEXEC | O_NONBLOCK | O_DIRECT | O_NOTIFICATION_PIPE))
        return eddy__ue_fail(EINVAL);
    if (!fds)
        return eddy__ue_fail(EFAULT);
    int fflags = flags & (O_NONBLOCK | O_DIRECT);
    int r = eddy__ue_fd_reserve();
    if (r < 0)
        return eddy__ue_fail(-r);
    int w = eddy__ue_fd_reserve();
    if (w < 0) {
        eddy__ue_fd_unreserve(r);
        return eddy__ue_fail(-w);
    }
    struct ue_pipe *p = pipe_alloc(flags);
    struct ue_file *rf = p ? eddy__ue_file_alloc(&pipe_read_ops, p, UE_FMODE_READ, fflags) : NULL;
    struct ue_file *wf =
        rf ? eddy__ue_file_alloc(&pipe_write_ops, p, UE_FMODE_WRITE, fflags) : NULL;
    if (!wf) {
        eddy__ue_file_discard(rf);
        if (p)
            pipe_free(p);
        eddy__ue_fd_unreserve(w);
        eddy__ue_fd_unreserve(r);
        return eddy__ue_fail(ENFILE);
    }
    p->files = 2;
    eddy__ue_fd_install(r, rf);
    eddy__ue_fd_install(w, wf);
    fds[0] = r;
    fds[1] = w;
    return 0;
}
