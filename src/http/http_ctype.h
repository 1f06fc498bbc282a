/* Character classes and word-at-a-time scanners shared by the HTTP parsing code. */
#ifndef EDDY_HTTP_CTYPE_H
#define EDDY_HTTP_CTYPE_H

#include <stdint.h>
#include <string.h>

#define EDDY__HC_TOKEN 1 /* tchar (RFC 9110 5.6.2) */
#define EDDY__HC_VALUE 2 /* field-vchar, SP, HTAB, obs-text */
#define EDDY__HC_HOST  4 /* reg-name / IP-literal / port characters */
#define EDDY__HC_HEX   8

extern const unsigned char eddy__http_ctype[256];

static inline int eddy__hc(unsigned char c, unsigned cls)
{
    return eddy__http_ctype[c] & cls;
}

#define EDDY__ONES  0x0101010101010101ULL
#define EDDY__HIGHS 0x8080808080808080ULL

/* Nonzero when some byte of x is below n (n <= 128); exact, no false positives. */
static inline uint64_t eddy__has_less(uint64_t x, unsigned n)
{
    return (x - EDDY__ONES * n) & ~x & EDDY__HIGHS;
}

static inline uint64_t eddy__has_byte(uint64_t x, unsigned char c)
{
    uint64_t y = x ^ (EDDY__ONES * c);
    return (y - EDDY__ONES) & ~y & EDDY__HIGHS;
}

static inline uint64_t eddy__load64(const char *p)
{
    uint64_t x;
    memcpy(&x, p, sizeof(x));
    return x;
}

/* Index of the first flagged byte of a has_less/has_byte mask. Borrows can only flag
 * bytes after a truly flagged one, so the lowest flag is exact (little-endian load). */
static inline unsigned eddy__first_flag(uint64_t mask)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    return (unsigned)__builtin_ctzll(mask) >> 3;
#else
#error "eddy's HTTP scanners assume a little-endian target"
#endif
}

/* First byte in [p, end) that cannot be in a field value (CTL other than HTAB, DEL). */
static inline const char *eddy__scan_value(const char *p, const char *end)
{
    while (end - p >= 8) {
        uint64_t x = eddy__load64(p);
        uint64_t m = eddy__has_less(x, 0x20) | eddy__has_byte(x, 0x7f);
        if (m == 0) {
            p += 8;
            continue;
        }
        p += eddy__first_flag(m);
        if (*p != '\t')
            return p;
        p++;
    }
    while (p < end && eddy__hc((unsigned char)*p, EDDY__HC_VALUE))
        p++;
    return p;
}

/* First byte in [p, end) that cannot be in a request-target: anything but visible ASCII
 * (CTL, SP, DEL, and bytes >= 0x80, which the URI grammar of RFC 3986 does not allow raw:
 * UTF-8 and overlong sequences must come percent-encoded). */
static inline const char *eddy__scan_target(const char *p, const char *end)
{
    while (end - p >= 8) {
        uint64_t x = eddy__load64(p);
        uint64_t m = eddy__has_less(x, 0x21) | eddy__has_byte(x, 0x7f) | (x & EDDY__HIGHS);
        if (m)
            return p + eddy__first_flag(m);
        p += 8;
    }
    while (p < end && (unsigned char)*p > 0x20 && (unsigned char)*p < 0x7f)
        p++;
    return p;
}

/* First byte in [p, end) that is not a tchar. Eight independent table loads per step
 * keep the loop free of a branch per byte. */
static inline const char *eddy__scan_token(const char *p, const char *end)
{
    const unsigned char *u = (const unsigned char *)p;
    const unsigned char *t = eddy__http_ctype;
    while (end - (const char *)u >= 8) {
        unsigned all = t[u[0]] & t[u[1]] & t[u[2]] & t[u[3]] & t[u[4]] & t[u[5]] & t[u[6]] &
                       t[u[7]] & EDDY__HC_TOKEN;
        if (!all)
            break;
        u += 8;
    }
    while ((const char *)u < end && (t[*u] & EDDY__HC_TOKEN))
        u++;
    return (const char *)u;
}

#endif
