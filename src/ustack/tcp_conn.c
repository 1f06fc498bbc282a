/*
 * Connection bookkeeping: the 4-tuple hash (it grows, so a million connections stay
 * one short chain away), the TIME_WAIT table, the bound/listening list, RFC 6056
 * ephemeral ports, RFC 6528 ISNs, SYN cookies, and when a socket's memory goes.
 *
 * One decision owns a socket's end: eddy__us_sock_maybe_free frees it once no file
 * refers to it, the protocol is CLOSED, and no listener's accept queue holds it.
 */
#include "tcp.h"

#include <stdlib.h>

#define EPHEMERAL_LO 32768u
#define EPHEMERAL_N  (61000u - 32768u) /* Linux's default ip_local_port_range */

struct tuple {
    uint32_t la, ra;
    uint16_t lp, rp;
};

static size_t tuple_hash(struct ue_stack *st, uint32_t la, uint16_t lp, uint32_t ra, uint16_t rp)
{
    struct tuple t = {la, ra, lp, rp};
    return (size_t)eddy__us_siphash(st->secret, &t, sizeof(t));
}

struct us_sock *eddy__us_sock_alloc(struct ue_stack *st)
{
    struct us_sock *sk = calloc(1, sizeof(*sk));
    if (!sk)
        return NULL;
    sk->st = st;
    eddy__ue_wq_init(&sk->wq);
    sk->sndbuf = TCP_DEF_SNDBUF;
    sk->rcvbuf = TCP_DEF_RCVBUF;
    sk->rto = TCP_INIT_RTO_MS;
    sk->mss = 536;
    sk->tm.kind = US_TK_SOCK;
    return sk;
}

static void conn_grow(struct ue_stack *st)
{
    size_t n = (st->conn_mask + 1) * 2;
    struct us_sock **t = calloc(n, sizeof(*t));
    if (!t)
        return; /* longer chains, still correct */
    for (size_t i = 0; i <= st->conn_mask; i++) {
        while (st->conns[i]) {
            struct us_sock *sk = st->conns[i];
            st->conns[i] = sk->hnext;
            size_t h = tuple_hash(st, sk->laddr, sk->lport, sk->raddr, sk->rport) & (n - 1);
            sk->hnext = t[h];
            t[h] = sk;
        }
    }
    free(st->conns);
    st->conns = t;
    st->conn_mask = n - 1;
}

void eddy__us_hash(struct ue_stack *st, struct us_sock *sk)
{
    if (st->nconns > st->conn_mask)
        conn_grow(st);
    size_t h = tuple_hash(st, sk->laddr, sk->lport, sk->raddr, sk->rport) & st->conn_mask;
    sk->hnext = st->conns[h];
    st->conns[h] = sk;
    st->nconns++;
    sk->fl |= SKF_HASHED;
    st->stats.tcp_conns = st->nconns;
}

static void list_remove(struct us_sock **pp, struct us_sock *sk)
{
    for (; *pp; pp = &(*pp)->hnext) {
        if (*pp == sk) {
            *pp = sk->hnext;
            sk->hnext = NULL;
            return;
        }
    }
}

void eddy__us_unhash(struct ue_stack *st, struct us_sock *sk)
{
    if (sk->fl & SKF_HASHED) {
        size_t h = tuple_hash(st, sk->laddr, sk->lport, sk->raddr, sk->rport) & st->conn_mask;
        list_remove(&st->conns[h], sk);
        st->nconns--;
        sk->fl &= ~SKF_HASHED;
        st->stats.tcp_conns = st->nconns;
    } else if (sk->fl & SKF_BOUND) {
        list_remove(&st->listeners, sk);
    }
    sk->fl &= ~SKF_BOUND;
}

/* The 4-tuple of a TCP segment in an Ethernet frame, seen from us; 0 if it is none. */
static int frame_tuple(const struct ue_frame *f, struct us_rx_hint *t)
{
    const unsigned char *ip = f->data + ETH_HLEN;
    if (f->len < ETH_HLEN + IP_HLEN + 20 || us_get16(f->data + 12) != ETH_P_IP_ ||
        ip[9] != 6 /* TCP */ || (ip[0] & 15u) < 5)
        return 0;
    size_t ihl = (ip[0] & 15u) * 4u;
    if (f->len < ETH_HLEN + ihl + 4)
        return 0;
    t->la = us_get32(ip + 16), t->ra = us_get32(ip + 12);
    t->rp = us_get16(ip + ihl), t->lp = us_get16(ip + ihl + 2);
    return 1;
}

/* Before a burst is processed, the hash bucket and then the TCB of each of its segments
 * are fetched ahead: with a million idle connections a busy one's TCB is a miss to
 * memory (and often to the TLB), and this way the burst's misses overlap instead of
 * coming one after another. The hashes are kept for the lookups (st->rx_hint). */
