/*
 * TCP input: demultiplexing, LISTEN and SYN-SENT processing, and the RFC 9293 3.10.7.4
 * steps for synchronized states, named as in Linux's tcp_input.c:
 *
 *   tcp_paws_discard      RFC 7323 5     timestamp older than TS.Recent: dupack, drop
 *   tcp_sequence          RFC 9293 step 1: acceptability against the receive window
 *   tcp_validate_incoming RFC 5961 3, 4  RST exactly at RCV.NXT resets, elsewhere in the
 *                                         window it draws a challenge ACK; a SYN always does
 *   tcp_ack               RFC 9293 step 5, RFC 5961 5: window update, rtx queue cleanup,
 *                                         RTT, NewReno (tcp_fastretrans_alert)
 *   tcp_data_queue        step 7: in-order data, out-of-order queue, SACK source
 *   tcp_fin               step 8
 *
 * The ACK policy (__tcp_ack_snd_check): immediately for out-of-order data, a filled
 * hole, a FIN or a duplicate; otherwise every second full segment, else after 40 ms.
 */
#include "tcp.h"

#include <stdlib.h>

int eddy__us_tcp_ack(struct us_sock *sk, const struct us_seg *s);
int eddy__us_data_queue(struct us_sock *sk, const struct us_seg *s);
int eddy__us_timewait_process(struct ue_stack *st, struct us_tw *tw, const struct us_seg *s);

static void parse_opts(const unsigned char *o, unsigned n, struct us_tcp_opts *opt)
{
    memset(opt, 0, sizeof(*opt));
    for (unsigned i = 0; i < n;) {
        unsigned kind = o[i];
        if (kind == 0)
            break;
        if (kind == 1) {
            i++;
            continue;
        }
        if (i + 1 >= n || o[i + 1] < 2 || i + o[i + 1] > n)
            break;
        unsigned len = o[i + 1];
        if (kind == 2 && len == 4)
            opt->mss = us_get16(o + i + 2);
        else if (kind == 3 && len == 3)
            opt->ws = o[i + 2], opt->has_ws = 1;
        else if (kind == 4 && len == 2)
            opt->sack_ok = 1;
        else if (kind == 8 && len == 10)
            opt->has_ts = 1, opt->tsval = us_get32(o + i + 2), opt->tsecr = us_get32(o + i + 6);
        i += len;
    }
}

static int decode(const unsigned char *ip, const unsigned char *th, size_t len, struct us_seg *s)
{
    if (len < TCP_HLEN)
        return -1;
    unsigned doff = (th[12] >> 4) * 4u;
    if (doff < TCP_HLEN || doff > len)
        return -1;
    s->saddr = us_get32(ip + 12), s->daddr = us_get32(ip + 16);
    s->sport = us_get16(th), s->dport = us_get16(th + 2);
    s->seq = us_get32(th + 4), s->ack = us_get32(th + 8);
    s->flags = th[13] & 0x3f;
    s->wnd = us_get16(th + 14);
    s->data = th + doff;
    s->len = (uint32_t)(len - doff);
    s->end_seq = s->seq + s->len + !!(s->flags & TH_SYN) + !!(s->flags & TH_FIN);
    parse_opts(th + TCP_HLEN, doff - TCP_HLEN, &s->opt);
    return 0;
}

static uint8_t our_wscale(uint32_t rcvbuf)
{
    uint8_t ws = 0;
    while (ws < 14 && (rcvbuf >> ws) > 65535)
        ws++;
    return ws;
}

