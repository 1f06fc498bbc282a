/*
 * ustack internals shared by the device, link, IP and TCP files.
 *
 * Locking: one mutex per stack (st->lock) protects everything in the stack: the
 * interface, the ARP cache, the connection tables, every socket's TCP state and
 * buffers, the timer wheel. Every public call that touches a stack or a socket takes it;
 * ue_stack_poll takes it once per burst. Wait-queue wake-ups run under it, so the order
 * is: eventpoll ep->mtx (a socket's poll method is called under it) -> st->lock ->
 * a socket's wait-queue lock -> ep->lock. A poll method hooks its wait queue before it
 * takes st->lock, so st->lock is never held while an epitem is being added.
 */
#ifndef EDDY_USTACK_INTERNAL_H
#define EDDY_USTACK_INTERNAL_H

#include <eddy/ustack.h>
#include <uepoll/ue_internal.h>

#include <pthread.h>
#include <stdint.h>
#include <string.h>

/* ---- wire helpers (network byte order) ---- */
static inline uint16_t us_get16(const unsigned char *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}
static inline uint32_t us_get32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static inline void us_put16(unsigned char *p, uint16_t v)
{
    p[0] = (unsigned char)(v >> 8);
    p[1] = (unsigned char)v;
}
static inline void us_put32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

/* Sequence-number comparisons modulo 2^32 (RFC 9293 3.4). */
#define SEQ_LT(a, b)  ((int32_t)((uint32_t)(a) - (uint32_t)(b)) < 0)
#define SEQ_LEQ(a, b) ((int32_t)((uint32_t)(a) - (uint32_t)(b)) <= 0)
#define SEQ_GT(a, b)  SEQ_LT(b, a)
#define SEQ_GEQ(a, b) SEQ_LEQ(b, a)

#define ETH_HLEN     14
#define ETH_P_IP_    0x0800
#define ETH_P_ARP_   0x0806
#define IP_HLEN      20
#define TCP_HLEN     20
#define US_HDR_SPACE (ETH_HLEN + IP_HLEN + 60) /* Ethernet + IPv4 + TCP with options */

/* ---- checksum ---- */
uint32_t eddy__us_csum_add(uint32_t sum, const void *data, size_t len);
uint16_t eddy__us_csum_fold(uint32_t sum);
uint32_t eddy__us_pseudo_sum(uint32_t src, uint32_t dst, uint8_t proto, uint16_t len);

/* ---- keyed hash (SipHash-2-4) for ISNs, ephemeral ports, SYN cookies ---- */
uint64_t eddy__us_siphash(const uint8_t key[16], const void *data, size_t len);

/* ---- timer wheel: one entry per socket or TIME_WAIT record, 1 ms ticks ---- */
#define US_WHEEL_SLOTS 1024u
struct us_timer {
    struct us_timer *next, **pprev; /* NULL pprev: not armed */
    uint64_t expires;               /* ms on the stack clock */
    uint8_t kind;                   /* US_TK_SOCK or US_TK_TW */
};
#define US_TK_SOCK 1
#define US_TK_TW   2
struct us_wheel {
    struct us_timer *slot[US_WHEEL_SLOTS];
    uint64_t cur; /* every entry expiring before cur has fired */
    size_t count;
    uint64_t next; /* if next_ok: at most the earliest expiry (a lower bound) */
    int next_ok;
};
void eddy__us_wheel_arm(struct us_wheel *w, struct us_timer *t, uint64_t expires);
void eddy__us_wheel_disarm(struct us_wheel *w, struct us_timer *t);
/* Fires (through fn) every entry expired at `now`; fn may re-arm. */
void eddy__us_wheel_run(struct us_wheel *w, uint64_t now, void (*fn)(struct us_timer *, void *),
                        void *arg);
uint64_t eddy__us_wheel_next(struct us_wheel *w);

/* ---- byte ring for send and receive buffers, allocated on demand ---- */
struct us_ring {
    uint32_t cap, head, len; /* data at [head, head+len) modulo cap */
    unsigned char data[];
};
/* Appends up to n bytes (growing the ring up to limit); returns bytes taken. */
uint32_t eddy__us_ring_put(struct us_ring **r, const void *src, uint32_t n, uint32_t limit);
/* Copies n bytes starting `off` bytes into the ring, without consuming. */
void eddy__us_ring_peek(const struct us_ring *r, uint32_t off, void *dst, uint32_t n);
/* The same from and to a caller's buffer (read/readv, write/writev). */
uint32_t eddy__us_ring_put_io(struct us_ring **r, const struct ue_io *io, uint32_t n,
                              uint32_t limit);
