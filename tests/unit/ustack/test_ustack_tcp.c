/* Packet-level tests of the TCP data path on virtual time: retransmission timing and
 * backoff, Karn, fast retransmit and NewReno, window scaling, zero-window probes (and
 * the orphan that gives up on a shut window), delayed ACK, Nagle, PAWS, challenge ACKs,
 * out-of-order data and SACK blocks, the receive window, keepalive. */
#include "ustack_conn.h"

static unsigned char buf[65536];

static int n_segments(struct peer *p, struct conn *c, uint32_t *bytes)
{
    int n = 0;
    *bytes = 0;
    while (c_recv(p, c)) {
        n++;
        *bytes += c->last.len;
    }
    return n;
}

/* RTO starts at the 200 ms floor (a 0 ms handshake RTT) and doubles on each expiry. */
static void test_rto_backoff(void)
{
    struct peer p;
    struct conn c;
    peer_init(&p);
    ASSERT_GE(c_open_passive(&p, &c, 7, 1), 0);
    ASSERT_EQ(ue_write(c.fd, "0123456789", 10), 10);
    ASSERT(c_recv(&p, &c));
    ASSERT_EQ(c.last.len, 10);
    uint32_t seq = c.last.seq;
    uint64_t waits[3] = {200, 400, 800};
    for (int i = 0; i < 3; i++) {
        peer_advance(&p, waits[i] - 1);
        ASSERT(!c_recv(&p, &c));
        peer_advance(&p, 1);
        ASSERT(c_recv(&p, &c));
        ASSERT_EQ(c.last.seq, seq);
        ASSERT_EQ(c.last.len, 10);
    }
    ASSERT_EQ(ue_stack_current()->stats.tcp_rto_fired, 3);
    c_close_all(&p, &c);
    peer_fini(&p);
}

/* Karn: an ACK for a retransmitted segment gives no RTT sample (no timestamps), so the
 * backed-off RTO stays. */
static void test_karn_keeps_backoff(void)
{
    struct peer p;
    struct conn c;
    peer_init(&p);
    ASSERT_GE(c_open_passive(&p, &c, 7, 0), 0);
    struct us_sock *sk = sk_of(c.fd);
    uint32_t rto0 = sk->rto;
    ue_write(c.fd, "abc", 3);
    peer_drain(&p);
    peer_advance(&p, rto0);
    ASSERT(c_recv(&p, &c)); /* the retransmission */
    ASSERT_EQ(sk->rto, 2 * rto0);
    c.sseq += 3;
    c_send(&p, &c, TH_ACK, NULL, 0, 65535);
    ASSERT_EQ(sk->rto, 2 * rto0);
    ASSERT_EQ(sk->snd_una, c.sseq);
    c_close_all(&p, &c);
    peer_fini(&p);
}

/* Three duplicate ACKs: the lost segment at once (fast retransmit); the first two send
 * new data (limited transmit); a partial ACK retransmits the next hole; the full ACK
 * ends recovery with cwnd deflated to at most ssthresh. */
static void test_fast_retransmit_newreno(void)
{
    struct peer p;
    struct conn c;
    peer_init(&p);
    ASSERT_GE(c_open_passive(&p, &c, 7, 1), 0);
    struct us_sock *sk = sk_of(c.fd);
    uint32_t mss = sk->mss, base = c.sseq, bytes;
    ASSERT_EQ(ue_write(c.fd, buf, 14 * mss), 14 * mss);
    ASSERT_EQ(n_segments(&p, &c, &bytes), 10); /* IW10 */
    c.sseq = base + mss;
    c_send(&p, &c, TH_ACK, NULL, 0, 65535); /* slow start: two more */
    ASSERT_EQ(n_segments(&p, &c, &bytes), 2);
    c_send(&p, &c, TH_ACK, NULL, 0, 65535); /* dupack 1: limited transmit */
    ASSERT(c_recv(&p, &c));
    ASSERT_EQ(c.last.seq, base + 12 * mss);
    c_send(&p, &c, TH_ACK, NULL, 0, 65535); /* dupack 2 */
    ASSERT(c_recv(&p, &c));
    ASSERT_EQ(c.last.seq, base + 13 * mss);
    ASSERT(!c_recv(&p, &c));
    c_send(&p, &c, TH_ACK, NULL, 0, 65535); /* dupack 3: fast retransmit */
    ASSERT(c_recv(&p, &c));
    ASSERT_EQ(c.last.seq, base + mss);
    ASSERT_EQ(c.last.len, mss);
    ASSERT(sk->fl & SKF_RECOVERY);
    ASSERT_EQ(ue_stack_current()->stats.tcp_fast_retrans, 1);
    c.sseq = base + 4 * mss;
    c_send(&p, &c, TH_ACK, NULL, 0, 65535); /* partial ACK */
    ASSERT(c_recv(&p, &c));
    ASSERT_EQ(c.last.seq, base + 4 * mss);
    ASSERT(sk->fl & SKF_RECOVERY);
    peer_drain(&p);
    c.sseq = base + 14 * mss;
    c_send(&p, &c, TH_ACK, NULL, 0, 65535); /* full ACK */
    ASSERT(!(sk->fl & SKF_RECOVERY));
    ASSERT_LE(sk->cwnd, sk->ssthresh);
    ASSERT_EQ(sk->ssthresh, 13 * mss / 2); /* half of the 13 segments in flight */
    ASSERT_EQ(ue_stack_current()->stats.tcp_rto_fired, 0);
    c_close_all(&p, &c);
    peer_fini(&p);
}

