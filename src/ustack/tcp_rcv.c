/*
 * The heavier input steps: tcp_ack (with NewReno's tcp_fastretrans_alert),
 * tcp_data_queue (with the out-of-order queue) and TIME_WAIT processing.
 *
 * Loss recovery is NewReno (RFC 5681, RFC 6582): the third duplicate ACK retransmits
 * the first unacknowledged segment, sets ssthresh to half the flight and inflates cwnd
 * by the three segments that left; further duplicates inflate by one segment each; a
 * partial ACK retransmits the next hole and deflates; an ACK covering `recover` ends
 * recovery. The first two duplicates may send new data (limited transmit, RFC 3042,
 * in tcp_out.c's send_limit).
 */
#include "tcp.h"

#include <stdlib.h>

int eddy__us_tcp_ack(struct us_sock *sk, const struct us_seg *s);
int eddy__us_data_queue(struct us_sock *sk, const struct us_seg *s);
int eddy__us_timewait_process(struct ue_stack *st, struct us_tw *tw, const struct us_seg *s);

static uint32_t half_flight(const struct us_sock *sk)
{
    uint32_t half = (sk->snd_max - sk->snd_una) / 2, two = 2u * sk->mss;
    return half > two ? half : two;
}

/* tcp_fastretrans_alert on a duplicate ACK. */
static void tcp_dupack(struct us_sock *sk, uint32_t ack)
{
    struct ue_stack *st = sk->st;
    if (sk->dupacks < 255)
        sk->dupacks++;
    if (sk->fl & SKF_RECOVERY) {
        sk->cwnd += sk->mss;
    } else if (sk->dupacks == 3 && SEQ_GT(ack, sk->recover)) {
        sk->ssthresh = half_flight(sk);
        sk->recover = sk->snd_max;
        sk->cwnd = sk->ssthresh + 3u * sk->mss;
        sk->fl |= SKF_RECOVERY;
        sk->fl &= ~SKF_RTT_TIMING;
        st->stats.tcp_fast_retrans++;
        eddy__us_retransmit_head(sk);
    }
    eddy__us_tcp_output(sk);
}

/* Congestion window on new data acknowledged (RFC 5681 3.1, RFC 6582 3.2 steps 3-4). */
static void tcp_cong_on_ack(struct us_sock *sk, uint32_t acked)
{
    if (sk->fl & SKF_RECOVERY) {
        if (SEQ_GEQ(sk->snd_una, sk->recover)) { /* full ACK */
            uint32_t flight = sk->snd_max - sk->snd_una;
            flight = flight > sk->mss ? flight : sk->mss;
            sk->cwnd = sk->ssthresh < flight + sk->mss ? sk->ssthresh : flight + sk->mss;
            sk->fl &= ~SKF_RECOVERY;
            sk->dupacks = 0;
        } else { /* partial ACK: the next hole, deflate */
            eddy__us_retransmit_head(sk);
            sk->cwnd = sk->cwnd > acked ? sk->cwnd - acked : 0;
            if (acked >= sk->mss)
                sk->cwnd += sk->mss;
            if (sk->cwnd < sk->mss)
                sk->cwnd = sk->mss;
        }
        return;
    }
    sk->dupacks = 0;
    if (sk->cwnd < sk->ssthresh)
        sk->cwnd += acked < sk->mss ? acked : sk->mss;
    else
        sk->cwnd +=
            (uint32_t)sk->mss * sk->mss / sk->cwnd ? (uint32_t)sk->mss * sk->mss / sk->cwnd : 1;
}

static void tcp_ack_rtt(struct us_sock *sk, const struct us_seg *s)
{
    uint32_t now = eddy__us_ts_now(sk->st);
    if ((sk->fl & SKF_TS) && s->opt.has_ts && s->opt.tsecr) {
        eddy__us_rtt_sample(sk, now + sk->ts_off - s->opt.tsecr);
        sk->fl &= ~SKF_RTT_TIMING;
    } else if ((sk->fl & SKF_RTT_TIMING) && SEQ_GT(s->ack, sk->rtt_seq)) {
        eddy__us_rtt_sample(sk, (uint32_t)sk->st->now_ms - sk->rtt_start);
        sk->fl &= ~SKF_RTT_TIMING;
    }
}

