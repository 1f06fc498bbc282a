/* Packet-level tests of the passive side: TIME_WAIT reuse by a new SYN (RFC 6191),
 * SYN cookies once the SYN backlog is full, the accept queue, closing a listener. */
#include "ustack_conn.h"

/* The stack closes first and keeps a TIME_WAIT record for the pair. */
static void enter_time_wait(struct peer *p, struct conn *c)
{
    ue_close(c->fd);
    c->fd = -1;
    c_recv(p, c); /* FIN */
    c->sseq++;
    c_send(p, c, TH_FIN | TH_ACK, NULL, 0, 65535);
    c_recv(p, c); /* ACK of our FIN's answer */
}

static void send_syn(struct peer *p, uint16_t sport, uint32_t seq, uint32_t tsval)
{
    unsigned char o[24];
    struct seg s = {.sport = sport, .dport = 80, .seq = seq, .flags = TH_SYN, .win = 65535};
    s.opt = o;
    s.optlen = u_syn_opts(o, tsval, 7);
    peer_send(p, &s);
}

/* RFC 6191: a SYN whose timestamp is newer than the record's reopens the pair; an older
 * one only gets the TIME_WAIT ACK. */
static void test_time_wait_reuse_by_timestamp(void)
{
    struct peer p;
    struct conn c;
    peer_init(&p);
    ASSERT_GE(c_open_passive(&p, &c, 7, 1), 0);
    enter_time_wait(&p, &c);
    ASSERT_EQ(ue_stack_current()->stats.tcp_time_wait, 1);
    struct pkt r;
    send_syn(&p, c.pport, c.pseq + 100000, 4000); /* older timestamp */
    ASSERT(peer_rx_tcp(&p, &r));
    ASSERT_EQ(r.flags, TH_ACK);
    ASSERT_EQ(ue_stack_current()->stats.tcp_time_wait, 1);
    send_syn(&p, c.pport, c.pseq - 100000, 9000); /* newer timestamp, any sequence */
    ASSERT(peer_rx_tcp(&p, &r));
    ASSERT_EQ(r.flags, TH_SYN | TH_ACK);
    ASSERT_EQ(ue_stack_current()->stats.tcp_time_wait, 0);
    ASSERT_EQ(ue_stack_current()->stats.tcp_tw_reused, 1);
    c_close_all(&p, &c);
    peer_fini(&p);
}

/* Without timestamps, RFC 6191 falls back to the sequence number: above RCV.NXT. */
static void test_time_wait_reuse_by_sequence(void)
{
    struct peer p;
    struct conn c;
    peer_init(&p);
    ASSERT_GE(c_open_passive(&p, &c, 7, 0), 0);
    enter_time_wait(&p, &c);
    struct seg s = {.sport = c.pport, .dport = 80, .seq = c.pseq - 10, .flags = TH_SYN};
    s.win = 1000;
    peer_send(&p, &s);
    struct pkt r;
    ASSERT(peer_rx_tcp(&p, &r));
    ASSERT_EQ(r.flags, TH_ACK);
    s.seq = c.pseq + 1000;
    peer_send(&p, &s);
    ASSERT(peer_rx_tcp(&p, &r));
    ASSERT_EQ(r.flags, TH_SYN | TH_ACK);
    ASSERT_EQ(r.ack, c.pseq + 1001);
    c_close_all(&p, &c);
    peer_fini(&p);
}

/* A RST does not end TIME_WAIT (RFC 1337). */
static void test_time_wait_ignores_rst(void)
{
    struct peer p;
    struct conn c;
    peer_init(&p);
    ASSERT_GE(c_open_passive(&p, &c, 7, 1), 0);
    enter_time_wait(&p, &c);
    c_send(&p, &c, TH_RST, NULL, 0, 0);
    ASSERT_EQ(ue_stack_current()->stats.tcp_time_wait, 1);
    c_close_all(&p, &c);
    peer_fini(&p);
}

/* With the SYN backlog full, a SYN gets a cookie SYN-ACK and no state; the ACK that
 * returns the cookie creates an established, acceptable connection. A forged ACK
 * gets a RST. */
