/*
 * Ethernet and ARP (RFC 826).
 *
 * The cache is a small open table of next hops. An entry is RESOLVING while a request
 * is out: frames for that hop wait in its queue (at most US_ARP_QLEN, further ones are
 * dropped and counted), the request is repeated every second, and after three
 * unanswered requests the queue is dropped and the entry freed. A reply makes it
 * REACHABLE for 60 s and sends the queue; after that it is freed and the next frame
 * resolves again. Any ARP packet from a host we have an entry for refreshes it, and a
 * request addressed to us creates one (the sender is about to talk to us).
 */
#include "us_internal.h"

#include <stdlib.h>

#define ARP_RESOLVING    1
#define ARP_REACHABLE    2
#define ARP_RETRY_MS     1000
#define ARP_TRIES        3
#define ARP_REACHABLE_MS 60000

void eddy__us_pcap_record(struct ue_dev *d, const void *frame, size_t len, uint64_t now_us);

static const unsigned char bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

static void dev_send(struct ue_stack *st, const unsigned char *frame, size_t len)
{
    struct ue_dev *d = st->dev;
    eddy__us_pcap_record(d, frame, len, st->clock(st->clock_arg));
    int rc = st->tx_gso_mss && len > ETH_HLEN + d->mtu
                 ? d->ops->tx_gso(d, frame, len, st->tx_gso_mss)
                 : d->ops->tx(d, frame, len);
    if (rc < 0)
        d->tx_errors++;
    else
        d->tx_frames++;
}

static struct us_arp_entry *arp_find(struct ue_stack *st, uint32_t ip)
{
    for (int i = 0; i < US_ARP_SLOTS; i++)
        if (st->arp[i].state && st->arp[i].ip == ip)
            return &st->arp[i];
    return NULL;
}

static void arp_free(struct us_arp_entry *e)
{
    for (int i = 0; i < e->qlen; i++)
        free(e->q[i]);
    memset(e, 0, sizeof(*e));
}

/* A free slot, or the one expiring first (its queue is dropped). */
static struct us_arp_entry *arp_alloc(struct ue_stack *st, uint32_t ip)
{
    struct us_arp_entry *victim = &st->arp[0];
    for (int i = 0; i < US_ARP_SLOTS; i++) {
        struct us_arp_entry *e = &st->arp[i];
        if (!e->state) {
            victim = e;
            break;
        }
        if (e->expires < victim->expires)
            victim = e;
    }
    arp_free(victim);
    victim->ip = ip;
    return victim;
}

static void arp_send(struct ue_stack *st, int op, const unsigned char *tha, uint32_t tip)
{
    unsigned char f[42];
    memcpy(f, op == 1 ? bcast : tha, 6);
    memcpy(f + 6, st->dev->mac, 6);
    us_put16(f + 12, ETH_P_ARP_);
    us_put16(f + 14, 1);
    us_put16(f + 16, ETH_P_IP_);
    f[18] = 6;
    f[19] = 4;
    us_put16(f + 20, (uint16_t)op);
    memcpy(f + 22, st->dev->mac, 6);
    us_put32(f + 28, st->addr);
    memcpy(f + 32, op == 1 ? (const unsigned char *)"\0\0\0\0\0\0" : tha, 6);
    us_put32(f + 38, tip);
    if (op == 1)
        st->stats.arp_requests++;
    else
        st->stats.arp_replies++;
    dev_send(st, f, sizeof(f));
}

static void arp_flush_queue(struct ue_stack *st, struct us_arp_entry *e)
{
    for (int i = 0; i < e->qlen; i++) {
        memcpy(e->q[i]->data, e->mac, 6);
        dev_send(st, e->q[i]->data, e->q[i]->len);
        free(e->q[i]);
    }
    e->qlen = 0;
}

static void arp_learn(struct ue_stack *st, struct us_arp_entry *e, const unsigned char *mac)
{
    memcpy(e->mac, mac, 6);
    e->state = ARP_REACHABLE;
    e->expires = st->now_ms + ARP_REACHABLE_MS;
    arp_flush_queue(st, e);
}

static void arp_input(struct ue_stack *st, const unsigned char *a, size_t len)
{
    if (len < 28 || us_get16(a) != 1 || us_get16(a + 2) != ETH_P_IP_ || a[4] != 6 || a[5] != 4)
        return;
    uint16_t op = us_get16(a + 6);
    uint32_t sip = us_get32(a + 14), tip = us_get32(a + 24);
    if (!sip || (sip & st->mask) != (st->addr & st->mask))
        return;
    struct us_arp_entry *e = arp_find(st, sip);
    if (e)
        arp_learn(st, e, a + 8);
    if (tip != st->addr)
        return;
    if (!e)
        arp_learn(st, arp_alloc(st, sip), a + 8);
    if (op == 1)
        arp_send(st, 2, a + 8, sip);
}

