/*
 * transport_mem: two ends joined in memory (see eddy/transport_mem.h). One
 * mutex per pair guards both ends; an end's input queue is a flat buffer of
 * at most its window, compacted on read (test traffic, not a hot path).
 */
#include "eddy/transport_mem.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>

#include "eddy/channel.h"

#define DEFAULT_WINDOW ((size_t)256 * 1024)

struct script {
    long steps[EDDY_MEM_MAX_STEPS];
    int n, pos;
};

struct mem_end {
    struct mem_link *link;
    const struct eddy_fd_io *io;
    int efd;
    char *in; /* the peer's bytes not yet read */
    size_t in_len, window;
    struct script rs, ws;
    size_t read_max, write_max;
    size_t written, read;
    size_t fail_after; /* SIZE_MAX: never */
    int fail_err;
    unsigned shut : 1, peer_shut : 1, peer_closed : 1, closed : 1, writer_blocked : 1;
    /* Wake-ups rung and not yet answered by a call of that direction: a read
     * must not swallow the one a blocked write waits for (and the reverse),
     * so the doorbell rings again while either is left. */
    unsigned wake_r : 1, wake_w : 1;
};

enum { DIR_NONE, DIR_READ, DIR_WRITE };

struct mem_link {
    pthread_mutex_t mu;
    struct mem_end end[2];
    int reset;
    int open_ends;
};

static struct mem_end *end_of(const struct eddy_transport *t)
{
    return t->state;
}

static struct mem_end *peer_of(struct mem_end *e)
{
    struct mem_link *l = e->link;
    return e == &l->end[0] ? &l->end[1] : &l->end[0];
}

static void ring(struct mem_end *e)
{
    uint64_t one = 1;

    if (!e->closed)
        e->io->write(e->efd, &one, sizeof one);
}

static void ring_r(struct mem_end *e)
{
    e->wake_r = 1;
    ring(e);
}

static void ring_w(struct mem_end *e)
{
    e->wake_w = 1;
    ring(e);
}

static void drain(struct mem_end *e)
{
    uint64_t v;

    e->io->read(e->efd, &v, sizeof v);
}

/* Both directions die: unread input is gone, every later call fails. */
static void reset_link(struct mem_link *l)
{
    l->reset = 1;
    l->end[0].in_len = l->end[1].in_len = 0;
    ring_r(&l->end[0]);
    ring_r(&l->end[1]);
}

/* Takes the pair's lock for a call of direction dir on e. */
static void lock(struct mem_end *e, int dir)
{
    pthread_mutex_lock(&e->link->mu);
    drain(e);
    if (dir == DIR_READ)
        e->wake_r = 0;
    if (dir == DIR_WRITE)
        e->wake_w = 0;
}

static void unlock(struct mem_end *e)
{
    if (e->wake_r || e->wake_w)
        ring(e);
    pthread_mutex_unlock(&e->link->mu);
}

/* The next step of a script, consumed; 0 when the script is over. */
static long take_step(struct script *s)
{
    return s->pos < s->n ? s->steps[s->pos++] : 0;
}

static long peek_step(const struct script *s)
{
    return s->pos < s->n ? s->steps[s->pos] : 0;
}

/* A negative step: -EAGAIN rings the doorbell again (the bytes are "late"). */
static ssize_t scripted_error(struct mem_end *e, long step, int dir)
{
    if (step == EDDY_MEM_AGAIN) {
        if (dir == DIR_READ)
            ring_r(e);
        else
            ring_w(e);
        return -EAGAIN;
    }
    if (step == -ECONNRESET)
        reset_link(e->link);
    return step;
}

static size_t cap_of(size_t n, long step, size_t max)
{
    if (step > 0 && (size_t)step < n)
        n = (size_t)step;
    if (max > 0 && max < n)
        n = max;
    return n;
}

static size_t iov_total(const struct iovec *iov, int n)
{
    size_t t = 0;
    int i;

    for (i = 0; i < n; i++)
        t += iov[i].iov_len;
    return t;
}

static size_t copy_out(struct mem_end *e, const struct iovec *iov, int n, size_t want)
{
    size_t done = 0;
    int i;

    for (i = 0; i < n && done < want; i++) {
        size_t k = iov[i].iov_len < want - done ? iov[i].iov_len : want - done;
        memcpy(iov[i].iov_base, e->in + done, k);
        done += k;
    }
    memmove(e->in, e->in + done, e->in_len - done);
    e->in_len -= done;
    return done;
}

