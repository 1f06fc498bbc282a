/* Two stacks over a memlink: 10 MB each way at once, byte-exact, with 0, 1, 5 and 10 %
 * loss plus duplication, reordering and corruption (100 Mbit/s, 1 ms each way).
 * Retransmitted bytes stay within twice the bytes lost, and no stall outlasts three
 * times the retransmission timeout in force when progress resumed. */
#include "ustack_world.h"

#define TOTAL (10u * 1024 * 1024)

struct run {
    uint64_t retrans, lost, stall_ms, stall_rto, vtime_ms;
    uint64_t fast, rto;
};

static uint32_t cur_rto(int fd)
{
    struct us_sock *sk = sk_of(fd);
    return sk ? sk->rto : 0;
}

static int connect_pair(struct world *w, struct endp *c, struct endp *s)
{
    ue_stack_set_current(w->s2);
    int l = u_listen(80, 1);
    ue_stack_set_current(w->s1);
    c->fd = ue_socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(80)};
    a.sin_addr.s_addr = htonl(W_IP2);
    ue_connect(c->fd, (struct sockaddr *)&a, sizeof(a));
    s->fd = -1;
    for (int i = 0; i < 100000 && s->fd < 0; i++) {
        w_poll(w);
        s->fd = ue_accept4(l, NULL, NULL, SOCK_NONBLOCK);
        if (s->fd < 0)
            w_advance(w, 1000);
    }
    ue_close(l);
    return s->fd;
}

/* Runs both endpoints to completion; records the longest stall. */
static void pump(struct world *w, struct endp *c, struct endp *s, struct run *r)
{
    uint64_t start = w_now_ms(w), last = start;
    while (!(endp_done(c) && endp_done(s)) && !c->err && !s->err && !c->bad && !s->bad) {
        w_poll(w);
        uint64_t moved = endp_run(c) + endp_run(s);
        if (moved) {
            uint64_t gap = w_now_ms(w) - last;
            uint64_t rto = cur_rto(c->fd) > cur_rto(s->fd) ? cur_rto(c->fd) : cur_rto(s->fd);
            if (gap > r->stall_ms)
                r->stall_ms = gap, r->stall_rto = rto;
            last = w_now_ms(w);
            continue;
        }
        if (!w_advance(w, 1000) || w_now_ms(w) - start > 3600000)
            break;
    }
    r->vtime_ms = w_now_ms(w) - start;
}

/* Closes both and runs the world until every connection and TIME_WAIT is gone. */
static void drain(struct world *w, struct endp *c, struct endp *s)
{
    ue_close(c->fd);
    ue_close(s->fd);
    w_drain(w);
}

static void transfer(uint32_t loss_ppm, uint64_t seed, struct run *r)
{
    struct ue_link_params lp = {.loss_ppm = loss_ppm,
                                .dup_ppm = 5000,
                                .reorder_ppm = 2000,
                                .corrupt_ppm = 2000,
                                .delay_us = 1000,
                                .reorder_extra_us = 300,
                                .rate_bps = 100000000};
    struct world w;
    w_init(&w, seed, &lp);
    static struct endp c, s;
    c = (struct endp){.tx_stream = 1, .rx_stream = 2, .total = TOTAL};
    s = (struct endp){.tx_stream = 2, .rx_stream = 1, .total = TOTAL};
    memset(r, 0, sizeof(*r));
    ASSERT_GE(connect_pair(&w, &c, &s), 0);
    pump(&w, &c, &s, r);
    ASSERT_EQ(c.err, 0);
    ASSERT_EQ(s.err, 0);
    ASSERT_EQ(c.bad, 0);
    ASSERT_EQ(s.bad, 0);
    ASSERT_EQ(c.got, TOTAL);
    ASSERT_EQ(s.got, TOTAL);
    ASSERT(c.eof && s.eof);
    struct ue_link_stats la, lb;
    ue_memlink_get_stats(w.a, &la);
    ue_memlink_get_stats(w.b, &lb);
    r->lost = la.lost_payload + lb.lost_payload;
    r->retrans = w.s1->stats.tcp_retrans_bytes + w.s2->stats.tcp_retrans_bytes;
    r->fast = w.s1->stats.tcp_fast_retrans + w.s2->stats.tcp_fast_retrans;
    r->rto = w.s1->stats.tcp_rto_fired + w.s2->stats.tcp_rto_fired;
    printf("# loss %u ppm: %.1f s virtual, lost %llu B (%llu frames), retransmitted %llu B, "
           "%llu fast retransmits, %llu RTOs, longest stall %llu ms (RTO then %llu ms)\n",
           loss_ppm, r->vtime_ms / 1000.0, (unsigned long long)r->lost,
           (unsigned long long)(la.lost + lb.lost + la.corrupted + lb.corrupted),
           (unsigned long long)r->retrans, (unsigned long long)r->fast, (unsigned long long)r->rto,
           (unsigned long long)r->stall_ms, (unsigned long long)r->stall_rto);
    drain(&w, &c, &s);
    ASSERT_EQ(w.s1->stats.tcp_conns, 0);
    ASSERT_EQ(w.s2->stats.tcp_conns, 0);
    ASSERT_EQ(w.s1->stats.tcp_time_wait + w.s2->stats.tcp_time_wait, 0);
    w_fini(&w);
}

static void check_bounds(const struct run *r)
{
    ASSERT_LE(r->retrans, 2 * r->lost);
    ASSERT_LE(r->stall_ms, 3 * r->stall_rto);
}

static void test_transfer_loss_0(void)
{
    struct run r;
    transfer(0, 11, &r);
    if (eddy_test_failed())
        return;
    check_bounds(&r);
}

static void test_transfer_loss_1(void)
{
    struct run r;
    transfer(10000, 12, &r);
    if (eddy_test_failed())
        return;
    check_bounds(&r);
}

static void test_transfer_loss_5(void)
{
    struct run r;
    transfer(50000, 13, &r);
    if (eddy_test_failed())
        return;
    check_bounds(&r);
}

static void test_transfer_loss_10(void)
{
    struct run r;
    transfer(100000, 14, &r);
    if (eddy_test_failed())
        return;
    check_bounds(&r);
}

int main(void)
{
    long files = eddy__ue_live_files();
    const char *only = getenv("USTACK_ONLY");
    if (!only || !strcmp(only, "0"))
        RUN(test_transfer_loss_0);
    if (!only || !strcmp(only, "1"))
        RUN(test_transfer_loss_1);
    if (!only || !strcmp(only, "5"))
        RUN(test_transfer_loss_5);
    if (!only || !strcmp(only, "10"))
        RUN(test_transfer_loss_10);
    if (eddy__ue_live_files() != files)
        printf("not ok - descriptors leaked: %ld\n", eddy__ue_live_files() - files);
    return eddy_test_done();
}
