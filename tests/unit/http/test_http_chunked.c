/*
 * Chunked-body decoder: each input is decoded whole, split at every point into two
 * calls, and fed one byte per call; all must give the same body, leftover and verdict.
 */
#include "eddy/http_parser.h"
#include "../../lib/test.h"

#include <stdlib.h>

#include "guard_page.h"

#define BODY_DONE 1

struct ccase {
    const char *name;
    const char *in;
    uint64_t max_body;
    int ret;          /* BODY_DONE, EDDY_HTTP_INCOMPLETE or EDDY_HTTP_ERROR */
    int status;       /* for errors */
    const char *body; /* expected body (for DONE and INCOMPLETE) */
    const char *rest; /* expected leftover after the body (DONE) */
};

#define OK(n, in, body, rest)                                                                      \
    {                                                                                              \
        n, in, 0, BODY_DONE, 0, body, rest                                                         \
    }
#define INC(n, in, body)                                                                           \
    {                                                                                              \
        n, in, 0, EDDY_HTTP_INCOMPLETE, 0, body, NULL                                              \
    }
#define ERR(n, in, st)                                                                             \
    {                                                                                              \
        n, in, 0, EDDY_HTTP_ERROR, st, NULL, NULL                                                  \
    }

static const struct ccase cases[] = {
    OK("one chunk", "5\r\nhello\r\n0\r\n\r\n", "hello", ""),
    OK("two chunks", "3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n", "abcde", ""),
    OK("hex upper", "A\r\n0123456789\r\n0\r\n\r\n", "0123456789", ""),
    OK("hex lower", "a\r\n0123456789\r\n0\r\n\r\n", "0123456789", ""),
    OK("leading zeros", "0005\r\nhello\r\n000\r\n\r\n", "hello", ""),
    OK("empty body", "0\r\n\r\n", "", ""),
    OK("data with crlf", "4\r\n\r\n\r\n\r\n0\r\n\r\n", "\r\n\r\n", ""),
    OK("ext", "5;foo=bar\r\nhello\r\n0;x\r\n\r\n", "hello", ""),
    OK("ext multi bws", "5 ; a = b ;c;d=\"q\" \r\nhello\r\n0\r\n\r\n", "hello", ""),
    OK("ext quoted", "5;a=\"b;c\\\"d\\\\ \xff\"\r\nhello\r\n0\r\n\r\n", "hello", ""),
    OK("trailers", "5\r\nhello\r\n0\r\nX-Foo: bar\r\nY:z \t\r\nEmpty:\r\n\r\n", "hello", ""),
    OK("pipelined rest", "2\r\nhi\r\n0\r\n\r\nGET / HTTP/1.1\r\n", "hi", "GET / HTTP/1.1\r\n"),
    OK("rest after trailer", "0\r\nA: b\r\n\r\nX", "", "X"),
    INC("partial data", "5\r\nhel", "hel"),
    INC("no final crlf", "5\r\nhello\r\n0\r\n", "hello"),
    INC("final cr only", "0\r\n\r", ""),
    INC("in trailer", "0\r\nX: y", ""),
    INC("max u64 size", "ffffffffffffffff\r\nab", "ab"),
    ERR("bare LF size", "5\nhello\r\n0\r\n\r\n", 400),
    ERR("bare LF after data", "5\r\nhello\n0\r\n\r\n", 400),
    ERR("bare CR size", "5\rhello", 400),
    ERR("data too long", "5\r\nhelloX\r\n", 400),
    ERR("bare LF final", "0\r\n\n", 400),
    ERR("bare CR final", "0\r\n\rX", 400),
    ERR("bare LF trailer", "0\r\nA: b\n\r\n", 400),
    ERR("empty size", "\r\nhello", 400),
    ERR("non hex", "g\r\n", 400),
    ERR("0x prefix", "0x5\r\nhello\r\n", 400),
    ERR("minus", "-5\r\n", 400),
    ERR("plus", "+5\r\n", 400),
    ERR("space first", " 5\r\n", 400),
    ERR("trailing space", "5 \r\nhello\r\n0\r\n\r\n", 400),
    ERR("overflow", "ffffffffffffffffff\r\n", 400),
    ERR("overflow 17", "10000000000000000\r\n", 400),
    ERR("ext empty name", "5;=x\r\n", 400),
    ERR("ext bad char", "5;a@b\r\n", 400),
    ERR("ext value after value", "5;a=b =c\r\n", 400),
    ERR("ext ctl in quoted", "5;a=\"\x01\"\r\n", 400),
    ERR("ext unterminated quote", "5;a=\"b\r\nhello", 400),
    ERR("trailer obs-fold", "0\r\nA: b\r\n c\r\n\r\n", 400),
    ERR("trailer no colon", "0\r\nAb\r\n\r\n", 400),
    ERR("trailer space before colon", "0\r\nA : b\r\n\r\n", 400),
    ERR("trailer bare CR", "0\r\nA: b\rc\r\n\r\n", 400),
    ERR("trailer nul", "0\r\nA: \x01\r\n\r\n", 400),
    ERR("trailer empty name", "0\r\n: b\r\n\r\n", 400),
    {"body limit", "5\r\nhello\r\n0\r\n\r\n", 4, EDDY_HTTP_ERROR, 413, NULL, NULL},
    {"body limit sum", "3\r\nabc\r\n3\r\ndef\r\n0\r\n\r\n", 5, EDDY_HTTP_ERROR, 413, NULL, NULL},
    {"body limit exact", "3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n", 5, BODY_DONE, 0, "abcde", ""},
    {"limit vs overflow", "ffffffffffffffffff\r\n", 1000, EDDY_HTTP_ERROR, 400, NULL, NULL},
    {"limit huge", "ffffffffffffffff\r\n", 1000, EDDY_HTTP_ERROR, 413, NULL, NULL},
    ERR("total overflow", "1\r\na\r\nffffffffffffffff\r\n", 400),
};

