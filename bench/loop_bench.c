/*
 * loop_bench: the cost of one reactor round trip. N socketpairs live in one
 * loop; both ends echo what they read, so each pair keeps one message
 * bouncing forever and every wake-up is a read plus a write. Prints messages
 * per second (each is one callback, one read, one write).
 *
 *   loop_bench [-b BACKEND] [-n PAIRS] [-d SECONDS] [-m BYTES] [-r] [-R]
 *     -r  read through eddy_buffer_read_fd (the path tcp_connection takes)
 *     -R  the same ping-pong on bare epoll_wait, no eddy: the baseline that
 *         shows what the reactor itself costs
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "eddy/buffer.h"
#include "eddy/channel.h"
#include "eddy/event_loop.h"
#include "eddy/timer.h"

struct end {
    struct eddy_channel ch;
    struct eddy_buffer in;
};

static unsigned long long messages;
static int msg_size = 64;
static int use_buffer;

static void echo(struct end *e, int et)
{
    char buf[4096];
    for (;;) {
        ssize_t n;
        if (use_buffer) {
            n = eddy_buffer_read_fd(&e->in, e->ch.fd);
            if (n > 0) {
                n = write(e->ch.fd, eddy_buffer_peek(&e->in), eddy_buffer_readable(&e->in));
                eddy_buffer_retrieve_all(&e->in);
                eddy_buffer_release(&e->in);
            }
        } else {
            n = read(e->ch.fd, buf, sizeof(buf));
            if (n > 0)
                n = write(e->ch.fd, buf, (size_t)n);
        }
        if (n <= 0) {
            if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
                eddy_channel_remove(&e->ch);
            }
            return;
        }
        messages++;
        if (!et)
            return; /* level-triggered: one read per wake-up */
    }
}

static void on_event(struct eddy_channel *ch, int revents)
{
    (void)revents;
    echo(ch->data, eddy_event_loop_is_edge_triggered(ch->loop));
}

static void on_stop(struct eddy_timer *t)
{
    eddy_event_loop_stop(t->loop);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The baseline: one epoll set, one read and one write per readiness, nothing else. */
static double run_raw(int pairs, int seconds, const char *msg)
{
    struct epoll_event evs[256];
    int ep = epoll_create1(EPOLL_CLOEXEC), i;
    double t0, end;
    char buf[4096];

    for (i = 0; i < pairs; i++) {
        int sv[2], k;
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0)
            return -1;
        for (k = 0; k < 2; k++) {
            struct epoll_event ev = {.events = EPOLLIN, .data.fd = sv[k]};
            if (epoll_ctl(ep, EPOLL_CTL_ADD, sv[k], &ev) < 0)
                return -1;
        }
        if (write(sv[0], msg, (size_t)msg_size) != msg_size)
            return -1;
    }
    t0 = now_s();
    end = t0 + seconds;
    while (now_s() < end) {
        int n = epoll_wait(ep, evs, 256, 100);
        for (i = 0; i < n; i++) {
            ssize_t r = read(evs[i].data.fd, buf, sizeof(buf));
            if (r > 0 && write(evs[i].data.fd, buf, (size_t)r) > 0)
                messages++;
        }
    }
    return now_s() - t0; /* fds are left to process exit: a benchmark, not a library */
}

