/* Event loop and dispatcher behaviour, each case run on every backend. */
#include "eddy/event_loop.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "eddy/channel.h"
#include "eddy/timer.h"
#include "reactor/event_loop_internal.h"
#include "../../lib/test.h"

static const char *const backends[] = {"epoll", "epoll-et", "poll", "select"};
#define NBACKENDS 4
#define FOR_EACH_BACKEND(b)                                                                        \
    for (int bi_ = 0; bi_ < NBACKENDS && !eddy_test_failed(); bi_++)                               \
        for (const char *b = backends[bi_]; b; b = NULL)

struct conn {
    struct eddy_channel ch;
    int peer; /* the other end, or -1 */
    int calls;
    int last; /* revents of the last callback */
    int all;  /* union of revents seen */
    int do_read;
    int stop_after;
};

static void stop_cb(struct eddy_timer *t)
{
    eddy_event_loop_stop(t->loop);
}

static int run_for(struct eddy_event_loop *loop, uint64_t ms)
{
    struct eddy_timer stop;
    int r;
    eddy_timer_init(&stop, loop, stop_cb, NULL);
    eddy_timer_start(&stop, ms, 0);
    r = eddy_event_loop_run(loop);
    eddy_timer_stop(&stop);
    return r;
}

static void stop_task(void *arg)
{
    eddy_event_loop_stop(arg);
}

/* Exactly one iteration that does not block: a queued task makes the wait 0. */
static int run_once(struct eddy_event_loop *loop)
{
    uint64_t it = eddy_event_loop_iterations(loop);
    int r;
    eddy_event_loop_queue_in_loop(loop, stop_task, loop);
    r = eddy_event_loop_run(loop);
    return eddy_event_loop_iterations(loop) == it + 1 ? r : -1000;
}

static int total_calls, total_target; /* stop the loop after total_target callbacks */

static void conn_cb(struct eddy_channel *ch, int revents)
{
    struct conn *c = ch->data;
    char buf[256];
    c->calls++;
    c->last = revents;
    c->all |= revents;
    if (c->do_read && (revents & EDDY_EV_READ))
        while (read(ch->fd, buf, sizeof(buf)) > 0)
            ;
    if (c->stop_after && c->calls == c->stop_after)
        eddy_event_loop_stop(ch->loop);
    if (total_target && ++total_calls == total_target)
        eddy_event_loop_stop(ch->loop);
}

static void conn_init(struct conn *c, struct eddy_event_loop *loop, int fd, int peer)
{
    memset(c, 0, sizeof(*c));
    c->peer = peer;
    eddy_channel_init(&c->ch, loop, fd, conn_cb, c);
}

static int nb_socketpair(int sv[2])
{
    return socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv);
}

static void backend_read_pipe(const char *b)
{
    struct eddy_event_loop *loop;
    struct conn c;
    int p[2];
    ASSERT_EQ(eddy_event_loop_new(&loop, b), 0);
    ASSERT_EQ(pipe2(p, O_NONBLOCK), 0);
    conn_init(&c, loop, p[0], p[1]);
    c.do_read = 1;
    c.stop_after = 1;
    ASSERT_EQ(eddy_channel_enable_reading(&c.ch), 0);
    ASSERT_EQ(write(p[1], "x", 1), 1);
    ASSERT_EQ(run_for(loop, 1000), 0);
    ASSERT_EQ(c.calls, 1);
    ASSERT_EQ(c.last, EDDY_EV_READ);
    eddy_channel_remove(&c.ch);
    close(p[0]);
    close(p[1]);
    eddy_event_loop_free(loop);
}

static void test_backend_read_pipe(void)
{
    FOR_EACH_BACKEND(b) backend_read_pipe(b);
}

static void backend_write_socketpair(const char *b)
{
    struct eddy_event_loop *loop;
    struct conn c;
    int sv[2];
    ASSERT_EQ(eddy_event_loop_new(&loop, b), 0);
    ASSERT_EQ(nb_socketpair(sv), 0);
    conn_init(&c, loop, sv[0], sv[1]);
    c.stop_after = 1;
    ASSERT_EQ(eddy_channel_enable_writing(&c.ch), 0);
    ASSERT(eddy_channel_is_writing(&c.ch));
    ASSERT(!eddy_channel_is_reading(&c.ch));
    ASSERT_EQ(run_for(loop, 1000), 0);
    ASSERT_EQ(c.calls, 1);
    ASSERT_EQ(c.last, EDDY_EV_WRITE);
    eddy_channel_remove(&c.ch);
    close(sv[0]);
    close(sv[1]);
    eddy_event_loop_free(loop);
}

