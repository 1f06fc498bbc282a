/*
 * Packet-level connection set-up for the ustack tests: a connection between the stack
 * (port 80, accepted) or an active open of the stack, and the hand-driven peer.
 */
#ifndef EDDY_TEST_USTACK_CONN_H
#define EDDY_TEST_USTACK_CONN_H

#include "ustack_util.h"

struct conn {
    int fd, lfd;
    uint16_t pport, sport; /* peer's port, stack's port */
    uint32_t pseq;         /* peer's next sequence number */
    uint32_t sseq;         /* stack's next sequence number (what the peer acks) */
    uint32_t ts, ts_echo;  /* peer's clock, and the stack's last TSval */
    int use_ts;
    struct pkt last;
};

/* A segment from the peer on c with the current sequence numbers. */
static inline void c_send(struct peer *p, struct conn *c, uint8_t flags, const void *data,
                          uint32_t len, uint16_t win)
{
    unsigned char o[12];
    struct seg s = {.sport = c->pport, .dport = c->sport, .seq = c->pseq, .ack = c->sseq};
    s.flags = flags, s.win = win, s.data = data, s.len = len;
    if (c->use_ts) {
        s.opt = o;
        s.optlen = u_ts_opts(o, c->ts, c->ts_echo);
    }
    peer_send(p, &s);
    c->pseq += len + ((flags & (TH_SYN | TH_FIN)) ? 1 : 0);
}

/* Takes the next segment from the stack into c->last; 0 if none. */
static inline int c_recv(struct peer *p, struct conn *c)
{
    if (!peer_rx_tcp(p, &c->last))
        return 0;
    if (c->last.opt.has_ts)
        c->ts_echo = c->last.opt.tsval;
    return 1;
}

/* Passive open: the peer connects to the stack's port 80; c->fd is the accepted socket.
 * ws < 0: no window scale option; use_ts 0: no options but MSS. */
static inline int c_open_passive(struct peer *p, struct conn *c, int ws, int use_ts)
{
    memset(c, 0, sizeof(*c));
    c->lfd = u_listen(80, 1);
    c->pport = 40000, c->sport = 80, c->pseq = 1000, c->ts = 5000, c->use_ts = use_ts;
    unsigned char o[24];
    struct seg s = {.sport = c->pport, .dport = 80, .seq = c->pseq, .flags = TH_SYN, .win = 65535};
    s.opt = o;
    if (use_ts) {
        s.optlen = u_syn_opts(o, c->ts, ws);
    } else {
        o[0] = 2, o[1] = 4, us_put16(o + 2, 1460);
        s.optlen = 4;
        if (ws >= 0)
            o[4] = 1, o[5] = 3, o[6] = 3, o[7] = (unsigned char)ws, s.optlen = 8;
    }
    peer_send(p, &s);
    c->pseq++;
    if (!c_recv(p, c) || c->last.flags != (TH_SYN | TH_ACK))
        return -1;
    c->sseq = c->last.seq + 1;
    c_send(p, c, TH_ACK, NULL, 0, 65535);
    c->fd = ue_accept4(c->lfd, NULL, NULL, SOCK_NONBLOCK);
    return c->fd;
}

/* Active open: the stack connects to the peer's port 9000. */
static inline int c_open_active(struct peer *p, struct conn *c, int use_ts)
{
    memset(c, 0, sizeof(*c));
    c->lfd = -1;
    c->fd = ue_socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(9000)};
    a.sin_addr.s_addr = htonl(PEER_IP);
    if (ue_connect(c->fd, (struct sockaddr *)&a, sizeof(a)) != -1 || errno != EINPROGRESS)
        return -1;
    if (!c_recv(p, c) || c->last.flags != TH_SYN)
        return -1;
    c->pport = 9000, c->sport = c->last.sport;
    c->sseq = c->last.seq + 1;
    c->pseq = 7000, c->ts = 300, c->use_ts = use_ts;
    unsigned char o[24];
    struct seg s = {.sport = 9000, .dport = c->sport, .seq = c->pseq, .ack = c->sseq};
    s.flags = TH_SYN | TH_ACK, s.win = 65535, s.opt = o;
    s.optlen = use_ts ? u_syn_opts(o, c->ts, 7) : (o[0] = 2, o[1] = 4, us_put16(o + 2, 1460), 4);
    if (use_ts)
        us_put32(o + 12, c->ts_echo);
    peer_send(p, &s);
    c->pseq++;
    return c_recv(p, c) && c->last.flags == TH_ACK ? c->fd : -1;
}

static inline void c_close_all(struct peer *p, struct conn *c)
{
    if (c->fd >= 0) {
        struct linger l = {1, 0};
        ue_setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
        ue_close(c->fd);
    }
    if (c->lfd >= 0)
        ue_close(c->lfd);
    peer_drain(p);
}

#endif
