/*
 * memlink: two devices joined by in-memory queues, one per direction, with seeded
 * impairments (loss, duplication, reordering, delay, corruption, a rate limit with a
 * bounded queue) on a real or virtual clock. Each direction is a list of frames sorted
 * by delivery time; a frame becomes receivable on the far end once the clock reaches
 * its time. Every random choice comes from one xorshift generator seeded at creation,
 * so a run with the same seed and the same clock steps is the same run.
 *
 * Each end has a kernel eventfd that a frame queued for it makes readable, so an event
 * loop can wait for a memlink like for a TAP device.
 *
 * Lock: a memlink has its own mutex (a leaf), since its two ends belong to two stacks
 * that may run in two threads.
 */
#include "us_internal.h"

#include <stdlib.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

struct ml_frame {
    struct ml_frame *next;
    uint64_t at;
    uint16_t len;
    unsigned char data[];
};

struct memlink;
struct ml_end {
    struct ue_dev dev;
    struct memlink *link;
    int side;
    int efd; /* kernel eventfd, readable once frames were queued for this end */
};

struct ml_dir { /* frames travelling from end `side` to the other */
    struct ml_frame *head;
    uint32_t queued;
    uint64_t busy_until; /* rate limit: when the wire is free again */
    struct ue_link_params p;
    struct ue_link_stats s;
};

struct memlink {
    pthread_mutex_t mu;
    struct ml_end end[2];
    struct ml_dir dir[2];
    ue_clock_fn clock;
    void *clock_arg;
    uint64_t rng;
    int alive;
};

uint64_t ue_vclock_now(void *vclock)
{
    return ((struct ue_vclock *)vclock)->now_us;
}