void eddy__us_prefetch_burst(struct ue_stack *st, const struct ue_frame *f, int n)
{
    for (int i = 0; i < n && i < US_RX_BURST; i++) {
        struct us_rx_hint *t = &st->rx_hint[i];
        t->valid = frame_tuple(&f[i], t);
        if (!t->valid)
            continue;
        t->hash = tuple_hash(st, t->la, t->lp, t->ra, t->rp);
        __builtin_prefetch(&st->conns[t->hash & st->conn_mask]);
    }
    for (int i = 0; i < n && i < US_RX_BURST; i++) {
        const struct us_sock *sk =
            st->rx_hint[i].valid ? st->conns[st->rx_hint[i].hash & st->conn_mask] : NULL;
        for (size_t off = 0; sk && off < sizeof(*sk); off += 64)
            __builtin_prefetch((const char *)sk + off);
    }
}

static size_t lookup_hash(struct ue_stack *st, uint32_t la, uint16_t lp, uint32_t ra, uint16_t rp)
{
    const struct us_rx_hint *t = st->hint;
    if (t && t->valid && t->la == la && t->lp == lp && t->ra == ra && t->rp == rp)
        return t->hash;
    return tuple_hash(st, la, lp, ra, rp);
}

struct us_sock *eddy__us_lookup(struct ue_stack *st, uint32_t la, uint16_t lp, uint32_t ra,
                                uint16_t rp)
{
    size_t h = lookup_hash(st, la, lp, ra, rp) & st->conn_mask;
    for (struct us_sock **pp = &st->conns[h], *sk; (sk = *pp); pp = &sk->hnext) {
        if (sk->lport == lp && sk->rport == rp && sk->raddr == ra && sk->laddr == la) {
            /* to the chain's front: a busy connection among many idle ones is then found
             * without touching the idle ones' cold TCBs */
            if (pp != &st->conns[h]) {
                *pp = sk->hnext;
                sk->hnext = st->conns[h];
                st->conns[h] = sk;
            }
            return sk;
        }
    }
    return NULL;
}

struct us_sock *eddy__us_lookup_listener(struct ue_stack *st, uint32_t la, uint16_t lp)
{
    for (struct us_sock *sk = st->listeners; sk; sk = sk->hnext)
        if (sk->state == TCPS_LISTEN && sk->lport == lp && (!sk->laddr || sk->laddr == la))
            return sk;
    return NULL;
}

int eddy__us_port_in_use(struct ue_stack *st, uint16_t port)
{
    for (struct us_sock *sk = st->listeners; sk; sk = sk->hnext)
        if (sk->lport == port)
            return 1;
    return 0;
}

/* ---- TIME_WAIT ---- */
struct us_tw *eddy__us_tw_lookup(struct ue_stack *st, uint32_t la, uint16_t lp, uint32_t ra,
                                 uint16_t rp)
{
    size_t h = tuple_hash(st, la, lp, ra, rp) & st->tw_mask;
    for (struct us_tw *tw = st->tws[h]; tw; tw = tw->hnext)
        if (tw->lport == lp && tw->rport == rp && tw->raddr == ra && tw->laddr == la)
            return tw;
    return NULL;
}

static void tw_grow(struct ue_stack *st)
{
    size_t n = (st->tw_mask + 1) * 2;
    struct us_tw **t = calloc(n, sizeof(*t));
    if (!t)
        return;
    for (size_t i = 0; i <= st->tw_mask; i++) {
        while (st->tws[i]) {
            struct us_tw *tw = st->tws[i];
            st->tws[i] = tw->hnext;
            size_t h = tuple_hash(st, tw->laddr, tw->lport, tw->raddr, tw->rport) & (n - 1);
            tw->hnext = t[h];
            t[h] = tw;
        }
    }
    free(st->tws);
    st->tws = t;
    st->tw_mask = n - 1;
}

void eddy__us_tw_enter(struct us_sock *sk)
{
    struct ue_stack *st = sk->st;
    struct us_tw *tw = calloc(1, sizeof(*tw));
    if (tw) {
        if (st->ntw > st->tw_mask)
            tw_grow(st);
        tw->laddr = sk->laddr, tw->raddr = sk->raddr, tw->lport = sk->lport, tw->rport = sk->rport;
        tw->snd_nxt = sk->snd_nxt, tw->rcv_nxt = sk->rcv_nxt;
        tw->rcv_wnd = sk->rcv_adv - sk->rcv_nxt;
        tw->has_ts = (sk->fl & SKF_TS) != 0;
        tw->ts_recent = sk->ts_recent, tw->ts_recent_age = sk->ts_recent_age;
        tw->ts_off = sk->ts_off;
        tw->tm.kind = US_TK_TW;
        size_t h = tuple_hash(st, tw->laddr, tw->lport, tw->raddr, tw->rport) & st->tw_mask;
        tw->hnext = st->tws[h];
        st->tws[h] = tw;
        st->ntw++;
        st->stats.tcp_time_wait = st->ntw;
        eddy__us_tw_arm(st, tw);
    }
    eddy__us_tcp_done(sk, 0);
}

