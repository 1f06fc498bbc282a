/* Packet-level tests of connection set-up and teardown: one segment in, the expected
 * segments out, on virtual time. Every TCP state is entered at least once. */
#include "ustack_conn.h"

static int state_of(int fd)
{
    return sk_of(fd)->state;
}

/* A SYN with every option gets a SYN-ACK acknowledging it, with MSS, SACK-permitted,
 * the timestamp echoed and a window scale; the final ACK makes an acceptable socket. */
static void test_passive_open_options(void)
{
    struct peer p;
    struct conn c;
    peer_init(&p);
    ASSERT_GE(c_open_passive(&p, &c, 7, 1), 0);
    /* c.last is the SYN-ACK */
    ASSERT_EQ(c.last.ack, 1001);
    ASSERT_EQ(c.last.opt.mss, 1460);
    ASSERT(c.last.opt.sack_ok);
    ASSERT(c.last.opt.has_ts);
    ASSERT_EQ(c.last.opt.tsecr, 5000);
    ASSERT(c.last.opt.has_ws);
    ASSERT_EQ(c.last.opt.ws, 2); /* 256 KiB receive buffer */
    ASSERT_EQ(c.last.ttl, 64);
    ASSERT_EQ(c.last.ip_frag & 0x4000, 0x4000); /* DF */
    ASSERT_EQ(state_of(c.fd), TCPS_ESTABLISHED);
    struct us_sock *sk = sk_of(c.fd);
    ASSERT(sk->fl & SKF_TS);
    ASSERT(sk->fl & SKF_SACK);
    ASSERT_EQ(sk->snd_ws, 7);
    ASSERT_EQ(sk->mss, 1460 - 12);
    ASSERT_EQ(sk->cwnd, 10u * sk->mss); /* IW10 */
    c_close_all(&p, &c);
    peer_fini(&p);
}

/* Without options in the SYN the connection uses none and MSS falls back. */
static void test_passive_open_no_options(void)
{
    struct peer p;
    struct conn c;
    peer_init(&p);
    ASSERT_GE(c_open_passive(&p, &c, -1, 0), 0);
    ASSERT(!c.last.opt.has_ts);
    ASSERT(!c.last.opt.has_ws);
    ASSERT(!c.last.opt.sack_ok);
    struct us_sock *sk = sk_of(c.fd);
    ASSERT_EQ(sk->fl & (SKF_TS | SKF_WS | SKF_SACK), 0);
    ASSERT_EQ(sk->mss, 1460);
    c_close_all(&p, &c);
    peer_fini(&p);
}

/* Non-blocking connect: EINPROGRESS, a SYN with options, then OUT and SO_ERROR 0. */
static void test_active_open(void)
{
    struct peer p;
    struct conn c;
    peer_init(&p);
    ASSERT_GE(c_open_active(&p, &c, 1), 0);
    ASSERT_EQ(state_of(c.fd), TCPS_ESTABLISHED);
    ASSERT_EQ(c.last.ack, 7001);
    uint32_t m = u_mask(c.fd);
    ASSERT_EQ(m & (EPOLLOUT | EPOLLIN | EPOLLHUP | EPOLLERR), EPOLLOUT);
    int err = -1;
    socklen_t len = sizeof(err);
    ASSERT_EQ(ue_getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len), 0);
    ASSERT_EQ(err, 0);
    struct sockaddr_in a;
    len = sizeof(a);
    ASSERT_EQ(ue_getpeername(c.fd, (struct sockaddr *)&a, &len), 0);
    ASSERT_EQ(ntohs(a.sin_port), 9000);
    ASSERT_EQ(ntohl(a.sin_addr.s_addr), PEER_IP);
    ASSERT_GE(c.sport, 32768); /* ephemeral range */
    ASSERT_LT(c.sport, 61000);
    c_close_all(&p, &c);
    peer_fini(&p);
}

/* The SYN while connecting: options, and ports spread by RFC 6056 (not sequential
 * from a fixed point for two destinations). ISNs of two connections differ. */
