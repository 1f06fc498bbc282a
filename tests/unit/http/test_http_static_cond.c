/* Dates, ETags, conditional requests and byte ranges. */
#include <errno.h>
#include <string.h>

#include "eddy/http_static.h"
#include "../../lib/test.h"

#define S(x) x, strlen(x)

static void test_etag_shape(void)
{
    struct stat st;
    memset(&st, 0, sizeof st);
    st.st_ino = 0x1234;
    st.st_mtime = 0x5f000000;
    st.st_size = 0x400;
    char e[EDDY_HTTP_ETAG_MAX];
    size_t n = eddy_http_etag_format(&st, e, sizeof e);
    ASSERT_STR_EQ(e, "\"1234-5f000000-400\"");
    ASSERT_EQ(n, strlen(e));
    st.st_size = 0x401;
    eddy_http_etag_format(&st, e, sizeof e);
    ASSERT_STR_EQ(e, "\"1234-5f000000-401\"");
}

static void test_etag_list_match(void)
{
    const char *tag = "\"abc-1\"";
    ASSERT(eddy_http_etag_list_match(S("\"abc-1\""), tag, 0));
    ASSERT(eddy_http_etag_list_match(S("*"), tag, 0));
    ASSERT(eddy_http_etag_list_match(S("\"x\", \"abc-1\""), tag, 1));
    ASSERT(eddy_http_etag_list_match(S("\"x\",W/\"abc-1\" "), tag, 1));
    ASSERT(!eddy_http_etag_list_match(S("W/\"abc-1\""), tag, 0)); /* strong comparison */
    ASSERT(!eddy_http_etag_list_match(S("\"abc-2\", \"abc\""), tag, 1));
    ASSERT(!eddy_http_etag_list_match(S("abc-1"), tag, 1)); /* unquoted is no tag */
    ASSERT(!eddy_http_etag_list_match(S(""), tag, 1));
    ASSERT(!eddy_http_etag_list_match(S(" , ,"), tag, 1));
}

static const char *tag = "\"1-2-3\"";

static void test_cond_none(void)
{
    struct eddy_http_cond_fields f = {0};
    ASSERT_EQ(eddy_http_cond_evaluate(&f, tag, 1000), 0);
}

static void test_cond_if_none_match(void)
{
    struct eddy_http_cond_fields f = {0};
    f.if_none_match = "\"1-2-3\"";
    f.if_none_match_len = strlen(f.if_none_match);
    ASSERT_EQ(eddy_http_cond_evaluate(&f, tag, 1000), 304);
    f.if_none_match = "W/\"1-2-3\"";
    f.if_none_match_len = strlen(f.if_none_match);
    ASSERT_EQ(eddy_http_cond_evaluate(&f, tag, 1000), 304);
    f.if_none_match = "*";
    f.if_none_match_len = 1;
    ASSERT_EQ(eddy_http_cond_evaluate(&f, tag, 1000), 304);
    f.if_none_match = "\"other\"";
    f.if_none_match_len = strlen(f.if_none_match);
    ASSERT_EQ(eddy_http_cond_evaluate(&f, tag, 1000), 0);
}

static void test_cond_if_none_match_beats_if_modified_since(void)
{
    struct eddy_http_cond_fields f = {0};
    f.if_none_match = "\"other\"";
    f.if_none_match_len = strlen(f.if_none_match);
    f.if_modified_since = "Sun, 06 Nov 1994 08:49:37 GMT";
    f.if_modified_since_len = strlen(f.if_modified_since);
    ASSERT_EQ(eddy_http_cond_evaluate(&f, tag, 784111777), 0);
}

static void test_cond_if_modified_since(void)
{
    struct eddy_http_cond_fields f = {0};
    f.if_modified_since = "Sun, 06 Nov 1994 08:49:37 GMT";
    f.if_modified_since_len = strlen(f.if_modified_since);
    ASSERT_EQ(eddy_http_cond_evaluate(&f, tag, 784111777), 304);
    ASSERT_EQ(eddy_http_cond_evaluate(&f, tag, 784111776), 304);
    ASSERT_EQ(eddy_http_cond_evaluate(&f, tag, 784111778), 0);
    f.if_modified_since = "garbage";
    f.if_modified_since_len = 7;
    ASSERT_EQ(eddy_http_cond_evaluate(&f, tag, 0), 0);
}

