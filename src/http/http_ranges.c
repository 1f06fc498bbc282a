/*
 * Range (RFC 9110 14.1-14.2): a set of byte ranges, resolved against the representation's
 * size, with the defences 14.2 asks for against abusive sets: at most max range-specs
 * (more: the field is ignored and the whole representation sent), and ranges that
 * overlap or touch merged into one, so no byte is sent twice and the parts never add up
 * to more than the file. Parts keep the order of the first range-spec of each, as 14.2
 * wants ("in the same order that the corresponding range-spec appeared").
 */
#include <string.h>
#include <strings.h>

#include "eddy/http_static.h"

static int is_ows(char ch)
{
    return ch == ' ' || ch == '\t';
}

/* Reads a run of digits, saturating at UINT64_MAX. Returns the count of digits. */
static size_t digits(const char **pp, const char *end, uint64_t *v)
{
    const char *p = *pp;
    uint64_t x = 0;
    while (p < end && *p >= '0' && *p <= '9') {
        unsigned d = (unsigned)(*p++ - '0');
        x = x > (UINT64_MAX - d) / 10 ? UINT64_MAX : x * 10 + d;
    }
    size_t n = (size_t)(p - *pp);
    *pp = p;
    *v = x;
    return n;
}

/* One range-spec at *pp, up to end. 1 and *r when satisfiable, 0 when valid but not
 * satisfiable, -1 when invalid. */
static int range_spec(const char **pp, const char *end, uint64_t size, struct eddy_http_range *r)
{
    uint64_t a = 0, b = 0;
    if (*pp < end && **pp == '-') { /* suffix-range: the last b bytes */
        (*pp)++;
        if (digits(pp, end, &b) == 0)
            return -1;
        if (b == 0 || size == 0)
            return 0;
        r->first = b >= size ? 0 : size - b;
        r->last = size - 1;
        return 1;
    }
    if (digits(pp, end, &a) == 0 || *pp == end || *(*pp)++ != '-')
        return -1;
    if (digits(pp, end, &b) == 0)
        b = UINT64_MAX;
    else if (b < a)
        return -1; /* invalid range-spec: the whole field is ignored */
    if (a >= size)
        return 0;
    r->first = a;
    r->last = b >= size ? size - 1 : b;
    return 1;
}

static int touch(const struct eddy_http_range *x, const struct eddy_http_range *y)
{
    return x->first <= y->last + 1 && y->first <= x->last + 1; /* last < size < UINT64_MAX */
}

/* Adds r to out[0..*n), merged with every range it overlaps or touches; the merged range
 * takes the place of the earliest. Ranges in out never touch each other, so one pass
 * finds every range the growing union touches. */
static void add_range(struct eddy_http_range *out, size_t *n, struct eddy_http_range r)
{
    size_t at = *n;
    for (size_t i = 0; i < *n; i++) {
        if (!touch(&out[i], &r))
            continue;
        r.first = out[i].first < r.first ? out[i].first : r.first;
        r.last = out[i].last > r.last ? out[i].last : r.last;
        if (at == *n) {
            at = i;
        } else {
            memmove(&out[i], &out[i + 1], (*n - i - 1) * sizeof *out);
            (*n)--, i--;
        }
    }
    out[at] = r;
    if (at == *n)
        (*n)++;
}

enum eddy_http_range_result eddy_http_ranges_parse(const char *v, size_t len, uint64_t size,
                                                   struct eddy_http_range *out, size_t max,
                                                   size_t *n)
{
    const char *p = v, *end = v + len;
    size_t specs = 0;
    *n = 0;
    if (len < 6 || strncasecmp(v, "bytes", 5) != 0)
        return EDDY_HTTP_RANGE_NONE;
    p += 5;
    while (p < end && is_ows(*p))
        p++;
    if (p == end || *p++ != '=')
        return EDDY_HTTP_RANGE_NONE;
    for (;;) {
        while (p < end && (is_ows(*p) || *p == ',')) /* empty list elements are allowed */
            p++;
        if (p == end)
            break;
        struct eddy_http_range r;
        int rc = range_spec(&p, end, size, &r);
        if (rc < 0 || ++specs > max)
            return EDDY_HTTP_RANGE_NONE;
        if (rc > 0)
            add_range(out, n, r);
        while (p < end && is_ows(*p))
            p++;
        if (p < end && *p != ',')
            return EDDY_HTTP_RANGE_NONE;
    }
    if (specs == 0)
        return EDDY_HTTP_RANGE_NONE;
    return *n ? EDDY_HTTP_RANGE_OK : EDDY_HTTP_RANGE_UNSATISFIABLE;
}

enum eddy_http_range_result eddy_http_range_parse(const char *v, size_t len, uint64_t size,
                                                  struct eddy_http_range *out)
{
    struct eddy_http_range r[EDDY_HTTP_MAX_RANGES];
    size_t n;
    enum eddy_http_range_result rc =
        eddy_http_ranges_parse(v, len, size, r, EDDY_HTTP_MAX_RANGES, &n);
    if (rc == EDDY_HTTP_RANGE_OK && n != 1)
        return EDDY_HTTP_RANGE_NONE;
    if (rc == EDDY_HTTP_RANGE_OK)
        *out = r[0];
    return rc;
}
