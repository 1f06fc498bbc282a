/* Link and network layer: ARP resolution with queued frames, retries and give-up; IPv4
 * header checks, checksum, fragments dropped and counted, DF and TTL on output; ICMP
 * echo and destination unreachable (sent, and received by TCP); the pcap recorder;
 * AF_UNIX socket pairs (half-close, RDHUP, HUP); readv/writev. */
#include "ustack_conn.h"

#include <signal.h>
#include <stdio.h>
#include <unistd.h>

static void send_ip(struct peer *p, uint8_t proto, const void *payload, size_t n, uint16_t frag,
                    int corrupt)
{
    unsigned char f[1600];
    memcpy(f, p->st_mac, 6);
    memcpy(f + 6, PEER_MAC, 6);
    us_put16(f + 12, 0x0800);
    memcpy(f + 34, payload, n);
    size_t len = u_ip(f, proto, n, frag);
    if (corrupt)
        f[14 + 8] ^= 1; /* TTL changes, checksum does not */
    peer_tx(p, f, len);
}

static void test_icmp_echo(void)
{
    struct peer p;
    peer_init(&p);
    unsigned char m[64] = {8, 0, 0, 0, 0x12, 0x34, 0, 1};
    for (int i = 8; i < 64; i++)
        m[i] = (unsigned char)i;
    us_put16(m + 2, eddy__us_csum_fold(eddy__us_csum_add(0, m, sizeof(m))));
    send_ip(&p, 1, m, sizeof(m), 0, 0);
    struct pkt r;
    ASSERT(peer_rx(&p, &r));
    ASSERT(r.is_icmp);
    ASSERT_EQ(r.icmp_type, 0);
    ASSERT_EQ(r.len, 64);
    ASSERT_MEM_EQ(r.data + 4, m + 4, 60);
    ASSERT_EQ(eddy__us_csum_fold(eddy__us_csum_add(0, r.data, r.len)), 0);
    ASSERT_EQ(r.ttl, 64);
    ASSERT_EQ(r.ip_frag, 0x4000);
    ASSERT_EQ(p.st->stats.icmp_echo, 1);
    peer_fini(&p);
}

static void test_ip_checks(void)
{
    struct peer p;
    peer_init(&p);
    unsigned char m[8] = {8, 0, 0xf7, 0xff, 0, 0, 0, 0};
    send_ip(&p, 1, m, sizeof(m), 0, 1);
    ASSERT_EQ(p.st->stats.ip_bad_checksum, 1);
    send_ip(&p, 1, m, sizeof(m), 0x2000, 0); /* MF: a first fragment */
    send_ip(&p, 1, m, sizeof(m), 0x0010, 0); /* a later fragment */
    ASSERT_EQ(p.st->stats.ip_frag_dropped, 2);
    struct pkt r;
    ASSERT(!peer_rx(&p, &r));
    unsigned char f[40];
    memcpy(f, p.st_mac, 6);
    memcpy(f + 6, PEER_MAC, 6);
    us_put16(f + 12, 0x0800);
    memset(f + 14, 0, 26);
    f[14] = 0x46; /* IHL 6 with total length 20 */
    us_put16(f + 16, 20);
    peer_tx(&p, f, sizeof(f));
    ASSERT_EQ(p.st->stats.ip_bad_header, 1);
    ASSERT(!peer_rx(&p, &r));
    peer_fini(&p);
}

/* An unknown protocol draws ICMP protocol unreachable quoting the header. */
static void test_protocol_unreachable(void)
{
    struct peer p;
    peer_init(&p);
    unsigned char d[12] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
    send_ip(&p, 17, d, sizeof(d), 0, 0);
    struct pkt r;
    ASSERT(peer_rx(&p, &r));
    ASSERT(r.is_icmp);
    ASSERT_EQ(r.icmp_type, 3);
    ASSERT_EQ(r.icmp_code, 2);
    ASSERT_EQ(r.len, 8 + 20 + 8);
    ASSERT_EQ(r.data[8 + 9], 17);
    ASSERT_MEM_EQ(r.data + 28, d, 8);
    peer_fini(&p);
}

