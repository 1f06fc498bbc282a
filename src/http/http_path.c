/*
 * Request-path normaliser: one pass that %-decodes and resolves dot-segments together.
 *
 * Decoding comes first for each byte, so a decoded '/' ("%2F") is a separator like any
 * other and "..%2F" or "%2E%2E/" are resolved instead of slipping through; the output is
 * never decoded again. A ".." above the root is refused (400) rather than clamped, as it
 * only comes from broken or hostile clients.
 */
#include "eddy/http_parser.h"

#include "http_ctype.h"

#include <errno.h>
#include <string.h>

static unsigned hexval(unsigned char c)
{
    return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;
}

/* Decodes the byte at t[*i], advancing *i; -1 for a byte never allowed in a path. */
static int next_byte(const char *t, size_t n, size_t *i)
{
    unsigned char c = (unsigned char)t[*i];
    if (c <= 0x20 || c == 0x7f || c == '\\')
        return -1;
    if (c != '%') {
        (*i)++;
        return c;
    }
    if (n - *i < 3 || !eddy__hc((unsigned char)t[*i + 1], EDDY__HC_HEX) ||
        !eddy__hc((unsigned char)t[*i + 2], EDDY__HC_HEX))
        return -1;
    c = (unsigned char)(hexval((unsigned char)t[*i + 1]) << 4 | hexval((unsigned char)t[*i + 2]));
    *i += 3;
    if (c < 0x20 || c == 0x7f || c == '\\')
        return -1;
    return c;
}

/* The segment out[seg..*o) just ended: drop it if ".", drop it and its parent if "..".
 * out[seg - 1] is always '/'. */
static int end_segment(char *out, size_t seg, size_t *o)
{
    size_t n = *o - seg;
    if (n == 1 && out[seg] == '.') {
        *o = seg;
        return 0;
    }
    if (n == 2 && out[seg] == '.' && out[seg + 1] == '.') {
        if (seg == 1)
            return -EINVAL;
        size_t s = seg - 1; /* the '/' before "..": find the one before the parent */
        while (out[s - 1] != '/')
            s--;
        *o = s;
    }
    return 0;
}

static void set_query(struct eddy_http_str *query, const char *q, const char *end)
{
    if (!query)
        return;
    if (q)
        *query = (struct eddy_http_str){q + 1, (size_t)(end - q - 1)};
    else
        *query = (struct eddy_http_str){NULL, 0};
}

/* Length of the prefix of t[0, n) (t[0] is '/') that normalisation leaves unchanged: no
 * escape, no byte refused in a path, no "//", and no segment starting with '.'. */
static size_t plain_prefix(const char *t, size_t n)
{
    size_t i = 1;
    for (; i < n; i++) {
        unsigned char c = (unsigned char)t[i];
        if (c <= 0x20 || c == 0x7f || c == '%' || c == '\\' ||
            ((c == '/' || c == '.') && t[i - 1] == '/'))
            break;
    }
    return i;
}

ssize_t eddy_http_normalize_path(const char *target, size_t len, char *out, size_t out_cap,
                                 struct eddy_http_str *query)
{
    const char *q = memchr(target, '?', len);
    size_t n = q ? (size_t)(q - target) : len;
    set_query(query, q, target + len);
    if (n == 0) {
        if (out_cap < 2)
            return -ENOBUFS;
        memcpy(out, "/", 2);
        return 1;
    }
    if (target[0] != '/')
        return -EINVAL;
    if (out_cap < n + 1)
        return -ENOBUFS; /* the output is never longer than the input */
    size_t i = plain_prefix(target, n);
    if (i == n) { /* the common case: copied as it is */
        memcpy(out, target, n);
        out[n] = '\0';
        return (ssize_t)n;
    }
    /* The plain prefix is copied as is; its last segment may still grow. */
    size_t o = i, seg = 1;
    memcpy(out, target, i);
    for (size_t k = 1; k <= i; k++) /* after each '/' copied, a segment starts */
        if (target[k - 1] == '/')
            seg = k;
    while (i < n) {
        int c = next_byte(target, n, &i);
        if (c < 0)
            return -EINVAL;
        if (c != '/') {
            out[o++] = (char)c;
            continue;
        }
        if (end_segment(out, seg, &o) < 0)
            return -EINVAL;
        if (out[o - 1] != '/')
            out[o++] = '/';
        seg = o;
    }
    if (end_segment(out, seg, &o) < 0)
        return -EINVAL;
    out[o] = '\0';
    return (ssize_t)o;
}
