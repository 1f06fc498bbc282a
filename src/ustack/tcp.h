/*
 * TCP internals: the socket (TCB), the TIME_WAIT record, and the functions the TCP
 * files share. Names follow Linux's net/ipv4/tcp*.c where a step has a name there.
 *
 * Memory: a connection is one struct us_sock; its send and receive rings and its
 * out-of-order queue are allocated when bytes arrive and freed when drained, so an idle
 * established connection holds nothing but this struct (see docs/USTACK.md for the
 * size). TIME_WAIT keeps only a struct us_tw.
 */
#ifndef EDDY_USTACK_TCP_H
#define EDDY_USTACK_TCP_H

#include "us_internal.h"

enum us_tcp_state {
    TCPS_CLOSED,
    TCPS_LISTEN,
    TCPS_SYN_SENT,
    TCPS_SYN_RECV,
    TCPS_ESTABLISHED,
    TCPS_FIN_WAIT1,
    TCPS_FIN_WAIT2,
    TCPS_CLOSE_WAIT,
    TCPS_CLOSING,
    TCPS_LAST_ACK,
    TCPS_TIME_WAIT,
};

/* header flags */
#define TH_FIN 0x01
#define TH_SYN 0x02
#define TH_RST 0x04
#define TH_PSH 0x08
#define TH_ACK 0x10

/* sk->shut, as Linux's sk_shutdown */
#define RCV_SHUTDOWN  1
#define SEND_SHUTDOWN 2

/* sk->fl */
#define SKF_NODELAY    0x0001u
#define SKF_KEEPALIVE  0x0002u
#define SKF_REUSEADDR  0x0004u
#define SKF_SACK       0x0008u /* both sides sent SACK-permitted */
#define SKF_TS         0x0010u /* timestamps in use */
#define SKF_WS         0x0020u /* window scaling in use */
#define SKF_FIN_QUEUED 0x0040u /* the user closed the send side: FIN follows the data */
#define SKF_LINGER0    0x0080u
#define SKF_ORPHAN     0x0100u /* the file is gone; the protocol finishes alone */
#define SKF_NOSPACE    0x0200u /* a writer found the buffer full: wake on space */
#define SKF_RECOVERY   0x0400u /* NewReno fast recovery */
#define SKF_BOUND      0x0800u
#define SKF_RTT_TIMING 0x1000u /* rtt_seq is being timed (Karn: never a retransmission) */
#define SKF_PERSIST    0x2000u /* the retransmit timer is the zero-window probe timer */
#define SKF_ACCEPTQ    0x4000u /* on the listener's accept queue */
#define SKF_HASHED     0x8000u
#define SKF_ACK_NOW    0x10000u
#define SKF_CONNECTING 0x20000u /* connect() called, outcome not yet reported */
#define SKF_FIN_ACKED  0x40000u /* our FIN is acknowledged: nothing more to send */

#define TCP_MIN_RTO_MS     200
#define TCP_INIT_RTO_MS    1000
#define TCP_MAX_RTO_MS     120000
#define TCP_DELACK_MS      40
#define TCP_SYN_RETRIES    6
#define TCP_SYNACK_RETRIES 5
#define TCP_RETRIES2       15
#define TCP_ORPHAN_RETRIES 8 /* zero-window probes a closed socket gets (Linux's default) */
#define TCP_FIN_TIMEOUT_MS 60000
#define TCP_KEEPIDLE_MS    7200000
#define TCP_KEEPINTVL_MS   75000
#define TCP_KEEPCNT        9
#define TCP_OOO_MAX        256 /* segments in the out-of-order queue */
#define TCP_DEF_SNDBUF     131072
#define TCP_DEF_RCVBUF     131072
#define TCP_IW_SEGS        10 /* RFC 6928 */

struct us_oseg { /* an out-of-order segment, sorted by seq, never overlapping */
    struct us_oseg *next;
    uint32_t seq, len;
    unsigned char data[];
};

struct us_listen {
    struct us_sock *aq_head, *aq_tail; /* established, waiting for accept */
    unsigned aq_len, backlog, syn_count;
};

struct us_sock {
    /* what a hash lookup reads, in one cache line: a chain walk past an idle connection
     * costs one miss, not two */
    struct us_sock *hnext; /* conn hash chain, or the listener list */
    uint32_t laddr, raddr;
    uint16_t lport, rport;
    struct us_timer tm;
    struct ue_stack *st;
    struct ue_file *file; /* NULL while embryonic, queued for accept or orphaned */
    struct us_sock *parent, *aq_next;
    struct us_listen *lst;
    struct ue_waitqueue wq;
    uint8_t state, shut, err, err_soft;
    uint32_t fl;
    uint8_t snd_ws, rcv_ws, dupacks, backoff, retries, probes;
    uint16_t mss; /* payload bytes per full segment (options excluded) */
    uint32_t iss, irs;
    uint32_t snd_una, snd_nxt, snd_max, snd_wnd, snd_wl1, snd_wl2, max_wnd;
    uint32_t rcv_nxt, rcv_adv, last_ack_sent;
    uint32_t cwnd, ssthresh, recover;
    uint32_t srtt8, rttvar4, rto; /* ms, srtt scaled by 8 and rttvar by 4 (RFC 6298) */
    uint32_t rtt_seq, rtt_start;
    uint32_t ts_recent, ts_recent_age, ts_off;
    uint32_t sndbuf, rcvbuf;
    uint32_t segs_unacked;               /* full segments received since our last ACK */
    uint64_t t_rexmit, t_delack, t_keep; /* ms deadlines, 0: off */
    uint64_t last_rx;                    /* ms, for keepalive */
    struct us_ring *snd, *rcv;
    struct us_oseg *ooo;
    uint16_t ooo_n;
    uint32_t ooo_last; /* seq of the latest out-of-order arrival (first SACK block) */
};

