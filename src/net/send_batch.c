/*
 * send_batch: the responses built while one batch of events is dispatched leave
 * together, in one io_uring_enter, instead of one send() each.
 *
 * Why: on a keep-alive load a request costs one read and one send, and on this
 * kind of machine (a VM with page-table isolation) the entry and exit of a
 * system call cost about as much as the TCP work of the send itself. The
 * sends of a batch are queued on an io_uring owned by the loop's thread and
 * submitted right after the batch's callbacks (before its timers and tasks;
 * deferrals from those leave before the loop waits), so n responses cost one
 * system call instead of n. A batch of more than 16 events flushes after every
 * 16 callbacks too (the reactor's after-batch hook), so a pipelining client is
 * not left idle while a long batch is worked through.
 *
 * Each send is MSG_DONTWAIT, so io_uring completes it (or fails it with
 * -EAGAIN) during the submission: when io_uring_enter returns every result is
 * in, and no buffer is referenced by the kernel any longer. The results go
 * back through the connection's ordinary write path (eddy__tcp_conn_write_out
 * with F_SENT_AHEAD), which handles a short write, an error and what follows
 * a drained queue exactly as for a send it made itself.
 *
 * Only memory output of kernel-socket connections of a tcp_server is batched,
 * and only from on_message (deliver): everything else writes at once as before.
 * No io_uring (old kernel, seccomp, io_uring_disabled): the plain path.
 * EDDY_SEND_BATCH=0 in the environment turns it off (for comparisons).
 */
#include "net_internal.h"

#include <errno.h>
#include <linux/io_uring.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "eddy/event_loop.h"
#include "reactor/loop_hooks.h"

#define RING_ENTRIES 256u
#define NOT_SENT     INT32_MIN

struct eddy__deferred {
    struct eddy_tcp_connection *c;
    int res; /* the send's result; NOT_SENT when the connection changed before the batch */
};

struct eddy__uring {
    int fd;
    unsigned entries;
    unsigned *sq_tail, *sq_mask, *sq_array;
    unsigned *cq_head, *cq_tail, *cq_mask;
    struct io_uring_sqe *sqes;
    struct io_uring_cqe *cqes;
    void *sq_map, *cq_map;
    size_t sq_len, cq_len, sqes_len;
};

static void ring_unmap(struct eddy__uring *u)
{
    if (u->sqes != NULL && u->sqes != MAP_FAILED)
        munmap(u->sqes, u->sqes_len);
    if (u->cq_map != NULL && u->cq_map != MAP_FAILED && u->cq_map != u->sq_map)
        munmap(u->cq_map, u->cq_len);
    if (u->sq_map != NULL && u->sq_map != MAP_FAILED)
        munmap(u->sq_map, u->sq_len);
    if (u->fd >= 0)
        close(u->fd);
    free(u);
}

static int ring_map(struct eddy__uring *u, const struct io_uring_params *p)
{
    int prot = PROT_READ | PROT_WRITE, fl = MAP_SHARED | MAP_POPULATE;
    char *sq, *cq;

    u->sq_len = p->sq_off.array + p->sq_entries * sizeof(unsigned);
    u->cq_len = p->cq_off.cqes + p->cq_entries * sizeof(struct io_uring_cqe);
    if (p->features & IORING_FEAT_SINGLE_MMAP)
        u->sq_len = u->cq_len = u->sq_len > u->cq_len ? u->sq_len : u->cq_len;
    u->sq_map = mmap(NULL, u->sq_len, prot, fl, u->fd, IORING_OFF_SQ_RING);
    if (u->sq_map == MAP_FAILED)
        return -errno;
    u->cq_map = (p->features & IORING_FEAT_SINGLE_MMAP)
                    ? u->sq_map
                    : mmap(NULL, u->cq_len, prot, fl, u->fd, IORING_OFF_CQ_RING);
    if (u->cq_map == MAP_FAILED)
        return -errno;
    u->sqes_len = p->sq_entries * sizeof(struct io_uring_sqe);
    u->sqes = mmap(NULL, u->sqes_len, prot, fl, u->fd, IORING_OFF_SQES);
    if (u->sqes == MAP_FAILED)
        return -errno;
    sq = u->sq_map;
    cq = u->cq_map;
    u->sq_tail = (unsigned *)(sq + p->sq_off.tail);
    u->sq_mask = (unsigned *)(sq + p->sq_off.ring_mask);
    u->sq_array = (unsigned *)(sq + p->sq_off.array);
    u->cq_head = (unsigned *)(cq + p->cq_off.head);
    u->cq_tail = (unsigned *)(cq + p->cq_off.tail);
    u->cq_mask = (unsigned *)(cq + p->cq_off.ring_mask);
    u->cqes = (struct io_uring_cqe *)(cq + p->cq_off.cqes);
    u->entries = p->sq_entries;
    return 0;
}