void eddy__us_tw_kill(struct ue_stack *st, struct us_tw *tw)
{
    size_t h = tuple_hash(st, tw->laddr, tw->lport, tw->raddr, tw->rport) & st->tw_mask;
    for (struct us_tw **pp = &st->tws[h]; *pp; pp = &(*pp)->hnext) {
        if (*pp == tw) {
            *pp = tw->hnext;
            break;
        }
    }
    eddy__us_wheel_disarm(&st->wheel, &tw->tm);
    st->ntw--;
    st->stats.tcp_time_wait = st->ntw;
    free(tw);
}

/* ---- RFC 6056 algorithm 3 and RFC 6528 ---- */
int eddy__us_pick_ephemeral(struct ue_stack *st, struct us_sock *sk)
{
    struct tuple t = {sk->laddr, sk->raddr, 0, sk->rport};
    uint32_t offset = (uint32_t)eddy__us_siphash(st->secret, &t, sizeof(t));
    for (uint32_t i = 0; i < EPHEMERAL_N; i++) {
        uint16_t port = (uint16_t)(EPHEMERAL_LO + (offset + st->port_hint++) % EPHEMERAL_N);
        if (eddy__us_port_in_use(st, port) ||
            eddy__us_lookup(st, sk->laddr, port, sk->raddr, sk->rport) ||
            eddy__us_tw_lookup(st, sk->laddr, port, sk->raddr, sk->rport))
            continue;
        sk->lport = port;
        return 0;
    }
    return -EADDRNOTAVAIL;
}

uint32_t eddy__us_isn(struct ue_stack *st, uint32_t la, uint16_t lp, uint32_t ra, uint16_t rp)
{
    struct tuple t = {la, ra, lp, rp};
    uint32_t m = (uint32_t)(st->clock(st->clock_arg) / 4u); /* the 4 us timer of RFC 6528 */
    return m + (uint32_t)(eddy__us_siphash(st->secret, &t, sizeof(t)) >> 32);
}

/* ---- SYN cookies: ISS = period(5 bits) | mss index(3) | 24-bit keyed hash ---- */
static const uint16_t cookie_mss[8] = {536, 1000, 1200, 1300, 1360, 1400, 1440, 1460};
#define COOKIE_PERIOD_MS 64000u

static uint32_t cookie_hash(struct ue_stack *st, const struct us_seg *s, uint32_t irs,
                            uint32_t period)
{
    uint32_t w[5] = {s->daddr, s->saddr, (uint32_t)s->dport << 16 | s->sport, irs, period};
    return (uint32_t)eddy__us_siphash(st->secret, w, sizeof(w)) & 0xffffffu;
}

uint32_t eddy__us_cookie_make(struct ue_stack *st, const struct us_seg *s, uint16_t *mss)
{
    uint32_t idx = 0;
    for (uint32_t i = 0; i < 8; i++)
        if (cookie_mss[i] <= s->opt.mss)
            idx = i;
    *mss = cookie_mss[idx];
    uint32_t period = (uint32_t)(st->now_ms / COOKIE_PERIOD_MS);
    return (period & 31u) << 27 | idx << 24 | cookie_hash(st, s, s->seq, period);
}

/* s is the handshake's final ACK: its ack field is cookie + 1, its seq irs + 1. */
int eddy__us_cookie_check(struct ue_stack *st, const struct us_seg *s, uint16_t *mss)
{
    uint32_t cookie = s->ack - 1, irs = s->seq - 1;
    uint32_t now = (uint32_t)(st->now_ms / COOKIE_PERIOD_MS);
    for (uint32_t age = 0; age < 2; age++) { /* this period or the one before */
        uint32_t period = now - age;
        if ((period & 31u) != cookie >> 27)
            continue;
        if (cookie_hash(st, s, irs, period) == (cookie & 0xffffffu)) {
            *mss = cookie_mss[(cookie >> 24) & 7u];
            return 1;
        }
    }
    return 0;
}

/* What the ISS has no room for travels in the low bits of our TSval, which the peer
 * echoes in TSecr (as Linux does): the peer's window scale (15: none) and whether it
 * sent SACK-permitted. Only a peer that sent timestamps can give them back; the others
 * get a cookie with the MSS alone. The TSval is moved back, never ahead of our clock, so
 * the connection's later timestamps still increase. */
#define COOKIE_TS_BITS 0x3fu
#define COOKIE_TS_SACK 0x10u
#define COOKIE_TS_NOWS 0x0fu