struct outcome {
    int ret, status;
    char body[256];
    size_t body_len;
    char rest[256];
    size_t rest_len;
};

/* Feeds in[0..len) in pieces ending at the given cut points, like a socket would. */
static void run(const struct ccase *c, const size_t *cuts, size_t ncuts, struct outcome *o)
{
    struct eddy_http_chunked_decoder d;
    eddy_http_chunked_init(&d, c->max_body);
    size_t len = strlen(c->in), from = 0;
    memset(o, 0, sizeof(*o));
    o->ret = EDDY_HTTP_INCOMPLETE;
    for (size_t i = 0; i <= ncuts; i++) {
        size_t to = i < ncuts ? cuts[i] : len;
        size_t n = to - from;
        char *b = malloc(n ? n : 1);
        memcpy(b, c->in + from, n);
        ssize_t r = eddy_http_decode_chunked(&d, b, &n);
        memcpy(o->body + o->body_len, b, n);
        o->body_len += n;
        if (r >= 0) {
            memcpy(o->rest, b + n, (size_t)r);
            memcpy(o->rest + r, c->in + to, len - to);
            o->rest_len = (size_t)r + len - to;
            o->ret = BODY_DONE;
        } else if (r == EDDY_HTTP_ERROR) {
            o->ret = r;
            o->status = d.status;
        }
        free(b);
        if (r != EDDY_HTTP_INCOMPLETE)
            return;
        from = to;
    }
}

static int matches(const struct ccase *c, const struct outcome *o)
{
    if (o->ret != c->ret)
        return 0;
    if (c->ret == EDDY_HTTP_ERROR)
        return o->status == c->status;
    if (o->body_len != strlen(c->body) || memcmp(o->body, c->body, o->body_len))
        return 0;
    return c->ret != BODY_DONE ||
           (o->rest_len == strlen(c->rest) && memcmp(o->rest, c->rest, o->rest_len) == 0);
}

/* Runs check on every case (len: its input's length) until one fails. */
static void each_case(void (*check)(const struct ccase *c, size_t len))
{
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]) && !eddy_test_failed(); i++)
        check(&cases[i], strlen(cases[i].in));
}

/* Feeds c in the pieces cuts make and asserts the outcome the case expects. */
static void expect_run(const struct ccase *c, const size_t *cuts, size_t ncuts)
{
    struct outcome o;
    run(c, cuts, ncuts, &o);
    if (!matches(c, &o)) {
        printf(
            "#   case \"%s\" in %zu pieces (first cut %zu): ret %d status %d body %zu rest %zu\n",
            c->name, ncuts + 1, ncuts ? cuts[0] : strlen(c->in), o.ret, o.status, o.body_len,
            o.rest_len);
        ASSERT(0);
    }
}

static void whole_case(const struct ccase *c, size_t len)
{
    (void)len;
    expect_run(c, NULL, 0);
}

static void every_split_case(const struct ccase *c, size_t len)
{
    for (size_t k = 0; k <= len && !eddy_test_failed(); k++)
        expect_run(c, &k, 1);
}

static void byte_by_byte_case(const struct ccase *c, size_t len)
{
    size_t cuts[128];
    ASSERT(len < 128);
    for (size_t k = 0; k < len; k++)
        cuts[k] = k + 1;
    expect_run(c, cuts, len);
}

static void test_whole(void)
{
    each_case(whole_case);
}

static void test_every_split(void)
{
    each_case(every_split_case);
}

static void test_byte_by_byte(void)
{
    each_case(byte_by_byte_case);
}

