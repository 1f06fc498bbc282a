/*
 * Small pieces every layer uses: the Internet checksum, a keyed hash (SipHash-2-4, for
 * ISNs per RFC 6528, ephemeral ports per RFC 6056 and SYN cookies), the byte ring
 * behind send and receive buffers, and the timer wheel.
 */
#include "us_internal.h"

#include <pthread.h>
#include <stdlib.h>

/* Sums 32-bit words in host order and swaps the folded result once: the ones'
 * complement sum does not depend on byte order (RFC 1071 2.B), so the caller still gets
 * the sum of big-endian 16-bit words, four times fewer steps than byte pairs. */
uint32_t eddy__us_csum_add(uint32_t sum, const void *data, size_t len)
{
    const unsigned char *p = data;
    uint64_t acc = 0;
    for (; len >= 4; p += 4, len -= 4) {
        uint32_t w;
        memcpy(&w, p, 4);
        acc += w;
    }
    while (acc >> 16)
        acc = (acc & 0xffff) + (acc >> 16);
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    acc = (acc >> 8 | acc << 8) & 0xffff;
#endif
    sum += (uint32_t)acc;
    for (; len > 1; p += 2, len -= 2)
        sum += (uint32_t)(p[0] << 8 | p[1]);
    if (len)
        sum += (uint32_t)p[0] << 8;
    return sum;
}

uint16_t eddy__us_csum_fold(uint32_t sum)
{
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)~sum;
}

uint32_t eddy__us_pseudo_sum(uint32_t src, uint32_t dst, uint8_t proto, uint16_t len)
{
    return (src >> 16) + (src & 0xffff) + (dst >> 16) + (dst & 0xffff) + proto + len;
}

/* ---- SipHash-2-4 ---- */
#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
static void sip_round(uint64_t v[4])
{
    v[0] += v[1];
    v[1] = ROTL(v[1], 13) ^ v[0];
    v[0] = ROTL(v[0], 32);
    v[2] += v[3];
    v[3] = ROTL(v[3], 16) ^ v[2];
    v[0] += v[3];
    v[3] = ROTL(v[3], 21) ^ v[0];
    v[2] += v[1];
    v[1] = ROTL(v[1], 17) ^ v[2];
    v[2] = ROTL(v[2], 32);
}

static uint64_t le64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

uint64_t eddy__us_siphash(const uint8_t key[16], const void *data, size_t len)
{
    uint64_t k0 = le64(key), k1 = le64(key + 8);
    uint64_t v[4] = {k0 ^ 0x736f6d6570736575ull, k1 ^ 0x646f72616e646f6dull,
                     k0 ^ 0x6c7967656e657261ull, k1 ^ 0x7465646279746573ull};
    const uint8_t *p = data;
    size_t left = len;
    for (; left >= 8; p += 8, left -= 8) {
        uint64_t m = le64(p);
        v[3] ^= m;
        sip_round(v);
        sip_round(v);
        v[0] ^= m;
    }
    uint64_t b = (uint64_t)len << 56;
    for (size_t i = 0; i < left; i++)
        b |= (uint64_t)p[i] << (8 * i);
    v[3] ^= b;
    sip_round(v);
    sip_round(v);
    v[0] ^= b;
    v[2] ^= 0xff;
    for (int i = 0; i < 4; i++)
        sip_round(v);
    return v[0] ^ v[1] ^ v[2] ^ v[3];
}

/* ---- ring ---- */

/* A bulk sender's ring drains to empty whenever the ACKs catch up, which frees it, and
 * the next write grows a new one from 2 KiB by doubling: malloc, copy and free at every
 * step, and heap trims (brk, TLB shootdowns) in between. A few large empty rings are
 * therefore kept per thread (a stack runs in one thread) and reused. Idle sockets still
 * hold none; the cache is bounded by RING_CACHE rings of at most RING_CACHE_MAX bytes. */
#define RING_CACHE     4
#define RING_CACHE_MIN 16384u
#define RING_CACHE_MAX (1u << 20)
struct ring_cache {
    struct us_ring *r[RING_CACHE];
    int registered;
};
static _Thread_local struct ring_cache rcache;
static pthread_key_t rcache_key;
static pthread_once_t rcache_once = PTHREAD_ONCE_INIT;

static void rcache_free(void *arg)
{
    struct ring_cache *c = arg;
    for (int i = 0; i < RING_CACHE; i++) {
        free(c->r[i]);
        c->r[i] = NULL;
    }
}

static void rcache_key_init(void)
{
    pthread_key_create(&rcache_key, rcache_free);
}

static void ring_release(struct us_ring *r)
{
    struct ring_cache *c = &rcache;
    int slot = 0;
    if (r->cap < RING_CACHE_MIN || r->cap > RING_CACHE_MAX) {
        free(r);
        return;
    }
    if (!c->registered) { /* the thread's exit frees what it kept */
        pthread_once(&rcache_once, rcache_key_init);
        c->registered = pthread_setspecific(rcache_key, c) == 0;
    }
    for (int i = 1; i < RING_CACHE && c->r[slot]; i++)
        if (!c->r[i] || c->r[i]->cap < c->r[slot]->cap)
            slot = i;
    if (c->r[slot] && c->r[slot]->cap >= r->cap) {
        free(r);
        return;
    }
    free(c->r[slot]);
    c->r[slot] = r;
}

/* The smallest kept ring of at least `need` bytes, or NULL. */
static struct us_ring *ring_reuse(uint32_t need)
{
    struct ring_cache *c = &rcache;
    int best = -1;
    for (int i = 0; i < RING_CACHE; i++)
        if (c->r[i] && c->r[i]->cap >= need && (best < 0 || c->r[i]->cap < c->r[best]->cap))
            best = i;
    if (best < 0)
        return NULL;
    struct us_ring *r = c->r[best];
    c->r[best] = NULL;
    return r;
}