static void test_backend_write_socketpair(void)
{
    FOR_EACH_BACKEND(b) backend_write_socketpair(b);
}

static void backend_read_and_write(const char *b)
{
    struct eddy_event_loop *loop;
    struct conn c;
    int sv[2];
    ASSERT_EQ(eddy_event_loop_new(&loop, b), 0);
    ASSERT_EQ(nb_socketpair(sv), 0);
    ASSERT_EQ(write(sv[1], "abc", 3), 3);
    conn_init(&c, loop, sv[0], sv[1]);
    c.stop_after = 1;
    c.do_read = 1;
    ASSERT_EQ(eddy_channel_set_events(&c.ch, EDDY_EV_READ | EDDY_EV_WRITE), 0);
    ASSERT_EQ(run_for(loop, 1000), 0);
    ASSERT_EQ(c.calls, 1);
    ASSERT_EQ(c.last, EDDY_EV_READ | EDDY_EV_WRITE); /* one callback for both */
    eddy_channel_remove(&c.ch);
    close(sv[0]);
    close(sv[1]);
    eddy_event_loop_free(loop);
}

static void test_backend_read_and_write_in_one_callback(void)
{
    FOR_EACH_BACKEND(b) backend_read_and_write(b);
}

static void backend_hup(const char *b, int use_socketpair)
{
    struct eddy_event_loop *loop;
    struct conn c;
    int p[2];
    char x;
    ASSERT_EQ(eddy_event_loop_new(&loop, b), 0);
    ASSERT_EQ(use_socketpair ? nb_socketpair(p) : pipe2(p, O_NONBLOCK), 0);
    conn_init(&c, loop, p[0], -1);
    c.stop_after = 1;
    ASSERT_EQ(eddy_channel_enable_reading(&c.ch), 0);
    close(p[1]);
    ASSERT_EQ(run_for(loop, 1000), 0);
    ASSERT_EQ(c.calls, 1);
    /* select has no hang-up bit: the fd is readable and the read says end of file. */
    if (strcmp(b, "select") == 0)
        ASSERT_EQ(c.last, EDDY_EV_READ);
    else
        ASSERT(c.last & EDDY_EV_HUP);
    ASSERT_EQ(read(p[0], &x, 1), 0);
    eddy_channel_remove(&c.ch);
    close(p[0]);
    eddy_event_loop_free(loop);
}

static void test_backend_hup_pipe(void)
{
    FOR_EACH_BACKEND(b) backend_hup(b, 0);
}

static void test_backend_hup_socketpair(void)
{
    FOR_EACH_BACKEND(b) backend_hup(b, 1);
}

/* A peer's half-close is READ (end of file on read), never HUP: it may still wait for answers. */
static void backend_half_close(const char *b)
{
    struct eddy_event_loop *loop;
    struct conn c;
    int sv[2];
    char x;
    ASSERT_EQ(eddy_event_loop_new(&loop, b), 0);
    ASSERT_EQ(nb_socketpair(sv), 0);
    conn_init(&c, loop, sv[0], sv[1]);
    c.stop_after = 1;
    ASSERT_EQ(eddy_channel_enable_reading(&c.ch), 0);
    ASSERT_EQ(shutdown(sv[1], SHUT_WR), 0);
    ASSERT_EQ(run_for(loop, 1000), 0);
    ASSERT_EQ(c.calls, 1);
    ASSERT_EQ(c.last, EDDY_EV_READ);
    ASSERT_EQ(read(sv[0], &x, 1), 0);
    ASSERT_EQ(write(sv[0], "answer", 6), 6); /* the other direction still works */
    ASSERT_EQ(read(sv[1], &x, 1), 1);
    eddy_channel_remove(&c.ch);
    close(sv[0]);
    close(sv[1]);
    eddy_event_loop_free(loop);
}

static void test_backend_half_close_is_read_not_hup(void)
{
    FOR_EACH_BACKEND(b) backend_half_close(b);
}