static void test_syn_cookies(void)
{
    struct peer p;
    peer_init_cfg(&p, 1);
    int l = u_listen(80, 1);
    struct pkt r1, r2;
    send_syn(&p, 41001, 100, 1); /* fills the backlog of 1 */
    ASSERT(peer_rx_tcp(&p, &r1));
    ASSERT(r1.opt.has_ts);
    ASSERT_EQ(ue_stack_current()->stats.tcp_conns, 1);
    send_syn(&p, 41002, 200, 1);
    ASSERT(peer_rx_tcp(&p, &r2));
    ASSERT_EQ(r2.flags, TH_SYN | TH_ACK);
    ASSERT_EQ(r2.ack, 201);
    ASSERT(r2.opt.has_ts); /* the SYN had timestamps: its options ride in our TSval */
    ASSERT_EQ(r2.opt.mss, 1460);
    ASSERT_EQ(ue_stack_current()->stats.tcp_conns, 1);
    ASSERT_EQ(ue_stack_current()->stats.tcp_syn_cookies_sent, 1);
    struct seg bad = {.sport = 41003, .dport = 80, .seq = 301, .ack = 12345, .flags = TH_ACK};
    peer_send(&p, &bad);
    struct pkt r;
    ASSERT(peer_rx_tcp(&p, &r));
    ASSERT_EQ(r.flags, TH_RST);
    struct seg ack = {.sport = 41002, .dport = 80, .seq = 201, .ack = r2.seq + 1};
    ack.flags = TH_ACK | TH_PSH, ack.win = 1000, ack.data = "hi", ack.len = 2;
    peer_send(&p, &ack);
    ASSERT_EQ(ue_stack_current()->stats.tcp_syn_cookies_ok, 1);
    int fd = ue_accept4(l, NULL, NULL, SOCK_NONBLOCK);
    ASSERT_GE(fd, 0);
    struct sockaddr_in a;
    socklen_t len = sizeof(a);
    ue_getpeername(fd, (struct sockaddr *)&a, &len);
    ASSERT_EQ(ntohs(a.sin_port), 41002);
    char b[4];
    ASSERT_EQ(ue_read(fd, b, 4), 2);
    ASSERT_MEM_EQ(b, "hi", 2);
    ASSERT_EQ(sk_of(fd)->mss, 1460);
    ASSERT_EQ(sk_of(fd)->fl & (SKF_TS | SKF_WS | SKF_SACK), 0); /* the ACK had no TS */
    ue_close(fd);
    ue_close(l);
    peer_drain(&p);
    ASSERT_EQ(ue_stack_current()->stats.tcp_conns, 1); /* our FIN is out, waiting */
    peer_fini(&p);
}

/* The listener reports IN when a connection completes, not at SYN_RCVD. */
static void test_listener_wakes_on_established(void)
{
    struct peer p;
    peer_init(&p);
    int l = u_listen(80, 1);
    int ep = ue_epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN | EPOLLET};
    ue_epoll_ctl(ep, EPOLL_CTL_ADD, l, &ev);
    send_syn(&p, 42000, 10, 1);
    struct pkt r;
    ASSERT(peer_rx_tcp(&p, &r));
    struct epoll_event out;
    ASSERT_EQ(ue_epoll_wait(ep, &out, 1, 0), 0);
    struct seg ack = {.sport = 42000, .dport = 80, .seq = 11, .ack = r.seq + 1, .flags = TH_ACK};
    ack.win = 1000;
    peer_send(&p, &ack);
    ASSERT_EQ(ue_epoll_wait(ep, &out, 1, 0), 1);
    ASSERT_EQ(out.events, EPOLLIN);
    int fd = ue_accept4(l, NULL, NULL, 0);
    ASSERT_GE(fd, 0);
    ue_close(fd);
    ue_close(ep);
    ue_close(l);
    peer_fini(&p);
}

/* Closing a listener resets the connections waiting in its accept queue and forgets
 * its embryos. */
