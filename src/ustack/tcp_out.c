/*
 * TCP output: building segments with their options, the window we advertise, and
 * tcp_output, which decides what data may leave now (congestion and send windows,
 * Nagle, sender-side silly-window avoidance, the FIN).
 */
#include "tcp.h"

#define OPT_EOL       0
#define OPT_NOP       1
#define OPT_MSS       2
#define OPT_WS        3
#define OPT_SACK_PERM 4
#define OPT_SACK      5
#define OPT_TS        8

struct us_tx {
    uint32_t la, ra;
    uint16_t lp, rp;
    uint32_t seq, ack, win;
    uint8_t flags;
    uint16_t gso_mss; /* 0: one segment; else the payload of each segment the device cuts */
    unsigned char opt[40];
    unsigned optlen;
};

uint32_t eddy__us_ts_now(struct ue_stack *st)
{
    return (uint32_t)st->now_ms;
}

/* Builds and sends one segment; `len` payload bytes come from ring offset `off`. */
static void tcp_emit(struct ue_stack *st, const struct us_tx *tx, const struct us_ring *ring,
                     uint32_t off, uint32_t len)
{
    unsigned char one[UE_FRAME_MAX];
    unsigned char *frame = tx->gso_mss ? st->gso_frame : one;
    unsigned char *th = frame + ETH_HLEN + IP_HLEN;
    unsigned hl = TCP_HLEN + tx->optlen;
    us_put16(th, tx->lp);
    us_put16(th + 2, tx->rp);
    us_put32(th + 4, tx->seq);
    us_put32(th + 8, (tx->flags & TH_ACK) ? tx->ack : 0);
    th[12] = (unsigned char)((hl / 4) << 4);
    th[13] = tx->flags;
    us_put16(th + 14, (uint16_t)tx->win);
    us_put16(th + 16, 0);
    us_put16(th + 18, 0);
    memcpy(th + TCP_HLEN, tx->opt, tx->optlen);
    if (len)
        eddy__us_ring_peek(ring, off, th + hl, len);
    uint32_t sum = eddy__us_pseudo_sum(tx->la, tx->ra, 6, (uint16_t)(hl + len));
    if (tx->gso_mss) /* the cutter sums each segment: it gets the pseudo-header part */
        us_put16(th + 16, (uint16_t)~eddy__us_csum_fold(sum));
    else
        us_put16(th + 16, eddy__us_csum_fold(eddy__us_csum_add(sum, th, hl + len)));
    st->stats.tcp_out++;
    st->tx_gso_mss = tx->gso_mss;
    eddy__us_ip_output(st, frame, tx->ra, 6, hl + len);
    st->tx_gso_mss = 0;
}

static void opt_ts(struct us_tx *tx, uint32_t tsval, uint32_t tsecr)
{
    unsigned char *o = tx->opt + tx->optlen;
    o[0] = OPT_NOP;
    o[1] = OPT_NOP;
    o[2] = OPT_TS;
    o[3] = 10;
    us_put32(o + 4, tsval);
    us_put32(o + 8, tsecr);
    tx->optlen += 12;
}

/* SACK blocks from the out-of-order queue; the block holding the latest arrival first
 * (RFC 2018 4). */
