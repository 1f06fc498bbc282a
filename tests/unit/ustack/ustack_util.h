/*
 * Shared helpers of the ustack tests.
 *
 * A "peer" world is one stack on one end of a memlink whose other end the test drives
 * by hand: it injects frames it builds and reads the frames the stack sends, on a
 * virtual clock (segment in, expected segments out). A "pair" world is two stacks on
 * the two ends of a memlink, run as a discrete-event simulation on the virtual clock.
 */
#ifndef EDDY_TEST_USTACK_UTIL_H
#define EDDY_TEST_USTACK_UTIL_H

#include "../../lib/test.h"

#include <eddy/ustack.h>
#include <ustack/tcp.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/tcp.h>
#include <stdlib.h>

#define ST_IP   0xc6120001u /* 198.18.0.1 */
#define PEER_IP 0xc6120002u /* 198.18.0.2 */

/* ---- a decoded frame sent by the stack ---- */
struct pkt {
    int is_arp, is_tcp, is_icmp;
    uint16_t arp_op;
    uint8_t icmp_type, icmp_code, ttl;
    uint16_t ip_frag;
    uint32_t saddr, daddr;
    uint16_t sport, dport;
    uint32_t seq, ack;
    uint8_t flags;
    uint16_t win;
    struct us_tcp_opts opt;
    int nsack;
    uint32_t sack[4][2];
    uint32_t len;
    unsigned char data[1600];
};

static inline void u_parse_sack(struct pkt *p, const unsigned char *o, unsigned n)
{
    for (unsigned i = 0; i < n;) {
        if (o[i] == 0)
            break;
        if (o[i] == 1) {
            i++;
            continue;
        }
        if (i + 1 >= n || o[i + 1] < 2)
            break;
        if (o[i] == 5)
            for (unsigned k = 0; k + 8 <= (unsigned)o[i + 1] - 2u && p->nsack < 4; k += 8) {
                p->sack[p->nsack][0] = us_get32(o + i + 2 + k);
                p->sack[p->nsack][1] = us_get32(o + i + 6 + k);
                p->nsack++;
            }
        i += o[i + 1];
    }
}

static inline void u_decode(struct pkt *p, const unsigned char *f, size_t len)
{
    memset(p, 0, sizeof(*p));
    uint16_t type = us_get16(f + 12);
    if (type == 0x0806) {
        p->is_arp = 1;
        p->arp_op = us_get16(f + 20);
        return;
    }
    const unsigned char *ip = f + 14;
    unsigned ihl = (ip[0] & 15u) * 4u, tot = us_get16(ip + 2);
    (void)len;
    p->ttl = ip[8];
    p->ip_frag = us_get16(ip + 6);
    p->saddr = us_get32(ip + 12), p->daddr = us_get32(ip + 16);
    const unsigned char *t = ip + ihl;
    if (ip[9] == 1) {
        p->is_icmp = 1;
        p->icmp_type = t[0], p->icmp_code = t[1];
        p->len = tot - ihl;
        memcpy(p->data, t, p->len);
        return;
    }
    p->is_tcp = 1;
    unsigned doff = (t[12] >> 4) * 4u;
    p->sport = us_get16(t), p->dport = us_get16(t + 2);
    p->seq = us_get32(t + 4), p->ack = us_get32(t + 8);
    p->flags = t[13];
    p->win = us_get16(t + 14);
    struct us_tcp_opts *o = &p->opt;
    memset(o, 0, sizeof(*o));
    for (unsigned i = 20; i < doff;) {
        unsigned k = t[i];
        if (k == 0)
            break;
        if (k == 1) {
            i++;
            continue;
        }
        unsigned l = t[i + 1];
        if (k == 2)
            o->mss = us_get16(t + i + 2);
        if (k == 3)
            o->has_ws = 1, o->ws = t[i + 2];
        if (k == 4)
            o->sack_ok = 1;
        if (k == 8)
            o->has_ts = 1, o->tsval = us_get32(t + i + 2), o->tsecr = us_get32(t + i + 6);
        i += l ? l : 1;
    }
    u_parse_sack(p, t + 20, doff - 20);
    p->len = tot - ihl - doff;
    memcpy(p->data, t + doff, p->len);
}