/* Options of the peer's SYN decide what the connection uses (we offer everything). */
static void syn_negotiate(struct us_sock *sk, const struct us_seg *s)
{
    struct ue_stack *st = sk->st;
    sk->fl &= ~(SKF_WS | SKF_SACK | SKF_TS);
    sk->snd_ws = sk->rcv_ws = 0;
    if (s->opt.has_ws) {
        sk->fl |= SKF_WS;
        sk->snd_ws = s->opt.ws > 14 ? 14 : s->opt.ws;
        sk->rcv_ws = our_wscale(sk->rcvbuf);
    }
    if (s->opt.sack_ok)
        sk->fl |= SKF_SACK;
    if (s->opt.has_ts) {
        sk->fl |= SKF_TS;
        sk->ts_recent = s->opt.tsval;
        sk->ts_recent_age = (uint32_t)st->now_ms;
    }
    sk->irs = s->seq;
    sk->rcv_nxt = s->seq + 1;
    sk->snd_wnd = sk->max_wnd = s->wnd; /* a SYN's window is never scaled */
    sk->snd_wl1 = s->seq;
    sk->snd_wl2 = s->ack;
    eddy__us_tcp_init_mss(sk, s->opt.mss ? s->opt.mss : 536);
}

static uint32_t ts_offset(struct ue_stack *st, uint32_t iss)
{
    return (uint32_t)eddy__us_siphash(st->secret, &iss, sizeof(iss));
}

static void init_child(struct us_sock *l, struct us_sock *c, const struct us_seg *s)
{
    struct ue_stack *st = l->st;
    c->laddr = s->daddr, c->lport = s->dport, c->raddr = s->saddr, c->rport = s->sport;
    c->fl |= l->fl & (SKF_NODELAY | SKF_KEEPALIVE);
    c->sndbuf = l->sndbuf, c->rcvbuf = l->rcvbuf;
    c->rcv_ws = our_wscale(c->rcvbuf);
    c->iss = eddy__us_isn(st, c->laddr, c->lport, c->raddr, c->rport);
    c->snd_una = c->snd_nxt = c->snd_max = c->recover = c->iss;
    c->ts_off = ts_offset(st, c->iss);
    c->last_rx = st->now_ms;
    c->parent = l;
}

/* A SYN when the SYN queue is full: answer with a cookie and keep no state. */
static void send_cookie_synack(struct us_sock *l, const struct us_seg *s)
{
    struct us_sock tmp;
    memset(&tmp, 0, sizeof(tmp));
    tmp.st = l->st;
    tmp.rcvbuf = l->rcvbuf;
    tmp.laddr = s->daddr, tmp.lport = s->dport, tmp.raddr = s->saddr, tmp.rport = s->sport;
    uint16_t mss;
    tmp.iss = eddy__us_cookie_make(l->st, s, &mss);
    if (s->opt.has_ts) { /* the options ride in the TSval (eddy__us_cookie_tsval) */
        uint32_t now = eddy__us_ts_now(l->st);
        tmp.fl |= SKF_TS | (s->opt.sack_ok ? SKF_SACK : 0) | (s->opt.has_ws ? SKF_WS : 0);
        tmp.rcv_ws = s->opt.has_ws ? our_wscale(tmp.rcvbuf) : 0;
        tmp.ts_recent = s->opt.tsval;
        tmp.ts_off = eddy__us_cookie_tsval(now + ts_offset(l->st, tmp.iss), s) - now;
    }
    tmp.rcv_nxt = s->seq + 1;
    tmp.snd_max = tmp.iss;
    tmp.state = TCPS_SYN_RECV;
    l->st->stats.tcp_syn_cookies_sent++;
    eddy__us_send_syn(&tmp);
}

/* The ACK that completes a cookie handshake: the connection is born established. */
static void cookie_ack(struct us_sock *l, const struct us_seg *s)
{
    struct ue_stack *st = l->st;
    uint16_t mss;
    if (l->lst->aq_len >= l->lst->backlog || !eddy__us_cookie_check(st, s, &mss)) {
        eddy__us_send_rst_for(st, s);
        return;
    }
    struct us_sock *c = eddy__us_sock_alloc(st);
    if (!c)
        return;
    init_child(l, c, s);
    c->iss = s->ack - 1;
    c->irs = s->seq - 1;
    c->rcv_nxt = s->seq;
    c->snd_una = c->snd_nxt = c->snd_max = c->recover = s->ack;
    c->ts_off = ts_offset(st, c->iss);
    c->rcv_ws = 0;
    if (s->opt.has_ts && s->opt.tsecr) {
        c->fl |= eddy__us_cookie_opts(s->opt.tsecr, &c->snd_ws);
        c->rcv_ws = c->fl & SKF_WS ? our_wscale(c->rcvbuf) : 0;
        c->ts_recent = s->opt.tsval;
        c->ts_recent_age = (uint32_t)st->now_ms;
    }
    c->snd_wnd = c->max_wnd = (uint32_t)s->wnd << c->snd_ws;
    c->snd_wl1 = s->seq, c->snd_wl2 = s->ack;
    eddy__us_tcp_init_mss(c, mss);
    l->lst->syn_count++; /* accept_enqueue takes it back */
    eddy__us_hash(st, c);
    eddy__us_set_state(c, TCPS_ESTABLISHED);
    st->stats.tcp_syn_cookies_ok++;
    eddy__us_accept_enqueue(c);
    if (s->len)
        eddy__us_data_queue(c, s);
}