static void backend_disable_enable(const char *b)
{
    struct eddy_event_loop *loop;
    struct conn c;
    int p[2];
    ASSERT_EQ(eddy_event_loop_new(&loop, b), 0);
    ASSERT_EQ(pipe2(p, O_NONBLOCK), 0);
    conn_init(&c, loop, p[0], p[1]);
    c.do_read = 1;
    ASSERT_EQ(eddy_channel_enable_reading(&c.ch), 0);
    ASSERT_EQ(eddy_channel_disable_reading(&c.ch), 0);
    ASSERT(!eddy_channel_is_reading(&c.ch));
    ASSERT_EQ(write(p[1], "x", 1), 1);
    ASSERT_EQ(run_for(loop, 20), 0);
    ASSERT_EQ(c.calls, 0);
    ASSERT_EQ(eddy_channel_enable_reading(&c.ch), 0);
    c.stop_after = 1;
    ASSERT_EQ(run_for(loop, 1000), 0);
    ASSERT_EQ(c.calls, 1);
    ASSERT_EQ(c.last, EDDY_EV_READ);
    eddy_channel_remove(&c.ch);
    close(p[0]);
    close(p[1]);
    eddy_event_loop_free(loop);
}

static void test_backend_disable_then_enable(void)
{
    FOR_EACH_BACKEND(b) backend_disable_enable(b);
}

/* Unread data: level-triggered backends report it every iteration, edge-triggered once. */
static void backend_level_vs_edge(const char *b)
{
    struct eddy_event_loop *loop;
    struct conn c;
    int p[2];
    ASSERT_EQ(eddy_event_loop_new(&loop, b), 0);
    ASSERT_EQ(pipe2(p, O_NONBLOCK), 0);
    conn_init(&c, loop, p[0], p[1]);
    ASSERT_EQ(eddy_channel_enable_reading(&c.ch), 0);
    ASSERT_EQ(write(p[1], "xyz", 3), 3);
    ASSERT_EQ(run_for(loop, 30), 0);
    if (eddy_event_loop_is_edge_triggered(loop)) {
        ASSERT_EQ(c.calls, 1);
        ASSERT_EQ(write(p[1], "w", 1), 1); /* a new edge */
        ASSERT_EQ(run_for(loop, 30), 0);
        ASSERT_EQ(c.calls, 2);
    } else {
        c.stop_after = c.calls + 5; /* keeps coming while unread */
        ASSERT_EQ(run_for(loop, 5000), 0);
        ASSERT_EQ(c.calls, c.stop_after);
        ASSERT_GT(c.calls, 5);
    }
    eddy_channel_remove(&c.ch);
    close(p[0]);
    close(p[1]);
    eddy_event_loop_free(loop);
}

