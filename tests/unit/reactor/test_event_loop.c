/* Event loop: removal and fd reuse within a fired batch (every backend),
 * interest bookkeeping, tasks, registry and the cached clock. */
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/select.h>

#include "eddy/uepoll.h"
#include "reactor/event_loop_internal.h"
#include "reactor_test_util.h"

/* Two readable connections in one batch; whichever runs first closes and frees
 * the other, which must then get no callback. */
struct pair_conn {
    struct eddy_channel ch;
    int peer;
    struct pair_conn **other;
    int *calls;
};

static void close_conn(struct pair_conn *c)
{
    eddy_channel_remove(&c->ch);
    t_close(c->ch.fd);
    t_close(c->peer);
    free(c);
}

static void closer_cb(struct eddy_channel *ch, int revents)
{
    struct pair_conn *c = ch->data;
    (void)revents;
    (*c->calls)++;
    if (*c->other != NULL) {
        close_conn(*c->other);
        *c->other = NULL;
    }
}

static struct pair_conn *pair_conn_new(struct eddy_event_loop *loop, int *calls)
{
    struct pair_conn *c = calloc(1, sizeof(*c));
    int sv[2];
    if (c == NULL || t_pipe(sv) < 0)
        abort();
    c->peer = sv[1];
    c->calls = calls;
    eddy_channel_init(&c->ch, loop, sv[0], closer_cb, c);
    if (t_write(sv[1], "r", 1) != 1 || eddy_channel_enable_reading(&c->ch) < 0)
        abort();
    return c;
}

static void backend_remove_other_in_batch(const char *b)
{
    struct eddy_event_loop *loop;
    struct pair_conn *a, *c;
    int calls = 0;
    ASSERT_EQ(eddy_event_loop_new(&loop, b), 0);
    a = pair_conn_new(loop, &calls);
    c = pair_conn_new(loop, &calls);
    a->other = &c;
    c->other = &a;
    /* One iteration fetches both at once. */
    ASSERT_EQ(run_once(loop), 0);
    ASSERT_EQ(calls, 1);
    ASSERT((a == NULL) != (c == NULL));
    close_conn(a != NULL ? a : c);
    eddy_event_loop_free(loop);
}

static void test_remove_during_batch_drops_events(void)
{
    FOR_EACH_BACKEND(b) backend_remove_other_in_batch(b);
}

/* The first callback of the batch closes the other connection and puts a new,
 * idle channel on the very same fd number: the stale event must not reach it. */
struct reuse_ctx {
    struct eddy_event_loop *loop;
    struct conn conns[2];
    struct conn fresh;
    int fresh_fd;
    int fresh_peer;
    int first_calls;
};

static struct reuse_ctx rctx;

static void reuse_cb(struct eddy_channel *ch, int revents)
{
    struct conn *self = ch->data;
    struct conn *other = self == &rctx.conns[0] ? &rctx.conns[1] : &rctx.conns[0];
    int q[2], fd;
    (void)revents;
    rctx.first_calls++;
    if (rctx.first_calls > 1)
        return;
    fd = other->ch.fd;
    eddy_channel_remove(&other->ch);
    t_close(other->ch.fd);
    t_close(other->peer);
    if (t_pipe(q) < 0)
        abort();
    if (q[0] != fd) { /* usually the lowest free number is fd already */
        if ((tio == &eddy_fd_io_kernel ? dup2(q[0], fd) : ue_dup2(q[0], fd)) != fd)
            abort();
        t_close(q[0]);
    }
    rctx.fresh_fd = fd;
    rctx.fresh_peer = q[1];
    conn_init(&rctx.fresh, rctx.loop, fd, q[1]);
    if (eddy_channel_enable_reading(&rctx.fresh.ch) < 0)
        abort();
}