static void tcp_listen_input(struct us_sock *l, const struct us_seg *s)
{
    struct ue_stack *st = l->st;
    if (s->flags & TH_RST)
        return;
    if (s->flags & TH_ACK) {
        if (!(s->flags & TH_SYN))
            cookie_ack(l, s);
        else
            eddy__us_send_rst_for(st, s);
        return;
    }
    if (!(s->flags & TH_SYN) || l->lst->aq_len >= l->lst->backlog)
        return; /* a full accept queue drops SYNs; the peer retries */
    if (l->lst->syn_count >= st->syn_backlog) {
        send_cookie_synack(l, s);
        return;
    }
    struct us_sock *c = eddy__us_sock_alloc(st);
    if (!c)
        return;
    init_child(l, c, s);
    syn_negotiate(c, s);
    eddy__us_set_state(c, TCPS_SYN_RECV);
    eddy__us_hash(st, c);
    l->lst->syn_count++;
    eddy__us_send_syn(c);
    eddy__us_timer_update(c);
}

/* tcp_rcv_synsent_state_process (RFC 9293 3.10.7.3) */
static void tcp_rcv_synsent(struct us_sock *sk, const struct us_seg *s)
{
    struct ue_stack *st = sk->st;
    int ack = (s->flags & TH_ACK) != 0;
    if (ack && (SEQ_LEQ(s->ack, sk->iss) || SEQ_GT(s->ack, sk->snd_max))) {
        eddy__us_send_rst_for(st, s);
        return;
    }
    if (s->flags & TH_RST) {
        if (ack)
            eddy__us_tcp_done(sk, ECONNREFUSED);
        return;
    }
    if (!(s->flags & TH_SYN))
        return;
    syn_negotiate(sk, s);
    if (!ack) { /* simultaneous open: SYN_RECV, and our SYN again with an ACK */
        eddy__us_set_state(sk, TCPS_SYN_RECV);
        eddy__us_send_syn(sk);
        eddy__us_timer_update(sk);
        return;
    }
    sk->snd_una = s->ack;
    if (sk->retries == 0)
        eddy__us_rtt_sample(sk, (uint32_t)st->now_ms - sk->rtt_start);
    sk->retries = 0;
    sk->t_rexmit = 0;
    eddy__us_set_state(sk, TCPS_ESTABLISHED);
    eddy__us_send_ack(sk);
    eddy__us_timer_update(sk);
    eddy__us_wake(sk, 0); /* connect completes: sk_state_change */
}

/* RFC 9293 step 1, Linux's tcp_sequence: some part of the segment is in the window. */
static int tcp_sequence(const struct us_sock *sk, const struct us_seg *s)
{
    uint32_t wnd = SEQ_GT(sk->rcv_adv, sk->rcv_nxt) ? sk->rcv_adv - sk->rcv_nxt : 0;
    return SEQ_GEQ(s->end_seq, sk->rcv_nxt) && SEQ_LEQ(s->seq, sk->rcv_nxt + wnd);
}

static void challenge_ack(struct us_sock *sk)
{
    sk->st->stats.tcp_challenge_acks++;
    eddy__us_send_ack(sk);
}

