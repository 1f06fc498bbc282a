/* A loop on the uepoll backends watching kernel descriptors too (the seam a TAP
 * device needs), woken from other threads while it blocks in the kernel, and the
 * prepare hooks a user-space stack runs in. Threads: also run under TSan. */
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

#include <sys/syscall.h>

#include "eddy/uepoll.h"
#include "reactor/loop_hooks.h"
#include "reactor_test_util.h"

static const char *const ue_backends[] = {"uepoll", "uepoll-et"};
#define NUE 2

struct runner {
    pthread_t th;
    struct eddy_event_loop *loop;
    int result;
    atomic_int tid;
};

static void *run_thread(void *arg)
{
    struct runner *r = arg;
    atomic_store(&r->tid, (int)gettid());
    r->result = eddy_event_loop_run(r->loop);
    return NULL;
}

/* The system call thread tid is blocked in (its first field in /proc), once it
 * has been asleep a while; -1 if it could not be read. */
static long blocked_syscall(atomic_int *tid)
{
    char path[64];
    long nr = -1;
    for (int i = 0; i < 200 && atomic_load(tid) == 0; i++)
        usleep(1000);
    usleep(50000);
    snprintf(path, sizeof path, "/proc/self/task/%d/syscall", atomic_load(tid));
    FILE *f = fopen(path, "r");
    if (f != NULL) {
        if (fscanf(f, "%ld", &nr) != 1)
            nr = -1;
        fclose(f);
    }
    return nr;
}

/* The loop is handed to its thread before run: run binds it there. */
static void runner_start(struct runner *r)
{
    ASSERT_EQ(pthread_create(&r->th, NULL, run_thread, r), 0);
}

static void runner_join(struct runner *r)
{
    pthread_join(r->th, NULL);
}

/* Kernel and uepoll descriptors with the same number live side by side. */
static void same_number_both_kinds(const char *b)
{
    struct eddy_event_loop *loop;
    struct conn k, u;
    int kp[2], up[2];
    ASSERT_EQ(eddy_event_loop_new(&loop, b), 0);
    use_backend(eddy_event_dispatcher_find(b));
    ASSERT_EQ(pipe2(kp, O_NONBLOCK), 0);
    ASSERT_EQ(ue_pipe2(up, O_NONBLOCK), 0);
    /* Both read ends on number 200 (free in both tables). */
    ASSERT_EQ(dup2(kp[0], 200), 200);
    close(kp[0]);
    kp[0] = 200;
    ASSERT_EQ(ue_dup2(up[0], 200), 200);
    ue_close(up[0]);
    up[0] = 200;
    memset(&k, 0, sizeof(k));
    eddy_channel_init_kernel(&k.ch, loop, kp[0], conn_cb, &k);
    conn_init(&u, loop, up[0], up[1]);
    ASSERT_EQ(eddy_channel_enable_reading(&k.ch), 0);
    ASSERT_EQ(eddy_channel_enable_reading(&u.ch), 0);
    ASSERT_EQ(write(kp[1], "k", 1), 1);
    expect_callback(loop, &k, EXACTLY, EDDY_EV_READ);
    ASSERT_EQ(u.calls, 0);
    char c;
    ASSERT_EQ(read(kp[0], &c, 1), 1);
    ASSERT_EQ(ue_write(up[1], "u", 1), 1);
    expect_callback(loop, &u, EXACTLY, EDDY_EV_READ);
    ASSERT_EQ(k.calls, 1);
    /* A removed kernel channel gets nothing more; its fd stays a kernel one. */
    eddy_channel_remove(&k.ch);
    ASSERT_EQ(write(kp[1], "k", 1), 1);
    ASSERT_EQ(run_for(loop, 20), 0);
    ASSERT_EQ(k.calls, 1);
    ASSERT_EQ(eddy_channel_enable_reading(&k.ch), 0);
    expect_callback(loop, &k, EXACTLY, EDDY_EV_READ);
    eddy_channel_remove(&k.ch);
    eddy_channel_remove(&u.ch);
    close(kp[0]);
    close(kp[1]);
    ue_close(up[0]);
    ue_close(up[1]);
    eddy_event_loop_free(loop);
}

static void test_kernel_and_uepoll_fd_same_number(void)
{
    for (int i = 0; i < NUE && !eddy_test_failed(); i++)
        same_number_both_kinds(ue_backends[i]);
}