/* ---- peer world ---- */
struct peer {
    struct ue_vclock clk;
    struct ue_dev *a, *b;
    struct ue_stack *st;
    unsigned char st_mac[6];
};
static const unsigned char PEER_MAC[6] = {0x02, 0, 0, 0, 0, 0x99};

static inline void peer_poll(struct peer *p)
{
    ue_stack_poll(p->st, 256);
}

static inline void peer_advance(struct peer *p, uint64_t ms)
{
    p->clk.now_us += ms * 1000u;
    peer_poll(p);
}

static inline void peer_tx(struct peer *p, const unsigned char *f, size_t n)
{
    p->b->ops->tx(p->b, f, n);
    peer_poll(p);
}

/* Next frame from the stack (0: none). */
static inline int peer_rx(struct peer *p, struct pkt *out)
{
    struct ue_frame fr;
    if (p->b->ops->rx_burst(p->b, &fr, 1) != 1)
        return 0;
    u_decode(out, fr.data, fr.len);
    return 1;
}

static inline void peer_arp_announce(struct peer *p);

/* Next TCP segment from the stack (0: none); ARP requests are answered on the way. */
static inline int peer_rx_tcp(struct peer *p, struct pkt *out)
{
    while (peer_rx(p, out)) {
        if (out->is_tcp)
            return 1;
        if (out->is_arp && out->arp_op == 1)
            peer_arp_announce(p);
    }
    return 0;
}

static inline void peer_drain(struct peer *p)
{
    struct pkt k;
    while (peer_rx(p, &k))
        ;
}

static inline size_t u_eth(unsigned char *f, const unsigned char *dst, uint16_t type)
{
    memcpy(f, dst, 6);
    memcpy(f + 6, PEER_MAC, 6);
    us_put16(f + 12, type);
    return 14;
}

