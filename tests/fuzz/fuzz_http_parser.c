/*
 * libFuzzer target for the request-head parser, the chunked decoder and the path
 * normaliser. Input layout: byte 0 selects limits, bytes 1-4 pick two split points,
 * the rest is the message. Every property violated calls abort().
 *
 * Properties: a prefix of the input parses to INCOMPLETE or to the verdict of the whole
 * (and, once it holds the whole head, to exactly the same result); parse_needed never
 * says a parse may be skipped when it would have succeeded; a successful parse is
 * internally consistent; the chunked decoder gives the same body, leftover and verdict
 * however the input is split; the normalised path is in normal form and never longer
 * than its input.
 */
#include "eddy/http_parser.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c))                                                                                  \
            abort();                                                                               \
    } while (0)

static int parse_exact(const uint8_t *data, size_t n, struct eddy_http_request_head *r,
                       const struct eddy_http_limits *lim)
{
    char *b = malloc(n ? n : 1); /* exact size: ASan sees any over-read */
    memcpy(b, data, n);
    int ret = eddy_http_parse_request(b, n, r, lim);
    free(b);
    return ret;
}

static int in_buf(const struct eddy_http_str *v, const char *b, size_t n)
{
    return v->len == 0 || (v->p >= b && v->p + v->len <= b + n);
}