static void test_backend_level_repeats_edge_reports_once(void)
{
    FOR_EACH_BACKEND(b) backend_level_vs_edge(b);
    ASSERT_EQ(eddy_event_dispatcher_find("epoll-et")->edge_triggered, 1);
    ASSERT_EQ(eddy_event_dispatcher_find("epoll")->edge_triggered, 0);
}

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
    close(c->ch.fd);
    close(c->peer);
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
    if (c == NULL || nb_socketpair(sv) < 0)
        abort();
    c->peer = sv[1];
    c->calls = calls;
    eddy_channel_init(&c->ch, loop, sv[0], closer_cb, c);
    if (write(sv[1], "r", 1) != 1 || eddy_channel_enable_reading(&c->ch) < 0)
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
    close(other->ch.fd);
    close(other->peer);
    if (pipe2(q, O_NONBLOCK) < 0)
        abort();
    if (q[0] != fd) { /* usually the lowest free number is fd already */
        if (dup2(q[0], fd) != fd)
            abort();
        close(q[0]);
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
        ASSERT_EQ(nb_socketpair(sv), 0);
        ASSERT_EQ(write(sv[1], "r", 1), 1);
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
    ASSERT_EQ(write(rctx.fresh_peer, "n", 1), 1);
    rctx.fresh.stop_after = 1;
    ASSERT_EQ(run_for(rctx.loop, 1000), 0);
    ASSERT_EQ(rctx.fresh.calls, 1);
    for (i = 0; i < 2; i++) {
        struct conn *c = &rctx.conns[i];
        if (c->ch.fd != rctx.fresh_fd) {
            eddy_channel_remove(&c->ch);
            close(c->ch.fd);
            close(c->peer);
        }
    }
    eddy_channel_remove(&rctx.fresh.ch);
    close(rctx.fresh_fd);
    close(rctx.fresh_peer);
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

static void backend_remove_self(const char *b)
{
    struct eddy_event_loop *loop;
    struct conn c;
    int p[2];
    ASSERT_EQ(eddy_event_loop_new(&loop, b), 0);
    ASSERT_EQ(pipe2(p, O_NONBLOCK), 0);
    conn_init(&c, loop, p[0], p[1]);
    c.ch.cb = self_remove_cb;
    ASSERT_EQ(eddy_channel_enable_reading(&c.ch), 0);
    ASSERT_EQ(write(p[1], "x", 1), 1);
    ASSERT_EQ(run_for(loop, 20), 0);
    ASSERT_EQ(c.calls, 1); /* data still unread, but removed: no more callbacks */
    ASSERT_EQ(c.ch.events, 0);
    close(p[0]);
    close(p[1]);
    eddy_event_loop_free(loop);
}

static void test_remove_self_in_callback(void)
{
    FOR_EACH_BACKEND(b) backend_remove_self(b);
}

static volatile sig_atomic_t alarms;

static void on_alarm(int sig)
{
    (void)sig;
    alarms++;
}

/* A signal interrupting the wait (EINTR) makes dispatch return 0, not an
 * error, and the loop keeps running. */
static void backend_eintr(const char *b)
{
    const struct eddy_event_dispatcher *d = eddy_event_dispatcher_find(b);
    struct itimerval once = {{0, 0}, {0, 50000}};
    struct eddy_fired_event ev[4];
    struct eddy_event_loop *loop;
    struct sigaction sa;
    void *st;
    double t0;
    int p[2], r;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_alarm; /* no SA_RESTART */
    ASSERT_EQ(sigaction(SIGALRM, &sa, NULL), 0);
    ASSERT_EQ(d->init(&st), 0);
    ASSERT_EQ(pipe2(p, O_NONBLOCK), 0);
    ASSERT_EQ(d->add(st, p[0], EDDY_EV_READ), 0);
    alarms = 0;
    ASSERT_EQ(setitimer(ITIMER_REAL, &once, NULL), 0);
    t0 = eddy_test_now();
    r = d->dispatch(st, 10000, ev, 4);
    ASSERT_EQ(r, 0);
    ASSERT_EQ(alarms, 1);
    ASSERT(eddy_test_now() - t0 < 5.0); /* woken by the signal, not the timeout */
    ASSERT_EQ(d->del(st, p[0], EDDY_EV_READ), 0);
    d->destroy(st);
    close(p[0]);
    close(p[1]);
    ASSERT_EQ(eddy_event_loop_new(&loop, b), 0);
    ASSERT_EQ(setitimer(ITIMER_REAL, &once, NULL), 0);
    r = run_for(loop, 150);
    ASSERT_EQ(r, 0);
    ASSERT_EQ(alarms, 2);
    eddy_event_loop_free(loop);
}

static void test_eintr_keeps_loop_running(void)
{
    FOR_EACH_BACKEND(b) backend_eintr(b);
}

#define NMANY 600
static void backend_batch_grows(const char *b)
{
    struct eddy_event_loop *loop;
    struct conn *cs = calloc(NMANY, sizeof(*cs));
    int i, p[2], all = 1;
    struct rlimit rl;
    ASSERT(cs != NULL);
    ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &rl), 0);
    if (rl.rlim_cur < 2 * NMANY + 64) {
        rl.rlim_cur = rl.rlim_max < 4096 ? rl.rlim_max : 4096;
        ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &rl), 0);
    }
    ASSERT_EQ(eddy_event_loop_new(&loop, b), 0);
    for (i = 0; i < NMANY; i++) {
        ASSERT_EQ(pipe2(p, O_NONBLOCK), 0);
        conn_init(&cs[i], loop, p[0], p[1]);
        cs[i].do_read = 1;
        ASSERT_EQ(write(p[1], "x", 1), 1);
        int r = eddy_channel_enable_reading(&cs[i].ch);
        if (strcmp(b, "select") == 0 && p[0] >= FD_SETSIZE)
            ASSERT_EQ(r, -ERANGE);
        else
            ASSERT_EQ(r, 0);
    }
    /* Until every accepted channel was called (bounded), then a little more to
     * see that none is called twice. */
    total_target = 0;
    for (i = 0; i < NMANY; i++)
        total_target += cs[i].ch.events != 0;
    total_calls = 0;
    ASSERT_EQ(run_for(loop, 10000), 0);
    ASSERT_EQ(total_calls, total_target);
    total_target = 0;
    ASSERT_EQ(run_for(loop, 10), 0);
    for (i = 0; i < NMANY; i++) {
        if (cs[i].ch.fd < FD_SETSIZE || strcmp(b, "select") != 0)
            all &= cs[i].calls == 1;
        eddy_channel_remove(&cs[i].ch);
        close(cs[i].ch.fd);
        close(cs[i].peer);
    }
    ASSERT(all);
    ASSERT_GT(loop->fired_cap, 256);
    free(cs);
    eddy_event_loop_free(loop);
}