static void test_listener_close_resets_queue(void)
{
    struct peer p;
    peer_init(&p);
    int l = u_listen(80, 1);
    struct pkt r;
    send_syn(&p, 43000, 10, 1);
    ASSERT(peer_rx_tcp(&p, &r));
    struct seg ack = {.sport = 43000, .dport = 80, .seq = 11, .ack = r.seq + 1, .flags = TH_ACK};
    ack.win = 1000;
    peer_send(&p, &ack);
    send_syn(&p, 43001, 10, 1); /* stays embryonic */
    ASSERT(peer_rx_tcp(&p, &r));
    ASSERT_EQ(ue_stack_current()->stats.tcp_conns, 2);
    ue_close(l);
    ASSERT(peer_rx_tcp(&p, &r));
    ASSERT_EQ(r.flags & TH_RST, TH_RST);
    ASSERT_EQ(r.dport, 43000);
    ASSERT_EQ(ue_stack_current()->stats.tcp_conns, 0);
    peer_fini(&p);
}

/* A lost SYN-ACK is sent again on its timer, and again on a repeated SYN. */
static void test_synack_retransmit(void)
{
    struct peer p;
    peer_init(&p);
    int l = u_listen(80, 1);
    struct pkt r, r2;
    send_syn(&p, 44000, 10, 1);
    ASSERT(peer_rx_tcp(&p, &r));
    peer_advance(&p, 999);
    ASSERT(!peer_rx_tcp(&p, &r2));
    peer_advance(&p, 1);
    ASSERT(peer_rx_tcp(&p, &r2));
    ASSERT_EQ(r2.flags, TH_SYN | TH_ACK);
    ASSERT_EQ(r2.seq, r.seq);
    send_syn(&p, 44000, 10, 2);
    ASSERT(peer_rx_tcp(&p, &r2));
    ASSERT_EQ(r2.flags, TH_SYN | TH_ACK);
    ue_close(l);
    peer_fini(&p);
}

/* bind/listen/accept errors as Linux gives them. */
static void test_api_errors(void)
{
    struct peer p;
    peer_init(&p);
    int l = u_listen(80, 1);
    int s = ue_socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(80)};
    ASSERT_EQ(ue_bind(s, (struct sockaddr *)&a, sizeof(a)), -1);
    ASSERT_EQ(errno, EADDRINUSE);
    a.sin_addr.s_addr = htonl(0x0a000001);
    ASSERT_EQ(ue_bind(s, (struct sockaddr *)&a, sizeof(a)), -1);
    ASSERT_EQ(errno, EADDRNOTAVAIL);
    ASSERT_EQ(ue_bind(s, (struct sockaddr *)&a, 4), -1);
    ASSERT_EQ(errno, EINVAL);
    ASSERT_EQ(ue_accept4(s, NULL, NULL, 0), -1);
    ASSERT_EQ(errno, EINVAL);
    ASSERT_EQ(ue_socket(AF_INET6, SOCK_STREAM, 0), -1);
    ASSERT_EQ(errno, EAFNOSUPPORT);
    ASSERT_EQ(ue_socket(AF_INET, SOCK_DGRAM, 0), -1);
    ASSERT_EQ(errno, ESOCKTNOSUPPORT);
    ASSERT_EQ(ue_listen(12345, 1), -1);
    ASSERT_EQ(errno, EBADF);
    int ev = ue_eventfd(0, 0);
    ASSERT_EQ(ue_listen(ev, 1), -1);
    ASSERT_EQ(errno, ENOTSOCK);
    char c;
    ASSERT_EQ(ue_read(s, &c, 1), -1);
    ASSERT_EQ(errno, ENOTCONN);
    ASSERT_EQ(ue_read(l, &c, 1), -1);
    ASSERT_EQ(errno, ENOTCONN);
    ASSERT_EQ(ue_shutdown(s, SHUT_WR), -1);
    ASSERT_EQ(errno, ENOTCONN);
    struct sockaddr_in peer;
    socklen_t len = sizeof(peer);
    ASSERT_EQ(ue_getpeername(s, (struct sockaddr *)&peer, &len), -1);
    ASSERT_EQ(errno, ENOTCONN);
    ASSERT_EQ(ue_getsockname(l, (struct sockaddr *)&peer, &len), 0);
    ASSERT_EQ(ntohs(peer.sin_port), 80);
    int v = 0;
    len = sizeof(v);
    ASSERT_EQ(ue_getsockopt(l, SOL_SOCKET, SO_ACCEPTCONN, &v, &len), 0);
    ASSERT_EQ(v, 1);
    ASSERT_EQ(ue_fcntl(s, F_GETFL) & O_NONBLOCK, 0);
    ASSERT_EQ(ue_fcntl(s, F_SETFL, O_NONBLOCK), 0);
    ASSERT_EQ(ue_fcntl(s, F_GETFL) & (O_NONBLOCK | O_ACCMODE), O_NONBLOCK | O_RDWR);
    ue_close(ev);
    ue_close(s);
    ue_close(l);
    peer_fini(&p);
}