/* tcp_reset: the errno a reset leaves for the user. */
static void tcp_reset(struct us_sock *sk)
{
    int err = sk->state == TCPS_CLOSE_WAIT ? EPIPE : ECONNRESET;
    if (sk->state == TCPS_SYN_RECV && sk->parent)
        err = 0; /* an embryo dies quietly */
    eddy__us_tcp_done(sk, err);
}

/* PAWS, sequence check, RST and SYN checks. 0: go on; 1: segment consumed. */
static int tcp_validate_incoming(struct us_sock *sk, const struct us_seg *s)
{
    struct ue_stack *st = sk->st;
    if ((sk->fl & SKF_TS) && s->opt.has_ts && !(s->flags & TH_RST) &&
        SEQ_LT(s->opt.tsval, sk->ts_recent) &&
        (uint32_t)st->now_ms - sk->ts_recent_age < 24u * 24 * 3600 * 1000) {
        st->stats.tcp_paws_drops++; /* tcp_paws_discard */
        eddy__us_send_ack(sk);
        return 1;
    }
    if (!tcp_sequence(sk, s)) {
        if (!(s->flags & TH_RST))
            eddy__us_send_ack(sk); /* tcp_send_dupack */
        return 1;
    }
    if (s->flags & TH_RST) {
        if (s->seq == sk->rcv_nxt)
            tcp_reset(sk);
        else
            challenge_ack(sk);
        return 1;
    }
    if (s->flags & TH_SYN) {
        if (sk->state == TCPS_SYN_RECV && s->seq == sk->irs && !(s->flags & TH_ACK))
            eddy__us_send_syn(sk); /* the peer lost our SYN-ACK */
        else
            challenge_ack(sk);
        return 1;
    }
    return 0;
}

/* SYN_RECV + acceptable ACK: the handshake is done (tcp_rcv_state_process). */
static int synrecv_ack(struct us_sock *sk, const struct us_seg *s)
{
    if (SEQ_LEQ(s->ack, sk->snd_una) || SEQ_GT(s->ack, sk->snd_max)) {
        eddy__us_send_rst_for(sk->st, s);
        return 1;
    }
    sk->snd_una = s->ack;
    sk->snd_wnd = s->wnd << sk->snd_ws;
    sk->max_wnd = sk->snd_wnd;
    sk->snd_wl1 = s->seq, sk->snd_wl2 = s->ack;
    if (sk->retries == 0 && (sk->fl & SKF_TS) && s->opt.tsecr)
        eddy__us_rtt_sample(sk, eddy__us_ts_now(sk->st) + sk->ts_off - s->opt.tsecr);
    sk->retries = 0;
    sk->t_rexmit = 0;
    eddy__us_set_state(sk, TCPS_ESTABLISHED);
    if (sk->parent)
        eddy__us_accept_enqueue(sk);
    else
        eddy__us_wake(sk, 0);
    return 0;
}

/* State moves on our FIN being acknowledged. 1: sk is gone. */
static int fin_acked_step(struct us_sock *sk)
{
    switch (sk->state) {
    case TCPS_FIN_WAIT1:
        eddy__us_set_state(sk, TCPS_FIN_WAIT2);
        eddy__us_wake(sk, 0);
        return 0;
    case TCPS_CLOSING:
        eddy__us_tw_enter(sk);
        return 1;
    case TCPS_LAST_ACK:
        eddy__us_tcp_done(sk, 0);
        return 1;
    }
    return 0;
}

/* tcp_fin (RFC 9293 step 8). 1: sk is gone (TIME_WAIT). */
static int tcp_fin(struct us_sock *sk)
{
    sk->rcv_nxt++;
    sk->shut |= RCV_SHUTDOWN;
    sk->fl |= SKF_ACK_NOW;
    switch (sk->state) {
    case TCPS_SYN_RECV:
    case TCPS_ESTABLISHED:
        eddy__us_set_state(sk, TCPS_CLOSE_WAIT);
        break;
    case TCPS_FIN_WAIT1:
        eddy__us_set_state(sk, TCPS_CLOSING);
        break;
    case TCPS_FIN_WAIT2:
        eddy__us_send_ack(sk);
        eddy__us_tw_enter(sk);
        return 1;
    }
    eddy__us_wake(sk, 0);
    return 0;
}

