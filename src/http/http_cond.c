/*
 * HTTP dates, entity tags, conditional requests (RFC 9110 13) and byte ranges
 * (RFC 9110 14). Pure functions over the field values; see http_static.h for the
 * choices made where the RFC leaves room.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "eddy/http_static.h"

static const char wdays[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

static void put2(char *p, int v)
{
    p[0] = (char)('0' + v / 10 % 10);
    p[1] = (char)('0' + v % 10);
}

void eddy_http_date_format(time_t t, char *out)
{
    struct tm tm;
    if (gmtime_r(&t, &tm) == NULL || tm.tm_year + 1900 > 9999 || tm.tm_year + 1900 < 0)
        memset(&tm, 0, sizeof tm), tm.tm_mday = 1, tm.tm_year = 70, tm.tm_wday = 4;
    int year = tm.tm_year + 1900;
    memcpy(out, wdays[tm.tm_wday], 3);
    memcpy(out + 3, ", ", 2);
    put2(out + 5, tm.tm_mday);
    out[7] = ' ';
    memcpy(out + 8, months[tm.tm_mon], 3);
    out[11] = ' ';
    put2(out + 12, year / 100);
    put2(out + 14, year % 100);
    out[16] = ' ';
    put2(out + 17, tm.tm_hour);
    out[19] = ':';
    put2(out + 20, tm.tm_min);
    out[22] = ':';
    put2(out + 23, tm.tm_sec);
    memcpy(out + 25, " GMT", 5);
}

/* A small cursor over a date string. */
struct cur {
    const char *p, *end;
    int bad;
};

static int num(struct cur *c, int min_digits, int max_digits)
{
    int v = 0, n = 0;
    while (c->p < c->end && *c->p >= '0' && *c->p <= '9' && n < max_digits)
        v = v * 10 + (*c->p++ - '0'), n++;
    if (n < min_digits)
        c->bad = 1;
    return v;
}

static void lit(struct cur *c, const char *s)
{
    size_t n = strlen(s);
    if ((size_t)(c->end - c->p) < n || memcmp(c->p, s, n) != 0)
        c->bad = 1;
    else
        c->p += n;
}

static int month(struct cur *c)
{
    if (c->end - c->p >= 3)
        for (int i = 0; i < 12; i++)
            if (memcmp(c->p, months[i], 3) == 0) {
                c->p += 3;
                return i;
            }
    c->bad = 1;
    return 0;
}

static void hms(struct cur *c, struct tm *tm)
{
    tm->tm_hour = num(c, 2, 2);
    lit(c, ":");
    tm->tm_min = num(c, 2, 2);
    lit(c, ":");
    tm->tm_sec = num(c, 2, 2);
}

/* After the weekday: IMF-fixdate ", DD Mon YYYY", RFC 850 ", DD-Mon-YY", asctime
 * " Mon DD" then " HH:MM:SS YYYY". */
static void parse_body(struct cur *c, struct tm *tm)
{
    if (c->p < c->end && *c->p == ' ') { /* asctime */
        c->p++;
        tm->tm_mon = month(c);
        lit(c, " ");
        if (c->p < c->end && *c->p == ' ')
            c->p++;
        tm->tm_mday = num(c, 1, 2);
        lit(c, " ");
        hms(c, tm);
        lit(c, " ");
        tm->tm_year = num(c, 4, 4) - 1900;
        return;
    }
    lit(c, ", ");
    tm->tm_mday = num(c, 2, 2);
    int dash = c->p < c->end && *c->p == '-';
    lit(c, dash ? "-" : " ");
    tm->tm_mon = month(c);
    lit(c, dash ? "-" : " ");
    if (dash) { /* two-digit year: RFC 9110 5.6.7 says within 50 years; use 1970..2069 */
        int y = num(c, 2, 2);
        tm->tm_year = y < 70 ? y + 100 : y;
    } else {
        tm->tm_year = num(c, 4, 4) - 1900;
    }
    lit(c, " ");
    hms(c, tm);
    lit(c, " GMT");
}

int eddy_http_date_parse(const char *s, size_t len, time_t *out)
{
    struct cur c = {s, s + len, 0};
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    while (c.p < c.end && ((*c.p >= 'A' && *c.p <= 'Z') || (*c.p >= 'a' && *c.p <= 'z')))
        c.p++;
    if (c.p - s < 3)
        return -EINVAL;
    parse_body(&c, &tm);
    if (c.bad || c.p != c.end || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 ||
        tm.tm_min > 59 || tm.tm_sec > 60)
        return -EINVAL;
    *out = timegm(&tm);
    return 0;
}

size_t eddy_http_etag_format(const struct stat *st, char *out, size_t cap)
{
    int n = snprintf(out, cap, "\"%" PRIx64 "-%" PRIx64 "-%" PRIx64 "\"", (uint64_t)st->st_ino,
                     (uint64_t)st->st_mtime, (uint64_t)st->st_size);
    return n < 0 ? 0 : (size_t)n < cap ? (size_t)n : cap - 1;
}