static void test_active_open_syn_fields(void)
{
    struct peer p;
    peer_init(&p);
    int fd = ue_socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(9000)};
    a.sin_addr.s_addr = htonl(PEER_IP);
    ASSERT_EQ(ue_connect(fd, (struct sockaddr *)&a, sizeof(a)), -1);
    ASSERT_EQ(errno, EINPROGRESS);
    ASSERT_EQ(ue_connect(fd, (struct sockaddr *)&a, sizeof(a)), -1);
    ASSERT_EQ(errno, EALREADY);
    struct pkt s1, s2;
    ASSERT(peer_rx_tcp(&p, &s1));
    ASSERT_EQ(s1.flags, TH_SYN);
    ASSERT_EQ(s1.opt.mss, 1460);
    ASSERT(s1.opt.sack_ok && s1.opt.has_ts && s1.opt.has_ws);
    ASSERT_EQ(u_mask(fd) & (EPOLLOUT | EPOLLIN), 0); /* SYN_SENT: nothing */
    int fd2 = ue_socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    ue_connect(fd2, (struct sockaddr *)&a, sizeof(a));
    ASSERT(peer_rx_tcp(&p, &s2));
    ASSERT_NE(s1.seq, s2.seq);
    ASSERT_NE(s1.sport, s2.sport);
    ue_close(fd);
    ue_close(fd2);
    peer_fini(&p);
}

/* RST|ACK to our SYN: connect fails with ECONNREFUSED, reported as ERR|HUP. */
static void test_connect_refused(void)
{
    struct peer p;
    peer_init(&p);
    struct sockaddr_in a = u_addr(PEER_IP, 9000);
    int fd = u_connect(&a);
    struct pkt syn;
    ASSERT(peer_rx_tcp(&p, &syn));
    struct seg s = {.sport = 9000, .dport = syn.sport, .seq = 0, .ack = syn.seq + 1};
    s.flags = TH_RST | TH_ACK;
    peer_send(&p, &s);
    uint32_t m = u_mask(fd);
    ASSERT(m & EPOLLERR);
    ASSERT(m & EPOLLHUP);
    int err = 0;
    socklen_t len = sizeof(err);
    ue_getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
    ASSERT_EQ(err, ECONNREFUSED);
    ue_close(fd);
    peer_fini(&p);
}

/* A SYN to a port nobody listens on: RST|ACK acknowledging the SYN. */
static void test_rst_for_closed_port(void)
{
    struct peer p;
    peer_init(&p);
    struct seg s = {.sport = 1234, .dport = 81, .seq = 555, .flags = TH_SYN, .win = 1000};
    peer_send(&p, &s);
    struct pkt r;
    ASSERT(peer_rx_tcp(&p, &r));
    ASSERT_EQ(r.flags, TH_RST | TH_ACK);
    ASSERT_EQ(r.ack, 556);
    ASSERT_EQ(r.seq, 0);
    /* an ACK to nowhere: RST with seq = its ack */
    struct seg a = {.sport = 1234, .dport = 81, .seq = 9, .ack = 77, .flags = TH_ACK};
    peer_send(&p, &a);
    ASSERT(peer_rx_tcp(&p, &r));
    ASSERT_EQ(r.flags, TH_RST);
    ASSERT_EQ(r.seq, 77);
    peer_fini(&p);
}

/* Peer closes first: CLOSE_WAIT (read 0, IN|RDHUP), our close sends FIN: LAST_ACK, the
 * peer's ACK ends it and the pair is free (a further segment draws a RST). */
static void test_passive_close(void)
{
    struct peer p;
    struct conn c;
    peer_init(&p);
    ASSERT_GE(c_open_passive(&p, &c, 7, 1), 0);
    c_send(&p, &c, TH_FIN | TH_ACK, NULL, 0, 65535);
    ASSERT(c_recv(&p, &c));
    ASSERT_EQ(c.last.flags, TH_ACK);
    ASSERT_EQ(c.last.ack, c.pseq);
    ASSERT_EQ(state_of(c.fd), TCPS_CLOSE_WAIT);
    uint32_t m = u_mask(c.fd);
    ASSERT_EQ(m & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLOUT), EPOLLIN | EPOLLRDHUP | EPOLLOUT);
    char b[4];
    ASSERT_EQ(ue_read(c.fd, b, sizeof(b)), 0);
    ue_close(c.fd);
    ASSERT(c_recv(&p, &c));
    ASSERT_EQ(c.last.flags, TH_FIN | TH_ACK);
    c.sseq++;
    ASSERT_EQ(ue_stack_current()->stats.tcp_conns, 1);
    c_send(&p, &c, TH_ACK, NULL, 0, 65535);
    ASSERT_EQ(ue_stack_current()->stats.tcp_conns, 0);
    ASSERT_EQ(ue_stack_current()->stats.tcp_time_wait, 0);
    c_send(&p, &c, TH_ACK, "x", 1, 65535);
    ASSERT(c_recv(&p, &c));
    ASSERT_EQ(c.last.flags & TH_RST, TH_RST);
    c.fd = -1;
    c_close_all(&p, &c);
    peer_fini(&p);
}

