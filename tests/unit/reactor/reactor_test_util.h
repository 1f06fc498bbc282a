/* Helpers shared by the reactor's event loop tests (static: one copy per test binary). */
#ifndef EDDY_REACTOR_TEST_UTIL_H
#define EDDY_REACTOR_TEST_UTIL_H

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "eddy/channel.h"
#include "eddy/event_loop.h"
#include "eddy/timer.h"
#include "../../lib/test.h"

/*
 * The calls for the descriptors of the backend under test: kernel pipe2/read/write/close,
 * or their uepoll twins, so one test body runs on every backend. Set by use_backend.
 */
static const struct eddy_fd_io *tio __attribute__((unused)) = &eddy_fd_io_kernel;
#define t_read(fd, buf, n)  tio->read(fd, buf, n)
#define t_write(fd, buf, n) tio->write(fd, buf, n)
#define t_close(fd)         tio->close(fd)
#define t_pipe(p)           tio->pipe2(p, O_NONBLOCK)

static inline const char *use_backend(const struct eddy_event_dispatcher *d)
{
    tio = d != NULL ? d->io : &eddy_fd_io_kernel;
    return d != NULL ? d->name : NULL;
}

/* Every backend of the library's list, by name, until a test fails; tio follows. */
#define FOR_EACH_BACKEND(b)                                                                        \
    for (const struct eddy_event_dispatcher *const *bi_ = eddy_event_dispatcher_list();            \
         *bi_ != NULL && !eddy_test_failed(); bi_++)                                               \
        for (const char *b = use_backend(*bi_); b; b = NULL)

/* The backends of kernel descriptors only: for tests on sockets, which uepoll has not. */
#define FOR_EACH_KERNEL_BACKEND(b)                                                                 \
    for (const struct eddy_event_dispatcher *const *bi_ = eddy_event_dispatcher_list();            \
         *bi_ != NULL && !eddy_test_failed(); bi_++)                                               \
        for (const char *b = (*bi_)->kind == EDDY_FD_KERNEL ? use_backend(*bi_) : NULL; b; b = NULL)

struct conn {
    struct eddy_channel ch;
    int peer; /* the other end, or -1 */
    int calls;
    int last; /* revents of the last callback */
    int all;  /* union of revents seen */
    int do_read;
    int stop_after;
};

static inline void stop_cb(struct eddy_timer *t)
{
    eddy_event_loop_stop(t->loop);
}

static inline int run_for(struct eddy_event_loop *loop, uint64_t ms)
{
    struct eddy_timer stop;
    int r;
    eddy_timer_init(&stop, loop, stop_cb, NULL);
    eddy_timer_start(&stop, ms, 0);
    r = eddy_event_loop_run(loop);
    eddy_timer_stop(&stop);
    return r;
}

static inline void stop_task(void *arg)
{
    eddy_event_loop_stop(arg);
}

/* Exactly one iteration that does not block: a queued task makes the wait 0. */
static inline int run_once(struct eddy_event_loop *loop)
{
    uint64_t it = eddy_event_loop_iterations(loop);
    int r;
    eddy_event_loop_queue_in_loop(loop, stop_task, loop);
    r = eddy_event_loop_run(loop);
    return eddy_event_loop_iterations(loop) == it + 1 ? r : -1000;
}

/* When total_target is set, conn_cb stops the loop after that many callbacks in all. */
static int total_calls __attribute__((unused));
static int total_target __attribute__((unused));

static inline void conn_cb(struct eddy_channel *ch, int revents)
{
    struct conn *c = ch->data;
    char buf[256];
    c->calls++;
    c->last = revents;
    c->all |= revents;
    if (c->do_read && (revents & EDDY_EV_READ))
        while (t_read(ch->fd, buf, sizeof(buf)) > 0)
            ;
    if (c->stop_after && c->calls == c->stop_after)
        eddy_event_loop_stop(ch->loop);
    if (total_target && ++total_calls == total_target)
        eddy_event_loop_stop(ch->loop);
}

static inline void conn_init(struct conn *c, struct eddy_event_loop *loop, int fd, int peer)
{
    memset(c, 0, sizeof(*c));
    c->peer = peer;
    eddy_channel_init(&c->ch, loop, fd, conn_cb, c);
}