static void backend_fd_reuse_in_batch(const char *b)
{
    int i, sv[2];
    memset(&rctx, 0, sizeof(rctx));
    rctx.fresh_fd = -1;
    ASSERT_EQ(eddy_event_loop_new(&rctx.loop, b), 0);
    for (i = 0; i < 2; i++) {
        ASSERT_EQ(t_pipe(sv), 0);
        ASSERT_EQ(t_write(sv[1], "r", 1), 1);
        conn_init(&rctx.conns[i], rctx.loop, sv[0], sv[1]);
        rctx.conns[i].ch.cb = reuse_cb;
        ASSERT_EQ(eddy_channel_enable_reading(&rctx.conns[i].ch), 0);
    }
    ASSERT_EQ(run_once(rctx.loop), 0);
    ASSERT_EQ(rctx.first_calls, 1);
    ASSERT_GE(rctx.fresh_fd, 0);
    ASSERT_EQ(rctx.fresh.calls, 0);
    /* Later iterations: still nothing, the new pipe is empty. */
    ASSERT_EQ(run_for(rctx.loop, 10), 0);
    ASSERT_EQ(rctx.fresh.calls, 0);
    ASSERT_EQ(t_write(rctx.fresh_peer, "n", 1), 1);
    rctx.fresh.stop_after = 1;
    ASSERT_EQ(run_for(rctx.loop, 1000), 0);
    ASSERT_EQ(rctx.fresh.calls, 1);
    for (i = 0; i < 2; i++) {
        struct conn *c = &rctx.conns[i];
        if (c->ch.fd != rctx.fresh_fd) {
            eddy_channel_remove(&c->ch);
            t_close(c->ch.fd);
            t_close(c->peer);
        }
    }
    eddy_channel_remove(&rctx.fresh.ch);
    t_close(rctx.fresh_fd);
    t_close(rctx.fresh_peer);
    eddy_event_loop_free(rctx.loop);
}

static void test_fd_reuse_within_batch(void)
{
    FOR_EACH_BACKEND(b) backend_fd_reuse_in_batch(b);
}

static void self_remove_cb(struct eddy_channel *ch, int revents)
{
    struct conn *c = ch->data;
    (void)revents;
    c->calls++;
    eddy_channel_remove(ch);
    eddy_channel_remove(ch); /* idempotent */
}

static void test_remove_self_in_callback(struct fix *f)
{
    f->c.ch.cb = self_remove_cb;
    ASSERT_EQ(eddy_channel_enable_reading(&f->c.ch), 0);
    ASSERT_EQ(t_write(f->fd[1], "x", 1), 1);
    ASSERT_EQ(run_for(f->loop, 20), 0);
    ASSERT_EQ(f->c.calls, 1); /* data still unread, but removed: no more callbacks */
    ASSERT_EQ(f->c.ch.events, 0);
}

/* The net layer's close path: unregister without EPOLL_CTL_DEL, then close. */
static void test_remove_before_close(struct fix *f)
{
    struct conn d;
    int q[2], old = f->fd[0];
    ASSERT_EQ(eddy_channel_enable_reading(&f->c.ch), 0);
    ASSERT_EQ(t_write(f->fd[1], "x", 1), 1);
    eddy__channel_remove_before_close(&f->c.ch);
    ASSERT_EQ(f->c.ch.flags, 0);
    ASSERT(eddy_channel_map_get(&f->loop->map, old) == NULL);
    t_close(old);
    f->fd[0] = -1;
    /* A new pipe on the same number registers cleanly and gets only its own events. */
    ASSERT_EQ(t_pipe(q), 0);
    ASSERT_EQ(q[0], old);
    conn_init(&d, f->loop, q[0], q[1]);
    d.do_read = 1;
    ASSERT_EQ(eddy_channel_enable_reading(&d.ch), 0);
    ASSERT_EQ(run_for(f->loop, 20), 0);
    ASSERT_EQ(f->c.calls, 0);
    ASSERT_EQ(d.calls, 0);
    ASSERT_EQ(t_write(q[1], "y", 1), 1);
    expect_callback(f->loop, &d, EXACTLY, EDDY_EV_READ);
    eddy_channel_remove(&d.ch);
    t_close(q[0]);
    t_close(q[1]);
}