static int is_ows(char ch)
{
    return ch == ' ' || ch == '\t';
}

/* Compares one list member m[0..n) with etag. */
static int tag_match(const char *m, size_t n, const char *etag, int weak)
{
    int m_weak = n >= 2 && m[0] == 'W' && m[1] == '/';
    if (m_weak) {
        if (!weak)
            return 0;
        m += 2, n -= 2;
    }
    int e_weak = etag[0] == 'W' && etag[1] == '/';
    if (e_weak) {
        if (!weak)
            return 0;
        etag += 2;
    }
    size_t el = strlen(etag);
    return n >= 2 && m[0] == '"' && m[n - 1] == '"' && n == el && memcmp(m, etag, n) == 0;
}

int eddy_http_etag_list_match(const char *v, size_t len, const char *etag, int weak)
{
    const char *p = v, *end = v + len;
    while (p < end) {
        while (p < end && (is_ows(*p) || *p == ','))
            p++;
        const char *start = p;
        int quoted = 0;
        /* A comma may appear inside a quoted opaque tag only in broken clients; etagc
         * excludes nothing but DQUOTE, so honour quotes when splitting. */
        while (p < end && (quoted || *p != ',')) {
            if (*p == '"')
                quoted = !quoted;
            p++;
        }
        const char *stop = p;
        while (stop > start && is_ows(stop[-1]))
            stop--;
        size_t n = (size_t)(stop - start);
        if (n == 1 && *start == '*')
            return 1;
        if (n > 0 && tag_match(start, n, etag, weak))
            return 1;
    }
    return 0;
}

int eddy_http_cond_evaluate(const struct eddy_http_cond_fields *f, const char *etag,
                            time_t mtime)
{
    time_t t;
    if (f->if_match) {
        if (!eddy_http_etag_list_match(f->if_match, f->if_match_len, etag, 0))
            return 412;
    } else if (f->if_unmodified_since &&
               eddy_http_date_parse(f->if_unmodified_since, f->if_unmodified_since_len, &t) == 0 &&
               mtime > t) {
        return 412;
    }
    if (f->if_none_match)
        return eddy_http_etag_list_match(f->if_none_match, f->if_none_match_len, etag, 1) ? 304
                                                                                           : 0;
    if (f->if_modified_since &&
        eddy_http_date_parse(f->if_modified_since, f->if_modified_since_len, &t) == 0 &&
        mtime <= t)
        return 304;
    return 0;
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

enum eddy_http_range_result eddy_http_range_parse(const char *v, size_t len, uint64_t size,
                                                  struct eddy_http_range *out)
{
    const char *p = v, *end = v + len;
    if (len < 6 || strncasecmp(v, "bytes", 5) != 0)
        return EDDY_HTTP_RANGE_NONE;
    p += 5;
    while (p < end && is_ows(*p))
        p++;
    if (p == end || *p++ != '=')
        return EDDY_HTTP_RANGE_NONE;
    while (p < end && is_ows(*p))
        p++;
    uint64_t a = 0, b = 0;
    int suffix = p < end && *p == '-';
    if (suffix) {
        p++;
        if (digits(&p, end, &b) == 0)
            return EDDY_HTTP_RANGE_NONE;
    } else {
        if (digits(&p, end, &a) == 0 || p == end || *p++ != '-')
            return EDDY_HTTP_RANGE_NONE;
        int has_last = digits(&p, end, &b) > 0;
        if (!has_last)
            b = UINT64_MAX;
        else if (b < a)
            return EDDY_HTTP_RANGE_NONE; /* invalid range-spec: ignore the field */
    }
    while (p < end && is_ows(*p))
        p++;
    if (p < end) /* a second range (or garbage): answer with the whole file */
        return EDDY_HTTP_RANGE_NONE;
    if (suffix) {
        if (b == 0 || size == 0)
            return EDDY_HTTP_RANGE_UNSATISFIABLE;
        out->first = b >= size ? 0 : size - b;
        out->last = size - 1;
        return EDDY_HTTP_RANGE_OK;
    }
    if (a >= size)
        return EDDY_HTTP_RANGE_UNSATISFIABLE;
    out->first = a;
    out->last = b >= size ? size - 1 : b;
    return EDDY_HTTP_RANGE_OK;
}

int eddy_http_if_range_ok(const char *v, size_t len, const char *etag, time_t mtime)
{
    while (len > 0 && is_ows(*v))
        v++, len--;
    while (len > 0 && is_ows(v[len - 1]))
        len--;
    if (len > 0 && (v[0] == '"' || v[0] == 'W'))
        return tag_match(v, len, etag, 0);
    time_t t;
    return eddy_http_date_parse(v, len, &t) == 0 && t == mtime;
}
