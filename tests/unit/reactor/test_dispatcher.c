/* Dispatcher backends seen through an event loop: readiness, hang-up, LT vs ET,
 * EINTR, batch growth and select's FD_SETSIZE limit, each on every backend. */
#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/time.h>

#include "reactor/event_loop_internal.h"
#include "reactor_test_util.h"

static void test_backend_read_pipe(struct fix *f)
{
    f->c.do_read = 1;
    ASSERT_EQ(eddy_channel_enable_reading(&f->c.ch), 0);
    ASSERT_EQ(t_write(f->fd[1], "x", 1), 1);
    expect_callback(f->loop, &f->c, EXACTLY, EDDY_EV_READ);
}

static void test_backend_write_socketpair(struct fix *f)
{
    ASSERT_EQ(eddy_channel_enable_writing(&f->c.ch), 0);
    ASSERT(eddy_channel_is_writing(&f->c.ch));
    ASSERT(!eddy_channel_is_reading(&f->c.ch));
    expect_callback(f->loop, &f->c, EXACTLY, EDDY_EV_WRITE);
}

static void test_backend_read_and_write_in_one_callback(struct fix *f)
{
    ASSERT_EQ(t_write(f->fd[1], "abc", 3), 3);
    f->c.do_read = 1;
    ASSERT_EQ(eddy_channel_set_events(&f->c.ch, EDDY_EV_READ | EDDY_EV_WRITE), 0);
    expect_callback(f->loop, &f->c, EXACTLY,
                    EDDY_EV_READ | EDDY_EV_WRITE); /* one callback for both */
}

/* On a pipe and on a socketpair. */
static void backend_hup(struct fix *f)
{
    char x;
    ASSERT_EQ(eddy_channel_enable_reading(&f->c.ch), 0);
    t_close(f->fd[1]);
    f->fd[1] = -1;
    /* select has no hang-up bit: the fd is readable and the read says end of file. */
    if (strcmp(f->backend, "select") == 0)
        expect_callback(f->loop, &f->c, EXACTLY, EDDY_EV_READ);
    else
        expect_callback(f->loop, &f->c, EDDY_EV_HUP, EDDY_EV_HUP);
    if (eddy_test_failed())
        return;
    ASSERT_EQ(t_read(f->fd[0], &x, 1), 0);
}

/* A peer's half-close is READ (end of file on read), never HUP: it may still wait for answers. */
static void test_backend_half_close_is_read_not_hup(struct fix *f)
{
    char x;
    ASSERT_EQ(eddy_channel_enable_reading(&f->c.ch), 0);
    ASSERT_EQ(shutdown(f->fd[1], SHUT_WR), 0);
    expect_callback(f->loop, &f->c, EXACTLY, EDDY_EV_READ);
    if (eddy_test_failed())
        return;
    ASSERT_EQ(t_read(f->fd[0], &x, 1), 0);
    ASSERT_EQ(t_write(f->fd[0], "answer", 6), 6); /* the other direction still works */
    ASSERT_EQ(t_read(f->fd[1], &x, 1), 1);
}

static void test_backend_disable_then_enable(struct fix *f)
{
    f->c.do_read = 1;
    ASSERT_EQ(eddy_channel_enable_reading(&f->c.ch), 0);
    ASSERT_EQ(eddy_channel_disable_reading(&f->c.ch), 0);
    ASSERT(!eddy_channel_is_reading(&f->c.ch));
    ASSERT_EQ(t_write(f->fd[1], "x", 1), 1);
    ASSERT_EQ(run_for(f->loop, 20), 0);
    ASSERT_EQ(f->c.calls, 0);
    ASSERT_EQ(eddy_channel_enable_reading(&f->c.ch), 0);
    expect_callback(f->loop, &f->c, EXACTLY, EDDY_EV_READ);
}

/* Unread data: level-triggered backends report it every iteration, edge-triggered once. */
static void backend_level_vs_edge(struct fix *f)
{
    struct conn *c = &f->c;
    ASSERT_EQ(eddy_channel_enable_reading(&c->ch), 0);
    ASSERT_EQ(t_write(f->fd[1], "xyz", 3), 3);
    ASSERT_EQ(run_for(f->loop, 30), 0);
    if (eddy_event_loop_is_edge_triggered(f->loop)) {
        ASSERT_EQ(c->calls, 1);
        ASSERT_EQ(t_write(f->fd[1], "w", 1), 1); /* a new edge */
        ASSERT_EQ(run_for(f->loop, 30), 0);
        ASSERT_EQ(c->calls, 2);
    } else {
        c->stop_after = c->calls + 5; /* keeps coming while unread */
        ASSERT_EQ(run_for(f->loop, 5000), 0);
        ASSERT_EQ(c->calls, c->stop_after);
        ASSERT_GT(c->calls, 5);
    }
}