static int ring_grow(struct us_ring **rp, uint32_t need, uint32_t limit)
{
    struct us_ring *r = *rp;
    uint32_t cap = r ? r->cap : 0;
    if (cap >= need)
        return 0;
    struct us_ring *n = ring_reuse(need);
    if (!n) {
        uint32_t ncap = cap ? cap : 2048;
        while (ncap < need)
            ncap *= 2;
        if (ncap > limit)
            ncap = limit > need ? limit : need;
        if (!(n = malloc(sizeof(*n) + ncap)))
            return -1;
        n->cap = ncap;
    }
    n->head = 0;
    n->len = 0;
    if (r) {
        eddy__us_ring_peek(r, 0, n->data, r->len);
        n->len = r->len;
        ring_release(r);
    }
    *rp = n;
    return 0;
}

uint32_t eddy__us_ring_put_io(struct us_ring **rp, const struct ue_io *io, uint32_t n,
                              uint32_t limit)
{
    uint32_t have = us_ring_len(*rp);
    if (have >= limit)
        return 0;
    if (n > limit - have)
        n = limit - have;
    if (!n || ring_grow(rp, have + n, limit) < 0)
        return 0;
    struct us_ring *r = *rp;
    uint32_t tail = (r->head + r->len) % r->cap;
    uint32_t first = r->cap - tail < n ? r->cap - tail : n;
    eddy__ue_io_copy_in(io, 0, r->data + tail, first);
    eddy__ue_io_copy_in(io, first, r->data, n - first);
    r->len += n;
    return n;
}

uint32_t eddy__us_ring_put(struct us_ring **rp, const void *src, uint32_t n, uint32_t limit)
{
    struct iovec v = {(void *)src, n};
    struct ue_io io = {&v, 1, n};
    return eddy__us_ring_put_io(rp, &io, n, limit);
}

void eddy__us_ring_peek_io(const struct us_ring *r, const struct ue_io *io, uint32_t n)
{
    if (!n)
        return;
    uint32_t first = r->cap - r->head < n ? r->cap - r->head : n;
    eddy__ue_io_copy_out(io, 0, r->data + r->head, first);
    eddy__ue_io_copy_out(io, first, r->data, n - first);
}

void eddy__us_ring_peek(const struct us_ring *r, uint32_t off, void *dst, uint32_t n)
{
    if (!n)
        return;
    uint32_t at = (r->head + off) % r->cap;
    uint32_t first = r->cap - at < n ? r->cap - at : n;
    memcpy(dst, r->data + at, first);
    memcpy((unsigned char *)dst + first, r->data, n - first);
}

void eddy__us_ring_drop(struct us_ring **rp, uint32_t n)
{
    struct us_ring *r = *rp;
    if (!r)
        return;
    if (n >= r->len) {
        ring_release(r);
        *rp = NULL;
        return;
    }
    r->head = (r->head + n) % r->cap;
    r->len -= n;
}

/* ---- timer wheel ---- */
void eddy__us_wheel_disarm(struct us_wheel *w, struct us_timer *t)
{
    if (!t->pprev)
        return;
    *t->pprev = t->next;
    if (t->next)
        t->next->pprev = t->pprev;
    t->next = NULL;
    t->pprev = NULL;
    w->count--;
}

void eddy__us_wheel_arm(struct us_wheel *w, struct us_timer *t, uint64_t expires)
{
    eddy__us_wheel_disarm(w, t);
    if (expires < w->cur)
        expires = w->cur;
    t->expires = expires;
    struct us_timer **head = &w->slot[expires % US_WHEEL_SLOTS];
    t->next = *head;
    if (t->next)
        t->next->pprev = &t->next;
    *head = t;
    t->pprev = head;
    w->count++;
    if (w->next_ok && expires < w->next)
        w->next = expires;
}

/* Each slot visited once per call at most: a jump of more than a revolution walks the
 * whole wheel once, and entries not yet due stay where they are. */
void eddy__us_wheel_run(struct us_wheel *w, uint64_t now, void (*fn)(struct us_timer *, void *),
                        void *arg)
{
    if (now < w->cur)
        return;
    uint64_t span = now - w->cur + 1;
    if (span > US_WHEEL_SLOTS)
        span = US_WHEEL_SLOTS;
    uint64_t start = w->cur;
    w->cur = now + 1; /* re-arms from fn land no earlier than the next tick */
    for (uint64_t i = 0; i < span && w->count; i++) {
        struct us_timer **pp = &w->slot[(start + i) % US_WHEEL_SLOTS];
        while (*pp) {
            struct us_timer *t = *pp;
            if (t->expires > now) {
                pp = &t->next;
                continue;
            }
            eddy__us_wheel_disarm(w, t);
            fn(t, arg);
        }
    }
}

/* The loop asks before every wait, and a full scan walks every entry when none expires
 * within one turn (thousands of TIME_WAIT records 60 s out), so the answer is kept as a
 * lower bound: arming lowers it, disarming leaves it (waking early is harmless), and it
 * is recomputed only once the wheel has passed it. */
uint64_t eddy__us_wheel_next(struct us_wheel *w)
{
    if (!w->count)
        return UINT64_MAX;
    if (w->next_ok && w->next >= w->cur)
        return w->next;
    uint64_t best = UINT64_MAX;
    for (uint64_t i = 0; i < US_WHEEL_SLOTS && best > w->cur + i; i++)
        for (const struct us_timer *t = w->slot[(w->cur + i) % US_WHEEL_SLOTS]; t; t = t->next)
            if (t->expires < best)
                best = t->expires;
    w->next = best;
    w->next_ok = 1;
    return best;
}