static void test_cond_if_match_and_unmodified_since(void)
{
    struct eddy_http_cond_fields f = {0};
    f.if_match = "\"nope\"";
    f.if_match_len = strlen(f.if_match);
    ASSERT_EQ(eddy_http_cond_evaluate(&f, tag, 1), 412);
    f.if_match = "\"1-2-3\"";
    f.if_match_len = strlen(f.if_match);
    ASSERT_EQ(eddy_http_cond_evaluate(&f, tag, 1), 0);
    memset(&f, 0, sizeof f);
    f.if_unmodified_since = "Sun, 06 Nov 1994 08:49:37 GMT";
    f.if_unmodified_since_len = strlen(f.if_unmodified_since);
    ASSERT_EQ(eddy_http_cond_evaluate(&f, tag, 784111778), 412);
    ASSERT_EQ(eddy_http_cond_evaluate(&f, tag, 784111777), 0);
}

static int range(const char *v, uint64_t size, uint64_t *a, uint64_t *b)
{
    struct eddy_http_range r = {0, 0};
    int rc = eddy_http_range_parse(v, strlen(v), size, &r);
    *a = r.first, *b = r.last;
    return rc;
}

static void test_range_single_forms(void)
{
    uint64_t a, b;
    ASSERT_EQ(range("bytes=0-99", 1000, &a, &b), EDDY_HTTP_RANGE_OK);
    ASSERT_EQ(a, 0);
    ASSERT_EQ(b, 99);
    ASSERT_EQ(range("bytes=500-", 1000, &a, &b), EDDY_HTTP_RANGE_OK);
    ASSERT_EQ(a, 500);
    ASSERT_EQ(b, 999);
    ASSERT_EQ(range("bytes=-100", 1000, &a, &b), EDDY_HTTP_RANGE_OK);
    ASSERT_EQ(a, 900);
    ASSERT_EQ(b, 999);
    ASSERT_EQ(range("bytes=-5000", 1000, &a, &b), EDDY_HTTP_RANGE_OK);
    ASSERT_EQ(a, 0);
    ASSERT_EQ(b, 999);
    ASSERT_EQ(range("bytes=990-5000", 1000, &a, &b), EDDY_HTTP_RANGE_OK);
    ASSERT_EQ(a, 990);
    ASSERT_EQ(b, 999);
    ASSERT_EQ(range("BYTES = 3-3 ", 1000, &a, &b), EDDY_HTTP_RANGE_OK);
    ASSERT_EQ(a, 3);
    ASSERT_EQ(b, 3);
    ASSERT_EQ(range("bytes=0-99999999999999999999999", 10, &a, &b), EDDY_HTTP_RANGE_OK);
    ASSERT_EQ(b, 9);
}

static void test_range_unsatisfiable(void)
{
    uint64_t a, b;
    ASSERT_EQ(range("bytes=1000-", 1000, &a, &b), EDDY_HTTP_RANGE_UNSATISFIABLE);
    ASSERT_EQ(range("bytes=1000-2000", 1000, &a, &b), EDDY_HTTP_RANGE_UNSATISFIABLE);
    ASSERT_EQ(range("bytes=-0", 1000, &a, &b), EDDY_HTTP_RANGE_UNSATISFIABLE);
    ASSERT_EQ(range("bytes=0-", 0, &a, &b), EDDY_HTTP_RANGE_UNSATISFIABLE);
    ASSERT_EQ(range("bytes=-5", 0, &a, &b), EDDY_HTTP_RANGE_UNSATISFIABLE);
    ASSERT_EQ(range("bytes=99999999999999999999999-", 10, &a, &b),
              EDDY_HTTP_RANGE_UNSATISFIABLE);
}