/* ICMP port unreachable for our SYN fails the connect with ECONNREFUSED. */
static void test_icmp_error_fails_connect(void)
{
    struct peer p;
    peer_init(&p);
    struct sockaddr_in a = u_addr(PEER_IP, 9000);
    int fd = u_connect(&a);
    unsigned char fr[UE_FRAME_MAX];
    ASSERT_EQ(p.b->ops->rx_burst(p.b, (struct ue_frame *)fr, 1), 1);
    const unsigned char *ip = ((struct ue_frame *)fr)->data + 14;
    unsigned char m[8 + 28] = {3, 3};
    memcpy(m + 8, ip, 28);
    us_put16(m + 2, eddy__us_csum_fold(eddy__us_csum_add(0, m, sizeof(m))));
    send_ip(&p, 1, m, sizeof(m), 0, 0);
    ASSERT(u_mask(fd) & EPOLLERR);
    ASSERT_EQ(ue_connect(fd, (struct sockaddr *)&a, sizeof(a)), -1);
    ASSERT_EQ(errno, ECONNREFUSED);
    ue_close(fd);
    peer_fini(&p);
}

/* Frames to an unresolved next hop wait for the ARP reply; unanswered requests are
 * repeated every second and given up after three, dropping the queue. */
static void test_arp_queue_and_retry(void)
{
    struct peer p;
    peer_init(&p);
    int fd = ue_socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(9000)};
    a.sin_addr.s_addr = htonl(0xc6120007); /* 198.18.0.7: unknown */
    ue_connect(fd, (struct sockaddr *)&a, sizeof(a));
    struct pkt r;
    ASSERT(peer_rx(&p, &r));
    ASSERT(r.is_arp);
    ASSERT_EQ(r.arp_op, 1);
    ASSERT(!peer_rx(&p, &r)); /* the SYN waits */
    peer_advance(&p, 1000);
    ASSERT(peer_rx(&p, &r) && r.is_arp);
    peer_advance(&p, 1000); /* the SYN's own retransmission queues too */
    int arps = 0;
    while (peer_rx(&p, &r))
        arps += r.is_arp;
    ASSERT_EQ(arps, 1);
    ASSERT_EQ(p.st->stats.arp_queue_drops, 0);
    peer_advance(&p, 1000); /* three tries: the queue is dropped */
    ASSERT_EQ(p.st->stats.arp_queue_drops, 2);
    ASSERT_EQ(p.st->stats.arp_requests, 3 + 1); /* and the retransmitted SYN asks anew */
    ue_close(fd);
    /* a resolvable host: the queued SYN leaves once the reply is in */
    fd = ue_socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    a.sin_addr.s_addr = htonl(PEER_IP);
    peer_advance(&p, 61000); /* the announced entry expired */
    ue_connect(fd, (struct sockaddr *)&a, sizeof(a));
    ASSERT(peer_rx(&p, &r) && r.is_arp);
    peer_arp_announce(&p);
    int syn = 0;
    while (peer_rx(&p, &r))
        syn += r.is_tcp && r.flags == TH_SYN;
    ASSERT_EQ(syn, 1);
    ue_close(fd);
    peer_fini(&p);
}

/* The pcap file has the classic header and one record per frame in and out. */
static void test_pcap(void)
{
    struct peer p;
    char path[] = "/tmp/ustack-pcap-XXXXXX";
    int tfd = mkstemp(path);
    ASSERT_GE(tfd, 0);
    close(tfd);
    peer_init(&p);
    ASSERT_EQ(ue_dev_pcap_open(p.a, path), 0);
    unsigned char m[8] = {8, 0, 0xf7, 0xff, 0, 0, 0, 0};
    send_ip(&p, 1, m, sizeof(m), 0, 0);
    peer_drain(&p);
    peer_fini(&p);
    FILE *f = fopen(path, "rb");
    unsigned char b[512];
    size_t n = fread(b, 1, sizeof(b), f);
    fclose(f);
    unlink(path);
    ASSERT_EQ(n, 24 + 2 * (16 + 42));
    ASSERT_EQ(b[0], 0xd4);
    ASSERT_EQ(b[3], 0xa1);
    ASSERT_EQ(b[20], 1);
    ASSERT_EQ(b[24 + 8], 42);
    ASSERT_EQ(b[24 + 16 + 42 + 8], 42);
}

/* socketpair: shutdown(SHUT_WR) on one end is RDHUP (and EOF) on the other; closing
 * an end is HUP for the other and EPIPE for its writes. */