/* 100,000 SYNs from random ports: half-open state stays within the SYN backlog (the
 * rest get cookies and cost nothing), and an established connection is still served. */
static void test_syn_flood(void)
{
    struct peer p;
    struct conn c;
    peer_init_cfg(&p, 64);
    ASSERT_GE(c_open_passive(&p, &c, 7, 1), 0);
    uint32_t x = 12345;
    size_t max_conns = 0;
    for (int i = 0; i < 100000; i++) {
        x = x * 1103515245u + 12345u;
        struct seg s = {.sport = (uint16_t)(1024 + (x >> 8) % 60000), .dport = 80, .seq = x};
        s.flags = TH_SYN, s.win = 65535;
        if (s.sport == c.pport)
            continue;
        peer_send(&p, &s);
        if (i % 256 == 0) {
            peer_drain(&p);
            if (p.st->stats.tcp_conns > max_conns)
                max_conns = p.st->stats.tcp_conns;
        }
    }
    peer_drain(&p);
    ASSERT_LE(max_conns, 64 + 1);
    ASSERT_GE(p.st->stats.tcp_syn_cookies_sent, 99000);
    c_send(&p, &c, TH_ACK | TH_PSH, "still here", 10, 65535);
    char b[16];
    ASSERT_EQ(ue_read(c.fd, b, sizeof(b)), 10);
    ASSERT_EQ(ue_write(c.fd, "yes", 3), 3);
    int data = 0;
    while (c_recv(&p, &c)) /* a window update may come first */
        data += (int)c.last.len;
    ASSERT_EQ(data, 3);
    for (int i = 0; i < 70; i++) { /* embryos give up after 5 SYN-ACK retries (63 s) */
        peer_advance(&p, 1000);
        peer_drain(&p);
    }
    ASSERT_EQ(p.st->stats.tcp_conns, 1);
    c_close_all(&p, &c);
    peer_fini(&p);
}

/* A cookie SYN-ACK to a SYN with timestamps, window scale 7 and SACK-permitted: our
 * TSval carries 7 and the SACK bit in its low 6 bits and is never ahead of the
 * connection's clock; the ACK echoing it creates a connection that scales the peer's
 * window by 7, uses the scale it offered, keeps timestamps and sends SACK blocks. */