static void test_batch_grows_when_full(void)
{
    FOR_EACH_BACKEND(b) backend_batch_grows(b);
}

static void backend_write_pipe(const char *b)
{
    struct eddy_event_loop *loop;
    struct conn c;
    int p[2];
    ASSERT_EQ(eddy_event_loop_new(&loop, b), 0);
    ASSERT_EQ(pipe2(p, O_NONBLOCK), 0);
    /* Fill the pipe: no write readiness until the reader drains it. */
    while (write(p[1], "xxxxxxxxxxxxxxxx", 16) > 0)
        ;
    conn_init(&c, loop, p[1], p[0]);
    ASSERT_EQ(eddy_channel_enable_writing(&c.ch), 0);
    ASSERT_EQ(run_for(loop, 20), 0);
    ASSERT_EQ(c.calls, 0);
    {
        char buf[65536];
        while (read(p[0], buf, sizeof(buf)) > 0)
            ;
    }
    c.stop_after = 1;
    ASSERT_EQ(run_for(loop, 1000), 0);
    ASSERT_EQ(c.calls, 1);
    ASSERT_EQ(c.last, EDDY_EV_WRITE);
    eddy_channel_remove(&c.ch);
    close(p[0]);
    close(p[1]);
    eddy_event_loop_free(loop);
}

static void test_backend_write_pipe_after_drain(void)
{
    FOR_EACH_BACKEND(b) backend_write_pipe(b);
}

/* poll reports a registered fd that was closed as POLLNVAL, mapped to ERROR. */
static void test_poll_nval_maps_to_error(void)
{
    struct eddy_event_loop *loop;
    struct conn c;
    int p[2];
    ASSERT_EQ(eddy_event_loop_new(&loop, "poll"), 0);
    ASSERT_EQ(pipe2(p, O_NONBLOCK), 0);
    conn_init(&c, loop, p[0], p[1]);
    c.stop_after = 1;
    ASSERT_EQ(eddy_channel_enable_reading(&c.ch), 0);
    close(p[0]); /* a consumer bug: closed before removal */
    ASSERT_EQ(run_for(loop, 1000), 0);
    ASSERT_EQ(c.calls, 1);
    ASSERT(c.last & EDDY_EV_ERROR);
    eddy_channel_remove(&c.ch);
    close(p[1]);
    eddy_event_loop_free(loop);
}