static void opt_sack(struct us_sock *sk, struct us_tx *tx)
{
    uint32_t blk[8][2];
    int n = 0;
    for (struct us_oseg *o = sk->ooo; o && n < 8; o = o->next) {
        if (n && blk[n - 1][1] == o->seq)
            blk[n - 1][1] = o->seq + o->len;
        else
            blk[n][0] = o->seq, blk[n][1] = o->seq + o->len, n++;
    }
    int max = (40 - (int)tx->optlen - 2) / 8;
    if (!n || max <= 0)
        return;
    for (int i = 1; i < n; i++) { /* move the latest arrival's block to the front */
        if (SEQ_GEQ(sk->ooo_last, blk[i][0]) && SEQ_LT(sk->ooo_last, blk[i][1])) {
            uint32_t a = blk[i][0], b = blk[i][1];
            memmove(blk[1], blk[0], sizeof(blk[0]) * (size_t)i);
            blk[0][0] = a, blk[0][1] = b;
            break;
        }
    }
    n = n < max ? n : max;
    unsigned char *o = tx->opt + tx->optlen;
    o[0] = OPT_NOP;
    o[1] = OPT_NOP;
    o[2] = OPT_SACK;
    o[3] = (unsigned char)(2 + 8 * n);
    for (int i = 0; i < n; i++) {
        us_put32(o + 4 + 8 * i, blk[i][0]);
        us_put32(o + 8 + 8 * i, blk[i][1]);
    }
    tx->optlen += 4u + 8u * (unsigned)n;
}

/* Receiver-side silly-window avoidance (RFC 9293 3.8.6.2.2): the right edge moves only
 * by at least min(buffer/2, MSS), and it never moves left. */
uint32_t eddy__us_rcv_window(struct us_sock *sk)
{
    uint32_t used = us_ring_len(sk->rcv);
    uint32_t space = sk->rcvbuf > used ? sk->rcvbuf - used : 0;
    if (sk->shut & RCV_SHUTDOWN && sk->fl & SKF_ORPHAN)
        space = 0;
    uint32_t cur = SEQ_GT(sk->rcv_adv, sk->rcv_nxt) ? sk->rcv_adv - sk->rcv_nxt : 0;
    uint32_t step = sk->rcvbuf / 2 < sk->mss ? sk->rcvbuf / 2 : sk->mss;
    uint32_t win = space >= cur + step ? space : cur;
    uint32_t max = 65535u << sk->rcv_ws;
    if (win > max)
        win = max;
    return win & ~((1u << sk->rcv_ws) - 1);
}

static void tx_init(struct us_sock *sk, struct us_tx *tx, uint32_t seq, uint8_t flags)
{
    memset(tx, 0, offsetof(struct us_tx, opt));
    tx->optlen = 0;
    tx->la = sk->laddr, tx->ra = sk->raddr, tx->lp = sk->lport, tx->rp = sk->rport;
    tx->seq = seq;
    tx->flags = flags;
    tx->ack = sk->rcv_nxt;
    if (flags & TH_ACK) {
        uint32_t win = eddy__us_rcv_window(sk);
        sk->rcv_adv = sk->rcv_nxt + win;
        sk->last_ack_sent = sk->rcv_nxt;
        tx->win = win >> sk->rcv_ws;
        sk->segs_unacked = 0;
        sk->t_delack = 0;
        sk->fl &= ~SKF_ACK_NOW;
    }
    if (sk->fl & SKF_TS)
        opt_ts(tx, eddy__us_ts_now(sk->st) + sk->ts_off, sk->ts_recent);
    if ((sk->fl & SKF_SACK) && sk->ooo)
        opt_sack(sk, tx);
}

/* One segment of the connection: `len` bytes at `seq` from the send ring. */
static uint32_t eff_mss(const struct us_sock *sk);

static void send_data(struct us_sock *sk, uint32_t seq, uint32_t len, uint8_t flags)
{
    struct us_tx tx;
    tx_init(sk, &tx, seq, flags | TH_ACK);
    if (SEQ_LT(seq, sk->snd_max)) {
        sk->st->stats.tcp_retrans_segs++;
        sk->st->stats.tcp_retrans_bytes += len;
    }
    if (len > eff_mss(sk))
        tx.gso_mss = (uint16_t)eff_mss(sk);
    tcp_emit(sk->st, &tx, sk->snd, seq - sk->snd_una, len);
}

/* A pure ACK carries the highest sequence number sent (Linux's tcp_acceptable_seq):
 * after a timeout snd_nxt goes back, and an ACK from behind the peer's RCV.NXT would be
 * dropped as old by the peer (both sides doing so deadlock). */