static void ack_snd_check(struct us_sock *sk)
{
    if (sk->fl & SKF_ACK_NOW || sk->segs_unacked >= 2)
        eddy__us_send_ack(sk);
    else if (sk->segs_unacked)
        eddy__us_arm_delack(sk);
}

static void tcp_rcv_synchronized(struct us_sock *sk, const struct us_seg *s)
{
    struct ue_stack *st = sk->st;
    if (tcp_validate_incoming(sk, s) || !(s->flags & TH_ACK))
        return;
    sk->last_rx = st->now_ms;
    sk->probes = 0;
    if (sk->state == TCPS_SYN_RECV && synrecv_ack(sk, s))
        return;
    int fin_acked = eddy__us_tcp_ack(sk, s);
    if (fin_acked < 0 || (fin_acked && fin_acked_step(sk)))
        return;
    if (s->opt.has_ts && SEQ_GEQ(s->opt.tsval, sk->ts_recent) &&
        SEQ_LEQ(s->seq, sk->last_ack_sent)) {
        sk->ts_recent = s->opt.tsval;
        sk->ts_recent_age = (uint32_t)st->now_ms;
    }
    if (s->len && eddy__us_data_queue(sk, s))
        return;
    int fin_ok =
        sk->state == TCPS_ESTABLISHED || sk->state == TCPS_FIN_WAIT1 || sk->state == TCPS_FIN_WAIT2;
    if ((s->flags & TH_FIN) && fin_ok && s->seq + s->len == sk->rcv_nxt && tcp_fin(sk))
        return;
    eddy__us_tcp_output(sk);
    ack_snd_check(sk);
    eddy__us_timer_update(sk);
}

void eddy__us_tcp_input(struct ue_stack *st, const unsigned char *ip, unsigned char *th, size_t len)
{
    struct us_seg s;
    uint32_t sum = eddy__us_pseudo_sum(us_get32(ip + 12), us_get32(ip + 16), 6, (uint16_t)len);
    if (eddy__us_csum_fold(eddy__us_csum_add(sum, th, len)) != 0) {
        st->stats.tcp_bad_checksum++;
        return;
    }
    if (decode(ip, th, len, &s) < 0)
        return;
    st->stats.tcp_in++;
    struct us_sock *sk = eddy__us_lookup(st, s.daddr, s.dport, s.saddr, s.sport);
    if (sk) {
        if (sk->state == TCPS_SYN_SENT)
            tcp_rcv_synsent(sk, &s);
        else
            tcp_rcv_synchronized(sk, &s);
        return;
    }
    struct us_tw *tw = eddy__us_tw_lookup(st, s.daddr, s.dport, s.saddr, s.sport);
    if (tw && !eddy__us_timewait_process(st, tw, &s))
        return;
    struct us_sock *l = eddy__us_lookup_listener(st, s.daddr, s.dport);
    if (l)
        tcp_listen_input(l, &s);
    else
        eddy__us_send_rst_for(st, &s);
}

/* tcp_v4_err: an ICMP error about one of our segments (RFC 5927: its sequence number
 * must be in flight). Fatal in SYN-SENT, a soft error afterwards. */
void eddy__us_tcp_icmp_error(struct ue_stack *st, const unsigned char *inner, size_t len, int err)
{
    size_t ihl = (inner[0] & 15u) * 4u;
    if (len < ihl + 8)
        return;
    const unsigned char *th = inner + ihl;
    struct us_sock *sk = eddy__us_lookup(st, us_get32(inner + 12), us_get16(th),
                                         us_get32(inner + 16), us_get16(th + 2));
    uint32_t seq = us_get32(th + 4);
    if (!sk || err == EMSGSIZE || SEQ_LT(seq, sk->snd_una) || SEQ_GEQ(seq, sk->snd_max))
        return;
    if (sk->state == TCPS_SYN_SENT) {
        eddy__us_tcp_done(sk, err);
        return;
    }
    sk->err_soft = (uint8_t)err;
}