/* Stacks sharing one multi-queue TAP share its addresses, and the kernel hands each
 * frame to the queue of its flow, so the ARP reply to one stack's request may reach a
 * sibling instead (which learns from it, but the asker waits for its retry). With
 * arp_glean a stack also takes a missing next hop from the IPv4 frames it receives: the
 * sender's MAC for a sender on our link, the gateway's for one beyond it (a frame from
 * beyond the link came through a router; with one gateway configured, through that). */
static void glean_from_ip(struct ue_stack *st, const unsigned char *frame, size_t len)
{
    if (len < ETH_HLEN + IP_HLEN || (frame[6] & 1))
        return;
    uint32_t src = us_get32(frame + ETH_HLEN + 12);
    uint32_t hop = (src & st->mask) == (st->addr & st->mask) ? src : st->gw;
    if (!hop || !src || src == st->addr)
        return;
    struct us_arp_entry *e = arp_find(st, hop);
    if (!e || e->state != ARP_REACHABLE)
        arp_learn(st, e ? e : arp_alloc(st, hop), frame + 6);
}

void eddy__us_eth_input(struct ue_stack *st, unsigned char *frame, size_t len)
{
    if (len < ETH_HLEN)
        return;
    if (memcmp(frame, st->dev->mac, 6) != 0 && memcmp(frame, bcast, 6) != 0)
        return;
    uint16_t type = us_get16(frame + 12);
    if (type == ETH_P_ARP_)
        arp_input(st, frame + ETH_HLEN, len - ETH_HLEN);
    else if (type == ETH_P_IP_ && st->arp_glean)
        glean_from_ip(st, frame, len);
    if (type == ETH_P_IP_)
        eddy__us_ip_input(st, frame + ETH_HLEN, len - ETH_HLEN);
}

static void arp_queue(struct ue_stack *st, struct us_arp_entry *e, const unsigned char *frame,
                      size_t len)
{
    /* A GSO frame is not kept (TCP sends it again, cut, after the resolution). */
    struct us_pkt *p =
        e->qlen < US_ARP_QLEN && len <= ETH_HLEN + st->dev->mtu ? malloc(sizeof(*p) + len) : NULL;
    if (!p) {
        st->stats.arp_queue_drops++;
        return;
    }
    p->len = (uint16_t)len;
    memcpy(p->data, frame, len);
    e->q[e->qlen++] = p;
}

void eddy__us_eth_output_ip(struct ue_stack *st, uint32_t dst, unsigned char *frame, size_t len)
{
    uint32_t hop = (dst & st->mask) == (st->addr & st->mask) ? dst : st->gw;
    if (!hop)
        return;
    memcpy(frame + 6, st->dev->mac, 6);
    us_put16(frame + 12, ETH_P_IP_);
    struct us_arp_entry *e = arp_find(st, hop);
    if (e && e->state == ARP_REACHABLE) {
        memcpy(frame, e->mac, 6);
        dev_send(st, frame, len);
        return;
    }
    if (!e) {
        e = arp_alloc(st, hop);
        e->state = ARP_RESOLVING;
        e->tries = 1;
        e->expires = st->now_ms + ARP_RETRY_MS;
        arp_send(st, 1, NULL, hop);
    }
    arp_queue(st, e, frame, len);
}

void eddy__us_arp_timers(struct ue_stack *st)
{
    for (int i = 0; i < US_ARP_SLOTS; i++) {
        struct us_arp_entry *e = &st->arp[i];
        if (!e->state || e->expires > st->now_ms)
            continue;
        if (e->state == ARP_REACHABLE || e->tries >= ARP_TRIES) {
            st->stats.arp_queue_drops += e->qlen;
            arp_free(e);
            continue;
        }
        e->tries++;
        e->expires = st->now_ms + ARP_RETRY_MS;
        arp_send(st, 1, NULL, e->ip);
    }
}

uint64_t eddy__us_arp_next(struct ue_stack *st);
uint64_t eddy__us_arp_next(struct ue_stack *st)
{
    uint64_t best = UINT64_MAX;
    for (int i = 0; i < US_ARP_SLOTS; i++)
        if (st->arp[i].state && st->arp[i].expires < best)
            best = st->arp[i].expires;
    return best;
}