static ssize_t mem_readv(struct eddy_transport *t, const struct iovec *iov, int n)
{
    struct mem_end *e = end_of(t), *p = peer_of(e);
    ssize_t r;

    lock(e, DIR_READ);
    if (e->link->reset) {
        r = -ECONNRESET;
    } else if (peek_step(&e->rs) < 0) {
        r = scripted_error(e, take_step(&e->rs), DIR_READ);
    } else if (e->in_len == 0) {
        r = e->peer_shut ? 0 : -EAGAIN;
    } else {
        size_t want = cap_of(e->in_len, take_step(&e->rs), e->read_max);
        want = want < iov_total(iov, n) ? want : iov_total(iov, n);
        r = (ssize_t)copy_out(e, iov, n, want);
        e->read += (size_t)r;
        if (p->writer_blocked && r > 0) {
            p->writer_blocked = 0;
            ring_w(p);
        }
        /* Like a socket, stay readable while bytes or the end of input are left
         * (one ring may have announced data and FIN together). */
        e->wake_r = e->in_len > 0 || e->peer_shut;
    }
    unlock(e);
    return r;
}

/* What the write may take now, or a -errno. */
static ssize_t write_room(struct eddy_transport *t, struct mem_end *e, struct mem_end *p)
{
    long step;

    if (e->link->reset)
        return -ECONNRESET;
    if (e->shut || p->closed)
        return -EPIPE;
    if (e->written >= e->fail_after) {
        reset_link(e->link);
        return -e->fail_err;
    }
    if (peek_step(&e->ws) < 0) {
        step = take_step(&e->ws);
        if (step == EDDY_MEM_AGAIN)
            t->want = EDDY_EV_READ;
        return scripted_error(e, step, DIR_WRITE);
    }
    if (p->in_len >= p->window) {
        e->writer_blocked = 1;
        t->want = EDDY_EV_READ;
        return -EAGAIN;
    }
    step = take_step(&e->ws);
    return (ssize_t)cap_of(p->window - p->in_len, step, e->write_max);
}

static ssize_t mem_writev(struct eddy_transport *t, const struct iovec *iov, int n, unsigned flags)
{
    struct mem_end *e = end_of(t), *p = peer_of(e);
    ssize_t room;
    size_t done = 0;
    int i;

    (void)flags;
    lock(e, DIR_WRITE);
    room = write_room(t, e, p);
    if (room > 0 && e->fail_after != SIZE_MAX && (size_t)room > e->fail_after - e->written)
        room = (ssize_t)(e->fail_after - e->written);
    for (i = 0; room > 0 && i < n && done < (size_t)room; i++) {
        size_t k = iov[i].iov_len < (size_t)room - done ? iov[i].iov_len : (size_t)room - done;
        memcpy(p->in + p->in_len, iov[i].iov_base, k);
        p->in_len += k;
        done += k;
    }
    if (room > 0) {
        e->written += done;
        ring_r(p);
        room = (ssize_t)done;
    }
    unlock(e);
    return room;
}

static int mem_shutdown_write(struct eddy_transport *t)
{
    struct mem_end *e = end_of(t), *p = peer_of(e);

    lock(e, DIR_NONE);
    e->shut = 1;
    p->peer_shut = 1;
    ring_r(p);
    unlock(e);
    return 0;
}

static void mem_close(struct eddy_transport *t)
{
    struct mem_end *e = end_of(t), *p = peer_of(e);
    struct mem_link *l = e->link;
    int last;

    lock(e, DIR_NONE);
    if (e->in_len > 0 && !l->reset)
        reset_link(l); /* unread input: TCP answers the close with a reset */
    p->peer_shut = 1;
    p->peer_closed = 1;
    ring_r(p);
    ring_w(p); /* its writes fail now */
    e->closed = 1;
    e->io->close(e->efd);
    e->efd = -1;
    free(e->in);
    e->in = NULL;
    e->in_len = 0;
    last = --l->open_ends == 0;
    pthread_mutex_unlock(&l->mu);
    t->fd = -1;
    if (last) {
        pthread_mutex_destroy(&l->mu);
        free(l);
    }
}

static size_t mem_pending(const struct eddy_transport *t)
{
    struct mem_end *e = end_of(t);
    size_t n;

    pthread_mutex_lock(&e->link->mu);
    n = e->link->reset ? 0 : e->in_len;
    pthread_mutex_unlock(&e->link->mu);
    return n;
}

const struct eddy_transport_ops eddy_transport_mem = {
    .name = "memory",
    .caps = EDDY_TRANSPORT_CLOSE_FORGETS,
    .readv = mem_readv,
    .writev = mem_writev,
    .shutdown_write = mem_shutdown_write,
    .close = mem_close,
    .pending = mem_pending,
};

