/*
 * Anonymous pipes (fs/pipe.c): a ring of page-sized buffers, 16 (64 KiB) unless
 * F_SETPIPE_SZ resizes it (pipe_set_size: a power of two of pages).
 *
 * The slot accounting matters to what epoll reports: "full" means max_usage slots in
 * use, not a byte count, small writes merge into the last page while it has room, and
 * a reader wakes writers only when it releases a buffer of a full pipe (Linux 6.14+,
 * "pipe_read: don't wake up the writer if the pipe is still full"). EPOLLOUT therefore
 * appears after a whole page is drained, exactly as on Linux. A write copies into its
 * page before it claims the slot, so a fault (EFAULT) leaves nothing behind. Readers
 * wait on rd_wait, writers on wr_wait; the read end polls only rd_wait and the write
 * end only wr_wait.
 *
 * Faults: a NULL buffer, or a readv/writev whose iovec has a NULL base, is given here
 * as a buffer with a valid prefix (struct ue_io); copying past it is the fault.
 *
 * Lock: pipe->mutex protects the ring and the reader/writer counts. It is a leaf: wait
 * queues are always woken after it is dropped.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* O_DIRECT, also when built outside the Makefile */
#endif
#include "ue_internal.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef O_NOTIFICATION_PIPE
#define O_NOTIFICATION_PIPE O_EXCL /* linux/watch_queue.h */
#endif

#define PIPE_DEF_SLOTS 16u
#define PIPE_PAGE      4096u

struct pipe_buf {
    char *page;
    unsigned offset, len;
    int packet; /* O_DIRECT: one write is one message */
};

struct ue_pipe {
    pthread_mutex_t mutex;
    struct ue_waitqueue rd_wait, wr_wait;
    struct pipe_buf *bufs;
    unsigned ring_size;  /* slots allocated, a power of two */
    unsigned max_usage;  /* slots that may be used: "full" */
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
    return p->head - p->tail >= p->max_usage;
}

