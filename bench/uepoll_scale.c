/*
 * uepoll_scale: what epoll_wait and epoll_ctl cost as the number of registered files
 * grows, uepoll against the kernel.
 *
 * n descriptors are registered level-triggered; k of them are ready eventfds, the rest
 * dups of one idle eventfd (a dup is a separate registration, like the kernel's). Then:
 *   wait  ns per epoll_wait(maxevents 64, timeout 0) returning the k ready events;
 *         it must stay flat as n grows: the ready list, not a scan, feeds it.
 *   add   ns per EPOLL_CTL_ADD while filling to n (red-black tree: log n).
 *   del   ns per EPOLL_CTL_DEL while emptying.
 *
 *   build/bench/uepoll_scale [max_n_uepoll [max_n_kernel [repetitions]]]
 * The kernel side stops at the descriptor limit (RLIMIT_NOFILE) minus a margin. Each
 * figure is the best of `repetitions` (default 3) runs.
 */
#include <eddy/uepoll.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define K_READY 16

struct api {
    const char *name;
    int (*create1)(int);
    int (*ctl)(int, int, int, struct epoll_event *);
    int (*wait)(int, struct epoll_event *, int, int);
    int (*eventfd)(unsigned, int);
    int (*dup)(int);
    int (*close)(int);
};

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct result {
    double wait, add, del;
};

static void run_once(const struct api *a, int n, struct result *r)
{
    int ep = a->create1(0), idle = a->eventfd(0, 0);
    int *fds = malloc(sizeof(int) * (size_t)n);
    if (!fds || ep < 0 || idle < 0)
        exit(1);
    for (int i = 0; i < n; i++) {
        fds[i] = i < K_READY ? a->eventfd(1, 0) : a->dup(idle);
        if (fds[i] < 0) {
            fprintf(stderr, "%s: descriptor %d failed\n", a->name, i);
            exit(1);
        }
    }
    struct epoll_event ev = {.events = EPOLLIN}, out[64];
    double t0 = now();
    for (int i = n - 1; i >= 0; i--) { /* ready ones last: they sit deepest */
        ev.data.u64 = (uint64_t)i;
        if (a->ctl(ep, EPOLL_CTL_ADD, fds[i], &ev) != 0)
            exit(1);
    }
    double add = (now() - t0) / n;
    int iters = 200000, got = 0;
    t0 = now();
    for (int i = 0; i < iters; i++)
        got += a->wait(ep, out, 64, 0);
    double wait = (now() - t0) / iters;
    if (got != iters * K_READY)
        fprintf(stderr, "%s: expected %d events per wait\n", a->name, K_READY);
    t0 = now();
    for (int i = 0; i < n; i++)
        a->ctl(ep, EPOLL_CTL_DEL, fds[i], NULL);
    double del = (now() - t0) / n;
    r->wait = wait * 1e9;
    r->add = add * 1e9;
    r->del = del * 1e9;
    for (int i = 0; i < n; i++)
        a->close(fds[i]);
    a->close(idle);
    a->close(ep);
    free(fds);
}

static double min2(double a, double b)
{
    return a < b ? a : b;
}

/* Best of `reps` runs: the machine is shared, the minimum is the least disturbed. */
static void run(const struct api *a, int n, int reps)
{
    struct result best = {1e18, 1e18, 1e18}, r;
    for (int i = 0; i < reps; i++) {
        run_once(a, n, &r);
        best.wait = min2(best.wait, r.wait);
        best.add = min2(best.add, r.add);
        best.del = min2(best.del, r.del);
    }
    printf("%-7s %8d %3d %10.1f %10.1f %10.1f\n", a->name, n, K_READY, best.wait, best.add,
           best.del);
    fflush(stdout);
}

static int k_eventfd(unsigned v, int f)
{
    return eventfd(v, f);
}

int main(int argc, char **argv)
{
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    int max_ue = argc > 1 ? atoi(argv[1]) : 1000000;
    int max_k = argc > 2 ? atoi(argv[2]) : (int)rl.rlim_cur - 64;
    int reps = argc > 3 ? atoi(argv[3]) : 3;
    const struct api ue = {"uepoll",   ue_epoll_create1, ue_epoll_ctl, ue_epoll_wait,
                           ue_eventfd, ue_dup,           ue_close};
    const struct api kern = {"kernel", epoll_create1, epoll_ctl, epoll_wait, k_eventfd, dup, close};
    static const int ns[] = {100, 1000, 10000, 100000, 1000000};
    printf("%-7s %8s %3s %10s %10s %10s\n", "impl", "n", "k", "wait_ns", "add_ns", "del_ns");
    for (size_t i = 0; i < sizeof ns / sizeof ns[0]; i++) {
        if (ns[i] <= max_k)
            run(&kern, ns[i], reps);
        else if (i > 0 && ns[i - 1] < max_k)
            run(&kern, max_k, reps);
        if (ns[i] <= max_ue)
            run(&ue, ns[i], reps);
    }
    return 0;
}
