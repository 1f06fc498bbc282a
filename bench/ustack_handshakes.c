/*
 * ustack_handshakes: TCP handshakes per second between two ustacks joined by a memlink
 * (in-memory rings, no impairment, real time), in one thread: the cost of ustack's
 * connection set-up and tear-down alone, without a device, a kernel or HTTP.
 *
 *   build/bench/ustack_handshakes [-n CONNECTIONS] [-c IN_FLIGHT]
 *
 * Keeps IN_FLIGHT (default 64) connections opening at once: the client connects
 * (non-blocking), the server accepts, the server closes first (its side keeps the
 * TIME_WAIT record, as a web server's would), the client closes when it reads the end
 * of file, and a new connection takes its place. Counts completed
 * connect-accept-close cycles. Prints "result handshakes=N seconds=S per_s=R".
 */
#include <eddy/ustack.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "ustack_bench.h"

#define PORT    80
#define MAX_FLY 1024

static struct ue_stack *make_stack(struct ue_dev *d, uint32_t ip)
{
    struct ue_stack_config c = {.dev = d, .prefix = 24, .syn_backlog = 4096};
    c.addr = bench_addr(ip);
    c.time_wait_ms = 1000; /* the records still cost their insert, not the run's memory */
    return ue_stack_create(&c);
}

static int open_client(struct ue_stack *cli)
{
    ue_stack_set_current(cli);
    int fd = ue_socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(PORT)};
    a.sin_addr = bench_addr(BENCH_SERVER_IP);
    if (fd < 0 || (ue_connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0 && errno != EINPROGRESS))
        return -1;
    return fd;
}

/* A client socket is done once it reads the server's end of file. */
static int client_done(int fd)
{
    char b[16];
    ssize_t r = ue_read(fd, b, sizeof(b));
    return r == 0 || (r < 0 && errno != EAGAIN);
}

int main(int argc, char **argv)
{
    long total = 200000, fly = 64;
    for (int o; (o = getopt(argc, argv, "n:c:")) != -1;) {
        if (o == 'n')
            total = atol(optarg);
        else if (o == 'c')
            fly = atol(optarg);
        else
            return 2;
    }
    if (total < 1 || fly < 1 || fly > MAX_FLY)
        return 2;
    struct ue_dev *da, *db;
    if (ue_memlink_create(&da, &db, NULL, NULL, 1) < 0)
        return 1;
    struct ue_stack *srv = make_stack(da, BENCH_SERVER_IP), *cli = make_stack(db, BENCH_CLIENT_IP);
    ue_stack_set_current(srv);
    int l = ue_socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(PORT)};
    if (!srv || !cli || ue_bind(l, (struct sockaddr *)&a, sizeof(a)) < 0 || ue_listen(l, 4096) < 0)
        return 1;
    int fds[MAX_FLY];
    long started = 0, done = 0;
    for (long i = 0; i < fly; i++, started++)
        fds[i] = open_client(cli);
    double t0 = now_s();
    while (done < total) {
        ue_stack_poll(cli, 256);
        ue_stack_poll(srv, 256);
        for (int s; (s = ue_accept4(l, NULL, NULL, SOCK_NONBLOCK)) >= 0;)
            ue_close(s); /* the server closes first */
        for (long i = 0; i < fly; i++) {
            if (fds[i] < 0 || !client_done(fds[i]))
                continue;
            ue_close(fds[i]);
            done++;
            fds[i] = started < total ? (started++, open_client(cli)) : -1;
        }
    }
    double t = now_s() - t0;
    printf("result handshakes=%ld seconds=%.3f per_s=%.0f\n", done, t, (double)done / t);
    ue_close(l);
    for (int i = 0; i < 2000; i++) { /* let the last FINs settle before the stacks go */
        ue_stack_poll(cli, 256);
        ue_stack_poll(srv, 256);
    }
    ue_stack_destroy(cli);
    ue_stack_destroy(srv);
    return 0;
}
