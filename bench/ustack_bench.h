/*
 * What the ustack benchmarks that join two stacks (bench/million.c,
 * bench/ustack_handshakes.c) share: the two ends' addresses and the clock they time with.
 * A header of static inline functions: each bench program is linked on its own.
 */
#ifndef EDDY_BENCH_USTACK_BENCH_H
#define EDDY_BENCH_USTACK_BENCH_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <time.h>

/* Host order, from 198.18.0.0/15 (RFC 2544's benchmarking block): never routed. */
#define BENCH_SERVER_IP 0xc6120001u /* 198.18.0.1 */
#define BENCH_CLIENT_IP 0xc6120002u /* 198.18.0.2 */

static inline struct in_addr bench_addr(uint32_t host_order)
{
    struct in_addr a = {.s_addr = htonl(host_order)};
    return a;
}

/* Seconds on CLOCK_MONOTONIC (the clock `perf record -k CLOCK_MONOTONIC` stamps with). */
static inline double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

#endif