static void test_interest_state_kept_in_flags(struct fix *f)
{
    struct eddy_channel *ch = &f->c.ch;
    ASSERT_EQ(ch->flags, 0);
    ASSERT_EQ(eddy_channel_enable_reading(ch), 0);
    ASSERT_EQ(ch->flags, EDDY__CH_REGISTERED | EDDY_EV_READ);
    ASSERT_EQ(eddy_channel_enable_writing(ch), 0);
    ASSERT_EQ(ch->flags, EDDY__CH_REGISTERED | EDDY_EV_READ | EDDY_EV_WRITE);
    /* Enabling again changes nothing: no dispatcher call (mod would fail on a bad epfd). */
    {
        struct {
            int epfd;
        } *st = f->loop->disp_state;
        int saved = st->epfd;
        st->epfd = -1;
        ASSERT_EQ(eddy_channel_enable_writing(ch), 0);
        ASSERT_EQ(eddy_channel_enable_reading(ch), 0);
        ASSERT_EQ(eddy_channel_disable_writing(ch), -EBADF); /* this one needs the kernel */
        st->epfd = saved;
    }
    ASSERT_EQ(ch->events, EDDY_EV_READ | EDDY_EV_WRITE); /* failed change rolled back */
    ASSERT_EQ(eddy_channel_disable_writing(ch), 0);
    ASSERT_EQ(ch->flags, EDDY__CH_REGISTERED | EDDY_EV_READ);
    eddy_channel_remove(ch);
    ASSERT_EQ(ch->flags, 0);
    ASSERT(eddy_channel_map_get(&f->loop->map, f->fd[0]) == NULL);
}

static int task_log[8], ntask_log;

static void log_task(void *arg)
{
    task_log[ntask_log++] = (int)(intptr_t)arg;
}

static void test_free_runs_queued_tasks(void)
{
    struct eddy_event_loop *loop;
    ntask_log = 0;
    ASSERT_EQ(eddy_event_loop_new(&loop, NULL), 0);
    ASSERT_EQ(eddy_event_loop_queue_in_loop(loop, log_task, (void *)1), 0);
    ASSERT_EQ(eddy_event_loop_queue_in_loop(loop, log_task, (void *)2), 0);
    eddy_event_loop_free(loop);
    ASSERT_EQ(ntask_log, 2);
    ASSERT_EQ(task_log[0], 1);
    ASSERT_EQ(task_log[1], 2);
}

static struct eddy_event_loop *chain_loop;
static uint64_t chain_iter[3];

static void chain_task(void *arg)
{
    int i = (int)(intptr_t)arg;
    chain_iter[i] = eddy_event_loop_iterations(chain_loop);
    if (i < 2)
        eddy_event_loop_queue_in_loop(chain_loop, chain_task, (void *)(intptr_t)(i + 1));
    else
        eddy_event_loop_stop(chain_loop);
}

/* A task queued by a running task runs in the next iteration, which does not block. */
static void test_task_queued_by_task_runs_next_iteration(struct fix *f)
{
    double t0;
    chain_loop = f->loop;
    ASSERT_EQ(eddy_event_loop_queue_in_loop(chain_loop, chain_task, (void *)0), 0);
    t0 = eddy_test_now();
    ASSERT_EQ(eddy_event_loop_run(chain_loop), 0);
    ASSERT(eddy_test_now() - t0 < 0.5);
    ASSERT_EQ(chain_iter[1], chain_iter[0] + 1);
    ASSERT_EQ(chain_iter[2], chain_iter[0] + 2);
}