static void raise_nofile(int need)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)need) {
        rl.rlim_cur = rl.rlim_max < (rlim_t)need ? rl.rlim_max : (rlim_t)need;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

struct args {
    const char *backend;
    int pairs, seconds, raw;
};

/* The command line into a, msg_size and use_buffer: 0, or 2 (the exit status) after
 * saying what is wrong. */
static int parse_args(int argc, char **argv, struct args *a)
{
    int opt;
    while ((opt = getopt(argc, argv, "b:n:d:m:rR")) != -1) {
        switch (opt) {
        case 'b':
            a->backend = optarg;
            break;
        case 'n':
            a->pairs = atoi(optarg);
            break;
        case 'd':
            a->seconds = atoi(optarg);
            break;
        case 'm':
            msg_size = atoi(optarg);
            break;
        case 'r':
            use_buffer = 1;
            break;
        case 'R':
            a->raw = 1;
            break;
        default:
            fprintf(stderr, "usage: %s [-b backend] [-n pairs] [-d seconds] [-m bytes] [-r] [-R]\n",
                    argv[0]);
            return 2;
        }
    }
    if (a->pairs < 1 || a->seconds < 1 || a->seconds > 60 || msg_size < 1 || msg_size > 4096) {
        fprintf(stderr, "loop_bench: bad arguments\n");
        return 2;
    }
    return 0;
}

/* -R: the bare epoll baseline and its line. The exit status. */
static int report_raw(const struct args *a)
{
    char *m = calloc(1, (size_t)msg_size);
    double dt;
    if (m == NULL || (dt = run_raw(a->pairs, a->seconds, m)) < 0) {
        perror("loop_bench");
        return 1;
    }
    printf("raw epoll pairs=%d size=%d: %.0f msgs/s, %.0f ns/msg\n", a->pairs, msg_size,
           (double)messages / dt, dt * 1e9 / (double)(messages ? messages : 1));
    free(m);
    return 0;
}

/* pairs socketpairs, both ends read by loop, each with msg already sent into it: 0, or 1
 * (the exit status) after saying what failed. */
static int open_pairs(struct eddy_event_loop *loop, struct end *ends, int pairs, const char *msg)
{
    for (int i = 0; i < pairs; i++) {
        int sv[2], k;
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0) {
            perror("socketpair");
            return 1;
        }
        for (k = 0; k < 2; k++) {
            struct end *e = &ends[2 * i + k];
            eddy_channel_init(&e->ch, loop, sv[k], on_event, e);
            if (eddy_channel_enable_reading(&e->ch) < 0) {
                fprintf(stderr, "loop_bench: fd %d refused by the backend\n", sv[k]);
                return 1;
            }
        }
        if (write(sv[0], msg, (size_t)msg_size) != msg_size)
            return 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    struct args a = {.backend = NULL, .pairs = 100, .seconds = 3, .raw = 0};
    struct eddy_event_loop *loop;
    struct eddy_timer stop;
    struct end *ends;
    char *msg;
    double t0, dt;
    uint64_t it0;
    int i, rc;

    if ((rc = parse_args(argc, argv, &a)) != 0)
        return rc;
    signal(SIGPIPE, SIG_IGN);
    raise_nofile(2 * a.pairs + 64);
    if (a.raw)
        return report_raw(&a);
    if (eddy_event_loop_new(&loop, a.backend) < 0) {
        fprintf(stderr, "loop_bench: unknown backend\n");
        return 2;
    }
    ends = calloc((size_t)a.pairs * 2, sizeof(*ends));
    msg = calloc(1, (size_t)msg_size);
    if (ends == NULL || msg == NULL)
        return 1;
    if ((rc = open_pairs(loop, ends, a.pairs, msg)) != 0)
        return rc;
    eddy_timer_init(&stop, loop, on_stop, NULL);
    eddy_timer_start(&stop, (uint64_t)a.seconds * 1000, 0);
    it0 = eddy_event_loop_iterations(loop);
    t0 = now_s();
    eddy_event_loop_run(loop);
    dt = now_s() - t0;
    printf("backend=%s pairs=%d size=%d%s: %.0f msgs/s, %.1f msgs/iteration, %.0f ns/msg\n",
           eddy_event_loop_dispatcher(loop)->name, a.pairs, msg_size, use_buffer ? " buffer" : "",
           (double)messages / dt,
           (double)messages / (double)(eddy_event_loop_iterations(loop) - it0 + 1),
           dt * 1e9 / (double)(messages ? messages : 1));
    for (i = 0; i < 2 * a.pairs; i++) {
        eddy_channel_remove(&ends[i].ch);
        close(ends[i].ch.fd);
        eddy_buffer_free(&ends[i].in);
    }
    free(ends);
    free(msg);
    eddy_event_loop_free(loop);
    return 0;
}
