/*
 * Query-string and application/x-www-form-urlencoded decoding (see eddy/http_form.h).
 * Two passes over the input: count and check the pairs, then decode them into one
 * allocation (the pair table followed by the decoded bytes, never longer than the input).
 */
#include "eddy/http_form.h"

#include "eddy/http.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct eddy_http_form {
    size_t count;
    struct eddy_http_form_pair {
        struct eddy_http_str key, value;
    } pairs[];
};

static int hex(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = (char)(c | 0x20);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

ssize_t eddy_http_url_decode(const char *src, size_t len, char *dst, int plus_is_space)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        char c = src[i];
        if (c == '%') {
            int h = i + 2 < len ? hex(src[i + 1]) : -1;
            int l = h >= 0 ? hex(src[i + 2]) : -1;
            if (l < 0)
                return -EINVAL;
            c = (char)(h << 4 | l);
            i += 2;
        } else if (c == '+' && plus_is_space) {
            c = ' ';
        }
        dst[o++] = c;
    }
    return (ssize_t)o;
}

/* The pair starting at s[i]: its end (the '&' or len) and where its '=' is (or end). */
static size_t pair_end(const char *s, size_t len, size_t i, size_t *eq)
{
    const char *amp = memchr(s + i, '&', len - i);
    size_t end = amp ? (size_t)(amp - s) : len;
    const char *e = memchr(s + i, '=', end - i);
    *eq = e ? (size_t)(e - s) : end;
    return end;
}

/* Counts the pairs and checks each key is non-empty; -EINVAL, -E2BIG or the count. */
static ssize_t count_pairs(const char *s, size_t len)
{
    size_t n = 0, eq;
    for (size_t i = 0; i < len; i++) {
        size_t end = pair_end(s, len, i, &eq);
        if (end > i) {
            if (eq == i)
                return -EINVAL;
            if (++n > EDDY_HTTP_FORM_MAX_PAIRS)
                return -E2BIG;
        }
        i = end;
    }
    return (ssize_t)n;
}

/* Decodes s[a..b) to *w as a NUL-terminated string; advances *w. */
static int decode_part(const char *s, size_t a, size_t b, char **w, struct eddy_http_str *out)
{
    ssize_t n = eddy_http_url_decode(s + a, b - a, *w, 1);
    if (n < 0)
        return (int)n;
    out->p = *w;
    out->len = (size_t)n;
    (*w)[n] = '\0';
    *w += n + 1;
    return 0;
}

int eddy_http_form_parse(struct eddy_http_form **out, const char *s, size_t len)
{
    *out = NULL;
    ssize_t n = count_pairs(s, len);
    if (n < 0)
        return (int)n;
    size_t head = sizeof(struct eddy_http_form) + (size_t)n * sizeof(struct eddy_http_form_pair);
    struct eddy_http_form *f = malloc(head + len + 2 * (size_t)n + 1);
    if (!f)
        return -ENOMEM;
    char *w = (char *)f + head;
    f->count = 0;
    size_t eq;
    for (size_t i = 0; i < len; i++) {
        size_t end = pair_end(s, len, i, &eq);
        if (end > i) {
            struct eddy_http_form_pair *p = &f->pairs[f->count++];
            if (decode_part(s, i, eq, &w, &p->key) < 0 ||
                decode_part(s, eq < end ? eq + 1 : end, end, &w, &p->value) < 0) {
                free(f);
                return -EINVAL;
            }
        }
        i = end;
    }
    *out = f;
    return 0;
}

void eddy_http_form_free(struct eddy_http_form *f)
{
    free(f);
}

size_t eddy_http_form_count(const struct eddy_http_form *f)
{
    return f->count;
}

int eddy_http_form_at(const struct eddy_http_form *f, size_t i, struct eddy_http_str *key,
                      struct eddy_http_str *value)
{
    if (i >= f->count)
        return -ERANGE;
    *key = f->pairs[i].key;
    *value = f->pairs[i].value;
    return 0;
}

const char *eddy_http_form_next(const struct eddy_http_form *f, const char *key, size_t *pos,
                                size_t *value_len)
{
    size_t klen = strlen(key);
    for (size_t i = *pos; i < f->count; i++) {
        const struct eddy_http_form_pair *p = &f->pairs[i];
        if (p->key.len == klen && memcmp(p->key.p, key, klen) == 0) {
            *pos = i + 1;
            if (value_len)
                *value_len = p->value.len;
            return p->value.p;
        }
    }
    *pos = f->count;
    return NULL;
}

const char *eddy_http_form_get(const struct eddy_http_form *f, const char *key)
{
    size_t pos = 0;
    return eddy_http_form_next(f, key, &pos, NULL);
}

int eddy_http_form_is_urlencoded(const char *v, size_t len)
{
    static const char type[] = "application/x-www-form-urlencoded";
    size_t tl = sizeof type - 1;
    while (len > 0 && (*v == ' ' || *v == '\t'))
        v++, len--;
    if (len < tl || strncasecmp(v, type, tl) != 0)
        return 0;
    v += tl, len -= tl;
    while (len > 0 && (*v == ' ' || *v == '\t'))
        v++, len--;
    return len == 0 || *v == ';';
}

int eddy_http_request_query_form(const struct eddy_http_request *r, struct eddy_http_form **out)
{
    struct eddy_http_str q = eddy_http_request_query(r);
    return eddy_http_form_parse(out, q.p ? q.p : "", q.len);
}

int eddy_http_request_body_form(const struct eddy_http_request *r, struct eddy_http_form **out)
{
    *out = NULL;
    const struct eddy_http_str *ct = eddy_http_request_header(r, "Content-Type");
    if (!ct || !eddy_http_form_is_urlencoded(ct->p, ct->len))
        return -EMEDIUMTYPE;
    struct eddy_http_str b = eddy_http_request_body(r);
    return eddy_http_form_parse(out, b.p, b.len);
}