static void test_backend_level_repeats_edge_reports_once(void)
{
    FOR_EACH_BACKEND(b) with_fix(b, FIX_PIPE, backend_level_vs_edge);
    ASSERT_EQ(eddy_event_dispatcher_find("epoll-et")->flags & EDDY_DISP_EDGE_TRIGGERED,
              EDDY_DISP_EDGE_TRIGGERED);
    ASSERT_EQ(eddy_event_dispatcher_find("epoll")->flags & EDDY_DISP_EDGE_TRIGGERED, 0);
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
    ASSERT_EQ(t_pipe(p), 0);
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
    t_close(p[0]);
    t_close(p[1]);
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
    int max_fd = eddy_event_dispatcher_find(b)->max_fd;
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
        ASSERT_EQ(t_pipe(p), 0);
        conn_init(&cs[i], loop, p[0], p[1]);
        cs[i].do_read = 1;
        ASSERT_EQ(t_write(p[1], "x", 1), 1);
        int r = eddy_channel_enable_reading(&cs[i].ch);
        if (max_fd >= 0 && p[0] > max_fd)
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
        if (max_fd < 0 || cs[i].ch.fd <= max_fd)
            all &= cs[i].calls == 1;
        eddy_channel_remove(&cs[i].ch);
        t_close(cs[i].ch.fd);
        t_close(cs[i].peer);
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

/* The conn watches the write end of a full pipe: no write readiness until the reader drains it. */
static void test_backend_write_pipe_after_drain(struct fix *f)
{
    char buf[65536];
    while (t_write(f->fd[1], "xxxxxxxxxxxxxxxx", 16) > 0)
        ;
    conn_init(&f->c, f->loop, f->fd[1], f->fd[0]);
    ASSERT_EQ(eddy_channel_enable_writing(&f->c.ch), 0);
    ASSERT_EQ(run_for(f->loop, 20), 0);
    ASSERT_EQ(f->c.calls, 0);
    while (t_read(f->fd[0], buf, sizeof(buf)) > 0)
        ;
    expect_callback(f->loop, &f->c, EXACTLY, EDDY_EV_WRITE);
}

/* poll reports a registered fd that was closed as POLLNVAL, mapped to ERROR. */
static void test_poll_nval_maps_to_error(struct fix *f)
{
    ASSERT_EQ(eddy_channel_enable_reading(&f->c.ch), 0);
    t_close(f->fd[0]); /* a consumer bug: closed before removal */
    f->fd[0] = -1;
    expect_callback(f->loop, &f->c, EDDY_EV_ERROR, EDDY_EV_ERROR);
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

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    RUN_FIX_EACH_BACKEND(test_backend_read_pipe, FIX_PIPE);
    RUN_FIX_EACH_BACKEND(test_backend_write_socketpair, FIX_SOCKETPAIR);
    RUN_FIX_EACH_BACKEND(test_backend_read_and_write_in_one_callback, FIX_SOCKETPAIR);
    run_fix("test_backend_hup_pipe", 1, NULL, FIX_PIPE, backend_hup);
    run_fix("test_backend_hup_socketpair", 1, NULL, FIX_SOCKETPAIR, backend_hup);
    RUN_FIX_EACH_BACKEND(test_backend_half_close_is_read_not_hup, FIX_SOCKETPAIR);
    RUN_FIX_EACH_BACKEND(test_backend_disable_then_enable, FIX_PIPE);
    RUN(test_backend_level_repeats_edge_reports_once);
    RUN_FIX_EACH_BACKEND(test_backend_write_pipe_after_drain, FIX_PIPE);
    RUN(test_eintr_keeps_loop_running);
    RUN(test_batch_grows_when_full);
    RUN_FIX(test_poll_nval_maps_to_error, "poll", FIX_PIPE);
    RUN(test_select_refuses_fd_at_or_above_fd_setsize);
    return eddy_test_done();
}