struct us_tw { /* TIME_WAIT: what RFC 9293 and RFC 6191 need, nothing more */
    struct us_tw *hnext;
    struct us_timer tm;
    uint32_t laddr, raddr;
    uint16_t lport, rport;
    uint32_t snd_nxt, rcv_nxt, rcv_wnd;
    uint32_t ts_recent, ts_recent_age, ts_off;
    uint8_t has_ts;
};

/* Parsed options of a received segment. */
struct us_tcp_opts {
    uint16_t mss;
    uint8_t ws, has_ws, sack_ok, has_ts;
    uint32_t tsval, tsecr;
};

/* A received segment, decoded once. */
struct us_seg {
    uint32_t saddr, daddr;
    uint16_t sport, dport;
    uint32_t seq, ack, end_seq; /* end_seq counts SYN and FIN */
    uint8_t flags;
    uint32_t wnd; /* raw 16-bit field */
    const unsigned char *data;
    uint32_t len;
    struct us_tcp_opts opt;
};

/* tcp_conn.c: tables, ports, ISNs, cookies, lifetimes */
struct us_sock *eddy__us_sock_alloc(struct ue_stack *st);
void eddy__us_hash(struct ue_stack *st, struct us_sock *sk);
void eddy__us_unhash(struct ue_stack *st, struct us_sock *sk);
struct us_sock *eddy__us_lookup(struct ue_stack *st, uint32_t la, uint16_t lp, uint32_t ra,
                                uint16_t rp);
struct us_sock *eddy__us_lookup_listener(struct ue_stack *st, uint32_t la, uint16_t lp);
struct us_tw *eddy__us_tw_lookup(struct ue_stack *st, uint32_t la, uint16_t lp, uint32_t ra,
                                 uint16_t rp);
void eddy__us_tw_enter(struct us_sock *sk); /* sk is freed or orphaned */
void eddy__us_tw_kill(struct ue_stack *st, struct us_tw *tw);
int eddy__us_port_in_use(struct ue_stack *st, uint16_t port);
int eddy__us_pick_ephemeral(struct ue_stack *st, struct us_sock *sk);
uint32_t eddy__us_isn(struct ue_stack *st, uint32_t la, uint16_t lp, uint32_t ra, uint16_t rp);
uint32_t eddy__us_cookie_make(struct ue_stack *st, const struct us_seg *s, uint16_t *mss);
int eddy__us_cookie_check(struct ue_stack *st, const struct us_seg *s, uint16_t *mss);
/* The cookie SYN-ACK's TSval carrying the SYN's window scale and SACK-permitted, and
 * their recovery from the TSecr of the ACK (SKF_ flags to set; *snd_ws if SKF_WS). */
uint32_t eddy__us_cookie_tsval(uint32_t tsval, const struct us_seg *syn);
unsigned eddy__us_cookie_opts(uint32_t tsecr, uint8_t *snd_ws);
/* Frees sk if nothing holds it any more (no file, closed, not queued). */
void eddy__us_sock_maybe_free(struct us_sock *sk);
void eddy__us_set_state(struct us_sock *sk, int state);
/* tcp_done: the connection is over (err 0: normally); wakes or frees. */
void eddy__us_tcp_done(struct us_sock *sk, int err);

/* tcp_out.c */
void eddy__us_tcp_output(struct us_sock *sk);
void eddy__us_send_fin(struct us_sock *sk); /* close or shutdown(SHUT_WR) */
void eddy__us_send_ack(struct us_sock *sk);
void eddy__us_send_syn(struct us_sock *sk); /* SYN or SYN-ACK, by state */
void eddy__us_send_rst_for(struct ue_stack *st, const struct us_seg *s);
void eddy__us_send_active_reset(struct us_sock *sk);
void eddy__us_retransmit_head(struct us_sock *sk);
void eddy__us_send_probe(struct us_sock *sk); /* seq snd_una-1, no data */
void eddy__us_tw_send_ack(struct ue_stack *st, struct us_tw *tw);
uint32_t eddy__us_rcv_window(struct us_sock *sk);
uint32_t eddy__us_ts_now(struct ue_stack *st);
void eddy__us_tcp_init_mss(struct us_sock *sk, uint16_t peer_mss);

/* tcp_timer.c */
void eddy__us_timer_update(struct us_sock *sk);
void eddy__us_arm_rexmit(struct us_sock *sk, uint32_t ms);
void eddy__us_arm_delack(struct us_sock *sk);
void eddy__us_rtt_sample(struct us_sock *sk, uint32_t rtt_ms);
void eddy__us_tw_arm(struct ue_stack *st, struct us_tw *tw);

/* tcp_sock.c: wake-ups where Linux calls sk_data_ready, sk_write_space,
 * sk_state_change, sk_error_report */
void eddy__us_wake(struct us_sock *sk, uint32_t key);
void eddy__us_write_space(struct us_sock *sk);
void eddy__us_accept_enqueue(struct us_sock *sk);

#endif
