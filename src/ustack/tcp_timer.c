/*
 * TCP timers. A socket has three deadlines (retransmit-or-persist, delayed ACK,
 * keepalive-or-FIN_WAIT2) and one wheel entry at the earliest of them; a TIME_WAIT
 * record has one entry. The wheel runs from ue_stack_poll, so one reactor timer at the
 * stack's next deadline drives every connection's timers.
 *
 * RTO (RFC 6298): SRTT/RTTVAR from samples that are never retransmissions (Karn; with
 * timestamps the echo says which transmission was acknowledged), RTO = SRTT + 4 RTTVAR,
 * at least 200 ms (Linux's TCP_RTO_MIN), doubled on every expiry up to 120 s, and the
 * doubling kept until a new sample arrives.
 */
#include "tcp.h"

static uint64_t min3(uint64_t a, uint64_t b, uint64_t c)
{
    uint64_t m = UINT64_MAX;
    if (a && a < m)
        m = a;
    if (b && b < m)
        m = b;
    if (c && c < m)
        m = c;
    return m;
}

static void wheel_sync(struct us_sock *sk)
{
    uint64_t at = min3(sk->t_rexmit, sk->t_delack, sk->t_keep);
    if (at == UINT64_MAX)
        eddy__us_wheel_disarm(&sk->st->wheel, &sk->tm);
    else if (!sk->tm.pprev || sk->tm.expires != at)
        eddy__us_wheel_arm(&sk->st->wheel, &sk->tm, at);
}

void eddy__us_arm_rexmit(struct us_sock *sk, uint32_t ms)
{
    sk->t_rexmit = sk->st->now_ms + ms;
    wheel_sync(sk);
}

void eddy__us_arm_delack(struct us_sock *sk)
{
    if (!sk->t_delack)
        sk->t_delack = sk->st->now_ms + TCP_DELACK_MS;
    wheel_sync(sk);
}

static int keepalive_state(int s)
{
    return s == TCPS_ESTABLISHED || s == TCPS_CLOSE_WAIT;
}

/* Re-derives which retransmit-slot timer should run from the send state. */
void eddy__us_timer_update(struct us_sock *sk)
{
    uint32_t unsent = us_ring_len(sk->snd) - (sk->snd_nxt - sk->snd_una);
    if (sk->snd_max != sk->snd_una) {
        if (!sk->t_rexmit || (sk->fl & SKF_PERSIST))
            sk->t_rexmit = sk->st->now_ms + sk->rto;
        sk->fl &= ~SKF_PERSIST;
    } else if (unsent && !sk->snd_wnd && sk->state >= TCPS_ESTABLISHED) {
        if (!(sk->fl & SKF_PERSIST)) {
            sk->fl |= SKF_PERSIST;
            sk->t_rexmit = sk->st->now_ms + (sk->rto << sk->backoff);
        }
    } else {
        sk->t_rexmit = 0;
        sk->fl &= ~SKF_PERSIST;
    }
    if ((sk->fl & SKF_KEEPALIVE) && keepalive_state(sk->state) && !sk->t_keep)
        sk->t_keep = sk->last_rx + TCP_KEEPIDLE_MS;
    else if (sk->state == TCPS_FIN_WAIT2 && (sk->fl & SKF_ORPHAN) && !sk->t_keep)
        sk->t_keep = sk->st->now_ms + TCP_FIN_TIMEOUT_MS;
    wheel_sync(sk);
}

void eddy__us_rtt_sample(struct us_sock *sk, uint32_t m)
{
    if (m > TCP_MAX_RTO_MS)
        return; /* an echo from no recent segment of ours (a forged or ancient TSecr) */
    if (!m)
        m = 1;
    if (!sk->srtt8) {
        sk->srtt8 = m << 3;
        sk->rttvar4 = m << 1; /* R/2, scaled by 4 */
    } else {
        int32_t err = (int32_t)m - (int32_t)(sk->srtt8 >> 3);
        sk->srtt8 = (uint32_t)((int32_t)sk->srtt8 + err); /* += err/8, scaled by 8 */
        if (err < 0)
            err = -err;
        sk->rttvar4 = (uint32_t)((int32_t)sk->rttvar4 + err - (int32_t)(sk->rttvar4 >> 2));
    }
    uint32_t rto = (sk->srtt8 >> 3) + sk->rttvar4;
    rto = rto < TCP_MIN_RTO_MS ? TCP_MIN_RTO_MS : rto > TCP_MAX_RTO_MS ? TCP_MAX_RTO_MS : rto;
    sk->rto = rto;
    sk->backoff = 0;
}

/* tcp_retransmit_timer: RFC 5681 3.1 loss window, RFC 6298 5.5-5.7 backoff, RFC 6582
 * recover = highest sent, then go back to snd_una. */