/* A kernel channel on a backend of kernel descriptors is an ordinary channel. */
static void test_kernel_channel_on_kernel_backend(void)
{
    FOR_EACH_KERNEL_BACKEND(b)
    {
        struct eddy_event_loop *loop;
        struct conn k;
        int kp[2];
        ASSERT_EQ(eddy_event_loop_new(&loop, b), 0);
        ASSERT_EQ(pipe2(kp, O_NONBLOCK), 0);
        memset(&k, 0, sizeof(k));
        eddy_channel_init_kernel(&k.ch, loop, kp[0], conn_cb, &k);
        k.do_read = 1;
        ASSERT_EQ(eddy_channel_enable_reading(&k.ch), 0);
        ASSERT_EQ(write(kp[1], "k", 1), 1);
        expect_callback(loop, &k, EXACTLY, EDDY_EV_READ);
        eddy_channel_remove(&k.ch);
        close(kp[0]);
        close(kp[1]);
        eddy_event_loop_free(loop);
    }
}

/* The loop blocks in the kernel (a kernel fd is registered, none is ready): a
 * uepoll pipe written by another thread, a task queued by another thread and a
 * timer each end the wait promptly. */
struct blocked {
    struct eddy_event_loop *loop;
    struct conn k, u;
    int kp[2], up[2];
    struct runner r;
};

static void blocked_open(struct blocked *t, const char *b)
{
    memset(t, 0, sizeof(*t));
    ASSERT_EQ(eddy_event_loop_new(&t->loop, b), 0);
    use_backend(eddy_event_dispatcher_find(b));
    ASSERT_EQ(pipe2(t->kp, O_NONBLOCK), 0);
    ASSERT_EQ(ue_pipe2(t->up, O_NONBLOCK), 0);
    eddy_channel_init_kernel(&t->k.ch, t->loop, t->kp[0], conn_cb, &t->k);
    conn_init(&t->u, t->loop, t->up[0], t->up[1]);
    t->u.do_read = 1;
    t->u.stop_after = 1;
    ASSERT_EQ(eddy_channel_enable_reading(&t->k.ch), 0);
    ASSERT_EQ(eddy_channel_enable_reading(&t->u.ch), 0);
    t->r.loop = t->loop;
}

static void blocked_close(struct blocked *t)
{
    eddy_channel_remove(&t->k.ch);
    eddy_channel_remove(&t->u.ch);
    close(t->kp[0]);
    close(t->kp[1]);
    ue_close(t->up[0]);
    ue_close(t->up[1]);
    eddy_event_loop_free(t->loop);
}

static void woken_by_uepoll_write(const char *b)
{
    struct blocked t;
    double t0;
    blocked_open(&t, b);
    runner_start(&t.r);
    usleep(30000); /* let it block in epoll_wait with no timeout */
    t0 = eddy_test_now();
    ASSERT_EQ(ue_write(t.up[1], "u", 1), 1);
    runner_join(&t.r);
    ASSERT(eddy_test_now() - t0 < 1.0);
    ASSERT_EQ(t.r.result, 0);
    ASSERT_EQ(t.u.calls, 1);
    blocked_close(&t);
}

static atomic_int task_ran;

static void stop_task_mt(void *arg)
{
    atomic_store(&task_ran, 1);
    eddy_event_loop_stop(arg);
}

static void woken_by_task(const char *b)
{
    struct blocked t;
    double t0;
    blocked_open(&t, b);
    atomic_store(&task_ran, 0);
    runner_start(&t.r);
    usleep(30000);
    t0 = eddy_test_now();
    ASSERT_EQ(eddy_event_loop_queue_in_loop(t.loop, stop_task_mt, t.loop), 0);
    runner_join(&t.r);
    ASSERT(eddy_test_now() - t0 < 1.0);
    ASSERT_EQ(atomic_load(&task_ran), 1);
    blocked_close(&t);
}

static void woken_by_timer(const char *b)
{
    struct blocked t;
    double t0;
    blocked_open(&t, b);
    t0 = eddy_test_now();
    ASSERT_EQ(run_for(t.loop, 60), 0);
    ASSERT(eddy_test_now() - t0 >= 0.055);
    ASSERT(eddy_test_now() - t0 < 1.0);
    ASSERT_EQ(t.u.calls + t.k.calls, 0);
    blocked_close(&t);
}