uint32_t eddy__us_cookie_tsval(uint32_t tsval, const struct us_seg *syn)
{
    uint32_t o = syn->opt.has_ws ? (syn->opt.ws > 14 ? 14u : syn->opt.ws) : COOKIE_TS_NOWS;
    if (syn->opt.sack_ok)
        o |= COOKIE_TS_SACK;
    uint32_t ts = (tsval & ~COOKIE_TS_BITS) | o;
    return SEQ_GT(ts, tsval) ? ts - (COOKIE_TS_BITS + 1) : ts;
}

unsigned eddy__us_cookie_opts(uint32_t tsecr, uint8_t *snd_ws)
{
    unsigned fl = SKF_TS | (tsecr & COOKIE_TS_SACK ? SKF_SACK : 0);
    if ((tsecr & COOKIE_TS_NOWS) != COOKIE_TS_NOWS) {
        fl |= SKF_WS;
        *snd_ws = (uint8_t)(tsecr & COOKIE_TS_NOWS) > 14 ? 14 : (uint8_t)(tsecr & COOKIE_TS_NOWS);
    }
    return fl;
}

/* ---- lifetime ---- */
static void free_ooo(struct us_sock *sk)
{
    while (sk->ooo) {
        struct us_oseg *o = sk->ooo;
        sk->ooo = o->next;
        free(o);
    }
    sk->ooo_n = 0;
}

void eddy__us_sock_maybe_free(struct us_sock *sk)
{
    if (sk->file || sk->state != TCPS_CLOSED || (sk->fl & SKF_ACCEPTQ))
        return;
    struct ue_stack *st = sk->st;
    eddy__us_unhash(st, sk);
    eddy__us_wheel_disarm(&st->wheel, &sk->tm);
    if (sk->parent && sk->parent->lst && sk->parent->lst->syn_count)
        sk->parent->lst->syn_count--;
    eddy__us_ring_drop(&sk->snd, UINT32_MAX);
    eddy__us_ring_drop(&sk->rcv, UINT32_MAX);
    free_ooo(sk);
    free(sk->lst);
    eddy__ue_wq_destroy(&sk->wq);
    free(sk);
}

static const char *const state_names[] = {"CLOSED",      "LISTEN",    "SYN_SENT",  "SYN_RECV",
                                          "ESTABLISHED", "FIN_WAIT1", "FIN_WAIT2", "CLOSE_WAIT",
                                          "CLOSING",     "LAST_ACK",  "TIME_WAIT"};
const char *eddy__us_state_name(int state);
const char *eddy__us_state_name(int state)
{
    return state >= 0 && state <= TCPS_TIME_WAIT ? state_names[state] : "?";
}

void eddy__us_set_state(struct us_sock *sk, int state)
{
    sk->state = (uint8_t)state;
}

void eddy__us_tcp_done(struct us_sock *sk, int err)
{
    if (err)
        sk->err = (uint8_t)err;
    eddy__us_set_state(sk, TCPS_CLOSED);
    sk->shut = RCV_SHUTDOWN | SEND_SHUTDOWN;
    sk->t_rexmit = sk->t_delack = sk->t_keep = 0;
    sk->fl &= ~(SKF_PERSIST | SKF_RECOVERY | SKF_RTT_TIMING);
    eddy__us_wheel_disarm(&sk->st->wheel, &sk->tm);
    eddy__us_ring_drop(&sk->snd, UINT32_MAX);
    free_ooo(sk);
    eddy__us_unhash(sk->st, sk);
    if (sk->file)
        eddy__us_wake(sk, 0); /* sk_state_change and, with err, sk_error_report */
    else
        eddy__us_sock_maybe_free(sk);
}

/* ue_stack_destroy: every descriptor must be closed by now (a socket file outliving its
 * stack would be a dangling reference); what remains is protocol state alone. */
void eddy__us_tcp_destroy_all(struct ue_stack *st)
{
    for (struct us_sock *sk = st->listeners; sk; sk = sk->hnext)
        if (sk->file)
            abort();
    for (size_t i = 0; i <= st->conn_mask; i++)
        for (struct us_sock *sk = st->conns[i]; sk; sk = sk->hnext)
            if (sk->file)
                abort();
    for (size_t i = 0; i <= st->conn_mask; i++) {
        while (st->conns[i]) {
            struct us_sock *sk = st->conns[i];
            sk->fl &= ~SKF_ACCEPTQ;
            sk->parent = NULL;
            sk->state = TCPS_CLOSED;
            eddy__us_sock_maybe_free(sk);
        }
    }
    for (size_t i = 0; i <= st->tw_mask; i++)
        while (st->tws[i])
            eddy__us_tw_kill(st, st->tws[i]);
}
