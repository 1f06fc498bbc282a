/*
 * Two stacks joined by a memlink, run as a discrete-event simulation on a virtual
 * clock: poll both stacks, let the test's endpoints read and write, and when nothing
 * moved advance the clock to the next deadline (a timer or a frame in flight).
 *
 * Streams are checked byte for byte against a seeded generator: byte i of stream s is
 * a keyed function of (s, i), so a lost, duplicated, reordered or corrupted byte
 * anywhere shows at its own offset.
 */
#ifndef EDDY_TEST_USTACK_WORLD_H
#define EDDY_TEST_USTACK_WORLD_H

#include "ustack_util.h"

#define W_IP1 0xc6120101u /* 198.18.1.1 */
#define W_IP2 0xc6120102u /* 198.18.1.2 */

struct world {
    struct ue_vclock clk;
    struct ue_dev *a, *b;
    struct ue_stack *s1, *s2;
};

static inline struct ue_stack *w_stack(struct world *w, struct ue_dev *d, uint32_t ip,
                                       uint64_t seed)
{
    struct ue_stack_config c = {.dev = d, .prefix = 24, .clock = ue_vclock_now};
    c.clock_arg = &w->clk;
    c.addr.s_addr = htonl(ip);
    c.seed = seed;
    return ue_stack_create(&c);
}

static inline void w_init(struct world *w, uint64_t seed, const struct ue_link_params *lp)
{
    memset(w, 0, sizeof(*w));
    w->clk.now_us = 5000000000ull;
    ue_memlink_create(&w->a, &w->b, ue_vclock_now, &w->clk, seed);
    if (lp) {
        ue_memlink_set_params(w->a, lp);
        ue_memlink_set_params(w->b, lp);
    }
    w->s1 = w_stack(w, w->a, W_IP1, seed * 3 + 1);
    w->s2 = w_stack(w, w->b, W_IP2, seed * 5 + 2);
}

static inline void w_fini(struct world *w)
{
    ue_stack_destroy(w->s1);
    ue_stack_destroy(w->s2);
}

static inline uint64_t w_now_ms(struct world *w)
{
    return w->clk.now_us / 1000u;
}

/* One round: poll both; returns frames processed. */
static inline int w_poll(struct world *w)
{
    return ue_stack_poll(w->s1, 512) + ue_stack_poll(w->s2, 512);
}

/* Advances the clock to the next thing due (at most max_ms ahead). 0 if nothing is due
 * at all. */
static inline int w_advance(struct world *w, uint64_t max_ms)
{
    uint64_t d1 = ue_stack_next_deadline(w->s1), d2 = ue_stack_next_deadline(w->s2);
    uint64_t next = d1 < d2 ? d1 : d2;
    if (next == UINT64_MAX)
        return 0;
    uint64_t cap = w->clk.now_us + max_ms * 1000u;
    if (next > cap)
        next = cap;
    if (next > w->clk.now_us)
        w->clk.now_us = next;
    else
        w->clk.now_us += 100; /* due now but not ready: let a little time pass */
    return 1;
}

/* Runs the world until neither stack holds a connection or a TIME_WAIT record. */
static inline void w_drain(struct world *w)
{
    for (int i = 0; i < 400000; i++) {
        w_poll(w);
        if (!w->s1->stats.tcp_conns && !w->s2->stats.tcp_conns && !w->s1->stats.tcp_time_wait &&
            !w->s2->stats.tcp_time_wait)
            return;
        if (!w_advance(w, 5000))
            return;
    }
}

static inline unsigned char gen_byte(uint32_t stream, uint64_t i)
{
    uint64_t x = (i >> 3) * 0x9e3779b97f4a7c15ull ^ ((uint64_t)stream << 40);
    x ^= x >> 31;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 29;
    return (unsigned char)(x >> (8 * (i & 7)));
}

static inline void gen_fill(uint32_t stream, uint64_t off, unsigned char *b, size_t n)
{
    for (size_t k = 0; k < n; k++)
        b[k] = gen_byte(stream, off + k);
}

/* First offset in b that differs from the stream, or n. */
static inline size_t gen_check(uint32_t stream, uint64_t off, const unsigned char *b, size_t n)
{
    for (size_t k = 0; k < n; k++)
        if (b[k] != gen_byte(stream, off + k))
            return k;
    return n;
}

/* A full-duplex endpoint: sends `total` bytes of stream tx, expects `total` of rx. */
struct endp {
    int fd;
    uint32_t tx_stream, rx_stream;
    uint64_t total, sent, got;
    int shut, eof, bad, err;
    unsigned char pend[16384]; /* generated, not yet written: bytes [sent, sent+pend_len) */
    size_t pend_len, pend_at;
};

static inline uint64_t endp_write(struct endp *e)
{
    uint64_t moved = 0;
    while (e->sent < e->total) {
        if (e->pend_at == e->pend_len) {
            size_t n = e->total - e->sent < sizeof(e->pend) ? (size_t)(e->total - e->sent)
                                                            : sizeof(e->pend);
            gen_fill(e->tx_stream, e->sent, e->pend, n);
            e->pend_len = n;
            e->pend_at = 0;
        }
        ssize_t r = ue_write(e->fd, e->pend + e->pend_at, e->pend_len - e->pend_at);
        if (r <= 0) {
            if (r < 0 && errno != EAGAIN)
                e->err = errno;
            break;
        }
        e->pend_at += (size_t)r;
        e->sent += (uint64_t)r;
        moved += (uint64_t)r;
    }
    if (e->sent == e->total && !e->shut) {
        ue_shutdown(e->fd, SHUT_WR);
        e->shut = 1;
    }
    return moved;
}

/* Moves what it can; returns bytes moved (progress), marks errors. */
static inline uint64_t endp_run(struct endp *e)
{
    static unsigned char b[65536];
    uint64_t moved = endp_write(e);
    while (!e->eof) {
        ssize_t r = ue_read(e->fd, b, sizeof(b));
        if (r == 0) {
            e->eof = 1;
        } else if (r < 0) {
            if (errno != EAGAIN)
                e->err = errno;
            break;
        } else {
            if (gen_check(e->rx_stream, e->got, b, (size_t)r) != (size_t)r)
                e->bad = 1;
            e->got += (uint64_t)r;
            moved += (uint64_t)r;
        }
    }
    return moved;
}

static inline int endp_done(const struct endp *e)
{
    return e->eof && e->sent == e->total;
}

#endif
