/*
 * Entity tags, conditional requests (RFC 9110 13) and If-Range (RFC 9110 13.1.5; the
 * Range field itself is parsed in http_ranges.c). Pure functions over the field values;
 * see http_static.h for the choices made where the RFC leaves room.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "eddy/http_static.h"

/* No inode: copies of a file synced to several servers behind a balancer (same mtime and
 * size) must get the same tag, as nginx gives them. */
size_t eddy_http_etag_format(const struct stat *st, char *out, size_t cap)
{
    int n = snprintf(out, cap, "\"%" PRIx64 "-%" PRIx64 "\"", (uint64_t)st->st_mtime,
                     (uint64_t)st->st_size);
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

int eddy_http_cond_evaluate(const struct eddy_http_cond_fields *f, const char *etag, time_t mtime)
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
        return eddy_http_etag_list_match(f->if_none_match, f->if_none_match_len, etag, 1) ? 304 : 0;
    if (f->if_modified_since &&
        eddy_http_date_parse(f->if_modified_since, f->if_modified_since_len, &t) == 0 && mtime <= t)
        return 304;
    return 0;
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
