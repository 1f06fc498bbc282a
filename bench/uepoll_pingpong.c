/*
 * uepoll_pingpong: round trips per second between two threads, each blocked in
 * epoll_wait on the read end of its pipe, reading one byte and writing it back on the
 * other pipe. Kernel pipes + epoll against ue_pipe2 + ue_epoll_wait; prints both rates
 * and their ratio.
 *
 *   build/bench/uepoll_pingpong [seconds per side, default 2]
 */
#include <eddy/uepoll.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

struct api {
    int (*create1)(int);
    int (*ctl)(int, int, int, struct epoll_event *);
    int (*wait)(int, struct epoll_event *, int, int);
    int (*pipe2)(int *, int);
    ssize_t (*read)(int, void *, size_t);
    ssize_t (*write)(int, const void *, size_t);
    int (*close)(int);
};

struct side {
    const struct api *a;
    int ep, rfd, wfd;
    long rounds;
    atomic_int *stop;
};

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Wait for a byte, read it, send it on; the first side starts the ball. */
static void *play(void *arg)
{
    struct side *s = arg;
    struct epoll_event ev;
    char c = 'x';
    while (!atomic_load_explicit(s->stop, memory_order_relaxed)) {
        if (s->a->wait(s->ep, &ev, 1, 100) <= 0)
            continue;
        if (s->a->read(s->rfd, &c, 1) != 1)
            continue;
        s->a->write(s->wfd, &c, 1);
        s->rounds++;
    }
    return NULL;
}

static double measure(const struct api *a, double secs)
{
    int p1[2], p2[2];
    atomic_int stop = 0;
    a->pipe2(p1, O_NONBLOCK);
    a->pipe2(p2, O_NONBLOCK);
    struct side s[2] = {{a, a->create1(0), p1[0], p2[1], 0, &stop},
                        {a, a->create1(0), p2[0], p1[1], 0, &stop}};
    for (int i = 0; i < 2; i++) {
        struct epoll_event ev = {.events = EPOLLIN};
        a->ctl(s[i].ep, EPOLL_CTL_ADD, s[i].rfd, &ev);
    }
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&t[i], NULL, play, &s[i]);
    a->write(p1[1], "x", 1);
    double t0 = now();
    struct timespec ts = {(time_t)secs, (long)((secs - (double)(time_t)secs) * 1e9)};
    nanosleep(&ts, NULL);
    atomic_store(&stop, 1);
    double dt = now() - t0;
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < 2; i++) {
        a->close(s[i].ep);
        a->close(p1[i]);
        a->close(p2[i]);
    }
    return (double)s[1].rounds / dt;
}

int main(int argc, char **argv)
{
    double secs = argc > 1 ? atof(argv[1]) : 2.0;
    const struct api kern = {epoll_create1, epoll_ctl, epoll_wait, pipe2, read, write, close};
    const struct api ue = {ue_epoll_create1, ue_epoll_ctl, ue_epoll_wait, ue_pipe2,
                           ue_read,          ue_write,     ue_close};
    double k = measure(&kern, secs), u = measure(&ue, secs);
    printf("kernel pipe+epoll_wait    %10.0f round trips/s\n", k);
    printf("ue_pipe2+ue_epoll_wait    %10.0f round trips/s\n", u);
    printf("ratio uepoll/kernel       %10.2f\n", u / k);
    return 0;
}