static void test_range_ignored(void)
{
    uint64_t a, b;
    ASSERT_EQ(range("bytes=0-1,5-6", 1000, &a, &b), EDDY_HTTP_RANGE_NONE); /* several */
    ASSERT_EQ(range("bytes=5-1", 1000, &a, &b), EDDY_HTTP_RANGE_NONE);     /* last < first */
    ASSERT_EQ(range("items=0-1", 1000, &a, &b), EDDY_HTTP_RANGE_NONE);
    ASSERT_EQ(range("bytes=", 1000, &a, &b), EDDY_HTTP_RANGE_NONE);
    ASSERT_EQ(range("bytes=-", 1000, &a, &b), EDDY_HTTP_RANGE_NONE);
    ASSERT_EQ(range("bytes=a-b", 1000, &a, &b), EDDY_HTTP_RANGE_NONE);
    ASSERT_EQ(range("bytes 0-1", 1000, &a, &b), EDDY_HTTP_RANGE_NONE);
    ASSERT_EQ(range("bytes=0-1x", 1000, &a, &b), EDDY_HTTP_RANGE_NONE);
    ASSERT_EQ(range("bytes=+1-2", 1000, &a, &b), EDDY_HTTP_RANGE_NONE);
    ASSERT_EQ(range("", 1000, &a, &b), EDDY_HTTP_RANGE_NONE);
}

static void test_if_range(void)
{
    ASSERT(eddy_http_if_range_ok(S("\"1-2-3\""), tag, 5));
    ASSERT(!eddy_http_if_range_ok(S("W/\"1-2-3\""), tag, 5)); /* weak never matches */
    ASSERT(!eddy_http_if_range_ok(S("\"9\""), tag, 5));
    ASSERT(eddy_http_if_range_ok(S("Sun, 06 Nov 1994 08:49:37 GMT"), tag, 784111777));
    ASSERT(!eddy_http_if_range_ok(S("Sun, 06 Nov 1994 08:49:37 GMT"), tag, 784111778));
    ASSERT(!eddy_http_if_range_ok(S("junk"), tag, 5));
}

/* Random field values never give a range outside the file, and OK only for sane input. */
static void test_range_random_inputs(void)
{
    static const char alphabet[] = "bytes=-0123456789, \t;x";
    unsigned seed = 12345;
    char v[24];
    for (int iter = 0; iter < 200000; iter++) {
        size_t n = 0, len;
        seed = seed * 1103515245u + 12345u;
        len = (seed >> 16) % sizeof v;
        if (iter % 2 == 0 && len >= 6) { /* half the inputs start well-formed */
            memcpy(v, "bytes=", 6);
            n = 6;
        }
        for (; n < len; n++) {
            seed = seed * 1103515245u + 12345u;
            v[n] = alphabet[(seed >> 16) % (sizeof alphabet - 1)];
        }
        uint64_t size = (seed >> 8) % 5000;
        struct eddy_http_range r = {7, 3};
        int rc = eddy_http_range_parse(v, len, size, &r);
        if (rc == EDDY_HTTP_RANGE_OK) {
            ASSERT_LE(r.first, r.last);
            ASSERT_LT(r.last, size);
        } else {
            ASSERT(rc == EDDY_HTTP_RANGE_NONE || rc == EDDY_HTTP_RANGE_UNSATISFIABLE);
        }
    }
}

int main(void)
{
    RUN(test_etag_shape);
    RUN(test_etag_list_match);
    RUN(test_cond_none);
    RUN(test_cond_if_none_match);
    RUN(test_cond_if_none_match_beats_if_modified_since);
    RUN(test_cond_if_modified_since);
    RUN(test_cond_if_match_and_unmodified_since);
    RUN(test_range_single_forms);
    RUN(test_range_unsatisfiable);
    RUN(test_range_ignored);
    RUN(test_if_range);
    RUN(test_range_random_inputs);
    return eddy_test_done();
}