static int tchar(unsigned char c)
{
    return (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') ||
           (c && strchr("!#$%&'*+-.^_`|~", c));
}

static void check_head(const struct eddy_http_request_head *r, const char *b, int n)
{
    CHECK(r->method_id != EDDY_HTTP_METHOD_UNKNOWN);
    CHECK(r->minor_version == 0 || r->minor_version == 1);
    CHECK(r->num_headers <= EDDY_HTTP_MAX_HEADERS);
    CHECK(r->content_length >= -1);
    CHECK(!(r->chunked && r->content_length >= 0));
    CHECK(r->host_count <= 1 && (r->minor_version == 0 || r->host_count == 1));
    CHECK(r->target.len > 0 && in_buf(&r->target, b, (size_t)n));
    CHECK(in_buf(&r->method, b, (size_t)n));
    for (size_t i = 0; i < r->num_headers; i++) {
        const struct eddy_http_header *h = &r->headers[i];
        CHECK(h->name.len > 0 && in_buf(&h->name, b, (size_t)n) && in_buf(&h->value, b, (size_t)n));
        for (size_t k = 0; k < h->name.len; k++)
            CHECK(tchar((unsigned char)h->name.p[k]));
        for (size_t k = 0; k < h->value.len; k++) {
            unsigned char c = (unsigned char)h->value.p[k];
            CHECK(c == '\t' || (c >= 0x20 && c != 0x7f));
        }
        if (h->value.len)
            CHECK(h->value.p[0] != ' ' && h->value.p[h->value.len - 1] != ' ' &&
                  h->value.p[0] != '\t' && h->value.p[h->value.len - 1] != '\t');
    }
    CHECK(n >= 18 && memcmp(b + n - 4, "\r\n\r\n", 4) == 0);
    CHECK(eddy_http_method_name(r->method_id) != NULL);
    /* Looking a field up by its own name finds it (or an earlier one of that name). */
    for (size_t i = 0; i < r->num_headers && i < 8; i++) {
        char name[64];
        size_t len = r->headers[i].name.len, pos = 0;
        if (len >= sizeof(name))
            continue;
        memcpy(name, r->headers[i].name.p, len);
        name[len] = '\0';
        const struct eddy_http_header *h = eddy_http_header_find(r, name, &pos);
        CHECK(h != NULL && h <= &r->headers[i] && pos == (size_t)(h - r->headers) + 1);
    }
}

static int same_head(const struct eddy_http_request_head *a, const struct eddy_http_request_head *b)
{
    return a->method_id == b->method_id && a->minor_version == b->minor_version &&
           a->content_length == b->content_length && a->chunked == b->chunked &&
           a->keep_alive == b->keep_alive && a->expect_continue == b->expect_continue &&
           a->num_headers == b->num_headers && a->form == b->form &&
           a->target.len == b->target.len && a->host.len == b->host.len &&
           a->path.len == b->path.len;
}

/* The verdict on data[0..k) must be INCOMPLETE or the verdict on the whole. */
static void check_prefix(const uint8_t *data, size_t size, size_t k, int whole,
                         const struct eddy_http_request_head *wr,
                         const struct eddy_http_limits *lim)
{
    static struct eddy_http_request_head r;
    int ret = parse_exact(data, k, &r, lim);
    if (whole >= 0 && k >= (size_t)whole) {
        CHECK(ret == whole && same_head(&r, wr));
        return;
    }
    if (ret == EDDY_HTTP_INCOMPLETE)
        return;
    CHECK(ret == EDDY_HTTP_ERROR && whole == EDDY_HTTP_ERROR && r.status == wr->status);
    (void)size;
}

static void fuzz_parser(const uint8_t *data, size_t size, size_t k1, size_t k2,
                        const struct eddy_http_limits *lim)
{
    static struct eddy_http_request_head r;
    char *b = malloc(size ? size : 1);
    memcpy(b, data, size);
    int whole = eddy_http_parse_request(b, size, &r, lim);
    CHECK(whole == EDDY_HTTP_INCOMPLETE || whole == EDDY_HTTP_ERROR ||
          (whole > 0 && (size_t)whole <= size));
    if (whole == EDDY_HTTP_ERROR)
        CHECK(r.status == 400 || r.status == 414 || r.status == 417 || r.status == 431 ||
              r.status == 501 || r.status == 505);
    if (whole > 0) {
        check_head(&r, b, whole);
        if (r.form == EDDY_HTTP_FORM_ORIGIN || r.form == EDDY_HTTP_FORM_ABSOLUTE) {
            char out[EDDY_HTTP_DEFAULT_MAX_REQUEST_LINE + 2];
            ssize_t n = eddy_http_normalize_path(r.path.p, r.path.len, out, r.path.len + 2, NULL);
            CHECK(n == -EINVAL || (n >= 1 && out[0] == '/'));
        }
    }
    check_prefix(data, size, k1, whole, &r, lim);
    check_prefix(data, size, k2, whole, &r, lim);
    /* Skipping a parse on parse_needed's word never skips a success. */
    static struct eddy_http_request_head r1;
    if (k1 > 0 && parse_exact(data, k1, &r1, lim) == EDDY_HTTP_INCOMPLETE) {
        if (!eddy_http_parse_needed(b, k2, k1, lim))
            CHECK(parse_exact(data, k2, &r1, lim) <= 0);
        if (!eddy_http_parse_needed(b, size, k1, lim))
            CHECK(whole <= 0);
    }
    free(b);
}

struct chunk_result {
    ssize_t ret;
    int status;
    size_t body_len, rest_len;
    char *body, *rest;
};

/* Decodes data in up to three calls ending at the cut points. */
static void decode_pieces(const uint8_t *data, size_t size, const size_t *cuts, int ncuts,
                          uint64_t max_body, struct chunk_result *res)
{
    struct eddy_http_chunked_decoder d;
    eddy_http_chunked_init(&d, max_body);
    res->body = malloc(size + 1);
    res->rest = malloc(size + 1);
    res->body_len = res->rest_len = 0;
    res->ret = EDDY_HTTP_INCOMPLETE;
    res->status = 0;
    size_t from = 0;
    for (int i = 0; i <= ncuts && res->ret == EDDY_HTTP_INCOMPLETE; i++) {
        size_t to = i < ncuts ? cuts[i] : size, n = to - from;
        char *b = malloc(n ? n : 1);
        memcpy(b, data + from, n);
        ssize_t r = eddy_http_decode_chunked(&d, b, &n);
        CHECK(n <= to - from && (r < 0 || n + (size_t)r <= to - from));
        memcpy(res->body + res->body_len, b, n);
        res->body_len += n;
        res->ret = r < 0 ? r : 0;
        if (r >= 0) {
            memcpy(res->rest, b + n, (size_t)r);
            memcpy(res->rest + r, data + to, size - to);
            res->rest_len = (size_t)r + size - to;
            CHECK(eddy_http_chunked_done(&d));
        }
        if (r == EDDY_HTTP_ERROR)
            res->status = d.status;
        free(b);
        from = to;
    }
    CHECK(res->body_len == d.total || res->ret == EDDY_HTTP_ERROR);
}

static void fuzz_chunked(const uint8_t *data, size_t size, size_t k1, size_t k2, uint64_t max)
{
    struct chunk_result a, b;
    size_t cuts[2] = {k1, k2};
    decode_pieces(data, size, NULL, 0, max, &a);
    decode_pieces(data, size, cuts, 2, max, &b);
    CHECK(a.ret == b.ret && a.status == b.status);
    if (a.ret != EDDY_HTTP_ERROR)
        CHECK(a.body_len == b.body_len && memcmp(a.body, b.body, a.body_len) == 0);
    if (a.ret == 0)
        CHECK(a.rest_len == b.rest_len && memcmp(a.rest, b.rest, a.rest_len) == 0);
    if (a.ret == EDDY_HTTP_ERROR)
        CHECK(a.status == 400 || a.status == 413 || a.status == 431);
    free(a.body), free(a.rest), free(b.body), free(b.rest);
}

static void fuzz_path(const uint8_t *data, size_t size)
{
    char *in = malloc(size ? size : 1), *out = malloc(size + 2), *again = malloc(size + 2);
    memcpy(in, data, size);
    struct eddy_http_str query;
    ssize_t n = eddy_http_normalize_path(in, size, out, size + 2, &query);
    CHECK(n == -EINVAL || n >= 1);
    const char *qm = memchr(in, '?', size);
    CHECK(qm ? query.p == qm + 1 && query.len == size - (size_t)(qm - in) - 1
             : query.p == NULL && query.len == 0);
    /* One byte too few for the output (and its NUL) is refused, never overrun. */
    if (n >= 1)
        CHECK(eddy_http_normalize_path(in, size, again, (size_t)n, NULL) == -ENOBUFS);
    if (n >= 1) {
        const char *q = memchr(in, '?', size);
        size_t plen = q ? (size_t)(q - in) : size;
        CHECK((size_t)n <= (plen ? plen : 1) && out[0] == '/' && out[n] == '\0');
        CHECK(strlen(out) == (size_t)n && !memchr(out, '\\', (size_t)n));
        CHECK(!strstr(out, "//") && !strstr(out, "/./") && !strstr(out, "/../"));
        CHECK(!(n >= 2 && strcmp(out + n - 2, "/.") == 0));
        CHECK(!(n >= 3 && strcmp(out + n - 3, "/..") == 0));
        for (ssize_t i = 0; i < n; i++)
            CHECK((unsigned char)out[i] >= 0x20 && out[i] != 0x7f);
        /* Without escapes, queries or spaces left, normalising again is the identity. */
        if (!strpbrk(out, "%? ")) {
            CHECK(eddy_http_normalize_path(out, (size_t)n, again, size + 2, NULL) == n);
            CHECK(memcmp(out, again, (size_t)n) == 0);
        }
    }
    free(in), free(out), free(again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 5)
        return 0;
    unsigned mode = data[0];
    size_t s1 = (size_t)data[1] | (size_t)data[2] << 8, s2 = (size_t)data[3] | (size_t)data[4] << 8;
    data += 5;
    size -= 5;
    size_t k1 = s1 % (size + 1), k2 = s2 % (size + 1);
    if (k1 > k2) {
        size_t t = k1;
        k1 = k2;
        k2 = t;
    }
    /* Small limits half of the time, so that the 414/431 paths get exercised. */
    struct eddy_http_limits small = {16 + (mode >> 2) * 4, 16 + (mode >> 3) * 8, 1 + (mode >> 4)};
    fuzz_parser(data, size, k1, k2, (mode & 1) ? &small : NULL);
    fuzz_chunked(data, size, k1, k2, (mode & 2) ? (uint64_t)(mode >> 2) * 16 : 0);
    fuzz_path(data, size);
    return 0;
}