/* tcp_ack_update_window (RFC 9293 step 5, SND.WL1/WL2). 1 if the window changed. */
static int tcp_ack_update_window(struct us_sock *sk, const struct us_seg *s)
{
    uint32_t wnd = s->wnd << sk->snd_ws;
    if (!(SEQ_LT(sk->snd_wl1, s->seq) || (sk->snd_wl1 == s->seq && SEQ_LEQ(sk->snd_wl2, s->ack))))
        return 0;
    int changed = wnd != sk->snd_wnd;
    sk->snd_wnd = wnd;
    sk->snd_wl1 = s->seq;
    sk->snd_wl2 = s->ack;
    if (wnd > sk->max_wnd)
        sk->max_wnd = wnd;
    if (changed && wnd)
        sk->backoff = 0; /* a window opened: probes start over */
    return changed;
}

/* Returns 1 if our FIN is now acknowledged, 0 to go on, -1 to drop the segment. */
int eddy__us_tcp_ack(struct us_sock *sk, const struct us_seg *s)
{
    uint32_t ack = s->ack;
    if (SEQ_GT(ack, sk->snd_max)) { /* acknowledges what we never sent */
        eddy__us_send_ack(sk);
        return -1;
    }
    if (SEQ_LT(ack, sk->snd_una - sk->max_wnd)) { /* RFC 5961 5.2 */
        sk->st->stats.tcp_challenge_acks++;
        eddy__us_send_ack(sk);
        return -1;
    }
    if (SEQ_LT(ack, sk->snd_una))
        return 0; /* old: no news */
    int win_changed = tcp_ack_update_window(sk, s);
    uint32_t acked = ack - sk->snd_una;
    if (!acked) {
        int dup = !s->len && !(s->flags & (TH_SYN | TH_FIN)) && !win_changed &&
                  sk->snd_max != sk->snd_una;
        if (dup)
            tcp_dupack(sk, ack);
        else if (win_changed)
            eddy__us_tcp_output(sk);
        return 0;
    }
    /* tcp_clean_rtx_queue */
    uint32_t data = us_ring_len(sk->snd);
    int fin_acked = (sk->fl & SKF_FIN_QUEUED) && acked > data;
    if (fin_acked)
        sk->fl |= SKF_FIN_ACKED;
    eddy__us_ring_drop(&sk->snd, acked < data ? acked : data);
    sk->snd_una = ack;
    if (SEQ_LT(sk->snd_nxt, sk->snd_una))
        sk->snd_nxt = sk->snd_una;
    tcp_ack_rtt(sk, s);
    sk->retries = 0;
    sk->t_rexmit = 0; /* RFC 6298 5.3: restart for what is still in flight */
    tcp_cong_on_ack(sk, acked);
    if (data)
        eddy__us_write_space(sk);
    eddy__us_tcp_output(sk);
    return fin_acked;
}

/* ---- receive queue ---- */
static void ooo_remove(struct us_sock *sk, struct us_oseg **pp)
{
    struct us_oseg *o = *pp;
    *pp = o->next;
    free(o);
    sk->ooo_n--;
}

/* Inserts [seq, seq+len) keeping the queue sorted and free of overlaps. */
static void ooo_insert(struct us_sock *sk, uint32_t seq, const unsigned char *data, uint32_t len)
{
    uint32_t end = seq + len;
    struct us_oseg **pp = &sk->ooo;
    while (*pp && SEQ_LEQ((*pp)->seq + (*pp)->len, seq))
        pp = &(*pp)->next;
    while (*pp && SEQ_LT((*pp)->seq, end)) {
        struct us_oseg *o = *pp;
        uint32_t oend = o->seq + o->len;
        if (SEQ_LEQ(o->seq, seq) && SEQ_GEQ(oend, end))
            return; /* already have all of it */
        if (SEQ_LEQ(o->seq, seq)) {
            data += oend - seq;
            seq = oend;
            pp = &o->next;
        } else if (SEQ_GEQ(oend, end)) {
            end = o->seq;
            break;
        } else {
            ooo_remove(sk, pp);
        }
    }
    if (sk->ooo_n >= TCP_OOO_MAX) {
        sk->st->stats.tcp_ooo_dropped++;
        return;
    }
    struct us_oseg *n = malloc(sizeof(*n) + (end - seq));
    if (!n)
        return;
    n->seq = seq;
    n->len = end - seq;
    memcpy(n->data, data, n->len);
    n->next = *pp;
    *pp = n;
    sk->ooo_n++;
}