/* The peer's window field is scaled by its shift: 724 << 2 = 2896 bytes = 2 segments. */
static void test_window_scale_limits_sender(void)
{
    struct peer p;
    struct conn c;
    peer_init(&p);
    ASSERT_GE(c_open_passive(&p, &c, 2, 1), 0);
    uint32_t mss = sk_of(c.fd)->mss, bytes;
    ASSERT_EQ(mss, 1448);
    c_send(&p, &c, TH_ACK, NULL, 0, 724);
    ue_write(c.fd, buf, 10000);
    ASSERT_EQ(n_segments(&p, &c, &bytes), 2);
    ASSERT_EQ(bytes, 2896);
    c.sseq += bytes;
    c_send(&p, &c, TH_ACK, NULL, 0, 724);
    ASSERT_EQ(n_segments(&p, &c, &bytes), 2);
    ASSERT_EQ(bytes, 2896);
    c_close_all(&p, &c);
    peer_fini(&p);
}

/* An established connection whose peer shut its window, with 100 bytes to send. 0 or -1. */
static int zero_window_conn(struct peer *p, struct conn *c)
{
    peer_init(p);
    if (c_open_passive(p, c, 7, 1) < 0)
        return -1;
    c_send(p, c, TH_ACK, NULL, 0, 0);
    return ue_write(c->fd, buf, 100) == 100 ? 0 : -1;
}

/* A zero window: nothing is sent; probes (seq = snd_una - 1, no data) back off; an
 * opened window lets the data go. */
static void test_zero_window_probe(void)
{
    struct peer p;
    struct conn c;
    ASSERT_EQ(zero_window_conn(&p, &c), 0);
    ASSERT(!c_recv(&p, &c));
    uint64_t gaps[3] = {200, 400, 800};
    for (int i = 0; i < 3; i++) {
        peer_advance(&p, gaps[i] - 1);
        ASSERT(!c_recv(&p, &c));
        peer_advance(&p, 1);
        ASSERT(c_recv(&p, &c));
        ASSERT_EQ(c.last.seq, c.sseq - 1);
        ASSERT_EQ(c.last.len, 0);
    }
    c_send(&p, &c, TH_ACK, NULL, 0, 1000);
    ASSERT(c_recv(&p, &c));
    ASSERT_EQ(c.last.seq, c.sseq);
    ASSERT_EQ(c.last.len, 100);
    c_close_all(&p, &c);
    peer_fini(&p);
}

/* A closed socket whose peer keeps its window shut gives up after TCP_ORPHAN_RETRIES
 * probes, each acknowledged with a zero window: the connection and its unsent bytes go. */
static void test_zero_window_orphan_gives_up(void)
{
    struct peer p;
    struct conn c;
    ASSERT_EQ(zero_window_conn(&p, &c), 0);
    ue_close(c.fd);
    c.fd = -1;
    struct ue_stack *st = ue_stack_current();
    for (int i = 0; i < TCP_ORPHAN_RETRIES; i++) {
        peer_advance(&p, 200u << i);
        ASSERT(c_recv(&p, &c));
        ASSERT_EQ(c.last.seq, c.sseq - 1);
        ASSERT_EQ(c.last.len, 0);
        c_send(&p, &c, TH_ACK, NULL, 0, 0);
        ASSERT_EQ(st->stats.tcp_conns, 1);
    }
    peer_advance(&p, (200u << TCP_ORPHAN_RETRIES) - 1);
    ASSERT_EQ(st->stats.tcp_conns, 1);
    peer_advance(&p, 1);
    ASSERT_EQ(st->stats.tcp_conns, 0);
    ASSERT(!c_recv(&p, &c)); /* as Linux: no reset */
    c_close_all(&p, &c);
    peer_fini(&p);
}