const struct eddy_transport_ops eddy_transport_mem_ue = {
    .name = "memory",
    .caps = EDDY_TRANSPORT_CLOSE_FORGETS | EDDY_TRANSPORT_FD_UEPOLL,
    .readv = mem_readv,
    .writev = mem_writev,
    .shutdown_write = mem_shutdown_write,
    .close = mem_close,
    .pending = mem_pending,
};

static int end_init(struct mem_link *l, int i, const struct eddy_fd_io *io, size_t window)
{
    struct mem_end *e = &l->end[i];

    e->link = l;
    e->io = io;
    e->window = window;
    e->fail_after = SIZE_MAX;
    e->in = malloc(window);
    if (e->in == NULL)
        return -ENOMEM;
    e->efd = io->eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    return e->efd < 0 ? -errno : 0;
}

int eddy_mem_transport_pair(struct eddy_transport *a, struct eddy_transport *b,
                            enum eddy_fd_kind kind, size_t window)
{
    const struct eddy_fd_io *io = kind == EDDY_FD_UEPOLL ? &eddy_fd_io_uepoll : &eddy_fd_io_kernel;
    struct mem_link *l = calloc(1, sizeof *l);
    struct eddy_transport *ts[2] = {a, b};
    int i, r = 0;

    if (l == NULL)
        return -ENOMEM;
    l->end[0].efd = l->end[1].efd = -1;
    for (i = 0; i < 2 && r == 0; i++)
        r = end_init(l, i, io, window ? window : DEFAULT_WINDOW);
    if (r < 0) {
        for (i = 0; i < 2; i++) {
            if (l->end[i].efd >= 0)
                io->close(l->end[i].efd);
            free(l->end[i].in);
        }
        free(l);
        return r;
    }
    pthread_mutex_init(&l->mu, NULL);
    l->open_ends = 2;
    for (i = 0; i < 2; i++) {
        ts[i]->ops = kind == EDDY_FD_UEPOLL ? &eddy_transport_mem_ue : &eddy_transport_mem;
        ts[i]->fd = l->end[i].efd;
        ts[i]->want = 0;
        ts[i]->state = &l->end[i];
    }
    return 0;
}

static int set_script(struct eddy_transport *t, struct script *s, const long *steps, int n)
{
    struct mem_end *e = end_of(t);

    if (n < 0 || n > EDDY_MEM_MAX_STEPS)
        return -EINVAL;
    pthread_mutex_lock(&e->link->mu);
    memcpy(s->steps, steps, (size_t)n * sizeof *steps);
    s->n = n;
    s->pos = 0;
    pthread_mutex_unlock(&e->link->mu);
    return 0;
}

int eddy_mem_script_reads(struct eddy_transport *t, const long *steps, int n)
{
    return set_script(t, &end_of(t)->rs, steps, n);
}

int eddy_mem_script_writes(struct eddy_transport *t, const long *steps, int n)
{
    return set_script(t, &end_of(t)->ws, steps, n);
}

void eddy_mem_set_max(struct eddy_transport *t, size_t read_max, size_t write_max)
{
    struct mem_end *e = end_of(t);

    pthread_mutex_lock(&e->link->mu);
    e->read_max = read_max;
    e->write_max = write_max;
    pthread_mutex_unlock(&e->link->mu);
}

void eddy_mem_set_window(struct eddy_transport *t, size_t window)
{
    struct mem_end *e = end_of(t);
    char *p;

    pthread_mutex_lock(&e->link->mu);
    if (window >= e->in_len && window > 0 && (p = realloc(e->in, window)) != NULL) {
        e->in = p;
        e->window = window;
        ring_w(peer_of(e)); /* a writer blocked on the old window may go on */
    }
    pthread_mutex_unlock(&e->link->mu);
}

void eddy_mem_fail_after(struct eddy_transport *t, size_t bytes, int err)
{
    struct mem_end *e = end_of(t);

    pthread_mutex_lock(&e->link->mu);
    e->fail_after = bytes;
    e->fail_err = err;
    pthread_mutex_unlock(&e->link->mu);
}

void eddy_mem_reset(struct eddy_transport *t)
{
    struct mem_end *e = end_of(t);

    pthread_mutex_lock(&e->link->mu);
    reset_link(e->link);
    pthread_mutex_unlock(&e->link->mu);
}

void eddy_mem_stats(const struct eddy_transport *t, struct eddy_mem_stats *out)
{
    struct mem_end *e = end_of(t);

    pthread_mutex_lock(&e->link->mu);
    out->written = e->written;
    out->read = e->read;
    out->queued = e->in_len;
    out->shut = e->shut;
    out->peer_shut = e->peer_shut;
    out->peer_closed = e->peer_closed;
    out->reset = e->link->reset;
    out->closed = e->closed;
    pthread_mutex_unlock(&e->link->mu);
}