/* The net layer's close path: unregister without EPOLL_CTL_DEL, then close. */
static void backend_remove_before_close(const char *b)
{
    struct eddy_event_loop *loop;
    struct conn c, d;
    int p[2], q[2];
    ASSERT_EQ(eddy_event_loop_new(&loop, b), 0);
    ASSERT_EQ(pipe2(p, O_NONBLOCK), 0);
    conn_init(&c, loop, p[0], p[1]);
    ASSERT_EQ(eddy_channel_enable_reading(&c.ch), 0);
    ASSERT_EQ(write(p[1], "x", 1), 1);
    eddy__channel_remove_before_close(&c.ch);
    ASSERT_EQ(c.ch.flags, 0);
    ASSERT(eddy_channel_map_get(&loop->map, p[0]) == NULL);
    close(p[0]);
    /* A new pipe on the same number registers cleanly and gets only its own events. */
    ASSERT_EQ(pipe2(q, O_NONBLOCK), 0);
    ASSERT_EQ(q[0], p[0]);
    conn_init(&d, loop, q[0], q[1]);
    ASSERT_EQ(eddy_channel_enable_reading(&d.ch), 0);
    ASSERT_EQ(run_for(loop, 20), 0);
    ASSERT_EQ(c.calls, 0);
    ASSERT_EQ(d.calls, 0);
    ASSERT_EQ(write(q[1], "y", 1), 1);
    d.stop_after = 1;
    d.do_read = 1;
    ASSERT_EQ(run_for(loop, 1000), 0);
    ASSERT_EQ(d.calls, 1);
    ASSERT_EQ(d.last, EDDY_EV_READ);
    eddy_channel_remove(&d.ch);
    close(q[0]);
    close(q[1]);
    close(p[1]);
    eddy_event_loop_free(loop);
}

static void test_remove_before_close(void)
{
    FOR_EACH_BACKEND(b) backend_remove_before_close(b);
}

static void test_select_refuses_fd_at_or_above_fd_setsize(void)
{
    struct eddy_event_loop *loop;
    struct eddy_channel ch;
    struct rlimit rl;
    int p[2], big = 1100;
    ASSERT_GT(big, FD_SETSIZE - 1);
    ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &rl), 0);
    if (rl.rlim_cur <= (rlim_t)big) {
        rl.rlim_cur = 2048;
        if (rl.rlim_max < rl.rlim_cur)
            rl.rlim_max = rl.rlim_cur; /* needs root, which the test environment has */
        ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &rl), 0);
    }
    ASSERT_EQ(pipe2(p, O_NONBLOCK), 0);
    ASSERT_EQ(dup2(p[0], big), big);
    ASSERT_EQ(eddy_event_loop_new(&loop, "select"), 0);
    eddy_channel_init(&ch, loop, big, NULL, NULL);
    ASSERT_EQ(eddy_channel_enable_reading(&ch), -ERANGE);
    ASSERT_EQ(ch.events, 0); /* the failed change left nothing behind */
    ASSERT_EQ(ch.flags, 0);
    eddy_channel_remove(&ch);
    /* Still works for small fds. */
    eddy_channel_init(&ch, loop, p[0], NULL, NULL);
    ASSERT_EQ(eddy_channel_enable_reading(&ch), 0);
    eddy_channel_remove(&ch);
    eddy_event_loop_free(loop);
    /* The other backends take it. */
    ASSERT_EQ(eddy_event_loop_new(&loop, "poll"), 0);
    eddy_channel_init(&ch, loop, big, NULL, NULL);
    ASSERT_EQ(eddy_channel_enable_reading(&ch), 0);
    eddy_channel_remove(&ch);
    eddy_event_loop_free(loop);
    close(big);
    close(p[0]);
    close(p[1]);
}