/* One small segment is acknowledged after 40 ms; a second full segment at once. */
static void test_delayed_ack(void)
{
    struct peer p;
    struct conn c;
    peer_init(&p);
    ASSERT_GE(c_open_passive(&p, &c, 7, 1), 0);
    c_send(&p, &c, TH_ACK | TH_PSH, buf, 100, 65535);
    ASSERT(!c_recv(&p, &c));
    peer_advance(&p, 39);
    ASSERT(!c_recv(&p, &c));
    peer_advance(&p, 1);
    ASSERT(c_recv(&p, &c));
    ASSERT_EQ(c.last.ack, c.pseq);
    c_send(&p, &c, TH_ACK, buf, 1448, 65535);
    ASSERT(!c_recv(&p, &c));
    c_send(&p, &c, TH_ACK, buf, 1448, 65535);
    ASSERT(c_recv(&p, &c));
    ASSERT_EQ(c.last.ack, c.pseq);
    c_close_all(&p, &c);
    peer_fini(&p);
}

/* Nagle holds a small segment while one is unacknowledged; TCP_NODELAY does not. */
static void test_nagle_and_nodelay(void)
{
    struct peer p;
    struct conn c;
    peer_init(&p);
    ASSERT_GE(c_open_passive(&p, &c, 7, 1), 0);
    ue_write(c.fd, "aaaa", 4);
    ASSERT(c_recv(&p, &c));
    ue_write(c.fd, "bbbb", 4);
    ASSERT(!c_recv(&p, &c));
    c.sseq += 4;
    c_send(&p, &c, TH_ACK, NULL, 0, 65535);
    ASSERT(c_recv(&p, &c));
    ASSERT_EQ(c.last.len, 4);
    ASSERT_EQ(c.last.data[0], 'b');
    int one = 1;
    ASSERT_EQ(ue_setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)), 0);
    ue_write(c.fd, "cccc", 4);
    ASSERT(c_recv(&p, &c));
    ASSERT_EQ(c.last.data[0], 'c');
    c_close_all(&p, &c);
    peer_fini(&p);
}

/* A timestamp older than TS.Recent: dropped (PAWS), answered with an ACK. */
static void test_paws(void)
{
    struct peer p;
    struct conn c;
    peer_init(&p);
    ASSERT_GE(c_open_passive(&p, &c, 7, 1), 0);
    c.ts = 6000;
    c_send(&p, &c, TH_ACK | TH_PSH, "new", 3, 65535);
    peer_drain(&p);
    c.ts = 5500; /* older */
    c_send(&p, &c, TH_ACK | TH_PSH, "old", 3, 65535);
    ASSERT(c_recv(&p, &c));
    ASSERT_EQ(c.last.ack, c.pseq - 3);
    ASSERT_EQ(ue_stack_current()->stats.tcp_paws_drops, 1);
    char b[8];
    ASSERT_EQ(ue_read(c.fd, b, sizeof(b)), 3);
    ASSERT_MEM_EQ(b, "new", 3);
    c_close_all(&p, &c);
    peer_fini(&p);
}

/* RFC 5961: a RST inside the window but not at RCV.NXT draws a challenge ACK, outside
 * it nothing, exactly at RCV.NXT it resets. */
static void test_challenge_ack_rst(void)
{
    struct peer p;
    struct conn c;
    peer_init(&p);
    ASSERT_GE(c_open_passive(&p, &c, 7, 1), 0);
    uint32_t at = c.pseq;
    c.pseq = at + 10;
    c_send(&p, &c, TH_RST, NULL, 0, 0);
    ASSERT(c_recv(&p, &c));
    ASSERT_EQ(c.last.flags, TH_ACK);
    ASSERT_EQ(c.last.ack, at);
    ASSERT_EQ(ue_stack_current()->stats.tcp_challenge_acks, 1);
    c.pseq = at + 100000000u;
    c_send(&p, &c, TH_RST, NULL, 0, 0);
    ASSERT(!c_recv(&p, &c));
    ASSERT_EQ(sk_of(c.fd)->state, TCPS_ESTABLISHED);
    c.pseq = at;
    c_send(&p, &c, TH_RST, NULL, 0, 0);
    ASSERT_EQ(sk_of(c.fd)->state, TCPS_CLOSED);
    c_close_all(&p, &c);
    peer_fini(&p);
}