/* We close first: FIN_WAIT1, FIN_WAIT2 on the ACK, TIME_WAIT on the peer's FIN (a
 * compact record; the socket is gone), which re-ACKs a retransmitted FIN. */
static void test_active_close_time_wait(void)
{
    struct peer p;
    struct conn c;
    peer_init(&p);
    ASSERT_GE(c_open_passive(&p, &c, 7, 1), 0);
    ASSERT_EQ(ue_shutdown(c.fd, SHUT_WR), 0);
    ASSERT_EQ(state_of(c.fd), TCPS_FIN_WAIT1);
    ASSERT(c_recv(&p, &c));
    ASSERT_EQ(c.last.flags, TH_FIN | TH_ACK);
    c.sseq++;
    c_send(&p, &c, TH_ACK, NULL, 0, 65535);
    ASSERT_EQ(state_of(c.fd), TCPS_FIN_WAIT2);
    ASSERT(u_mask(c.fd) & EPOLLOUT); /* send side shut: a write fails at once */
    c_send(&p, &c, TH_FIN | TH_ACK, NULL, 0, 65535);
    ASSERT(c_recv(&p, &c));
    ASSERT_EQ(c.last.flags, TH_ACK);
    ASSERT_EQ(c.last.ack, c.pseq);
    ASSERT_EQ(state_of(c.fd), TCPS_CLOSED);
    ASSERT_EQ(ue_stack_current()->stats.tcp_time_wait, 1);
    ASSERT_EQ(u_mask(c.fd) & (EPOLLHUP | EPOLLIN | EPOLLRDHUP), EPOLLHUP | EPOLLIN | EPOLLRDHUP);
    c.pseq--; /* the FIN again */
    c_send(&p, &c, TH_FIN | TH_ACK, NULL, 0, 65535);
    ASSERT(c_recv(&p, &c));
    ASSERT_EQ(c.last.flags, TH_ACK);
    ASSERT_EQ(c.last.ack, c.pseq);
    peer_advance(&p, 59000);
    ASSERT_EQ(ue_stack_current()->stats.tcp_time_wait, 1);
    peer_advance(&p, 1100);
    ASSERT_EQ(ue_stack_current()->stats.tcp_time_wait, 0);
    c_close_all(&p, &c);
    peer_fini(&p);
}

/* Both FINs cross: FIN_WAIT1 -> CLOSING -> TIME_WAIT. */
static void test_simultaneous_close(void)
{
    struct peer p;
    struct conn c;
    peer_init(&p);
    ASSERT_GE(c_open_passive(&p, &c, 7, 1), 0);
    ue_shutdown(c.fd, SHUT_WR);
    ASSERT(c_recv(&p, &c));
    ASSERT_EQ(c.last.flags, TH_FIN | TH_ACK);
    c_send(&p, &c, TH_FIN | TH_ACK, NULL, 0, 65535); /* does not ack our FIN */
    ASSERT_EQ(state_of(c.fd), TCPS_CLOSING);
    ASSERT(c_recv(&p, &c));
    ASSERT_EQ(c.last.ack, c.pseq);
    c.sseq++;
    c_send(&p, &c, TH_ACK, NULL, 0, 65535);
    ASSERT_EQ(state_of(c.fd), TCPS_CLOSED);
    ASSERT_EQ(ue_stack_current()->stats.tcp_time_wait, 1);
    c_close_all(&p, &c);
    peer_fini(&p);
}