static void test_interest_state_kept_in_flags(void)
{
    struct eddy_event_loop *loop;
    struct eddy_channel ch;
    int sv[2];
    ASSERT_EQ(eddy_event_loop_new(&loop, NULL), 0);
    ASSERT_EQ(nb_socketpair(sv), 0);
    eddy_channel_init(&ch, loop, sv[0], NULL, NULL);
    ASSERT_EQ(ch.flags, 0);
    ASSERT_EQ(eddy_channel_enable_reading(&ch), 0);
    ASSERT_EQ(ch.flags, EDDY__CH_REGISTERED | EDDY_EV_READ);
    ASSERT_EQ(eddy_channel_enable_writing(&ch), 0);
    ASSERT_EQ(ch.flags, EDDY__CH_REGISTERED | EDDY_EV_READ | EDDY_EV_WRITE);
    /* Enabling again changes nothing: no dispatcher call (mod would fail on a bad epfd). */
    {
        struct {
            int epfd;
        } *st = loop->disp_state;
        int saved = st->epfd;
        st->epfd = -1;
        ASSERT_EQ(eddy_channel_enable_writing(&ch), 0);
        ASSERT_EQ(eddy_channel_enable_reading(&ch), 0);
        ASSERT_EQ(eddy_channel_disable_writing(&ch), -EBADF); /* this one needs the kernel */
        st->epfd = saved;
    }
    ASSERT_EQ(ch.events, EDDY_EV_READ | EDDY_EV_WRITE); /* failed change rolled back */
    ASSERT_EQ(eddy_channel_disable_writing(&ch), 0);
    ASSERT_EQ(ch.flags, EDDY__CH_REGISTERED | EDDY_EV_READ);
    eddy_channel_remove(&ch);
    ASSERT_EQ(ch.flags, 0);
    ASSERT(eddy_channel_map_get(&loop->map, sv[0]) == NULL);
    close(sv[0]);
    close(sv[1]);
    eddy_event_loop_free(loop);
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
static void test_task_queued_by_task_runs_next_iteration(void)
{
    double t0;
    ASSERT_EQ(eddy_event_loop_new(&chain_loop, NULL), 0);
    ASSERT_EQ(eddy_event_loop_queue_in_loop(chain_loop, chain_task, (void *)0), 0);
    t0 = eddy_test_now();
    ASSERT_EQ(eddy_event_loop_run(chain_loop), 0);
    ASSERT(eddy_test_now() - t0 < 0.5);
    ASSERT_EQ(chain_iter[1], chain_iter[0] + 1);
    ASSERT_EQ(chain_iter[2], chain_iter[0] + 2);
    eddy_event_loop_free(chain_loop);
}

static void test_run_in_loop_same_thread_runs_now(void)
{
    struct eddy_event_loop *loop;
    ntask_log = 0;
    ASSERT_EQ(eddy_event_loop_new(&loop, NULL), 0);
    ASSERT(eddy_event_loop_is_in_loop_thread(loop));
    ASSERT_EQ(eddy_event_loop_run_in_loop(loop, log_task, (void *)7), 0);
    ASSERT_EQ(ntask_log, 1);
    ASSERT_EQ(task_log[0], 7);
    eddy_event_loop_free(loop);
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
    ASSERT_EQ(i, 4);
    ASSERT_EQ(eddy_event_loop_new(&loop, "nope"), -EINVAL);
    ASSERT(loop == NULL);
    ASSERT_EQ(eddy_event_loop_new(&loop, "poll"), 0);
    ASSERT(eddy_event_loop_dispatcher(loop) == &eddy_dispatcher_poll);
    eddy_event_loop_set_data(loop, &i);
    ASSERT(eddy_event_loop_data(loop) == &i);
    eddy_event_loop_free(loop);
}

static void test_now_is_cached_and_monotonic(void)
{
    struct eddy_event_loop *loop;
    uint64_t a, b;
    ASSERT_EQ(eddy_event_loop_new(&loop, NULL), 0);
    a = eddy_event_loop_now(loop);
    usleep(5000);
    ASSERT_EQ(eddy_event_loop_now(loop), a); /* cached */
    eddy_event_loop_update_time(loop);
    b = eddy_event_loop_now(loop);
    ASSERT_GE(b, a + 4);
    eddy_event_loop_free(loop);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    RUN(test_backend_read_pipe);
    RUN(test_backend_write_socketpair);
    RUN(test_backend_read_and_write_in_one_callback);
    RUN(test_backend_hup_pipe);
    RUN(test_backend_hup_socketpair);
    RUN(test_backend_half_close_is_read_not_hup);
    RUN(test_backend_disable_then_enable);
    RUN(test_backend_level_repeats_edge_reports_once);
    RUN(test_remove_during_batch_drops_events);
    RUN(test_fd_reuse_within_batch);
    RUN(test_remove_self_in_callback);
    RUN(test_eintr_keeps_loop_running);
    RUN(test_batch_grows_when_full);
    RUN(test_backend_write_pipe_after_drain);
    RUN(test_poll_nval_maps_to_error);
    RUN(test_remove_before_close);
    RUN(test_select_refuses_fd_at_or_above_fd_setsize);
    RUN(test_interest_state_kept_in_flags);
    RUN(test_free_runs_queued_tasks);
    RUN(test_task_queued_by_task_runs_next_iteration);
    RUN(test_run_in_loop_same_thread_runs_now);
    RUN(test_dispatcher_registry);
    RUN(test_now_is_cached_and_monotonic);
    return eddy_test_done();
}