static uint64_t ml_now(struct memlink *m)
{
    if (m->clock)
        return m->clock(m->clock_arg);
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static uint32_t ml_rand(struct memlink *m)
{
    uint64_t x = m->rng;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    m->rng = x;
    return (uint32_t)(x >> 32);
}

static int ml_chance(struct memlink *m, uint32_t ppm)
{
    return ppm && ml_rand(m) % 1000000u < ppm;
}

/* TCP payload bytes in a frame (for "retransmitted <= 2 x lost" accounting). */
uint64_t eddy__us_frame_tcp_payload(const unsigned char *f, size_t len);
uint64_t eddy__us_frame_tcp_payload(const unsigned char *f, size_t len)
{
    if (len < ETH_HLEN + IP_HLEN + TCP_HLEN || us_get16(f + 12) != ETH_P_IP_ || f[23] != 6)
        return 0;
    unsigned ihl = (f[14] & 15u) * 4u, tot = us_get16(f + 16);
    if (ETH_HLEN + ihl + TCP_HLEN > len)
        return 0;
    unsigned doff = (f[ETH_HLEN + ihl + 12] >> 4) * 4u;
    return tot > ihl + doff ? tot - ihl - doff : 0;
}

static void ml_insert(struct ml_dir *d, struct ml_frame *f)
{
    struct ml_frame **pp = &d->head;
    while (*pp && (*pp)->at <= f->at)
        pp = &(*pp)->next;
    f->next = *pp;
    *pp = f;
    d->queued++;
}

static int ml_enqueue(struct memlink *m, struct ml_dir *d, const void *frame, size_t len,
                      uint64_t at)
{
    uint32_t qmax = d->p.queue_max ? d->p.queue_max : 1024;
    if (d->queued >= qmax) {
        d->s.queue_drops++;
        return 0;
    }
    struct ml_frame *f = malloc(sizeof(*f) + len);
    if (!f)
        return -ENOMEM;
    f->at = at;
    f->len = (uint16_t)len;
    memcpy(f->data, frame, len);
    if (ml_chance(m, d->p.corrupt_ppm)) {
        f->data[ml_rand(m) % len] ^= (unsigned char)(1u << (ml_rand(m) % 8));
        d->s.corrupted++;
        d->s.lost_payload += eddy__us_frame_tcp_payload(frame, len);
    }
    ml_insert(d, f);
    uint64_t one = 1;
    if (write(m->end[d == &m->dir[0] ? 1 : 0].efd, &one, sizeof(one)) < 0)
        return 0; /* already signalled (counter full): nothing lost */
    return 0;
}

/* When the frame leaves the wire: the rate limit serializes frames one after another. */
static uint64_t ml_depart(struct ml_dir *d, uint64_t now, size_t len)
{
    if (!d->p.rate_bps)
        return now;
    uint64_t start = d->busy_until > now ? d->busy_until : now;
    d->busy_until = start + (uint64_t)len * 8u * 1000000u / d->p.rate_bps;
    return d->busy_until;
}

static int ml_tx(struct ue_dev *dev, const void *frame, size_t len)
{
    struct ml_end *e = (struct ml_end *)dev;
    struct memlink *m = e->link;
    if (len > UE_FRAME_MAX || len < ETH_HLEN)
        return -EMSGSIZE;
    pthread_mutex_lock(&m->mu);
    struct ml_dir *d = &m->dir[e->side];
    d->s.sent++;
    int r = 0;
    if (!m->alive) {
        r = -ENETDOWN;
    } else if (ml_chance(m, d->p.loss_ppm)) {
        d->s.lost++;
        d->s.lost_payload += eddy__us_frame_tcp_payload(frame, len);
    } else {
        uint64_t at = ml_depart(d, ml_now(m), len) + d->p.delay_us;
        if (ml_chance(m, d->p.reorder_ppm)) {
            at += d->p.reorder_extra_us ? d->p.reorder_extra_us : 1000;
            d->s.reordered++;
        }
        r = ml_enqueue(m, d, frame, len, at);
        if (!r && ml_chance(m, d->p.dup_ppm)) {
            d->s.duplicated++;
            r = ml_enqueue(m, d, frame, len, at + 1);
        }
    }
    pthread_mutex_unlock(&m->mu);
    return r;
}

static int ml_rx_burst(struct ue_dev *dev, struct ue_frame *out, int n)
{
    struct ml_end *e = (struct ml_end *)dev;
    struct memlink *m = e->link;
    uint64_t junk;
    if (read(e->efd, &junk, sizeof(junk)) < 0 && errno != EAGAIN)
        return 0;
    pthread_mutex_lock(&m->mu);
    struct ml_dir *d = &m->dir[!e->side];
    uint64_t now = ml_now(m);
    int got = 0;
    while (got < n && d->head && d->head->at <= now) {
        struct ml_frame *f = d->head;
        d->head = f->next;
        d->queued--;
        d->s.delivered++;
        out[got].len = f->len;
        memcpy(out[got].data, f->data, f->len);
        free(f);
        got++;
    }
    pthread_mutex_unlock(&m->mu);
    return got;
}

static uint64_t ml_next_rx(struct ue_dev *dev)
{
    struct ml_end *e = (struct ml_end *)dev;
    struct memlink *m = e->link;
    pthread_mutex_lock(&m->mu);
    struct ml_frame *f = m->dir[!e->side].head;
    uint64_t at = f ? f->at : UINT64_MAX;
    pthread_mutex_unlock(&m->mu);
    return at;
}

static int ml_fd(struct ue_dev *dev)
{
    return ((struct ml_end *)dev)->efd;
}

static void ml_free_dir(struct ml_dir *d)
{
    while (d->head) {
        struct ml_frame *f = d->head;
        d->head = f->next;
        free(f);
    }
    d->queued = 0;
}

/* The link goes when both ends are destroyed. */
static void ml_destroy(struct ue_dev *dev)
{
    struct ml_end *e = (struct ml_end *)dev;
    struct memlink *m = e->link;
    pthread_mutex_lock(&m->mu);
    int last = !m->alive;
    m->alive = 0;
    ml_free_dir(&m->dir[0]);
    ml_free_dir(&m->dir[1]);
    pthread_mutex_unlock(&m->mu);
    if (!last)
        return;
    close(m->end[0].efd);
    close(m->end[1].efd);
    pthread_mutex_destroy(&m->mu);
    free(m);
}

static const struct ue_dev_ops ml_ops = {.rx_burst = ml_rx_burst,
                                         .tx = ml_tx,
                                         .fd = ml_fd,
                                         .next_rx = ml_next_rx,
                                         .destroy = ml_destroy};

int ue_memlink_create(struct ue_dev **a, struct ue_dev **b, ue_clock_fn clock, void *clock_arg,
                      uint64_t seed)
{
    struct memlink *m = calloc(1, sizeof(*m));
    if (!m)
        return -ENOMEM;
    m->end[0].efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    m->end[1].efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (m->end[0].efd < 0 || m->end[1].efd < 0) {
        int err = errno;
        close(m->end[0].efd);
        close(m->end[1].efd);
        free(m);
        return -err;
    }
    pthread_mutex_init(&m->mu, NULL);
    m->clock = clock;
    m->clock_arg = clock_arg;
    m->rng = seed ? seed : 0x9e3779b97f4a7c15ull;
    m->alive = 1;
    for (int i = 0; i < 2; i++) {
        struct ml_end *e = &m->end[i];
        e->dev.ops = &ml_ops;
        e->dev.mtu = 1500;
        /* locally administered, unicast: 02:00:00:00:00:01 and :02 */
        unsigned char mac[6] = {0x02, 0, 0, 0, 0, (unsigned char)(i + 1)};
        memcpy(e->dev.mac, mac, 6);
        e->link = m;
        e->side = i;
    }
    *a = &m->end[0].dev;
    *b = &m->end[1].dev;
    return 0;
}

void ue_memlink_set_params(struct ue_dev *from, const struct ue_link_params *p)
{
    struct ml_end *e = (struct ml_end *)from;
    pthread_mutex_lock(&e->link->mu);
    e->link->dir[e->side].p = *p;
    pthread_mutex_unlock(&e->link->mu);
}

void ue_memlink_get_stats(struct ue_dev *from, struct ue_link_stats *s)
{
    struct ml_end *e = (struct ml_end *)from;
    pthread_mutex_lock(&e->link->mu);
    *s = e->link->dir[e->side].s;
    pthread_mutex_unlock(&e->link->mu);
}