static struct pipe_buf *slot(struct ue_pipe *p, unsigned i)
{
    return &p->bufs[i & (p->ring_size - 1)];
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

/* One step of pipe_read's loop, mutex held, pipe not empty: copies from the oldest slot,
 * releasing it once consumed. 1 when the read is over (*ret final: the count so far, or
 * -EFAULT if nothing was read), 0 when it goes on. */
static int pipe_read_slot(struct ue_pipe *p, const struct ue_io *io, size_t *total, ssize_t *ret,
                          int *wake_writer)
{
    struct pipe_buf *b = slot(p, p->tail);
    size_t chars = *total < b->len ? *total : b->len;

    if (chars && !eddy__ue_io_ok(io, (size_t)*ret, chars)) {
        if (!*ret) /* nothing is consumed: the buffer stays as it was */
            *ret = -EFAULT;
        return 1;
    }
    if (chars)
        eddy__ue_io_copy_out(io, (size_t)*ret, b->page + b->offset, chars);
    *ret += (ssize_t)chars;
    b->offset += (unsigned)chars;
    b->len -= (unsigned)chars;
    if (b->packet) { /* a message is read whole; the rest of it is dropped */
        *total = chars;
        b->len = 0;
    }
    if (!b->len) {
        *wake_writer |= pipe_full(p);
        buf_release(p, b);
        p->tail++;
    }
    *total -= chars;
    return !*total;
}

/* Copies from the ring; returns bytes, or a negative errno if nothing could be read. */
static ssize_t pipe_read(struct ue_file *f, const struct ue_io *io, size_t total)
{
    struct ue_pipe *p = f->priv;
    ssize_t ret = 0;
    int wake_next_reader = 0, wake_writer = 0;
    if (!total)
        return 0;
    pthread_mutex_lock(&p->mutex);
    for (;;) {
        if (!pipe_empty(p)) {
            if (pipe_read_slot(p, io, &total, &ret, &wake_writer))
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
        if (wake_writer)
            eddy__ue_wake_up(&p->wr_wait, 1, EPOLLOUT | EPOLLWRNORM);
        pipe_wait(p, &p->rd_wait, 1);
        pthread_mutex_lock(&p->mutex);
        wake_writer = 0;
        wake_next_reader = 1;
    }
    if (pipe_empty(p))
        wake_next_reader = 0;
    pthread_mutex_unlock(&p->mutex);
    /* Only a released buffer of a full pipe makes room a writer can use. */
    if (wake_writer)
        eddy__ue_wake_up(&p->wr_wait, 1, EPOLLOUT | EPOLLWRNORM);
    if (wake_next_reader)
        eddy__ue_wake_up(&p->rd_wait, 1, EPOLLIN | EPOLLRDNORM);
    return ret;
}

/* Small writes merge into the last page; the rest goes page by page (pipe_write). */
static ssize_t pipe_merge(struct ue_pipe *p, struct ue_file *f, const struct ue_io *io,
                          size_t total)
{
    size_t chars = total & (PIPE_PAGE - 1);
    if (!chars || pipe_empty(p) || (f->flags & O_DIRECT))
        return 0;
    struct pipe_buf *b = slot(p, p->head - 1);
    unsigned offset = b->offset + b->len;
    if (b->packet || offset + chars > PIPE_PAGE)
        return 0;
    if (!eddy__ue_io_ok(io, 0, chars))
        return -EFAULT; /* len is not advanced: nothing is added */
    eddy__ue_io_copy_in(io, 0, b->page + offset, chars);
    b->len += (unsigned)chars;
    return (ssize_t)chars;
}

/* Fills a page with up to PIPE_PAGE bytes, then claims a free slot for it, so a fault
 * claims nothing (anon_pipe_write); returns bytes or -EFAULT/-ENOMEM. */
static ssize_t pipe_fill_slot(struct ue_pipe *p, struct ue_file *f, const struct ue_io *io,
                              size_t done, size_t left)
{
    size_t n = left < PIPE_PAGE ? left : PIPE_PAGE;
    if (!p->tmp_page && !(p->tmp_page = malloc(PIPE_PAGE)))
        return -ENOMEM;
    if (!eddy__ue_io_ok(io, done, n))
        return -EFAULT;
    eddy__ue_io_copy_in(io, done, p->tmp_page, n);
    struct pipe_buf *b = slot(p, p->head);
    p->head++;
    b->page = p->tmp_page;
    p->tmp_page = NULL;
    b->offset = 0;
    b->len = (unsigned)n;
    b->packet = (f->flags & O_DIRECT) != 0;
    return (ssize_t)n;
}

/* One step of pipe_write's loop, mutex held: fills a free slot if there is one. 1 when
 * the write is over (*ret final: the count so far, or the error if nothing was written),
 * 0 when it goes on. */
static int pipe_write_step(struct ue_pipe *p, struct ue_file *f, const struct ue_io *io,
                           size_t total, ssize_t *ret, int *sigpipe)
{
    ssize_t n;

    if (!p->readers) {
        *sigpipe = 1;
        if (!*ret)
            *ret = -EPIPE;
        return 1;
    }
    if (pipe_full(p))
        return 0;
    n = pipe_fill_slot(p, f, io, (size_t)*ret, total - (size_t)*ret);
    if (n < 0) {
        if (!*ret)
            *ret = n;
        return 1;
    }
    *ret += n;
    return (size_t)*ret == total;
}

static ssize_t pipe_write(struct ue_file *f, const struct ue_io *io, size_t total)
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
    ret = pipe_merge(p, f, io, total);
    if (ret < 0 || (size_t)ret == total)
        goto out;
    for (;;) {
        if (pipe_write_step(p, f, io, total, &ret, &sigpipe))
            break;
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
    for (unsigned i = 0; i < p->ring_size; i++)
        free(p->bufs[i].page);
    free(p->bufs);
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

/* round_pipe_size: a power of two of pages, 0 past 2^31 (then EINVAL). */
static unsigned long round_pipe_size(unsigned long size)
{
    unsigned long r = PIPE_PAGE;
    if (size > (1ul << 31))
        return 0;
    while (r < size)
        r <<= 1;
    return r;
}

/* The limit for growing a pipe without CAP_SYS_RESOURCE (/proc/sys/fs/pipe-max-size). */
static unsigned long pipe_max_size(void)
{
    unsigned long v = 1ul << 20;
    FILE *fp = fopen("/proc/sys/fs/pipe-max-size", "r");
    if (fp) {
        if (fscanf(fp, "%lu", &v) != 1)
            v = 1ul << 20;
        fclose(fp);
    }
    return v;
}

/* pipe_resize_ring: copies the occupied slots to a new ring, tail first; EBUSY if
 * they do not fit. Caller holds p->mutex. */
static int pipe_resize_ring(struct ue_pipe *p, unsigned nr_slots)
{
    unsigned n = p->head - p->tail;
    if (nr_slots < n)
        return -EBUSY;
    struct pipe_buf *bufs = calloc(nr_slots, sizeof(*bufs));
    if (!bufs)
        return -ENOMEM;
    for (unsigned i = 0; i < n; i++)
        bufs[i] = *slot(p, p->tail + i);
    free(p->bufs);
    p->bufs = bufs;
    p->ring_size = p->max_usage = nr_slots;
    p->tail = 0;
    p->head = n;
    return 0;
}

/* pipe_set_size. Growing past pipe-max-size needs CAP_SYS_RESOURCE, approximated
 * by euid 0; the per-user page accounting of Linux is not mirrored. */
static long pipe_set_size(struct ue_pipe *p, unsigned long arg)
{
    unsigned long size = round_pipe_size((unsigned int)arg);
    unsigned nr_slots = (unsigned)(size / PIPE_PAGE);
    if (p->watch_queue)
        return -EBUSY;
    if (!nr_slots)
        return -EINVAL;
    if (nr_slots > p->max_usage && size > pipe_max_size() && geteuid() != 0)
        return -EPERM;
    pthread_mutex_lock(&p->mutex);
    int r = pipe_resize_ring(p, nr_slots);
    pthread_mutex_unlock(&p->mutex);
    if (r < 0)
        return r;
    /* This might have made room for writers (a wake-up with no key, as Linux does). */
    eddy__ue_wake_up(&p->wr_wait, 0, 0);
    return (long)nr_slots * PIPE_PAGE;
}

static long pipe_fcntl(struct ue_file *f, int cmd, unsigned long arg)
{
    struct ue_pipe *p = f->priv;
    if (cmd == F_SETPIPE_SZ)
        return pipe_set_size(p, arg);
    pthread_mutex_lock(&p->mutex);
    long r = (long)p->max_usage * PIPE_PAGE;
    pthread_mutex_unlock(&p->mutex);
    return r;
}

static const struct ue_file_ops pipe_read_ops = {
    .poll = pipe_poll, .read = pipe_read, .release = pipe_release, .fcntl = pipe_fcntl};
static const struct ue_file_ops pipe_write_ops = {
    .poll = pipe_poll, .write = pipe_write, .release = pipe_release, .fcntl = pipe_fcntl};

static struct ue_pipe *pipe_alloc(int flags)
{
    struct ue_pipe *p = calloc(1, sizeof(*p));
    if (p && !(p->bufs = calloc(PIPE_DEF_SLOTS, sizeof(*p->bufs)))) {
        free(p);
        p = NULL;
    }
    if (!p)
        return NULL;
    p->ring_size = p->max_usage = PIPE_DEF_SLOTS;
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
    int fflags = flags & (O_NONBLOCK | O_DIRECT); /* the read end gets O_NONBLOCK only */
    int r = eddy__ue_fd_reserve();
    if (r < 0)
        return eddy__ue_fail(-r);
    int w = eddy__ue_fd_reserve();
    if (w < 0) {
        eddy__ue_fd_unreserve(r);
        return eddy__ue_fail(-w);
    }
    struct ue_pipe *p = pipe_alloc(flags);
    struct ue_file *rf =
        p ? eddy__ue_file_alloc(&pipe_read_ops, p, UE_FMODE_READ, fflags & O_NONBLOCK) : NULL;
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