void eddy__us_ring_peek_io(const struct us_ring *r, const struct ue_io *io, uint32_t n);
/* Drops n bytes from the front; frees the ring once empty (idle sockets hold none). */
void eddy__us_ring_drop(struct us_ring **r, uint32_t n);
static inline uint32_t us_ring_len(const struct us_ring *r)
{
    return r ? r->len : 0;
}

/* ---- ARP ---- */
#define US_ARP_SLOTS 64
#define US_ARP_QLEN  8
struct us_arp_entry {
    uint32_t ip;
    uint8_t state; /* 0 free, 1 resolving, 2 reachable */
    uint8_t tries, qlen;
    unsigned char mac[6];
    uint64_t expires; /* ms: reachable -> stale, resolving -> retry */
    struct us_pkt *q[US_ARP_QLEN];
};
struct us_pkt { /* a frame waiting for its next hop's address (never a GSO one) */
    uint16_t len;
    unsigned char data[];
};

/* ---- stack ---- */
struct us_sock;
struct us_tw;
#define US_RX_BURST 32
/* The 4-tuple hash of the segment being processed, computed by the burst's prefetch pass
 * (eddy__us_prefetch_burst) so the lookup does not hash it again. */
struct us_rx_hint {
    uint32_t la, ra;
    uint16_t lp, rp;
    int valid;
    size_t hash; /* unmasked: the table may grow while the burst is processed */
};
struct ue_stack {
    pthread_mutex_t lock;
    struct ue_dev *dev;
    uint32_t addr, mask, gw; /* host byte order */
    ue_clock_fn clock;
    void *clock_arg;
    uint64_t now_ms;
    uint8_t secret[16];
    uint64_t rng;
    uint16_t ip_id;
    uint32_t port_hint;
    unsigned syn_backlog, tw_ms;
    int arp_glean;
    struct us_arp_entry arp[US_ARP_SLOTS];
    struct us_wheel wheel;
    struct us_sock **conns; /* 4-tuple hash, chained through hnext */
    size_t conn_mask, nconns;
    struct us_tw **tws;
    size_t tw_mask, ntw;
    struct us_sock *listeners; /* chained through hnext */
    struct ue_frame *rxq;      /* receive burst buffer */
    unsigned char *gso_frame;  /* a TCP frame of several segments, if the device cuts them */
    unsigned tx_gso_mss;       /* set while gso_frame goes down: its segment size */
    struct ue_stack_stats stats;

    /* per frame of the burst being processed; hint: the current frame's, or NULL */
    struct us_rx_hint rx_hint[US_RX_BURST], *hint;
};

uint64_t eddy__us_now_ms(struct ue_stack *st);
uint32_t eddy__us_random(struct ue_stack *st);

/* Fetches ahead what a received burst's TCP segments will look up (tcp_conn.c). */
void eddy__us_prefetch_burst(struct ue_stack *st, const struct ue_frame *f, int n);

/* Link layer (eth_arp.c). */
void eddy__us_eth_input(struct ue_stack *st, unsigned char *frame, size_t len);
/* Sends an IPv4 packet built at frame+ETH_HLEN toward dst (ARP as needed). */
void eddy__us_eth_output_ip(struct ue_stack *st, uint32_t dst, unsigned char *frame, size_t len);
void eddy__us_arp_timers(struct ue_stack *st);

/* IPv4 and ICMP (ipv4.c). */
void eddy__us_ip_input(struct ue_stack *st, unsigned char *pkt, size_t len);
/* Fills the IPv4 header at frame+ETH_HLEN for `payload` bytes after it and sends. */
void eddy__us_ip_output(struct ue_stack *st, unsigned char *frame, uint32_t dst, uint8_t proto,
                        size_t payload);
void eddy__us_icmp_unreach(struct ue_stack *st, const unsigned char *ip, size_t len, uint8_t code);

/* TCP (tcp_*.c). */
void eddy__us_tcp_input(struct ue_stack *st, const unsigned char *ip, unsigned char *seg,
                        size_t len);
void eddy__us_tcp_icmp_error(struct ue_stack *st, const unsigned char *inner, size_t len, int err);
void eddy__us_tcp_timer_fire(struct us_timer *t, void *arg);
void eddy__us_tcp_destroy_all(struct ue_stack *st);

#endif