/* A ring for the calling thread only; NULL when io_uring is not available. */
static struct eddy__uring *ring_open(void)
{
    static const unsigned tries[] = {
        IORING_SETUP_SUBMIT_ALL | IORING_SETUP_COOP_TASKRUN | IORING_SETUP_SINGLE_ISSUER, 0};
    struct eddy__uring *u = calloc(1, sizeof *u);
    size_t i;

    if (u == NULL)
        return NULL;
    u->fd = -1;
    for (i = 0; i < sizeof tries / sizeof tries[0] && u->fd < 0; i++) {
        struct io_uring_params p;

        memset(&p, 0, sizeof p);
        p.flags = tries[i];
        u->fd = (int)syscall(SYS_io_uring_setup, RING_ENTRIES, &p);
        if (u->fd >= 0 && ring_map(u, &p) < 0) {
            ring_unmap(u);
            return NULL;
        }
    }
    if (u->fd < 0) {
        free(u);
        return NULL;
    }
    return u;
}

void eddy__send_batch_free(struct eddy__net_loop *nl)
{
    size_t i;

    /* The loop stopped with sends queued: their connections are closed by now. */
    for (i = 0; i < nl->ndeferred; i++)
        eddy_tcp_connection_unref(nl->deferred[i].c);
    free(nl->deferred);
    nl->deferred = NULL;
    nl->ndeferred = nl->deferred_cap = 0;
    if (nl->ring != NULL)
        ring_unmap(nl->ring);
    nl->ring = NULL;
}

/* The queued bytes of c as one send SQE (user_data: its index in the batch). */
static void prep_send(struct eddy__uring *u, unsigned slot, struct eddy_tcp_connection *c,
                      size_t idx)
{
    unsigned tail = *u->sq_tail + slot, i = tail & *u->sq_mask;
    struct io_uring_sqe *sqe = &u->sqes[i];

    memset(sqe, 0, sizeof *sqe);
    sqe->opcode = IORING_OP_SEND;
    sqe->fd = c->tr.fd;
    sqe->addr = (uint64_t)(uintptr_t)eddy_buffer_peek(&c->out);
    sqe->len = (unsigned)eddy_buffer_readable(&c->out);
    sqe->msg_flags = MSG_NOSIGNAL | MSG_DONTWAIT;
    sqe->user_data = idx;
    u->sq_array[i] = i;
}

/* Submits n prepared sends; their results go to d[user_data].res. 0 or -errno (the
 * results then unknown: a failure io_uring does not have for these sends). */
static int ring_run(struct eddy__uring *u, unsigned n, struct eddy__deferred *d)
{
    unsigned got = 0;
    long r;

    __atomic_store_n(u->sq_tail, *u->sq_tail + n, __ATOMIC_RELEASE);
    do
        r = syscall(SYS_io_uring_enter, u->fd, n, n, IORING_ENTER_GETEVENTS, NULL, 0);
    while (r < 0 && errno == EINTR);
    if (r < 0 || (unsigned)r != n)
        return r < 0 ? -errno : -EIO;
    while (got < n) {
        unsigned head = *u->cq_head, tail = __atomic_load_n(u->cq_tail, __ATOMIC_ACQUIRE);

        for (; head != tail; head++, got++)
            d[u->cqes[head & *u->cq_mask].user_data].res = u->cqes[head & *u->cq_mask].res;
        __atomic_store_n(u->cq_head, head, __ATOMIC_RELEASE);
        /* Not expected (MSG_DONTWAIT completes during the submission): wait for the rest. */
        if (got < n &&
            syscall(SYS_io_uring_enter, u->fd, 0, n - got, IORING_ENTER_GETEVENTS, NULL, 0) < 0 &&
            errno != EINTR)
            return -errno;
    }
    return 0;
}

/* Sends the output of the first n entries in one io_uring_enter: each connection whose
 * output is still plain memory waiting for nothing else; res NOT_SENT for the others. */
static void send_some(struct eddy__net_loop *nl, size_t n)
{
    struct eddy__deferred *d = nl->deferred;
    unsigned k = 0;
    size_t i;

    for (i = 0; i < n; i++) {
        struct eddy_tcp_connection *c = d[i].c;

        d[i].res = NOT_SENT;
        if (!eddy__tcp_conn_is_live(c) || c->seg_head != NULL ||
            eddy_buffer_readable(&c->out) == 0 || eddy_channel_is_writing(&c->ch))
            continue;
        eddy__tcp_conn_before_write(c);
        prep_send(nl->ring, k++, c, i);
    }
    if (k > 0 && ring_run(nl->ring, k, d) < 0) {
        /* Whether the kernel took the bytes is unknown: those streams are lost. */
        for (i = 0; i < n; i++)
            d[i].res = d[i].res == NOT_SENT ? NOT_SENT : -EIO;
        nl->batch_sends = 0;
    }
}