/* Moves the queue's now-contiguous head into the receive ring. */
static void ooo_pull(struct us_sock *sk)
{
    while (sk->ooo && SEQ_LEQ(sk->ooo->seq, sk->rcv_nxt)) {
        struct us_oseg *o = sk->ooo;
        uint32_t skip = sk->rcv_nxt - o->seq;
        if (skip < o->len) {
            uint32_t n = eddy__us_ring_put(&sk->rcv, o->data + skip, o->len - skip, sk->rcvbuf);
            sk->rcv_nxt += n;
            if (n < o->len - skip)
                break; /* no room: the rest waits */
        }
        ooo_remove(sk, &sk->ooo);
    }
}

static int data_state(int state)
{
    return state == TCPS_ESTABLISHED || state == TCPS_FIN_WAIT1 || state == TCPS_FIN_WAIT2;
}

/* tcp_data_queue. Returns 1 if sk is gone (data for a closed socket: reset). */
int eddy__us_data_queue(struct us_sock *sk, const struct us_seg *s)
{
    if (!data_state(sk->state))
        return 0;
    if (sk->fl & SKF_ORPHAN && SEQ_GT(s->seq + s->len, sk->rcv_nxt)) {
        eddy__us_send_active_reset(sk); /* nobody will ever read it (tcp_rcv_state_process) */
        eddy__us_tcp_done(sk, 0);
        return 1;
    }
    uint32_t seq = s->seq + !!(s->flags & TH_SYN), len = s->len;
    const unsigned char *data = s->data;
    if (SEQ_LT(seq, sk->rcv_nxt)) {
        uint32_t d = sk->rcv_nxt - seq;
        if (d >= len) {
            sk->fl |= SKF_ACK_NOW; /* a duplicate: tell the sender where we are */
            return 0;
        }
        seq += d, data += d, len -= d;
    }
    uint32_t room = sk->rcvbuf - us_ring_len(sk->rcv);
    if (seq - sk->rcv_nxt >= room) {
        sk->fl |= SKF_ACK_NOW; /* beyond the window */
        return 0;
    }
    if (len > room - (seq - sk->rcv_nxt))
        len = room - (seq - sk->rcv_nxt);
    if (seq != sk->rcv_nxt) {
        ooo_insert(sk, seq, data, len);
        sk->ooo_last = seq;
        sk->fl |= SKF_ACK_NOW;
        return 0;
    }
    int had_ooo = sk->ooo != NULL;
    sk->rcv_nxt += eddy__us_ring_put(&sk->rcv, data, len, sk->rcvbuf);
    ooo_pull(sk);
    if (had_ooo)
        sk->fl |= SKF_ACK_NOW; /* a hole filled */
    sk->segs_unacked += len >= sk->mss ? 1u : (sk->fl & SKF_NODELAY ? 2u : 1u);
    eddy__us_wake(sk, EPOLLIN | EPOLLRDNORM | EPOLLRDBAND); /* sk_data_ready */
    return 0;
}

/* tcp_timewait_state_process. 1: a SYN that may reuse the pair (RFC 6191); the record
 * is gone and the caller hands the SYN to the listener. */
int eddy__us_timewait_process(struct ue_stack *st, struct us_tw *tw, const struct us_seg *s)
{
    if (s->flags & TH_RST)
        return 0; /* RFC 1337: no TIME-WAIT assassination */
    int ts = tw->has_ts && s->opt.has_ts;
    if (ts && SEQ_LT(s->opt.tsval, tw->ts_recent)) {
        st->stats.tcp_paws_drops++;
        eddy__us_tw_send_ack(st, tw);
        return 0;
    }
    if ((s->flags & (TH_SYN | TH_ACK)) == TH_SYN) {
        if ((ts && SEQ_GT(s->opt.tsval, tw->ts_recent)) || (!ts && SEQ_GT(s->seq, tw->rcv_nxt))) {
            st->stats.tcp_tw_reused++;
            eddy__us_tw_kill(st, tw);
            return 1;
        }
        eddy__us_tw_send_ack(st, tw);
        return 0;
    }
    if (s->flags & TH_FIN) { /* the peer did not get our last ACK: again, and 2MSL anew */
        eddy__us_tw_send_ack(st, tw);
        eddy__us_tw_arm(st, tw);
    } else if (s->len) {
        eddy__us_tw_send_ack(st, tw);
    }
    return 0;
}
