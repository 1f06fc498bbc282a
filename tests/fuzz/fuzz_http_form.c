/*
 * libFuzzer target for the form-body decoder as a server meets it: the input's first line
 * is a Content-Type value, the rest the body. Properties: the content-type check accepts
 * exactly the values that start (after blanks) with application/x-www-form-urlencoded
 * followed by the end, blanks or ';'; a body that decodes once decodes the same way
 * again; the decoded pairs re-encoded (every byte as %XX) decode to the same pairs.
 */
#include "eddy/http_form.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c))                                                                                  \
            abort();                                                                               \
    } while (0)

static char lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c + 32) : c;
}

static int expect_urlencoded(const char *v, size_t n)
{
    static const char t[] = "application/x-www-form-urlencoded";
    size_t i = 0, tl = sizeof t - 1;
    while (i < n && (v[i] == ' ' || v[i] == '\t'))
        i++;
    if (n - i < tl)
        return 0;
    for (size_t j = 0; j < tl; j++)
        if (lower(v[i + j]) != t[j]) /* ASCII letters only: '\r' | 0x20 is '-' */
            return 0;
    for (i += tl; i < n && (v[i] == ' ' || v[i] == '\t');)
        i++;
    return i == n || v[i] == ';';
}

static char *encode_all(const struct eddy_http_form *f, size_t *len)
{
    size_t cap = 1, n = 0;
    struct eddy_http_str k, v;
    for (size_t i = 0; eddy_http_form_at(f, i, &k, &v) == 0; i++)
        cap += 3 * (k.len + v.len) + 2;
    char *out = malloc(cap);
    for (size_t i = 0; eddy_http_form_at(f, i, &k, &v) == 0; i++) {
        if (i)
            out[n++] = '&';
        for (size_t j = 0; j < k.len; j++)
            n += (size_t)snprintf(out + n, 4, "%%%02X", (unsigned char)k.p[j]);
        out[n++] = '=';
        for (size_t j = 0; j < v.len; j++)
            n += (size_t)snprintf(out + n, 4, "%%%02X", (unsigned char)v.p[j]);
    }
    *len = n;
    return out;
}

static void same_pairs(const struct eddy_http_form *a, const struct eddy_http_form *b)
{
    struct eddy_http_str ka, va, kb, vb;
    CHECK(eddy_http_form_count(a) == eddy_http_form_count(b));
    for (size_t i = 0; eddy_http_form_at(a, i, &ka, &va) == 0; i++) {
        CHECK(eddy_http_form_at(b, i, &kb, &vb) == 0);
        CHECK(ka.len == kb.len && memcmp(ka.p, kb.p, ka.len) == 0);
        CHECK(va.len == vb.len && memcmp(va.p, vb.p, va.len) == 0);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size ? size : 1);
    memcpy(s, data, size);
    const char *nl = memchr(s, '\n', size);
    size_t ctl = nl ? (size_t)(nl - s) : size;
    CHECK(!eddy_http_form_is_urlencoded(s, ctl) == !expect_urlencoded(s, ctl));
    const char *body = nl ? nl + 1 : s + size;
    size_t blen = size - (size_t)(body - s);
    struct eddy_http_form *f, *g, *h;
    int rc = eddy_http_form_parse(&f, body, blen);
    CHECK(eddy_http_form_parse(&g, body, blen) == rc);
    if (rc == 0) {
        same_pairs(f, g);
        size_t elen;
        char *enc = encode_all(f, &elen);
        CHECK(eddy_http_form_parse(&h, enc, elen) == 0);
        same_pairs(f, h);
        eddy_http_form_free(h);
        free(enc);
        eddy_http_form_free(f);
        eddy_http_form_free(g);
    }
    free(s);
    return 0;
}