void eddy__us_send_ack(struct us_sock *sk)
{
    struct us_tx tx;
    tx_init(sk, &tx, sk->snd_max, TH_ACK);
    tcp_emit(sk->st, &tx, NULL, 0, 0);
}

void eddy__us_send_probe(struct us_sock *sk)
{
    struct us_tx tx;
    tx_init(sk, &tx, sk->snd_una - 1, TH_ACK);
    tcp_emit(sk->st, &tx, NULL, 0, 0);
}

void eddy__us_tcp_init_mss(struct us_sock *sk, uint16_t peer_mss)
{
    uint16_t ours = (uint16_t)(sk->st->dev->mtu - IP_HLEN - TCP_HLEN);
    uint16_t m = peer_mss && peer_mss < ours ? peer_mss : ours;
    if (sk->fl & SKF_TS)
        m -= 12;
    sk->mss = m < 64 ? 64 : m;
    uint32_t iw = TCP_IW_SEGS * (uint32_t)sk->mss, cap = 2u * sk->mss; /* RFC 6928 */
    cap = cap > 14600 ? cap : 14600;
    sk->cwnd = iw < cap ? iw : cap;
    sk->ssthresh = UINT32_MAX;
}

/* SYN (SYN_SENT) or SYN-ACK (SYN_RECV) with MSS, SACK-permitted, timestamps and the
 * window scale, in Linux's order. The window in a SYN is never scaled. */
void eddy__us_send_syn(struct us_sock *sk)
{
    struct us_tx tx;
    int synack = sk->state == TCPS_SYN_RECV;
    memset(&tx, 0, sizeof(tx));
    tx.la = sk->laddr, tx.ra = sk->raddr, tx.lp = sk->lport, tx.rp = sk->rport;
    tx.seq = sk->iss;
    tx.ack = sk->rcv_nxt;
    sk->last_ack_sent = sk->rcv_nxt;
    tx.flags = TH_SYN | (synack ? TH_ACK : 0);
    uint32_t win = sk->rcvbuf < 65535 ? sk->rcvbuf : 65535;
    tx.win = win;
    sk->rcv_adv = sk->rcv_nxt + win;
    unsigned char *o = tx.opt;
    o[0] = OPT_MSS, o[1] = 4;
    us_put16(o + 2, (uint16_t)(sk->st->dev->mtu - IP_HLEN - TCP_HLEN));
    tx.optlen = 4;
    if (!synack || (sk->fl & SKF_SACK)) {
        o[tx.optlen] = OPT_SACK_PERM, o[tx.optlen + 1] = 2;
        tx.optlen += 2;
    }
    if (!synack || (sk->fl & SKF_TS)) {
        o[tx.optlen] = OPT_TS, o[tx.optlen + 1] = 10;
        us_put32(o + tx.optlen + 2, eddy__us_ts_now(sk->st) + sk->ts_off);
        us_put32(o + tx.optlen + 6, synack ? sk->ts_recent : 0);
        tx.optlen += 10;
    }
    if (!synack || (sk->fl & SKF_WS)) {
        o[tx.optlen] = OPT_NOP, o[tx.optlen + 1] = OPT_WS, o[tx.optlen + 2] = 3;
        o[tx.optlen + 3] = sk->rcv_ws;
        tx.optlen += 4;
    }
    while (tx.optlen % 4)
        o[tx.optlen++] = OPT_NOP;
    if (SEQ_LT(sk->iss, sk->snd_max))
        sk->st->stats.tcp_retrans_segs++;
    sk->snd_nxt = sk->snd_max = sk->iss + 1;
    tcp_emit(sk->st, &tx, NULL, 0, 0);
}

