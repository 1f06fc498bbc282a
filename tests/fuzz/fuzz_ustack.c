/*
 * libFuzzer target: a stack with an established connection (and its listener) takes a
 * program decoded from the input: segments on that connection with fuzzed flags,
 * sequence and acknowledgment offsets, windows, timestamps and lengths; raw frames
 * (any bytes: ARP, IP, TCP headers of every shape); new SYNs; application writes,
 * reads, shutdown and close; time passing; the peer acknowledging what it saw. At the
 * end every socket is closed and the stack destroyed: ASan/UBSan find memory errors, a
 * leak or a broken invariant (ue_stack_destroy aborts on a socket left behind).
 * Standalone: tests/fuzz/run.sh 60 ustack.
 */
#include "../unit/ustack/ustack_conn.h"

#include <signal.h>

struct in {
    const uint8_t *p;
    size_t n;
};

static unsigned take(struct in *in, unsigned bytes)
{
    unsigned v = 0;
    for (unsigned i = 0; i < bytes; i++) {
        v = v << 8 | (in->n ? *in->p : 0);
        if (in->n)
            in->p++, in->n--;
    }
    return v;
}

static unsigned char zeros[1600];

static void op_segment(struct peer *p, struct conn *c, struct in *in)
{
    unsigned flags = take(in, 1) & 0x3f, len = take(in, 1) * 6u;
    int16_t dseq = (int16_t)take(in, 2), dack = (int16_t)take(in, 2);
    uint16_t win = (uint16_t)take(in, 2);
    unsigned char o[12];
    struct seg s = {.sport = c->pport, .dport = c->sport, .flags = (uint8_t)flags, .win = win};
    s.seq = c->pseq + (uint32_t)(int32_t)dseq;
    s.ack = c->sseq + (uint32_t)(int32_t)dack;
    if (len > 1460)
        len = 1460;
    s.len = len;
    s.data = zeros;
    if (take(in, 1) & 1) {
        s.opt = o;
        s.optlen = u_ts_opts(o, c->ts + (uint32_t)(int8_t)take(in, 1), c->ts_echo);
    }
    peer_send(p, &s);
    if (dseq == 0 && !(flags & TH_RST))
        c->pseq += len + ((flags & (TH_SYN | TH_FIN)) ? 1 : 0);
}

static void op_raw(struct peer *p, struct in *in)
{
    unsigned char f[1600];
    unsigned len = take(in, 1) * 6u + 14;
    memcpy(f, p->st_mac, 6);
    memcpy(f + 6, PEER_MAC, 6);
    for (unsigned i = 12; i < len; i++)
        f[i] = (unsigned char)take(in, 1);
    if (take(in, 1) & 1) { /* keep it IPv4 toward us, so IP and TCP get past the demux */
        us_put16(f + 12, 0x0800);
        f[14] = 0x45;
        us_put32(f + 26, PEER_IP);
        us_put32(f + 30, ST_IP);
    }
    peer_tx(p, f, len);
}

static void op_app(struct conn *c, unsigned op, struct in *in)
{
    static unsigned char b[70000];
    unsigned n = take(in, 2);
    if (c->fd < 0)
        return;
    if (op == 0)
        ue_write(c->fd, zeros, n % sizeof(zeros));
    else if (op == 1)
        ue_read(c->fd, b, n % sizeof(b));
    else if (op == 2)
        ue_shutdown(c->fd, n % 3);
    else {
        if (n & 1) {
            struct linger l = {1, 0};
            ue_setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
        }
        ue_close(c->fd);
        c->fd = -1;
    }
}

/* The peer reads what the stack sent and acknowledges up to the highest byte seen. */
static void op_peer_ack(struct peer *p, struct conn *c)
{
    while (c_recv(p, c)) {
        uint32_t end = c->last.seq + c->last.len + !!(c->last.flags & (TH_SYN | TH_FIN));
        if (SEQ_GT(end, c->sseq))
            c->sseq = end;
    }
    c_send(p, c, TH_ACK, NULL, 0, 65535);
}

static void step(struct peer *p, struct conn *c, struct in *in)
{
    unsigned op = take(in, 1) % 8;
    switch (op) {
    case 0:
        op_segment(p, c, in);
        break;
    case 1:
        op_raw(p, in);
        break;
    case 2:
    case 3:
        op_app(c, take(in, 1) % 4, in);
        break;
    case 4:
        peer_advance(p, take(in, 1) * 10u);
        break;
    case 5:
        op_peer_ack(p, c);
        break;
    case 6: {
        unsigned char o[24];
        struct seg s = {.sport = (uint16_t)take(in, 2), .dport = 80, .seq = take(in, 4)};
        s.flags = TH_SYN, s.win = 1000, s.opt = o, s.optlen = u_syn_opts(o, take(in, 1), 7);
        peer_send(p, &s);
        break;
    }
    default:
        peer_drain(p);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct peer p;
    struct conn c;
    struct in in = {data, size};
    signal(SIGPIPE, SIG_IGN); /* a write after close raises it, as write(2) does */
    peer_init(&p);
    if (c_open_passive(&p, &c, 7, 1) < 0)
        abort();
    for (int i = 0; i < 400 && in.n; i++)
        step(&p, &c, &in);
    if (c.fd >= 0)
        ue_close(c.fd);
    ue_close(c.lfd);
    peer_advance(&p, 1000);
    peer_fini(&p);
    return 0;
}