/* What a batched send took leaves the queue. Done for the whole batch before any callback
 * runs: one could otherwise queue more on a connection of the batch and write it again
 * from the start, sent bytes and all. */
static void account(struct eddy_tcp_connection *c, int res)
{
    if (res > 0 && eddy__tcp_conn_is_live(c)) {
        eddy_buffer_retrieve(&c->out, (size_t)res);
        c->sent += (uint64_t)res;
        c->flags |= F_SENT_AHEAD;
    }
}

/* The write path takes over from a batched send's result, as if it had made it. */
static void finish(struct eddy_tcp_connection *c, int res)
{
    eddy__tcp_conn_enter(c);
    c->flags &= ~F_DEFERRED;
    if (res < 0 && res != -EAGAIN && res != NOT_SENT && eddy__tcp_conn_is_live(c)) {
        if (res == -ECONNRESET)
            c->flags |= F_RESET;
        eddy__tcp_conn_request_close(c);
    }
    if (eddy__tcp_conn_is_live(c) && !eddy_channel_is_writing(&c->ch))
        eddy__tcp_conn_write_out(c);
    c->flags &= ~F_SENT_AHEAD;
    eddy__tcp_conn_leave(c);
    eddy_tcp_connection_unref(c);
}

/* The loop's after-batch and prepare hook: the sends of a batch of events leave before
 * its timers and tasks run, those queued by tasks before the loop waits. */
static int flush(struct eddy_event_loop *loop, void *arg)
{
    struct eddy__net_loop *nl = arg;

    (void)loop;
    nl->flushing = 1;
    while (nl->ndeferred > 0) {
        size_t n = nl->ndeferred < RING_ENTRIES ? nl->ndeferred : RING_ENTRIES, i;

        /* A batch of one gains nothing from the ring: its own send() is as cheap. */
        if (nl->batch_sends && n > 1)
            send_some(nl, n);
        else
            for (i = 0; i < n; i++)
                nl->deferred[i].res = NOT_SENT;
        for (i = 0; i < n; i++)
            account(nl->deferred[i].c, nl->deferred[i].res);
        for (i = 0; i < n; i++)
            finish(nl->deferred[i].c, nl->deferred[i].res);
        nl->ndeferred -= n;
        memmove(nl->deferred, nl->deferred + n, nl->ndeferred * sizeof *nl->deferred);
    }
    nl->flushing = 0;
    return -1;
}

static int start(struct eddy__net_loop *nl)
{
    const char *env = getenv("EDDY_SEND_BATCH");

    if ((env != NULL && strcmp(env, "0") == 0) || (nl->ring = ring_open()) == NULL)
        return -ENOSYS;
    /* After each batch, and before each wait for what tasks and timers queued. */
    if (eddy__event_loop_add_after_batch(nl->loop, flush, nl) < 0) {
        ring_unmap(nl->ring);
        nl->ring = NULL;
        return -ENOMEM;
    }
    if (eddy_event_loop_add_prepare(nl->loop, flush, nl) < 0) {
        eddy__event_loop_remove_after_batch(nl->loop, flush, nl);
        ring_unmap(nl->ring);
        nl->ring = NULL;
        return -ENOMEM;
    }
    return 0;
}

int eddy__send_batch_defer(struct eddy_tcp_connection *c)
{
    struct eddy__net_loop *nl = c->nl;

    if (c->flags & F_DEFERRED)
        return 1;
    if (!nl->batch_sends || nl->flushing || (c->flags & F_CLOSE_FLUSHED) ||
        c->tr.ops != &eddy_transport_socket || c->seg_head != NULL ||
        eddy_buffer_readable(&c->out) == 0)
        return 0;
    if (nl->ring == NULL && start(nl) < 0) {
        nl->batch_sends = 0;
        return 0;
    }
    if (nl->ndeferred == nl->deferred_cap) {
        size_t cap = nl->deferred_cap ? nl->deferred_cap * 2 : 64;
        struct eddy__deferred *d = realloc(nl->deferred, cap * sizeof *d);

        if (d == NULL)
            return 0;
        nl->deferred = d;
        nl->deferred_cap = cap;
    }
    eddy_tcp_connection_ref(c);
    c->flags |= F_DEFERRED;
    nl->deferred[nl->ndeferred++] = (struct eddy__deferred){c, NOT_SENT};
    return 1;
}

void eddy__send_batch_stop(struct eddy__net_loop *nl)
{
    nl->batch_sends = 0;
    if (nl->ring != NULL) {
        eddy__event_loop_remove_after_batch(nl->loop, flush, nl);
        eddy_event_loop_remove_prepare(nl->loop, flush, nl);
    }
    eddy__send_batch_free(nl);
}
