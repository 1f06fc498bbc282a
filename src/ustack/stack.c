/*
 * The stack object: creation, the clock, the receive loop and the timers.
 *
 * ue_stack_poll is the whole engine: it reads a burst of frames from the device and
 * runs each through Ethernet, IP and TCP, then fires the timers that are due (ARP
 * retries, and one timer-wheel pass for every TCP timer). Output happens inside those
 * steps and inside socket calls; nothing is deferred to a thread of our own.
 */
#include "us_internal.h"

#include <stdlib.h>
#include <sys/random.h>
#include <time.h>

#define RX_BURST US_RX_BURST

void eddy__us_pcap_record(struct ue_dev *d, const void *frame, size_t len, uint64_t now_us);
uint64_t eddy__us_arp_next(struct ue_stack *st);

static _Thread_local struct ue_stack *current_stack;

static uint64_t mono_us(void *arg)
{
    (void)arg;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

uint64_t eddy__us_now_ms(struct ue_stack *st)
{
    st->now_ms = st->clock(st->clock_arg) / 1000u;
    return st->now_ms;
}

uint32_t eddy__us_random(struct ue_stack *st)
{
    uint64_t x = st->rng;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    st->rng = x;
    return (uint32_t)(x >> 32);
}

static void seed_secrets(struct ue_stack *st, uint64_t seed)
{
    if (seed) {
        for (int i = 0; i < 16; i++)
            st->secret[i] = (uint8_t)(seed >> (8 * (i % 8)) ^ (uint8_t)(i * 37));
        st->rng = seed;
        return;
    }
    size_t got = 0;
    while (got < sizeof(st->secret)) {
        ssize_t r = getrandom(st->secret + got, sizeof(st->secret) - got, 0);
        if (r > 0)
            got += (size_t)r;
        else if (errno != EINTR)
            abort(); /* no entropy: RFC 6528 ISNs would be guessable */
    }
    memcpy(&st->rng, st->secret, sizeof(st->rng));
    st->rng |= 1;
}

struct ue_stack *ue_stack_create(const struct ue_stack_config *cfg)
{
    if (!cfg || !cfg->dev || cfg->prefix > 32) {
        errno = EINVAL;
        return NULL;
    }
    struct ue_stack *st = calloc(1, sizeof(*st));
    struct us_sock **conns = calloc(1024, sizeof(*conns));
    struct us_tw **tws = calloc(1024, sizeof(*tws));
    struct ue_frame *rxq = malloc(RX_BURST * sizeof(*rxq));
    if (!st || !conns || !tws || !rxq) {
        free(st), free(conns), free(tws), free(rxq);
        errno = ENOMEM;
        return NULL;
    }
    pthread_mutex_init(&st->lock, NULL);
    st->dev = cfg->dev;
    st->addr = ntohl(cfg->addr.s_addr);
    st->mask = cfg->prefix ? 0xffffffffu << (32 - cfg->prefix) : 0;
    st->gw = ntohl(cfg->gateway.s_addr);
    st->clock = cfg->clock ? cfg->clock : mono_us;
    st->clock_arg = cfg->clock_arg;
    st->syn_backlog = cfg->syn_backlog ? cfg->syn_backlog : 256;
    st->tw_ms = cfg->time_wait_ms ? cfg->time_wait_ms : 60000;
    st->arp_glean = cfg->arp_glean;
    st->conns = conns;
    st->conn_mask = 1023;
    st->tws = tws;
    st->tw_mask = 1023;
    st->rxq = rxq;
    if (cfg->dev->gso_max && cfg->dev->ops->tx_gso &&
        !(st->gso_frame = malloc(cfg->dev->gso_max))) {
        pthread_mutex_destroy(&st->lock);
        free(st), free(conns), free(tws), free(rxq);
        errno = ENOMEM;
        return NULL;
    }
    seed_secrets(st, cfg->seed);
    st->ip_id = (uint16_t)eddy__us_random(st);
    st->port_hint = eddy__us_random(st);
    st->wheel.cur = eddy__us_now_ms(st);
    return st;
}

void ue_stack_destroy(struct ue_stack *st)
{
    if (!st)
        return;
    pthread_mutex_lock(&st->lock);
    eddy__us_tcp_destroy_all(st);
    for (int i = 0; i < US_ARP_SLOTS; i++)
        for (int j = 0; j < st->arp[i].qlen; j++)
            free(st->arp[i].q[j]);
    pthread_mutex_unlock(&st->lock);
    eddy__ue_wake_flush();
    if (current_stack == st)
        current_stack = NULL;
    ue_dev_destroy(st->dev);
    pthread_mutex_destroy(&st->lock);
    free(st->conns);
    free(st->tws);
    free(st->rxq);
    free(st->gso_frame);
    free(st);
}

void ue_stack_set_current(struct ue_stack *st)
{
    current_stack = st;
}

struct ue_stack *ue_stack_current(void)
{
    return current_stack;
}

uint64_t ue_stack_now(struct ue_stack *st)
{
    return st->clock(st->clock_arg);
}

int ue_stack_dev_fd(struct ue_stack *st)
{
    return st->dev->ops->fd(st->dev);
}

static void run_timers(struct ue_stack *st)
{
    eddy__us_now_ms(st);
    eddy__us_arp_timers(st);
    eddy__us_wheel_run(&st->wheel, st->now_ms, eddy__us_tcp_timer_fire, st);
}

int ue_stack_poll(struct ue_stack *st, int budget)
{
    int done = 0;
    pthread_mutex_lock(&st->lock);
    run_timers(st);
    while (done < budget) {
        int want = budget - done < RX_BURST ? budget - done : RX_BURST;
        int n = st->dev->ops->rx_burst(st->dev, st->rxq, want);
        if (n <= 0)
            break;
        uint64_t now_us = st->clock(st->clock_arg);
        eddy__us_prefetch_burst(st, st->rxq, n);
        for (int i = 0; i < n; i++) {
            st->dev->rx_frames++;
            eddy__us_pcap_record(st->dev, st->rxq[i].data, st->rxq[i].len, now_us);
            st->hint = &st->rx_hint[i];
            eddy__us_eth_input(st, st->rxq[i].data, st->rxq[i].len);
        }
        st->hint = NULL;
        done += n;
    }
    run_timers(st);
    pthread_mutex_unlock(&st->lock);
    eddy__ue_wake_flush();
    return done;
}

uint64_t ue_stack_next_deadline(struct ue_stack *st)
{
    pthread_mutex_lock(&st->lock);
    uint64_t t = eddy__us_wheel_next(&st->wheel);
    uint64_t a = eddy__us_arp_next(st);
    uint64_t ms = t < a ? t : a;
    uint64_t us = ms == UINT64_MAX ? UINT64_MAX : ms * 1000u;
    uint64_t rx = st->dev->ops->next_rx(st->dev);
    pthread_mutex_unlock(&st->lock);
    return rx < us ? rx : us;
}

void ue_stack_get_stats(struct ue_stack *st, struct ue_stack_stats *s)
{
    pthread_mutex_lock(&st->lock);
    *s = st->stats;
    pthread_mutex_unlock(&st->lock);
}