static void test_syn_cookie_keeps_options(void)
{
    struct peer p;
    peer_init_cfg(&p, 1);
    int l = u_listen(80, 1);
    struct pkt r1, r2, r;
    send_syn(&p, 41001, 100, 1); /* fills the backlog of 1 */
    ASSERT(peer_rx_tcp(&p, &r1));
    send_syn(&p, 41002, 200, 777);
    ASSERT(peer_rx_tcp(&p, &r2));
    ASSERT_EQ(r2.flags, TH_SYN | TH_ACK);
    ASSERT_EQ(ue_stack_current()->stats.tcp_syn_cookies_sent, 1);
    ASSERT(r2.opt.has_ts && r2.opt.has_ws && r2.opt.sack_ok);
    ASSERT_EQ(r2.opt.tsecr, 777);
    ASSERT_EQ(r2.opt.tsval & 0x3f, 7 | 0x10);
    peer_advance(&p, 5);
    unsigned char o[12];
    struct seg ack = {.sport = 41002, .dport = 80, .seq = 201, .ack = r2.seq + 1};
    ack.flags = TH_ACK, ack.win = 1000, ack.opt = o, ack.optlen = u_ts_opts(o, 778, r2.opt.tsval);
    peer_send(&p, &ack);
    ASSERT_EQ(ue_stack_current()->stats.tcp_syn_cookies_ok, 1);
    int fd = ue_accept4(l, NULL, NULL, SOCK_NONBLOCK);
    ASSERT_GE(fd, 0);
    struct us_sock *sk = sk_of(fd);
    ASSERT_EQ(sk->fl & (SKF_TS | SKF_WS | SKF_SACK), SKF_TS | SKF_WS | SKF_SACK);
    ASSERT_EQ(sk->snd_ws, 7);
    ASSERT_EQ(sk->rcv_ws, r2.opt.ws);
    ASSERT_EQ(sk->snd_wnd, 1000u << 7);
    ASSERT_EQ(ue_write(fd, "x", 1), 1);
    ASSERT(peer_rx_tcp(&p, &r));
    ASSERT_EQ(r.len, 1);
    ASSERT(r.opt.has_ts);
    ASSERT_EQ(r.opt.tsecr, 778);
    ASSERT((int32_t)(r.opt.tsval - r2.opt.tsval) >= 5 && r.opt.tsval - r2.opt.tsval < 5 + 64);
    struct seg hole = {.sport = 41002, .dport = 80, .seq = 301, .ack = r.seq + 1};
    hole.flags = TH_ACK, hole.win = 1000, hole.opt = o,
    hole.optlen = u_ts_opts(o, 779, r.opt.tsval);
    hole.data = "0123456789", hole.len = 10;
    peer_send(&p, &hole); /* 100 bytes beyond RCV.NXT: a duplicate ACK with a SACK block */
    ASSERT(peer_rx_tcp(&p, &r));
    ASSERT_EQ(r.ack, 201);
    ASSERT_EQ(r.nsack, 1);
    ASSERT_EQ(r.sack[0][0], 301);
    ASSERT_EQ(r.sack[0][1], 311);
    ue_close(fd);
    ue_close(l);
    peer_drain(&p);
    peer_fini(&p);
}

/* A SYN without timestamps has nowhere to keep its options: the cookie SYN-ACK offers
 * the MSS alone and the connection runs without window scaling, SACK or timestamps. */
static void test_syn_cookie_without_timestamps(void)
{
    struct peer p;
    peer_init_cfg(&p, 1);
    int l = u_listen(80, 1);
    struct pkt r1, r2;
    send_syn(&p, 41001, 100, 1);
    ASSERT(peer_rx_tcp(&p, &r1));
    unsigned char o[8] = {2, 4, 0x05, 0xb4, 1, 3, 3, 7}; /* MSS 1460, window scale 7 */
    struct seg syn = {.sport = 41002, .dport = 80, .seq = 200, .flags = TH_SYN, .win = 65535};
    syn.opt = o, syn.optlen = 8;
    peer_send(&p, &syn);
    ASSERT(peer_rx_tcp(&p, &r2));
    ASSERT_EQ(r2.flags, TH_SYN | TH_ACK);
    ASSERT_EQ(ue_stack_current()->stats.tcp_syn_cookies_sent, 1);
    ASSERT(!r2.opt.has_ts && !r2.opt.has_ws && !r2.opt.sack_ok);
    ASSERT_EQ(r2.opt.mss, 1460);
    struct seg ack = {.sport = 41002, .dport = 80, .seq = 201, .ack = r2.seq + 1};
    ack.flags = TH_ACK, ack.win = 1000;
    peer_send(&p, &ack);
    int fd = ue_accept4(l, NULL, NULL, SOCK_NONBLOCK);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(sk_of(fd)->fl & (SKF_TS | SKF_WS | SKF_SACK), 0);
    ASSERT_EQ(sk_of(fd)->snd_wnd, 1000);
    ue_close(fd);
    ue_close(l);
    peer_drain(&p);
    peer_fini(&p);
}

int main(void)
{
    RUN(test_time_wait_reuse_by_timestamp);
    RUN(test_time_wait_reuse_by_sequence);
    RUN(test_time_wait_ignores_rst);
    RUN(test_syn_cookies);
    RUN(test_syn_cookie_keeps_options);
    RUN(test_syn_cookie_without_timestamps);
    RUN(test_listener_wakes_on_established);
    RUN(test_listener_close_resets_queue);
    RUN(test_synack_retransmit);
    RUN(test_api_errors);
    RUN(test_syn_flood);
    return eddy_test_done();
}