/* tcp_v4_send_reset: the reply to a segment no connection owns (RFC 9293 3.10.7.1). */
void eddy__us_send_rst_for(struct ue_stack *st, const struct us_seg *s)
{
    if (s->flags & TH_RST)
        return;
    struct us_tx tx;
    memset(&tx, 0, sizeof(tx));
    tx.la = s->daddr, tx.ra = s->saddr, tx.lp = s->dport, tx.rp = s->sport;
    if (s->flags & TH_ACK) {
        tx.seq = s->ack;
        tx.flags = TH_RST;
    } else {
        tx.ack = s->end_seq;
        tx.flags = TH_RST | TH_ACK;
    }
    st->stats.tcp_rst_sent++;
    tcp_emit(st, &tx, NULL, 0, 0);
}

/* tcp_send_active_reset: abort from our side (close with unread data, SO_LINGER 0). */
void eddy__us_send_active_reset(struct us_sock *sk)
{
    struct us_tx tx;
    tx_init(sk, &tx, sk->snd_max, TH_RST | TH_ACK);
    sk->st->stats.tcp_rst_sent++;
    tcp_emit(sk->st, &tx, NULL, 0, 0);
}

void eddy__us_tw_send_ack(struct ue_stack *st, struct us_tw *tw)
{
    struct us_tx tx;
    memset(&tx, 0, sizeof(tx));
    tx.la = tw->laddr, tx.ra = tw->raddr, tx.lp = tw->lport, tx.rp = tw->rport;
    tx.seq = tw->snd_nxt;
    tx.ack = tw->rcv_nxt;
    tx.flags = TH_ACK;
    tx.win = tw->rcv_wnd > 65535 ? 65535 : tw->rcv_wnd;
    if (tw->has_ts)
        opt_ts(&tx, eddy__us_ts_now(st) + tw->ts_off, tw->ts_recent);
    tcp_emit(st, &tx, NULL, 0, 0);
}

/* Payload bytes that fit a segment now: SACK blocks take room from the MSS. */
static uint32_t eff_mss(const struct us_sock *sk)
{
    if (!(sk->fl & SKF_SACK) || !sk->ooo)
        return sk->mss;
    uint32_t blocks = (sk->fl & SKF_TS) ? 3 : 4;
    return sk->mss - (4 + 8 * blocks);
}

/* Resends the first unacknowledged segment (fast retransmit, partial ACKs). */
void eddy__us_retransmit_head(struct us_sock *sk)
{
    uint32_t data = us_ring_len(sk->snd), mss = eff_mss(sk);
    uint32_t len = data < mss ? data : mss;
    uint8_t fin =
        (sk->fl & SKF_FIN_QUEUED) && len == data && SEQ_GT(sk->snd_max, sk->snd_una + data) ? TH_FIN
                                                                                            : 0;
    if (!len && !fin)
        return;
    send_data(sk, sk->snd_una, len, fin | (len ? TH_PSH : 0));
}

/* The most one send may carry: several segments when the device cuts them (GSO),
 * which saves a write and a trip through the kernel per segment on a TAP. */
static uint32_t gso_len(const struct us_sock *sk, uint32_t mss)
{
    const struct ue_stack *st = sk->st;
    if (!st->gso_frame)
        return mss;
    uint32_t room = st->dev->gso_max - ETH_HLEN - IP_HLEN - 60;
    if (room > 65535u - IP_HLEN - 60)
        room = 65535u - IP_HLEN - 60;
    return room >= mss ? room / mss * mss : mss;
}

/* 1 if a segment of `len` bytes (of `avail` queued) may leave now. */
static int tcp_may_send(struct us_sock *sk, uint32_t len, uint32_t avail)
{
    if (len >= eff_mss(sk))
        return 1;
    int outstanding = sk->snd_nxt != sk->snd_una;
    if (len < avail) /* window-limited: only a worthwhile piece (SWS, RFC 9293 3.8.6.2.1) */
        return len >= sk->max_wnd / 2 && len > 0;
    /* everything queued fits: Nagle holds it while data is unacknowledged */
    return !outstanding || (sk->fl & (SKF_NODELAY | SKF_FIN_QUEUED));
}