static void test_socketpair_half_close(void)
{
    int sv[2];
    ASSERT_EQ(ue_socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    ASSERT_EQ(u_mask(sv[0]) & (EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLHUP), EPOLLOUT);
    ASSERT_EQ(ue_write(sv[0], "ping", 4), 4);
    ASSERT_EQ(u_mask(sv[1]) & (EPOLLIN | EPOLLOUT), EPOLLIN | EPOLLOUT);
    ASSERT_EQ(ue_shutdown(sv[0], SHUT_WR), 0);
    ASSERT_EQ(u_mask(sv[1]) & (EPOLLIN | EPOLLRDHUP | EPOLLHUP), EPOLLIN | EPOLLRDHUP);
    char b[8];
    ASSERT_EQ(ue_read(sv[1], b, sizeof(b)), 4);
    ASSERT_EQ(ue_read(sv[1], b, sizeof(b)), 0);
    ASSERT_EQ(ue_write(sv[1], "pong", 4), 4); /* the other direction still works */
    ASSERT_EQ(ue_read(sv[0], b, sizeof(b)), 4);
    signal(SIGPIPE, SIG_IGN);
    ASSERT_EQ(ue_write(sv[0], "x", 1), -1);
    ASSERT_EQ(errno, EPIPE);
    ue_close(sv[0]);
    ASSERT_EQ(u_mask(sv[1]) & (EPOLLHUP | EPOLLRDHUP | EPOLLIN), EPOLLHUP | EPOLLRDHUP | EPOLLIN);
    ASSERT_EQ(ue_write(sv[1], "x", 1), -1);
    ASSERT_EQ(errno, EPIPE);
    ue_close(sv[1]);
    ASSERT_EQ(ue_socketpair(AF_INET, SOCK_STREAM, 0, sv), -1);
    ASSERT_EQ(errno, EAFNOSUPPORT);
}

/* readv/writev keep the byte order across buffers; a full pair says EAGAIN. */
static void test_readv_writev(void)
{
    int sv[2];
    ASSERT_EQ(ue_socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    struct iovec w[3] = {{"ab", 2}, {"", 0}, {"cdef", 4}};
    ASSERT_EQ(ue_writev(sv[0], w, 3), 6);
    char x[3], y[10];
    struct iovec r[2] = {{x, 3}, {y, 10}};
    ASSERT_EQ(ue_readv(sv[1], r, 2), 6);
    ASSERT_MEM_EQ(x, "abc", 3);
    ASSERT_MEM_EQ(y, "def", 3);
    ASSERT_EQ(ue_readv(sv[1], r, 2), -1);
    ASSERT_EQ(errno, EAGAIN);
    ASSERT_EQ(ue_readv(sv[1], r, -1), -1);
    ASSERT_EQ(errno, EINVAL);
    ue_close(sv[0]);
    ue_close(sv[1]);
}

/* A SYN from an unresolved host on the link: a stack asks ARP before its SYN-ACK,
 * unless it gleans (stacks sharing a multi-queue TAP), when the frame's source address
 * is the next hop and the SYN-ACK leaves at once. */
static void first_reply(struct peer *p, uint16_t sport, int *arp)
{
    peer_advance(p, 61000); /* the announced entry expired */
    struct seg s = {.sport = sport, .dport = 80, .seq = 1, .flags = TH_SYN, .win = 65535};
    peer_send(p, &s);
    struct pkt r;
    ASSERT(peer_rx(p, &r));
    *arp = r.is_arp && r.arp_op == 1;
    ASSERT(*arp || (r.is_tcp && r.flags == (TH_SYN | TH_ACK)));
    if (*arp) { /* once answered, the SYN-ACK follows */
        peer_arp_announce(p);
        ASSERT(peer_rx_tcp(p, &r));
        ASSERT_EQ(r.flags, TH_SYN | TH_ACK);
    }
    struct seg rst = {.sport = sport, .dport = 80, .seq = 2, .flags = TH_RST};
    peer_send(p, &rst); /* no embryo left to retransmit while the next test waits */
    peer_drain(p);
    ASSERT_EQ(p->st->stats.tcp_conns, 0);
}

static void test_arp_glean(void)
{
    struct peer p;
    peer_init(&p);
    int l = u_listen(80, 1);
    int arp = 0;
    first_reply(&p, 41000, &arp);
    ASSERT(arp);
    p.st->arp_glean = 1;
    uint64_t asked = p.st->stats.arp_requests;
    first_reply(&p, 41001, &arp);
    ASSERT(!arp);
    ASSERT_EQ(p.st->stats.arp_requests, asked);
    ue_close(l);
    peer_fini(&p);
}

int main(void)
{
    RUN(test_icmp_echo);
    RUN(test_ip_checks);
    RUN(test_protocol_unreachable);
    RUN(test_icmp_error_fails_connect);
    RUN(test_arp_queue_and_retry);
    RUN(test_arp_glean);
    RUN(test_pcap);
    RUN(test_socketpair_half_close);
    RUN(test_readv_writev);
    return eddy_test_done();
}