static inline int nb_socketpair(int sv[2])
{
    return socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv);
}

/*
 * The fixture most loop tests share: a loop on one backend and, unless FIX_LOOP_ONLY, a conn on
 * fd[0] of a fresh nonblocking pipe or socketpair whose other end fd[1] is the peer. A body that
 * closes an fd itself sets it to -1; the rest is torn down even when the body fails an ASSERT.
 */
enum fix_kind { FIX_LOOP_ONLY, FIX_PIPE, FIX_SOCKETPAIR };

struct fix {
    const char *backend; /* NULL: the default one */
    struct eddy_event_loop *loop;
    struct conn c;
    int fd[2];
};

typedef void (*fix_body)(struct fix *f);

static inline void fix_open(struct fix *f, const char *backend, enum fix_kind kind)
{
    memset(f, 0, sizeof(*f));
    f->backend = backend;
    f->fd[0] = f->fd[1] = -1;
    use_backend(eddy_event_dispatcher_find(backend));
    ASSERT_EQ(eddy_event_loop_new(&f->loop, backend), 0);
    if (kind == FIX_LOOP_ONLY)
        return;
    ASSERT(kind == FIX_PIPE || tio == &eddy_fd_io_kernel); /* sockets are kernel fds */
    ASSERT_EQ(kind == FIX_PIPE ? t_pipe(f->fd) : nb_socketpair(f->fd), 0);
    conn_init(&f->c, f->loop, f->fd[0], f->fd[1]);
}

static inline void fix_close(struct fix *f)
{
    if (f->c.ch.loop != NULL)
        eddy_channel_remove(&f->c.ch);
    for (int i = 0; i < 2; i++)
        if (f->fd[i] >= 0)
            t_close(f->fd[i]);
    if (f->loop != NULL)
        eddy_event_loop_free(f->loop);
}

static inline void with_fix(const char *backend, enum fix_kind kind, fix_body body)
{
    struct fix f;
    fix_open(&f, backend, kind);
    if (!eddy_test_failed())
        body(&f);
    if (eddy_test_failed())
        printf("#   on backend %s\n", backend != NULL ? backend : "(default)");
    fix_close(&f);
}

/* What fix_run_ runs: a fixture body on one backend, or on each (all_backends). */
static struct {
    int all_backends;
    const char *backend;
    enum fix_kind kind;
    fix_body body;
} fix_run_args_ __attribute__((unused));

static inline void fix_run_(void)
{
    if (!fix_run_args_.all_backends)
        with_fix(fix_run_args_.backend, fix_run_args_.kind, fix_run_args_.body);
    else if (fix_run_args_.kind == FIX_SOCKETPAIR)
        FOR_EACH_KERNEL_BACKEND(b) with_fix(b, fix_run_args_.kind, fix_run_args_.body);
    else
        FOR_EACH_BACKEND(b) with_fix(b, fix_run_args_.kind, fix_run_args_.body);
}

/* Like RUN: one test (one ok / not ok line called name) running body on a fresh fixture, on
 * backend or, with all_backends, on each backend in turn until the first failure. */
static inline void run_fix(const char *name, int all_backends, const char *backend,
                           enum fix_kind kind, fix_body body)
{
    fix_run_args_.all_backends = all_backends;
    fix_run_args_.backend = backend;
    fix_run_args_.kind = kind;
    fix_run_args_.body = body;
    eddy_test_run(name, fix_run_);
}

#define RUN_FIX(fn, backend, kind)     run_fix(#fn, 0, backend, kind, fn)
#define RUN_FIX_EACH_BACKEND(fn, kind) run_fix(#fn, 1, NULL, kind, fn)

#define EXACTLY (~0) /* expect_callback's mask comparing every bit */

/* Runs until c's next callback (at most 1 s); asserts it came, once, with (revents & mask) ==
 * want. Callers go on only if !eddy_test_failed(). */
static inline void expect_callback(struct eddy_event_loop *loop, struct conn *c, int mask, int want)
{
    int before = c->calls;
    c->stop_after = before + 1;
    ASSERT_EQ(run_for(loop, 1000), 0);
    ASSERT_EQ(c->calls, before + 1);
    ASSERT_EQ(c->last & mask, want);
}

#endif