static int state_can_send(int state)
{
    return state == TCPS_ESTABLISHED || state == TCPS_CLOSE_WAIT || state == TCPS_FIN_WAIT1 ||
           state == TCPS_CLOSING || state == TCPS_LAST_ACK;
}

/* Effective congestion window: limited transmit lends 1-2 segments on dupacks. */
static uint32_t send_limit(struct us_sock *sk)
{
    uint32_t cwnd = sk->cwnd;
    if (!(sk->fl & SKF_RECOVERY) && sk->dupacks && sk->dupacks < 3)
        cwnd += sk->dupacks * (uint32_t)sk->mss; /* RFC 3042 */
    uint32_t w = cwnd < sk->snd_wnd ? cwnd : sk->snd_wnd;
    return sk->snd_una + w;
}

static int send_fin_alone(struct us_sock *sk, uint32_t data_end)
{
    if (!(sk->fl & SKF_FIN_QUEUED) || (sk->fl & SKF_FIN_ACKED) || sk->snd_nxt != data_end)
        return 0;
    send_data(sk, data_end, 0, TH_FIN);
    sk->snd_nxt = data_end + 1;
    if (SEQ_GT(sk->snd_nxt, sk->snd_max))
        sk->snd_max = sk->snd_nxt;
    return 1;
}

void eddy__us_tcp_output(struct us_sock *sk)
{
    if (!state_can_send(sk->state))
        return;
    uint32_t data_end = sk->snd_una + us_ring_len(sk->snd);
    for (;;) {
        if (SEQ_GEQ(sk->snd_nxt, data_end)) {
            send_fin_alone(sk, data_end);
            break;
        }
        uint32_t avail = data_end - sk->snd_nxt, limit = send_limit(sk);
        if (SEQ_GEQ(sk->snd_nxt, limit))
            break;
        uint32_t len = limit - sk->snd_nxt, mss = eff_mss(sk), seg = gso_len(sk, mss);
        len = len < avail ? len : avail;
        len = len < seg ? len : seg;
        if (!tcp_may_send(sk, len, avail))
            break;
        uint8_t flags = sk->snd_nxt + len == data_end ? TH_PSH : 0;
        if (flags && (sk->fl & SKF_FIN_QUEUED))
            flags |= TH_FIN;
        if (!(sk->fl & SKF_RTT_TIMING) && SEQ_GEQ(sk->snd_nxt, sk->snd_max)) {
            sk->fl |= SKF_RTT_TIMING;
            sk->rtt_seq = sk->snd_nxt;
            sk->rtt_start = (uint32_t)sk->st->now_ms;
        }
        send_data(sk, sk->snd_nxt, len, flags);
        sk->snd_nxt += len + ((flags & TH_FIN) ? 1 : 0);
        if (SEQ_GT(sk->snd_nxt, sk->snd_max))
            sk->snd_max = sk->snd_nxt;
    }
    if (sk->fl & SKF_ACK_NOW)
        eddy__us_send_ack(sk);
    eddy__us_timer_update(sk);
}

/* tcp_close_state + tcp_send_fin: the one place the send side closes. The state moves
 * (ESTABLISHED/SYN_RECV -> FIN_WAIT1, CLOSE_WAIT -> LAST_ACK) and the FIN follows the
 * queued data. Once only. */
void eddy__us_send_fin(struct us_sock *sk)
{
    if (sk->fl & SKF_FIN_QUEUED)
        return;
    if (sk->state == TCPS_ESTABLISHED || sk->state == TCPS_SYN_RECV)
        eddy__us_set_state(sk, TCPS_FIN_WAIT1);
    else if (sk->state == TCPS_CLOSE_WAIT)
        eddy__us_set_state(sk, TCPS_LAST_ACK);
    sk->fl |= SKF_FIN_QUEUED;
    eddy__us_tcp_output(sk);
    eddy__us_timer_update(sk);
}