/* RFC 5961 4: a SYN on an established connection draws a challenge ACK only. */
static void test_challenge_ack_syn(void)
{
    struct peer p;
    struct conn c;
    peer_init(&p);
    ASSERT_GE(c_open_passive(&p, &c, 7, 1), 0);
    uint32_t at = c.pseq;
    c.pseq = at + 5;
    c_send(&p, &c, TH_SYN, NULL, 0, 65535);
    ASSERT(c_recv(&p, &c));
    ASSERT_EQ(c.last.flags, TH_ACK);
    ASSERT_EQ(c.last.ack, at);
    ASSERT_EQ(sk_of(c.fd)->state, TCPS_ESTABLISHED);
    c_close_all(&p, &c);
    peer_fini(&p);
}

/* Out-of-order data is ACKed at once with a SACK block; the filling segment is ACKed
 * at once too and both read in order. */
static void test_ooo_sack(void)
{
    struct peer p;
    struct conn c;
    peer_init(&p);
    ASSERT_GE(c_open_passive(&p, &c, 7, 1), 0);
    uint32_t at = c.pseq;
    for (int i = 0; i < 200; i++)
        buf[i] = (unsigned char)i;
    c.pseq = at + 100;
    c_send(&p, &c, TH_ACK, buf + 100, 100, 65535);
    ASSERT(c_recv(&p, &c));
    ASSERT_EQ(c.last.ack, at);
    ASSERT_EQ(c.last.nsack, 1);
    ASSERT_EQ(c.last.sack[0][0], at + 100);
    ASSERT_EQ(c.last.sack[0][1], at + 200);
    ASSERT_EQ(u_mask(c.fd) & EPOLLIN, 0);
    c.pseq = at;
    c_send(&p, &c, TH_ACK, buf, 100, 65535);
    ASSERT(c_recv(&p, &c));
    ASSERT_EQ(c.last.ack, at + 200);
    ASSERT_EQ(c.last.nsack, 0);
    unsigned char b[300];
    ASSERT_EQ(ue_read(c.fd, b, sizeof(b)), 200);
    ASSERT_MEM_EQ(b, buf, 200);
    c_close_all(&p, &c);
    peer_fini(&p);
}

/* The receive window closes as the buffer fills; a small read does not reopen it
 * (receiver SWS avoidance), a large one sends a window update. */
static void test_receive_window_sws(void)
{
    struct peer p;
    struct conn c;
    peer_init(&p);
    int l = ue_socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    int v = 4096;
    ue_setsockopt(l, SOL_SOCKET, SO_RCVBUF, &v, sizeof(v));
    ue_close(l); /* the option goes on the listener of c_open_passive instead: */
    memset(&c, 0, sizeof(c));
    c.lfd = u_listen(80, 1);
    ue_setsockopt(c.lfd, SOL_SOCKET, SO_RCVBUF, &v, sizeof(v));
    unsigned char o[24];
    struct seg s = {.sport = 40000, .dport = 80, .seq = 1000, .flags = TH_SYN, .win = 65535};
    s.opt = o, s.optlen = u_syn_opts(o, 5000, 7);
    peer_send(&p, &s);
    c.pport = 40000, c.sport = 80, c.pseq = 1001, c.ts = 5000, c.use_ts = 1;
    ASSERT(c_recv(&p, &c));
    ASSERT_EQ(c.last.win, 8192);
    c.sseq = c.last.seq + 1;
    c_send(&p, &c, TH_ACK, NULL, 0, 65535);
    c.fd = ue_accept4(c.lfd, NULL, NULL, SOCK_NONBLOCK);
    ASSERT_GE(c.fd, 0);
    for (int i = 0; i < 5; i++)
        c_send(&p, &c, TH_ACK, buf, 1448, 65535);
    c_send(&p, &c, TH_ACK, buf, 952, 65535);
    peer_advance(&p, 50);
    struct pkt last = {0};
    while (c_recv(&p, &c))
        last = c.last;
    ASSERT_EQ(last.ack, c.pseq);
    ASSERT_EQ(last.win, 0);
    unsigned char b[4096];
    ASSERT_EQ(ue_read(c.fd, b, 100), 100);
    ASSERT(!c_recv(&p, &c));
    ASSERT_EQ(ue_read(c.fd, b, 3000), 3000);
    ASSERT(c_recv(&p, &c));
    ASSERT_GE(c.last.win, 3100);
    c_close_all(&p, &c);
    peer_fini(&p);
}