/* Both SYNs cross: SYN_SENT -> SYN_RECV (SYN-ACK with our ISS) -> ESTABLISHED. */
static void test_simultaneous_open(void)
{
    struct peer p;
    peer_init(&p);
    struct sockaddr_in a = u_addr(PEER_IP, 9000);
    int fd = u_connect(&a);
    struct pkt syn, r;
    ASSERT(peer_rx_tcp(&p, &syn));
    struct seg s = {.sport = 9000, .dport = syn.sport, .seq = 500, .flags = TH_SYN, .win = 8192};
    peer_send(&p, &s);
    ASSERT_EQ(state_of(fd), TCPS_SYN_RECV);
    ASSERT(peer_rx_tcp(&p, &r));
    ASSERT_EQ(r.flags, TH_SYN | TH_ACK);
    ASSERT_EQ(r.seq, syn.seq);
    ASSERT_EQ(r.ack, 501);
    struct seg sa = {.sport = 9000, .dport = syn.sport, .seq = 500, .ack = syn.seq + 1};
    sa.flags = TH_SYN | TH_ACK, sa.win = 8192;
    peer_send(&p, &sa); /* the peer's SYN-ACK: a SYN we already have, with the ACK */
    struct seg ack = {.sport = 9000, .dport = syn.sport, .seq = 501, .ack = syn.seq + 1};
    ack.flags = TH_ACK, ack.win = 8192;
    peer_send(&p, &ack);
    ASSERT_EQ(state_of(fd), TCPS_ESTABLISHED);
    ASSERT(u_mask(fd) & EPOLLOUT);
    struct linger l = {1, 0};
    ue_setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
    ue_close(fd);
    peer_fini(&p);
}

/* close() with unread data sends RST (RFC 2525 / Linux), as does SO_LINGER 0. */
static void test_close_unread_resets(void)
{
    struct peer p;
    struct conn c;
    peer_init(&p);
    ASSERT_GE(c_open_passive(&p, &c, 7, 1), 0);
    c_send(&p, &c, TH_ACK | TH_PSH, "hello", 5, 65535);
    peer_drain(&p);
    ue_close(c.fd);
    ASSERT(c_recv(&p, &c));
    ASSERT_EQ(c.last.flags & TH_RST, TH_RST);
    ASSERT_EQ(ue_stack_current()->stats.tcp_conns, 0);
    c.fd = -1;
    c_close_all(&p, &c);
    peer_fini(&p);
}

/* A reset in ESTABLISHED: ECONNRESET on read, IN|RDHUP|HUP|ERR. */
static void test_reset_established(void)
{
    struct peer p;
    struct conn c;
    peer_init(&p);
    ASSERT_GE(c_open_passive(&p, &c, 7, 1), 0);
    c_send(&p, &c, TH_RST, NULL, 0, 0);
    uint32_t m = u_mask(c.fd);
    ASSERT_EQ(m & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR),
              EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR);
    char b[4];
    ASSERT_EQ(ue_read(c.fd, b, 4), -1);
    ASSERT_EQ(errno, ECONNRESET);
    ASSERT_EQ(ue_read(c.fd, b, 4), 0);
    ue_close(c.fd);
    ASSERT(!c_recv(&p, &c)); /* nothing goes out for a dead connection */
    c.fd = -1;
    c_close_all(&p, &c);
    peer_fini(&p);
}

/* A fresh socket polls OUT|HUP as on Linux; a listener IN only with a connection. */
static void test_poll_fresh_and_listener(void)
{
    struct peer p;
    peer_init(&p);
    int fd = ue_socket(AF_INET, SOCK_STREAM, 0);
    ASSERT_EQ(u_mask(fd) & (EPOLLOUT | EPOLLHUP | EPOLLIN), EPOLLOUT | EPOLLHUP);
    ue_close(fd);
    struct conn c;
    int l = u_listen(80, 1);
    ASSERT_EQ(u_mask(l), 0);
    ASSERT_EQ(ue_accept4(l, NULL, NULL, 0), -1);
    ASSERT_EQ(errno, EAGAIN);
    ue_close(l);
    ASSERT_GE(c_open_passive(&p, &c, 7, 1), 0);
    c_close_all(&p, &c);
    peer_fini(&p);
}

int main(void)
{
    RUN(test_passive_open_options);
    RUN(test_passive_open_no_options);
    RUN(test_active_open);
    RUN(test_active_open_syn_fields);
    RUN(test_connect_refused);
    RUN(test_rst_for_closed_port);
    RUN(test_passive_close);
    RUN(test_active_close_time_wait);
    RUN(test_simultaneous_close);
    RUN(test_simultaneous_open);
    RUN(test_close_unread_resets);
    RUN(test_reset_established);
    RUN(test_poll_fresh_and_listener);
    return eddy_test_done();
}
