/*
 * IPv4 (RFC 791, RFC 1122 3.2) and ICMP (RFC 792).
 *
 * Input checks the header (version, length fields, checksum) and the destination,
 * drops every fragment (counted: ustack does not reassemble; TCP's MSS keeps our own
 * traffic unfragmented and every packet we send carries DF), and hands TCP and ICMP on.
 * Any other protocol gets an ICMP protocol unreachable. ICMP answers echo requests and
 * passes destination-unreachable errors to TCP, which fails a connection still in
 * SYN-SENT and records a soft error otherwise (as Linux's tcp_v4_err does).
 */
#include "us_internal.h"

#define IPPROTO_ICMP_ 1
#define IPPROTO_TCP_  6
#define IP_DF         0x4000
#define IP_MF         0x2000
#define IP_OFFMASK    0x1fff
#define US_IP_TTL     64

void eddy__us_ip_output(struct ue_stack *st, unsigned char *frame, uint32_t dst, uint8_t proto,
                        size_t payload)
{
    unsigned char *ip = frame + ETH_HLEN;
    ip[0] = 0x45;
    ip[1] = 0;
    us_put16(ip + 2, (uint16_t)(IP_HLEN + payload));
    us_put16(ip + 4, st->ip_id++);
    us_put16(ip + 6, IP_DF);
    ip[8] = US_IP_TTL;
    ip[9] = proto;
    us_put16(ip + 10, 0);
    us_put32(ip + 12, st->addr);
    us_put32(ip + 16, dst);
    us_put16(ip + 10, eddy__us_csum_fold(eddy__us_csum_add(0, ip, IP_HLEN)));
    st->stats.ip_out++;
    eddy__us_eth_output_ip(st, dst, frame, ETH_HLEN + IP_HLEN + payload);
}

/* ICMP message (type, code, rest-of-header word) followed by `n` bytes of data. */
static void icmp_send(struct ue_stack *st, uint32_t dst, uint8_t type, uint8_t code, uint32_t word,
                      const unsigned char *data, size_t n)
{
    unsigned char frame[UE_FRAME_MAX];
    if (n > sizeof(frame) - ETH_HLEN - IP_HLEN - 8)
        n = sizeof(frame) - ETH_HLEN - IP_HLEN - 8;
    unsigned char *m = frame + ETH_HLEN + IP_HLEN;
    m[0] = type;
    m[1] = code;
    us_put16(m + 2, 0);
    us_put32(m + 4, word);
    memcpy(m + 8, data, n);
    us_put16(m + 2, eddy__us_csum_fold(eddy__us_csum_add(0, m, 8 + n)));
    eddy__us_ip_output(st, frame, dst, IPPROTO_ICMP_, 8 + n);
}

void eddy__us_icmp_unreach(struct ue_stack *st, const unsigned char *ip, size_t len, uint8_t code)
{
    size_t ihl = (ip[0] & 15u) * 4u;
    /* The offending header and 8 bytes of its payload (RFC 792). */
    size_t n = len < ihl + 8 ? len : ihl + 8;
    st->stats.icmp_unreach_sent++;
    icmp_send(st, us_get32(ip + 12), 3, code, 0, ip, n);
}

static int unreach_errno(uint8_t code)
{
    switch (code) {
    case 0:
        return ENETUNREACH;
    case 2:
        return ENOPROTOOPT;
    case 3:
        return ECONNREFUSED;
    case 4:
        return EMSGSIZE;
    default:
        return EHOSTUNREACH;
    }
}

static void icmp_input(struct ue_stack *st, const unsigned char *ip, const unsigned char *m,
                       size_t len)
{
    if (len < 8 || eddy__us_csum_fold(eddy__us_csum_add(0, m, len)) != 0)
        return;
    if (m[0] == 8 && m[1] == 0) {
        st->stats.icmp_echo++;
        icmp_send(st, us_get32(ip + 12), 0, 0, us_get32(m + 4), m + 8, len - 8);
    } else if (m[0] == 3 && len >= 8 + IP_HLEN + 8 && m[8 + 9] == IPPROTO_TCP_) {
        eddy__us_tcp_icmp_error(st, m + 8, len - 8, unreach_errno(m[1]));
    }
}

/* 0 if the header is sound, else the counter to bump. */
static uint64_t *ip_check(struct ue_stack *st, const unsigned char *ip, size_t len)
{
    if (len < IP_HLEN || (ip[0] >> 4) != 4)
        return &st->stats.ip_bad_header;
    size_t ihl = (ip[0] & 15u) * 4u, tot = us_get16(ip + 2);
    if (ihl < IP_HLEN || ihl > len || tot < ihl || tot > len)
        return &st->stats.ip_bad_header;
    if (eddy__us_csum_fold(eddy__us_csum_add(0, ip, ihl)) != 0)
        return &st->stats.ip_bad_checksum;
    if (us_get32(ip + 16) != st->addr)
        return &st->stats.ip_not_ours;
    if (us_get16(ip + 6) & (IP_MF | IP_OFFMASK))
        return &st->stats.ip_frag_dropped;
    return NULL;
}

void eddy__us_ip_input(struct ue_stack *st, unsigned char *ip, size_t len)
{
    uint64_t *bad = ip_check(st, ip, len);
    if (bad) {
        (*bad)++;
        return;
    }
    st->stats.ip_in++;
    size_t ihl = (ip[0] & 15u) * 4u, tot = us_get16(ip + 2);
    uint32_t src = us_get32(ip + 12);
    if (!src || src == 0xffffffffu || (src >> 28) == 0xe)
        return; /* no reply can go to such a source */
    if (ip[9] == IPPROTO_TCP_)
        eddy__us_tcp_input(st, ip, ip + ihl, tot - ihl);
    else if (ip[9] == IPPROTO_ICMP_)
        icmp_input(st, ip, ip + ihl, tot - ihl);
    else
        eddy__us_icmp_unreach(st, ip, tot, 2);
}