static int tcp_retransmit_timer(struct us_sock *sk)
{
    struct ue_stack *st = sk->st;
    int syn = sk->state == TCPS_SYN_SENT || sk->state == TCPS_SYN_RECV;
    unsigned limit = sk->state == TCPS_SYN_SENT   ? TCP_SYN_RETRIES
                     : sk->state == TCPS_SYN_RECV ? TCP_SYNACK_RETRIES
                                                  : TCP_RETRIES2;
    if (++sk->retries > limit) {
        eddy__us_tcp_done(sk, ETIMEDOUT);
        return 1;
    }
    st->stats.tcp_rto_fired++;
    sk->rto = sk->rto * 2 > TCP_MAX_RTO_MS ? TCP_MAX_RTO_MS : sk->rto * 2;
    if (sk->backoff < 15)
        sk->backoff++;
    sk->fl &= ~(SKF_RTT_TIMING | SKF_RECOVERY);
    sk->dupacks = 0;
    sk->t_rexmit = 0;
    if (syn) {
        eddy__us_send_syn(sk);
        return 0;
    }
    uint32_t flight = sk->snd_max - sk->snd_una;
    uint32_t half = flight / 2, two = 2u * sk->mss;
    sk->ssthresh = half > two ? half : two;
    sk->cwnd = sk->mss;
    sk->recover = sk->snd_max;
    sk->snd_nxt = sk->snd_una;
    eddy__us_tcp_output(sk);
    return 0;
}

/* tcp_probe_timer: the zero-window probe, backed off like the RTO. Never fatal while an
 * application holds the socket (RFC 9293 3.8.6.1); an orphan gets TCP_ORPHAN_RETRIES
 * probes, as Linux's tcp_orphan_retries, or a peer that keeps its window shut would hold
 * the closed connection and its send buffer forever. 1: the socket is gone. */
static int tcp_probe_timer(struct us_sock *sk)
{
    if ((sk->fl & SKF_ORPHAN) && sk->backoff >= TCP_ORPHAN_RETRIES) {
        eddy__us_tcp_done(sk, ETIMEDOUT);
        return 1;
    }
    eddy__us_send_probe(sk);
    if (sk->backoff < 9)
        sk->backoff++;
    uint32_t ms = sk->rto << sk->backoff;
    sk->t_rexmit = sk->st->now_ms + (ms > TCP_MAX_RTO_MS ? TCP_MAX_RTO_MS : ms);
    return 0;
}

/* tcp_keepalive_timer: probes after the idle time, every interval, until the count;
 * also ends an orphaned FIN_WAIT2 after tcp_fin_timeout. */
static int tcp_keepalive_timer(struct us_sock *sk)
{
    struct ue_stack *st = sk->st;
    sk->t_keep = 0;
    if (sk->state == TCPS_FIN_WAIT2 && (sk->fl & SKF_ORPHAN)) {
        eddy__us_tcp_done(sk, 0);
        return 1;
    }
    if (!(sk->fl & SKF_KEEPALIVE) || !keepalive_state(sk->state))
        return 0;
    uint64_t idle = st->now_ms - sk->last_rx;
    if (idle < TCP_KEEPIDLE_MS) {
        sk->t_keep = sk->last_rx + TCP_KEEPIDLE_MS;
        sk->probes = 0;
        return 0;
    }
    if (sk->probes >= TCP_KEEPCNT) {
        eddy__us_send_active_reset(sk);
        eddy__us_tcp_done(sk, ETIMEDOUT);
        return 1;
    }
    sk->probes++;
    eddy__us_send_probe(sk);
    sk->t_keep = st->now_ms + TCP_KEEPINTVL_MS;
    return 0;
}

static void sock_timer(struct ue_stack *st, struct us_sock *sk)
{
    uint64_t now = st->now_ms;
    if (sk->t_delack && sk->t_delack <= now) {
        sk->t_delack = 0;
        eddy__us_send_ack(sk);
    }
    if (sk->t_rexmit && sk->t_rexmit <= now) {
        if ((sk->fl & SKF_PERSIST) ? tcp_probe_timer(sk) : tcp_retransmit_timer(sk))
            return; /* tcp_done: an orphan is freed already */
    }
    if (sk->t_keep && sk->t_keep <= now && tcp_keepalive_timer(sk))
        return;
    eddy__us_timer_update(sk);
}

void eddy__us_tcp_timer_fire(struct us_timer *t, void *arg)
{
    struct ue_stack *st = arg;
    if (t->kind == US_TK_TW) {
        eddy__us_tw_kill(st, ue_container_of(t, struct us_tw, tm));
        return;
    }
    sock_timer(st, ue_container_of(t, struct us_sock, tm));
}

void eddy__us_tw_arm(struct ue_stack *st, struct us_tw *tw)
{
    eddy__us_wheel_arm(&st->wheel, &tw->tm, st->now_ms + st->tw_ms);
}