/* While a kernel fd is registered the loop blocks in epoll_wait; once the last one
 * is removed (also right before its close) it blocks on uepoll's futex again. */
static void kernel_side_only_while_needed(const char *b)
{
    struct blocked t;
    blocked_open(&t, b);
    runner_start(&t.r);
    long nr = blocked_syscall(&t.r.tid);
    ASSERT(nr == SYS_epoll_wait || nr == SYS_epoll_pwait);
    eddy_event_loop_stop(t.loop);
    runner_join(&t.r);
    eddy__channel_remove_before_close(&t.k.ch);
    close(t.kp[0]);
    close(t.kp[1]);
    ASSERT_EQ(pipe2(t.kp, O_NONBLOCK), 0); /* blocked_close closes a pair */
    atomic_store(&t.r.tid, 0);
    runner_start(&t.r);
    ASSERT_EQ(blocked_syscall(&t.r.tid), SYS_futex);
    eddy_event_loop_stop(t.loop);
    runner_join(&t.r);
    blocked_close(&t);
}

static void test_blocked_in_kernel_woken_from_uepoll(void)
{
    for (int i = 0; i < NUE && !eddy_test_failed(); i++) {
        woken_by_uepoll_write(ue_backends[i]);
        woken_by_task(ue_backends[i]);
        woken_by_timer(ue_backends[i]);
        kernel_side_only_while_needed(ue_backends[i]);
        if (eddy_test_failed())
            printf("#   on backend %s\n", ue_backends[i]);
    }
}

/* Prepare hooks: run before every wait; the one that feeds a uepoll pipe (as a
 * stack's input would) gets its event dispatched in the same iteration, and the
 * time it asks for bounds the wait. */
struct feeder {
    int wfd;
    int calls;
    int feed_at; /* call number that writes */
    uint64_t fed_iteration;
};

static int feed_hook(struct eddy_event_loop *loop, void *arg)
{
    struct feeder *f = arg;
    if (++f->calls == f->feed_at) {
        if (ue_write(f->wfd, "s", 1) != 1)
            return -1;
        f->fed_iteration = eddy_event_loop_iterations(loop);
    }
    return 10;
}

static void prepare_hooks(const char *b)
{
    struct eddy_event_loop *loop;
    struct feeder fd = {0};
    struct conn u;
    int up[2];
    uint64_t at;
    ASSERT_EQ(eddy_event_loop_new(&loop, b), 0);
    use_backend(eddy_event_dispatcher_find(b));
    ASSERT_EQ(ue_pipe2(up, O_NONBLOCK), 0);
    conn_init(&u, loop, up[0], up[1]);
    u.do_read = 1;
    ASSERT_EQ(eddy_channel_enable_reading(&u.ch), 0);
    fd.wfd = up[1];
    fd.feed_at = 5;
    ASSERT_EQ(eddy_event_loop_add_prepare(loop, feed_hook, &fd), 0);
    /* No timer and no event: only the hook's 10 ms keeps the loop turning. */
    u.stop_after = 1;
    ASSERT_EQ(eddy_event_loop_run(loop), 0);
    ASSERT_EQ(fd.calls, 5);
    ASSERT_EQ(u.calls, 1);
    at = eddy_event_loop_iterations(loop);
    ASSERT_EQ(at, fd.fed_iteration + 1); /* dispatched in the iteration it was fed */
    eddy_event_loop_remove_prepare(loop, feed_hook, &fd);
    ASSERT_EQ(run_for(loop, 30), 0);
    ASSERT_EQ(fd.calls, 5);
    eddy_channel_remove(&u.ch);
    ue_close(up[0]);
    ue_close(up[1]);
    eddy_event_loop_free(loop);
}

static void test_prepare_hooks(void)
{
    FOR_EACH_BACKEND(b)
    {
        if (eddy_event_dispatcher_find(b)->kind == EDDY_FD_UEPOLL)
            prepare_hooks(b);
    }
}

int main(void)
{
    RUN(test_kernel_and_uepoll_fd_same_number);
    RUN(test_kernel_channel_on_kernel_backend);
    RUN(test_blocked_in_kernel_woken_from_uepoll);
    RUN(test_prepare_hooks);
    return eddy_test_done();
}