static void test_run_in_loop_same_thread_runs_now(struct fix *f)
{
    ntask_log = 0;
    ASSERT(eddy_event_loop_is_in_loop_thread(f->loop));
    ASSERT_EQ(eddy_event_loop_run_in_loop(f->loop, log_task, (void *)7), 0);
    ASSERT_EQ(ntask_log, 1);
    ASSERT_EQ(task_log[0], 7);
}

static void test_dispatcher_registry(void)
{
    const char *const *names = eddy_event_dispatcher_names();
    struct eddy_event_loop *loop;
    int i;
    ASSERT(eddy_event_dispatcher_find(NULL) == &eddy_dispatcher_epoll);
    ASSERT(eddy_event_dispatcher_find("") == &eddy_dispatcher_epoll);
    ASSERT(eddy_event_dispatcher_find("kqueue") == NULL);
    for (i = 0; names[i] != NULL; i++)
        ASSERT_STR_EQ(eddy_event_dispatcher_find(names[i])->name, names[i]);
    ASSERT_EQ(i, 6);
    ASSERT_EQ(eddy_event_dispatcher_list()[0], eddy_event_dispatcher_find(NULL));
    ASSERT_STR_EQ(eddy_event_dispatcher_find(NULL)->name, "epoll");
    ASSERT_EQ(eddy_event_loop_new(&loop, "nope"), -EINVAL);
    ASSERT(loop == NULL);
    ASSERT_EQ(eddy_event_loop_new(&loop, "poll"), 0);
    ASSERT(eddy_event_loop_dispatcher(loop) == &eddy_dispatcher_poll);
    eddy_event_loop_set_data(loop, &i);
    ASSERT(eddy_event_loop_data(loop) == &i);
    eddy_event_loop_free(loop);
}

/* The names are the list's backends that can watch kernel descriptors, in list
 * order, and each backend's flags say what it does. */
static void test_dispatcher_list_and_flags(void)
{
    const struct eddy_event_dispatcher *const *l = eddy_event_dispatcher_list();
    const char *const *names = eddy_event_dispatcher_names();
    int i, k = 0;
    for (i = 0; l[i] != NULL; i++) {
        ASSERT(eddy_event_dispatcher_find(l[i]->name) == l[i]);
        if (l[i]->kind == EDDY_FD_KERNEL || (l[i]->flags & EDDY_DISP_KERNEL_FDS))
            ASSERT_STR_EQ(names[k++], l[i]->name);
    }
    ASSERT(names[k] == NULL);
    ASSERT_EQ(eddy_dispatcher_epoll.flags, EDDY_DISP_CLOSE_UNREGISTERS);
    ASSERT_EQ(eddy_dispatcher_epoll_et.flags,
              EDDY_DISP_CLOSE_UNREGISTERS | EDDY_DISP_EDGE_TRIGGERED);
    ASSERT_EQ(eddy_dispatcher_poll.flags, 0);
    ASSERT_EQ(eddy_dispatcher_select.flags, 0);
    ASSERT_EQ(eddy_dispatcher_epoll.max_fd, -1);
    ASSERT_EQ(eddy_dispatcher_poll.max_fd, -1);
    ASSERT_EQ(eddy_dispatcher_select.max_fd, FD_SETSIZE - 1);
    ASSERT_EQ(eddy_dispatcher_uepoll.flags, EDDY_DISP_CLOSE_UNREGISTERS | EDDY_DISP_KERNEL_FDS);
    ASSERT_EQ(eddy_dispatcher_uepoll_et.flags,
              EDDY_DISP_CLOSE_UNREGISTERS | EDDY_DISP_EDGE_TRIGGERED | EDDY_DISP_KERNEL_FDS);
    ASSERT_EQ(eddy_dispatcher_uepoll.kind, EDDY_FD_UEPOLL);
    ASSERT(eddy_dispatcher_uepoll.io == &eddy_fd_io_uepoll);
    ASSERT(eddy_dispatcher_epoll.io == &eddy_fd_io_kernel);
}

