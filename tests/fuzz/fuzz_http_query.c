/*
 * libFuzzer target for the query decoder (eddy_http_form_parse) and the percent-decoder.
 * Properties: a parse either fails with -EINVAL/-E2BIG and no form, or gives at most one
 * pair per '&'-separated piece, each key non-empty, every string NUL-terminated at its
 * length and no longer than its encoded form; the first value of each key is what
 * eddy_http_form_get returns; decoding in place gives the same bytes as decoding into
 * another buffer.
 */
#include "eddy/http_form.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c))                                                                                  \
            abort();                                                                               \
    } while (0)

static void check_pairs(const struct eddy_http_form *f, size_t n)
{
    size_t pieces = 1, total = 0;
    struct eddy_http_str k, v;
    (void)n;
    for (size_t i = 0; eddy_http_form_at(f, i, &k, &v) == 0; i++) {
        CHECK(k.len > 0 && k.p[k.len] == '\0' && v.p[v.len] == '\0');
        total += k.len + v.len;
        if (memchr(k.p, '\0', k.len) == NULL) {
            size_t pos = 0;
            const char *first = eddy_http_form_next(f, k.p, &pos, NULL);
            CHECK(first != NULL && pos <= i + 1);
        }
        pieces++;
    }
    CHECK(eddy_http_form_count(f) + 1 == pieces);
    CHECK(total <= n);
}

static void check_decode(const char *s, size_t n)
{
    char *a = malloc(n ? n : 1), *b = malloc(n ? n : 1);
    memcpy(b, s, n);
    ssize_t la = eddy_http_url_decode(s, n, a, 1);
    ssize_t lb = eddy_http_url_decode(b, n, b, 1);
    CHECK(la == lb);
    CHECK(la == -EINVAL || (la >= 0 && (size_t)la <= n && memcmp(a, b, (size_t)la) == 0));
    free(a);
    free(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size ? size : 1); /* exact size: ASan sees any over-read */
    memcpy(s, data, size);
    struct eddy_http_form *f = (struct eddy_http_form *)1;
    int rc = eddy_http_form_parse(&f, s, size);
    if (rc < 0) {
        CHECK((rc == -EINVAL || rc == -E2BIG) && f == NULL);
    } else {
        size_t amps = 0;
        for (size_t i = 0; i < size; i++)
            amps += s[i] == '&';
        CHECK(eddy_http_form_count(f) <= amps + 1);
        check_pairs(f, size);
        eddy_http_form_free(f);
    }
    check_decode(s, size);
    free(s);
    return 0;
}