static inline void peer_arp_announce(struct peer *p)
{
    unsigned char f[42];
    static const unsigned char bc[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    u_eth(f, bc, 0x0806);
    us_put16(f + 14, 1), us_put16(f + 16, 0x0800), f[18] = 6, f[19] = 4, us_put16(f + 20, 1);
    memcpy(f + 22, PEER_MAC, 6);
    us_put32(f + 28, PEER_IP);
    memset(f + 32, 0, 6);
    us_put32(f + 38, ST_IP);
    peer_tx(p, f, sizeof(f));
}

static inline size_t u_ip(unsigned char *f, uint8_t proto, size_t payload, uint16_t frag)
{
    unsigned char *ip = f + 14;
    memset(ip, 0, 20);
    ip[0] = 0x45;
    us_put16(ip + 2, (uint16_t)(20 + payload));
    us_put16(ip + 6, frag);
    ip[8] = 64;
    ip[9] = proto;
    us_put32(ip + 12, PEER_IP);
    us_put32(ip + 16, ST_IP);
    us_put16(ip + 10, eddy__us_csum_fold(eddy__us_csum_add(0, ip, 20)));
    return 34 + payload;
}

struct seg {
    uint16_t sport, dport;
    uint32_t seq, ack;
    uint8_t flags;
    uint16_t win;
    const unsigned char *opt;
    unsigned optlen;
    const void *data;
    uint32_t len;
};

static inline void peer_send(struct peer *p, const struct seg *s)
{
    unsigned char f[1600];
    u_eth(f, p->st_mac, 0x0800);
    unsigned char *t = f + 34;
    unsigned hl = 20 + s->optlen;
    memset(t, 0, 20);
    us_put16(t, s->sport), us_put16(t + 2, s->dport);
    us_put32(t + 4, s->seq), us_put32(t + 8, s->ack);
    t[12] = (unsigned char)((hl / 4) << 4);
    t[13] = s->flags;
    us_put16(t + 14, s->win);
    if (s->optlen)
        memcpy(t + 20, s->opt, s->optlen);
    if (s->len)
        memcpy(t + hl, s->data, s->len);
    uint32_t sum = eddy__us_pseudo_sum(PEER_IP, ST_IP, 6, (uint16_t)(hl + s->len));
    us_put16(t + 16, eddy__us_csum_fold(eddy__us_csum_add(sum, t, hl + s->len)));
    peer_tx(p, f, u_ip(f, 6, hl + s->len, 0x4000));
}

/* SYN options: MSS 1460, SACK-permitted, timestamps (tsval), window scale ws. */
static inline unsigned u_syn_opts(unsigned char *o, uint32_t tsval, int ws)
{
    unsigned n = 0;
    o[n++] = 2, o[n++] = 4, us_put16(o + n, 1460), n += 2;
    o[n++] = 4, o[n++] = 2;
    o[n++] = 8, o[n++] = 10, us_put32(o + n, tsval), us_put32(o + n + 4, 0), n += 8;
    if (ws >= 0)
        o[n++] = 1, o[n++] = 3, o[n++] = 3, o[n++] = (unsigned char)ws;
    while (n % 4)
        o[n++] = 1;
    return n;
}

static inline unsigned u_ts_opts(unsigned char *o, uint32_t tsval, uint32_t tsecr)
{
    o[0] = 1, o[1] = 1, o[2] = 8, o[3] = 10;
    us_put32(o + 4, tsval), us_put32(o + 8, tsecr);
    return 12;
}

static inline void peer_init_cfg(struct peer *p, unsigned syn_backlog)
{
    memset(p, 0, sizeof(*p));
    p->clk.now_us = 1000000000ull;
    ue_memlink_create(&p->a, &p->b, ue_vclock_now, &p->clk, 7);
    memcpy(p->st_mac, p->a->mac, 6);
    struct ue_stack_config c = {.dev = p->a, .prefix = 24, .clock = ue_vclock_now};
    c.clock_arg = &p->clk;
    c.addr.s_addr = htonl(ST_IP);
    c.seed = 42;
    c.syn_backlog = syn_backlog;
    p->st = ue_stack_create(&c);
    ue_stack_set_current(p->st);
    peer_arp_announce(p);
    peer_drain(p);
}

static inline void peer_init(struct peer *p)
{
    peer_init_cfg(p, 0);
}

static inline void peer_fini(struct peer *p)
{
    ue_stack_destroy(p->st);
    ue_dev_destroy(p->b);
}

static inline struct us_sock *sk_of(int fd)
{
    struct ue_file *f = eddy__ue_fget(fd);
    struct us_sock *sk = f ? f->priv : NULL;
    if (f)
        eddy__ue_fput(f);
    return sk;
}

static inline int u_listen(uint16_t port, int nonblock)
{
    int l = ue_socket(AF_INET, SOCK_STREAM | (nonblock ? SOCK_NONBLOCK : 0), 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    if (ue_bind(l, (struct sockaddr *)&a, sizeof(a)) < 0 || ue_listen(l, 16) < 0)
        return -1;
    return l;
}

static inline struct sockaddr_in u_addr(uint32_t ip, uint16_t port)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    a.sin_addr.s_addr = htonl(ip);
    return a;
}

/* A non-blocking socket of the current stack connecting to a; errno from ue_connect. */
static inline int u_connect(const struct sockaddr_in *a)
{
    int fd = ue_socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    int err = ue_connect(fd, (const struct sockaddr *)a, sizeof(*a)) < 0 ? errno : 0;
    errno = err;
    return fd;
}

/* Polled mask of one descriptor through a fresh epoll (what epoll_wait would report). */
static inline uint32_t u_mask(int fd)
{
    int ep = ue_epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET};
    ue_epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    struct epoll_event out = {0};
    int n = ue_epoll_wait(ep, &out, 1, 0);
    ue_close(ep);
    return n == 1 ? out.events : 0;
}

#endif