/* A big body in random pieces: sizes straddle every buffer boundary. */
static void test_random_pieces(void)
{
    static char in[200000], body[150000], expect[150000];
    size_t len = 0, blen = 0;
    unsigned seed = 12345;
    for (int i = 0; i < 300; i++) {
        size_t n = (size_t)(rand_r(&seed) % 900) + 1;
        len += (size_t)sprintf(in + len, i % 2 ? "%zx\r\n" : "%zX;e=\"v\"\r\n", n);
        for (size_t k = 0; k < n; k++)
            expect[blen++] = in[len++] = (char)('a' + (k + (size_t)i) % 26);
        memcpy(in + len, "\r\n", 2);
        len += 2;
    }
    memcpy(in + len, "0\r\nT: v\r\n\r\nNEXT", 15);
    len += 15;
    struct eddy_http_chunked_decoder d;
    eddy_http_chunked_init(&d, 0);
    size_t from = 0, got = 0, rest = 0;
    ssize_t r = EDDY_HTTP_INCOMPLETE;
    while (from < len && r == EDDY_HTTP_INCOMPLETE) {
        size_t piece = (size_t)(rand_r(&seed) % 1500) + 1;
        if (piece > len - from)
            piece = len - from;
        size_t n = piece;
        r = eddy_http_decode_chunked(&d, in + from, &n);
        memcpy(body + got, in + from, n);
        got += n;
        if (r >= 0) {
            rest = (size_t)r + (len - from - piece);
            ASSERT_MEM_EQ(in + from + n, "NEXT", (size_t)r);
        }
        from += piece;
    }
    ASSERT(r >= 0);
    ASSERT_EQ(rest, 4);
    ASSERT_EQ(got, blen);
    ASSERT_MEM_EQ(body, expect, blen);
    ASSERT_EQ(d.total, blen);
    ASSERT(eddy_http_chunked_done(&d));
}

static struct guard_page guard;

/* Every prefix ends right at the guard page: any read past it faults. */
static void guard_page_case(const struct ccase *c, size_t len)
{
    for (size_t k = 0; k <= len; k++) {
        struct eddy_http_chunked_decoder d;
        eddy_http_chunked_init(&d, c->max_body);
        size_t n = k;
        ssize_t r = eddy_http_decode_chunked(&d, guard_page_put(&guard, c->in, k), &n);
        ASSERT(n <= k);
        ASSERT(r < 0 || n + (size_t)r <= k);
    }
}

static void test_guard_page(void)
{
    ASSERT_EQ(guard_page_open(&guard), 0);
    each_case(guard_page_case);
    guard_page_close(&guard);
}

/* After the end, further calls consume nothing and hand everything back. */
static void test_after_done(void)
{
    struct eddy_http_chunked_decoder d;
    eddy_http_chunked_init(&d, 0);
    char b[] = "0\r\n\r\n";
    size_t n = 5;
    ASSERT_EQ(eddy_http_decode_chunked(&d, b, &n), 0);
    ASSERT_EQ(n, 0);
    char more[] = "abc";
    n = 3;
    ASSERT_EQ(eddy_http_decode_chunked(&d, more, &n), 3);
    ASSERT_EQ(n, 0);
    ASSERT_MEM_EQ(more, "abc", 3);
}

/* One call of a fresh decoder on in[0..n): asserts its result and, for an error, the status.
 * Does nothing once the test has failed, so a sequence of these stops at the first failure. */
static void expect_decode(char *in, size_t n, ssize_t want, int status)
{
    struct eddy_http_chunked_decoder d;
    if (eddy_test_failed())
        return;
    eddy_http_chunked_init(&d, 0);
    ASSERT_EQ(eddy_http_decode_chunked(&d, in, &n), want);
    if (want == EDDY_HTTP_ERROR)
        ASSERT_EQ(d.status, status);
}

static void test_long_lines(void)
{
    static char in[40000];
    /* size line of exactly the limit is fine, one more byte is not */
    memset(in, '0', sizeof(in));
    memcpy(in + EDDY_HTTP_CHUNK_MAX_LINE - 2, "\r\n", 2);
    expect_decode(in, EDDY_HTTP_CHUNK_MAX_LINE, EDDY_HTTP_INCOMPLETE, 0);
    memset(in, '0', sizeof(in));
    memcpy(in + EDDY_HTTP_CHUNK_MAX_LINE - 1, "\r\n", 2);
    expect_decode(in, EDDY_HTTP_CHUNK_MAX_LINE + 1, EDDY_HTTP_ERROR, 400);
    /* trailer section over the limit */
    memcpy(in, "0\r\nX: ", 6);
    memset(in + 6, 'v', sizeof(in) - 6);
    expect_decode(in, sizeof(in), EDDY_HTTP_ERROR, 431);
    /* the same through a long trailer name */
    memcpy(in, "0\r\n", 3);
    memset(in + 3, 'n', sizeof(in) - 3);
    expect_decode(in, sizeof(in), EDDY_HTTP_ERROR, 431);
    /* too many trailer fields */
    size_t off = (size_t)sprintf(in, "0\r\n");
    for (int i = 0; i <= EDDY_HTTP_CHUNK_MAX_TRAILERS; i++)
        off += (size_t)sprintf(in + off, "T: v\r\n");
    expect_decode(in, off, EDDY_HTTP_ERROR, 431);
}

int main(void)
{
    RUN(test_whole);
    RUN(test_every_split);
    RUN(test_byte_by_byte);
    RUN(test_random_pieces);
    RUN(test_guard_page);
    RUN(test_after_done);
    RUN(test_long_lines);
    return eddy_test_done();
}
