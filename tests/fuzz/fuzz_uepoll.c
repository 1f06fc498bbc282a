/*
 * libFuzzer target for uepoll: the input is a program of API calls on a few descriptors
 * (epolls, pipes, eventfds, dup/dup2/dup3, fcntl status flags and pipe sizes, readv/writev
 * with faulting pieces), all non-blocking. After every call the invariants of
 * every eventpoll are checked (tree shape and order, ready list holding only registered
 * items and each once, counts, ovflist idle, no ready level-triggered item left off a
 * ready list), and each epoll_wait result is checked for shape. At the end of the input
 * every descriptor is closed and the number of live files must be back where it was,
 * which catches reference-count leaks. Any violation aborts.
 */
// Standalone build:
//   clang -fsanitize=fuzzer,address,undefined -Iinclude -Isrc tests/fuzz/fuzz_uepoll.c
//         src/uepoll/*.c -pthread
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* O_DIRECT, also when built outside the Makefile */
#endif
#include <eddy/uepoll.h>
#include <uepoll/ue_internal.h>

#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SLOTS 12

struct prog {
    const uint8_t *p;
    size_t n;
    int fd[SLOTS];
};

static uint8_t next(struct prog *g)
{
    if (!g->n)
        return 0;
    g->n--;
    return *g->p++;
}

static int slot_fd(struct prog *g)
{
    uint8_t b = next(g);
    if (b >= 0xf0) /* a bogus or closed number now and then */
        return b & 1 ? -1 : 100000 + b;
    return g->fd[b % SLOTS];
}

static void put(struct prog *g, int fd)
{
    if (fd < 0)
        return;
    int i = next(g) % SLOTS;
    if (g->fd[i] >= 0)
        ue_close(g->fd[i]);
    g->fd[i] = fd;
}

static uint32_t events_from(struct prog *g)
{
    static const uint32_t bits[] = {EPOLLIN,  EPOLLOUT,       EPOLLET,     EPOLLONESHOT,
                                    EPOLLERR, EPOLLHUP,       EPOLLRDNORM, EPOLLWRNORM,
                                    EPOLLPRI, EPOLLEXCLUSIVE, EPOLLRDHUP,  EPOLLWAKEUP};
    uint16_t m = (uint16_t)(next(g) | next(g) << 8);
    uint32_t ev = 0;
    for (unsigned i = 0; i < sizeof bits / sizeof bits[0]; i++)
        if (m & (1u << i))
            ev |= bits[i];
    return ev;
}

static void check_wait(int r, const struct epoll_event *evs, int max)
{
    if (r > max)
        abort();
    for (int i = 0; i < r; i++)
        if (evs[i].events == 0 || (evs[i].events & (EPOLLET | EPOLLONESHOT | EPOLLEXCLUSIVE)))
            abort();
}

static void do_io(struct prog *g, int write_op)
{
    static uint8_t buf[70000];
    int fd = slot_fd(g);
    uint8_t l = next(g);
    size_t len = l < 16 ? 8 : l < 200 ? l : (size_t)(l - 199) * 4096;
    void *b = l == 255 ? NULL : buf; /* NULL takes the EFAULT paths */
    if (write_op) {
        uint64_t v = next(g);
        if (v == 255)
            v = UINT64_MAX - 1;
        memcpy(buf, &v, sizeof v);
        ue_write(fd, b, len);
    } else {
        ue_read(fd, b, len);
    }
}

/* readv/writev of two pieces, either of which may be NULL (a fault at an offset). */
static void do_vec(struct prog *g)
{
    static uint8_t buf[70000];
    uint8_t l = next(g), m = next(g);
    struct iovec v[2] = {{buf, l < 128 ? l : (size_t)(l - 127) * 512},
                         {buf + 35000, (size_t)m * 100}};
    int fd = slot_fd(g), how = next(g);
    if (how & 2)
        v[how & 4 ? 1 : 0].iov_base = NULL;
    if (how & 1)
        ue_writev(fd, v, 2);
    else
        ue_readv(fd, v, 2);
}