/* The loop refuses, by max_fd, a descriptor its backend cannot watch. */
static void test_loop_refuses_fd_past_max(void)
{
    struct eddy_event_loop *loop;
    struct conn c;
    int p[2], hi;
    ASSERT_EQ(pipe2(p, O_NONBLOCK), 0);
    hi = fcntl(p[0], F_DUPFD_CLOEXEC, FD_SETSIZE);
    ASSERT_GE(hi, FD_SETSIZE);
    ASSERT_EQ(eddy_event_loop_new(&loop, "select"), 0);
    conn_init(&c, loop, hi, -1);
    ASSERT_EQ(eddy_channel_enable_reading(&c.ch), -ERANGE);
    eddy_channel_remove(&c.ch);
    eddy_event_loop_free(loop);
    close(hi);
    close(p[0]);
    close(p[1]);
}

static int kernel_fds_open(void)
{
    int n = 0;
    for (int fd = 0; fd < 4096; fd++)
        n += fcntl(fd, F_GETFD) >= 0;
    return n;
}

/* A loop on uepoll runs entirely in user space: it opens no kernel descriptor for
 * its dispatcher or its wake-up, and a pipe, a timer and a task all work. */
static void test_uepoll_loop_opens_no_kernel_fd(void)
{
    struct eddy_event_loop *loop;
    struct conn c;
    int p[2], before = kernel_fds_open();
    ASSERT_EQ(eddy_event_loop_new(&loop, "uepoll"), 0);
    ASSERT_EQ(ue_pipe2(p, O_NONBLOCK), 0);
    ASSERT_EQ(kernel_fds_open(), before);
    use_backend(&eddy_dispatcher_uepoll);
    conn_init(&c, loop, p[0], p[1]);
    c.do_read = 1;
    ASSERT_EQ(eddy_channel_enable_reading(&c.ch), 0);
    ASSERT_EQ(ue_write(p[1], "u", 1), 1);
    expect_callback(loop, &c, EXACTLY, EDDY_EV_READ);
    ASSERT_EQ(run_once(loop), 0); /* a task, through the uepoll eventfd */
    ASSERT_EQ(kernel_fds_open(), before);
    eddy_channel_remove(&c.ch);
    ue_close(p[0]);
    ue_close(p[1]);
    eddy_event_loop_free(loop);
}

static void test_now_is_cached_and_monotonic(struct fix *f)
{
    uint64_t a, b;
    a = eddy_event_loop_now(f->loop);
    usleep(5000);
    ASSERT_EQ(eddy_event_loop_now(f->loop), a); /* cached */
    eddy_event_loop_update_time(f->loop);
    b = eddy_event_loop_now(f->loop);
    ASSERT_GE(b, a + 4);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    RUN(test_remove_during_batch_drops_events);
    RUN(test_fd_reuse_within_batch);
    RUN_FIX_EACH_BACKEND(test_remove_self_in_callback, FIX_PIPE);
    RUN_FIX_EACH_BACKEND(test_remove_before_close, FIX_PIPE);
    RUN_FIX(test_interest_state_kept_in_flags, NULL, FIX_SOCKETPAIR);
    RUN(test_free_runs_queued_tasks);
    RUN_FIX_EACH_BACKEND(test_task_queued_by_task_runs_next_iteration, FIX_LOOP_ONLY);
    RUN_FIX_EACH_BACKEND(test_run_in_loop_same_thread_runs_now, FIX_LOOP_ONLY);
    RUN(test_dispatcher_registry);
    RUN(test_dispatcher_list_and_flags);
    RUN(test_loop_refuses_fd_past_max);
    RUN(test_uepoll_loop_opens_no_kernel_fd);
    RUN_FIX_EACH_BACKEND(test_now_is_cached_and_monotonic, FIX_LOOP_ONLY);
    return eddy_test_done();
}
