/* Many connections at once between two stacks over a lossy memlink: an echo server on
 * one stack, clients on the other; byte-exact echoes; opens and closes racing (close
 * before the handshake completes, resets in mid-transfer, server-side closes); at the
 * end every connection and TIME_WAIT record is gone and no descriptor leaked. */
#include "ustack_world.h"

#define NCONN 200

struct echo { /* server side of one connection */
    int fd;
    unsigned char buf[8192];
    size_t len, at;
    int eof, closed;
};

struct client {
    struct endp e;
    int mode; /* 0 normal, 1 close at once, 2 reset mid-transfer, 3 server closes */
    int closed;
};

static struct echo echoes[NCONN * 2];
static int nechoes;
static struct client clients[NCONN];

static int echo_run(struct echo *s)
{
    int moved = 0;
    for (;;) {
        if (s->at < s->len) {
            ssize_t w = ue_write(s->fd, s->buf + s->at, s->len - s->at);
            if (w <= 0)
                break;
            s->at += (size_t)w;
            moved = 1;
            continue;
        }
        if (s->eof)
            break;
        ssize_t r = ue_read(s->fd, s->buf, sizeof(s->buf));
        if (r <= 0) {
            if (r == 0 || errno != EAGAIN)
                s->eof = 1;
            break;
        }
        s->len = (size_t)r, s->at = 0;
        moved = 1;
    }
    if (s->eof && s->at == s->len && !s->closed) {
        ue_close(s->fd);
        s->closed = 1;
        moved = 1;
    }
    return moved;
}

static int accept_all(int l)
{
    int moved = 0;
    for (;;) {
        int fd = ue_accept4(l, NULL, NULL, SOCK_NONBLOCK);
        if (fd < 0)
            return moved;
        echoes[nechoes++] = (struct echo){.fd = fd};
        moved = 1;
    }
}

static void start_clients(int n, int races)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(80)};
    a.sin_addr.s_addr = htonl(W_IP2);
    for (int i = 0; i < n; i++) {
        struct client *c = &clients[i];
        memset(c, 0, sizeof(*c));
        c->mode = races ? i % 4 : 0;
        c->e.tx_stream = c->e.rx_stream = 100 + (uint32_t)i;
        c->e.total = 1000 + (uint64_t)(i * 7919) % 60000;
        c->e.fd = ue_socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        ue_connect(c->e.fd, (struct sockaddr *)&a, sizeof(a));
        if (c->mode == 1) {
            ue_close(c->e.fd);
            c->closed = 1;
        }
    }
}

static int client_run(struct client *c, int races)
{
    if (c->closed)
        return 0;
    uint64_t moved = endp_run(&c->e);
    if (c->mode == 2 && c->e.got > c->e.total / 2) {
        struct linger l = {1, 0};
        ue_setsockopt(c->e.fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
        ue_close(c->e.fd);
        c->closed = 1;
        return 1;
    }
    if (endp_done(&c->e) || (races && c->e.err)) {
        ue_close(c->e.fd);
        c->closed = 1;
        return 1;
    }
    return moved != 0;
}

/* Server-side closes in mid-transfer for mode 3 clients (found by their peer port). */
static void server_kills(int n)
{
    for (int i = 0; i < nechoes; i++) {
        struct echo *s = &echoes[i];
        if (s->closed || s->at < 2000)
            continue;
        struct sockaddr_in pa;
        socklen_t len = sizeof(pa);
        if (ue_getpeername(s->fd, (struct sockaddr *)&pa, &len) < 0)
            continue;
        for (int k = 0; k < n; k++) {
            struct us_sock *sk = clients[k].closed ? NULL : sk_of(clients[k].e.fd);
            if (sk && clients[k].mode == 3 && sk->lport == ntohs(pa.sin_port)) {
                ue_close(s->fd);
                s->closed = 1;
            }
        }
    }
}

static int run_world(struct world *w, int l, int n, int races, uint64_t limit_ms)
{
    uint64_t start = w_now_ms(w);
    for (;;) {
        w_poll(w);
        int moved = accept_all(l), open = 0;
        for (int i = 0; i < nechoes; i++)
            moved |= echo_run(&echoes[i]);
        for (int i = 0; i < n; i++) {
            moved |= client_run(&clients[i], races);
            open += !clients[i].closed;
        }
        if (races)
            server_kills(n);
        if (!open)
            return 0;
        if (!moved && (!w_advance(w, 1000) || w_now_ms(w) - start > limit_ms))
            return -1;
    }
}

static void drain(struct world *w, int l)
{
    ue_close(l);
    for (int i = 0; i < nechoes; i++)
        if (!echoes[i].closed) {
            ue_close(echoes[i].fd);
            echoes[i].closed = 1;
        }
    w_drain(w);
}

static void setup(struct world *w, int *l, uint64_t seed)
{
    struct ue_link_params lp = {.loss_ppm = 10000,
                                .dup_ppm = 5000,
                                .reorder_ppm = 2000,
                                .corrupt_ppm = 2000,
                                .delay_us = 1000,
                                .reorder_extra_us = 300,
                                .rate_bps = 100000000,
                                .queue_max = 4096};
    w_init(w, seed, &lp);
    ue_stack_set_current(w->s2);
    *l = ue_socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(80)};
    ue_bind(*l, (struct sockaddr *)&a, sizeof(a));
    ue_listen(*l, 4096);
    ue_stack_set_current(w->s1);
    nechoes = 0;
}