/* Status flags (O_NONBLOCK stays set: a blocking call would hang the run) and the
 * pipe size. */
static void do_fcntl(struct prog *g)
{
    int fd = slot_fd(g), how = next(g);
    if (how & 1)
        ue_fcntl(fd, F_SETFL, O_NONBLOCK | (how & 2 ? O_DIRECT : 0));
    else if (how & 2)
        ue_fcntl(fd, F_SETPIPE_SZ, how & 4 ? (long)next(g) * 4096 : (long)next(g) - 8);
    else
        ue_fcntl(fd, how & 4 ? F_GETPIPE_SZ : F_GETFL);
}

static void step(struct prog *g)
{
    struct epoll_event ev, out[8];
    int p[2], a, b, op = next(g) % 15;
    switch (op) {
    case 0:
        put(g, ue_epoll_create1(0));
        break;
    case 1:
        if (ue_pipe2(p, O_NONBLOCK | (next(g) & 1 ? O_DIRECT : 0)) == 0) {
            put(g, p[0]);
            put(g, p[1]);
        }
        break;
    case 2:
        put(g, ue_eventfd(next(g), EFD_NONBLOCK | (next(g) & 1 ? EFD_SEMAPHORE : 0)));
        break;
    case 3:
    case 4:
    case 5:
        a = slot_fd(g);
        b = slot_fd(g);
        ev.events = events_from(g);
        ev.data.u64 = next(g);
        ue_epoll_ctl(a, op - 2, b, next(g) == 0 ? NULL : &ev);
        break;
    case 6:
        do_io(g, 1);
        break;
    case 7:
        do_io(g, 0);
        break;
    case 8: {
        int max = 1 + next(g) % 8;
        int r = ue_epoll_wait(slot_fd(g), out, max, 0);
        check_wait(r, out, max);
        break;
    }
    case 9:
        put(g, ue_dup(slot_fd(g)));
        break;
    case 10: {
        int i = next(g) % SLOTS;
        if (g->fd[i] >= 0)
            ue_close(g->fd[i]);
        g->fd[i] = -1;
        break;
    }
    case 11: /* raw ctl with any op and numbers */
        ev.events = events_from(g);
        ev.data.u64 = 0;
        ue_epoll_ctl(slot_fd(g), (int8_t)next(g), slot_fd(g), &ev);
        break;
    case 12: /* onto a slot's number, -1, or a free one (then closed: no slot owns it).
              * Free numbers stay below 1000: the table never shrinks, and the invariant
              * check walks all of it after every step. */
        a = slot_fd(g);
        b = slot_fd(g);
        if (b >= 100000)
            b = 900 + b % 64;
        if (next(g) & 1)
            a = ue_dup2(a, b);
        else
            a = ue_dup3(a, b, next(g) & 1 ? O_CLOEXEC : 0);
        if (a >= 900)
            ue_close(a);
        break;
    case 13:
        do_fcntl(g);
        break;
    case 14:
        do_vec(g);
        break;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct prog g = {.p = data, .n = size};
    signal(SIGPIPE, SIG_IGN); /* a write to a pipe without readers raises it, as on Linux */
    long files = eddy__ue_live_files();
    for (int i = 0; i < SLOTS; i++)
        g.fd[i] = -1;
    for (int steps = 0; g.n && steps < 400; steps++) {
        step(&g);
        if (eddy__ue_check_invariants(1) != 0)
            abort();
    }
    for (int i = 0; i < SLOTS; i++)
        if (g.fd[i] >= 0)
            ue_close(g.fd[i]);
    if (eddy__ue_live_files() != files) {
        fprintf(stderr, "uepoll fuzz: %ld files leaked\n", eddy__ue_live_files() - files);
        abort();
    }
    return 0;
}