/* SO_KEEPALIVE: probes after 2 h idle, every 75 s; after 9 unanswered a reset and
 * ETIMEDOUT. */
static void test_keepalive(void)
{
    struct peer p;
    struct conn c;
    peer_init(&p);
    ASSERT_GE(c_open_passive(&p, &c, 7, 1), 0);
    int one = 1;
    ue_setsockopt(c.fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
    peer_advance(&p, 7199000);
    ASSERT(!c_recv(&p, &c));
    peer_advance(&p, 1000);
    ASSERT(c_recv(&p, &c));
    ASSERT_EQ(c.last.seq, c.sseq - 1);
    for (int i = 0; i < 8; i++) {
        peer_advance(&p, 75000);
        ASSERT(c_recv(&p, &c));
        ASSERT_EQ(c.last.len, 0);
    }
    peer_advance(&p, 75000);
    ASSERT(c_recv(&p, &c));
    ASSERT_EQ(c.last.flags & TH_RST, TH_RST);
    int err = 0;
    socklen_t len = sizeof(err);
    ue_getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len);
    ASSERT_EQ(err, ETIMEDOUT);
    c_close_all(&p, &c);
    peer_fini(&p);
}

/* An orphaned FIN_WAIT2 ends after 60 s (tcp_fin_timeout). */
static void test_fin_wait2_orphan_timeout(void)
{
    struct peer p;
    struct conn c;
    peer_init(&p);
    ASSERT_GE(c_open_passive(&p, &c, 7, 1), 0);
    ue_close(c.fd);
    c.fd = -1;
    ASSERT(c_recv(&p, &c));
    ASSERT_EQ(c.last.flags, TH_FIN | TH_ACK);
    c.sseq++;
    c_send(&p, &c, TH_ACK, NULL, 0, 65535);
    ASSERT_EQ(ue_stack_current()->stats.tcp_conns, 1);
    peer_advance(&p, 59999);
    ASSERT_EQ(ue_stack_current()->stats.tcp_conns, 1);
    peer_advance(&p, 2);
    ASSERT_EQ(ue_stack_current()->stats.tcp_conns, 0);
    c_close_all(&p, &c);
    peer_fini(&p);
}

/* Buffers exist only while bytes wait in them: once data is acknowledged and read, an
 * idle connection holds its TCB alone (the million-connection budget). */
static void test_idle_connection_holds_no_buffer(void)
{
    struct peer p;
    struct conn c;
    peer_init(&p);
    ASSERT_GE(c_open_passive(&p, &c, 7, 1), 0);
    struct us_sock *sk = sk_of(c.fd);
    ASSERT(!sk->snd && !sk->rcv && !sk->ooo);
    ue_write(c.fd, buf, 3000);
    c_send(&p, &c, TH_ACK | TH_PSH, buf, 500, 65535);
    ASSERT(sk->snd && sk->rcv);
    uint32_t bytes;
    while (n_segments(&p, &c, &bytes)) { /* Nagle sends the tail after the first ACK */
        c.sseq += bytes;
        c_send(&p, &c, TH_ACK, NULL, 0, 65535);
    }
    char b[600];
    ASSERT_EQ(ue_read(c.fd, b, sizeof(b)), 500);
    ASSERT(!sk->snd && !sk->rcv && !sk->ooo);
    ASSERT_LE(sizeof(struct us_sock), 384);
    c_close_all(&p, &c);
    peer_fini(&p);
}

int main(void)
{
    RUN(test_rto_backoff);
    RUN(test_karn_keeps_backoff);
    RUN(test_fast_retransmit_newreno);
    RUN(test_window_scale_limits_sender);
    RUN(test_zero_window_probe);
    RUN(test_zero_window_orphan_gives_up);
    RUN(test_delayed_ack);
    RUN(test_nagle_and_nodelay);
    RUN(test_paws);
    RUN(test_challenge_ack_rst);
    RUN(test_challenge_ack_syn);
    RUN(test_ooo_sack);
    RUN(test_receive_window_sws);
    RUN(test_keepalive);
    RUN(test_fin_wait2_orphan_timeout);
    RUN(test_idle_connection_holds_no_buffer);
    return eddy_test_done();
}