/* 200 echo connections at once, all byte-exact. */
static void test_many_concurrent_echoes(void)
{
    struct world w;
    int l;
    long files = eddy__ue_live_files();
    setup(&w, &l, 21);
    start_clients(NCONN, 0);
    ASSERT_EQ(w.s1->stats.tcp_conns, NCONN);
    ASSERT_EQ(run_world(&w, l, NCONN, 0, 600000), 0);
    for (int i = 0; i < NCONN; i++) {
        ASSERT_EQ(clients[i].e.err, 0);
        ASSERT_EQ(clients[i].e.bad, 0);
        ASSERT_EQ(clients[i].e.got, clients[i].e.total);
    }
    ASSERT_EQ(nechoes, NCONN);
    drain(&w, l);
    ASSERT_EQ(w.s1->stats.tcp_conns + w.s2->stats.tcp_conns, 0);
    ASSERT_EQ(w.s1->stats.tcp_time_wait + w.s2->stats.tcp_time_wait, 0);
    ASSERT_EQ(eddy__ue_live_files(), files);
    w_fini(&w);
}

/* Opens and closes racing: every fourth client closes before the handshake ends, every
 * fourth resets in mid-transfer, every fourth is closed by the server in mid-transfer.
 * The untouched ones stay byte-exact, and everything is cleaned up. */
static void test_open_close_races(void)
{
    struct world w;
    int l;
    long files = eddy__ue_live_files();
    setup(&w, &l, 22);
    start_clients(NCONN, 1);
    ASSERT_EQ(run_world(&w, l, NCONN, 1, 600000), 0);
    int normal_ok = 0, reset_seen = 0;
    for (int i = 0; i < NCONN; i++) {
        struct client *c = &clients[i];
        ASSERT_EQ(c->e.bad, 0);
        if (c->mode == 0) {
            ASSERT_EQ(c->e.err, 0);
            ASSERT_EQ(c->e.got, c->e.total);
            normal_ok++;
        }
        if (c->mode == 3 && c->e.err == ECONNRESET)
            reset_seen++;
    }
    ASSERT_EQ(normal_ok, NCONN / 4);
    ASSERT_GT(reset_seen, 0); /* a server close with unread data resets the client */
    drain(&w, l);
    ASSERT_EQ(w.s1->stats.tcp_conns + w.s2->stats.tcp_conns, 0);
    ASSERT_EQ(w.s1->stats.tcp_time_wait + w.s2->stats.tcp_time_wait, 0);
    ASSERT_EQ(eddy__ue_live_files(), files);
    w_fini(&w);
}

int main(void)
{
    RUN(test_many_concurrent_echoes);
    RUN(test_open_close_races);
    return eddy_test_done();
}
