/* Dates, ETags, conditional requests and byte ranges. */
#include <errno.h>
#include <stdio.h>
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
    ASSERT_STR_EQ(e, "\"5f000000-400\"");
    ASSERT_EQ(n, strlen(e));
    st.st_size = 0x401;
    eddy_http_etag_format(&st, e, sizeof e);
    ASSERT_STR_EQ(e, "\"5f000000-401\"");
}

/* Copies of a file on several servers have other inodes: the tag must not differ. */
static void test_etag_ignores_inode(void)
{
    struct stat a, b;
    memset(&a, 0, sizeof a);
    a.st_ino = 11, a.st_dev = 1, a.st_mtime = 1700000000, a.st_size = 5;
    b = a;
    b.st_ino = 987654, b.st_dev = 2;
    char ea[EDDY_HTTP_ETAG_MAX], eb[EDDY_HTTP_ETAG_MAX];
    eddy_http_etag_format(&a, ea, sizeof ea);
    eddy_http_etag_format(&b, eb, sizeof eb);
    ASSERT_STR_EQ(ea, eb);
    struct stat m = {.st_mtime = INT64_MAX, .st_size = INT64_MAX};
    ASSERT_EQ(eddy_http_etag_format(&m, ea, sizeof ea),
              strlen("\"7fffffffffffffff-7fffffffffffffff\""));
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

#define IMS_DATE "Sun, 06 Nov 1994 08:49:37 GMT" /* 784111777 */

/* A request's precondition fields (NULL: absent), the file's mtime and the verdict wanted. */
struct cond_case {
    const char *if_match, *if_none_match, *if_modified_since, *if_unmodified_since;
    time_t mtime;
    int want; /* 0 (serve), 304 or 412 */
};

static size_t len_or_0(const char *s)
{
    return s != NULL ? strlen(s) : 0;
}

static const char *shown(const char *s)
{
    return s != NULL ? s : "(absent)";
}

static void check_cond(const struct cond_case *t, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const struct cond_case *c = &t[i];
        struct eddy_http_cond_fields f = {c->if_match,
                                          c->if_none_match,
                                          c->if_modified_since,
                                          c->if_unmodified_since,
                                          len_or_0(c->if_match),
                                          len_or_0(c->if_none_match),
                                          len_or_0(c->if_modified_since),
                                          len_or_0(c->if_unmodified_since)};
        int got = eddy_http_cond_evaluate(&f, tag, c->mtime);
        if (got != c->want)
            printf("#   case %zu: If-Match %s, If-None-Match %s, If-Modified-Since %s, "
                   "If-Unmodified-Since %s, mtime %lld\n",
                   i, shown(c->if_match), shown(c->if_none_match), shown(c->if_modified_since),
                   shown(c->if_unmodified_since), (long long)c->mtime);
        ASSERT_EQ(got, c->want);
    }
}

#define CHECK_COND(t) check_cond(t, sizeof(t) / sizeof(t[0]))

static void test_cond_none(void)
{
    static const struct cond_case t[] = {{NULL, NULL, NULL, NULL, 1000, 0}};
    CHECK_COND(t);
}

static void test_cond_if_none_match(void)
{
    static const struct cond_case t[] = {
        {NULL, "\"1-2-3\"", NULL, NULL, 1000, 304},
        {NULL, "W/\"1-2-3\"", NULL, NULL, 1000, 304},
        {NULL, "*", NULL, NULL, 1000, 304},
        {NULL, "\"other\"", NULL, NULL, 1000, 0},
    };
    CHECK_COND(t);
}

static void test_cond_if_none_match_beats_if_modified_since(void)
{
    static const struct cond_case t[] = {{NULL, "\"other\"", IMS_DATE, NULL, 784111777, 0}};
    CHECK_COND(t);
}

static void test_cond_if_modified_since(void)
{
    static const struct cond_case t[] = {
        {NULL, NULL, IMS_DATE, NULL, 784111777, 304},
        {NULL, NULL, IMS_DATE, NULL, 784111776, 304},
        {NULL, NULL, IMS_DATE, NULL, 784111778, 0},
        {NULL, NULL, "garbage", NULL, 0, 0},
    };
    CHECK_COND(t);
}

static void test_cond_if_match_and_unmodified_since(void)
{
    static const struct cond_case t[] = {
        {"\"nope\"", NULL, NULL, NULL, 1, 412},
        {"\"1-2-3\"", NULL, NULL, NULL, 1, 0},
        {NULL, NULL, NULL, IMS_DATE, 784111778, 412},
        {NULL, NULL, NULL, IMS_DATE, 784111777, 0},
    };
    CHECK_COND(t);
}

/* Range values for a file of size bytes and the verdict each gets; first and last are those of
 * RANGE_OK. Each test below takes the rows of one verdict. */
static const struct range_case {
    const char *v;
    uint64_t size;
    int rc;
    uint64_t first, last;
} ranges[] = {
    {"bytes=0-99", 1000, EDDY_HTTP_RANGE_OK, 0, 99},
    {"bytes=500-", 1000, EDDY_HTTP_RANGE_OK, 500, 999},
    {"bytes=-100", 1000, EDDY_HTTP_RANGE_OK, 900, 999},
    {"bytes=-5000", 1000, EDDY_HTTP_RANGE_OK, 0, 999},
    {"bytes=990-5000", 1000, EDDY_HTTP_RANGE_OK, 990, 999},
    {"BYTES = 3-3 ", 1000, EDDY_HTTP_RANGE_OK, 3, 3},
    {"bytes=0-99999999999999999999999", 10, EDDY_HTTP_RANGE_OK, 0, 9},
    {"bytes=1000-", 1000, EDDY_HTTP_RANGE_UNSATISFIABLE, 0, 0},
    {"bytes=1000-2000", 1000, EDDY_HTTP_RANGE_UNSATISFIABLE, 0, 0},
    {"bytes=-0", 1000, EDDY_HTTP_RANGE_UNSATISFIABLE, 0, 0},
    {"bytes=0-", 0, EDDY_HTTP_RANGE_UNSATISFIABLE, 0, 0},
    {"bytes=-5", 0, EDDY_HTTP_RANGE_UNSATISFIABLE, 0, 0},
    {"bytes=99999999999999999999999-", 10, EDDY_HTTP_RANGE_UNSATISFIABLE, 0, 0},
    {"bytes=0-1,5-6", 1000, EDDY_HTTP_RANGE_NONE, 0, 0}, /* several: the one-range API */
    {"bytes=0-1,2-3", 1000, EDDY_HTTP_RANGE_OK, 0, 3},   /* touching: merged into one */
    {"bytes=5-1", 1000, EDDY_HTTP_RANGE_NONE, 0, 0},     /* last < first */
    {"items=0-1", 1000, EDDY_HTTP_RANGE_NONE, 0, 0},
    {"bytes=", 1000, EDDY_HTTP_RANGE_NONE, 0, 0},
    {"bytes=-", 1000, EDDY_HTTP_RANGE_NONE, 0, 0},
    {"bytes=a-b", 1000, EDDY_HTTP_RANGE_NONE, 0, 0},
    {"bytes 0-1", 1000, EDDY_HTTP_RANGE_NONE, 0, 0},
    {"bytes=0-1x", 1000, EDDY_HTTP_RANGE_NONE, 0, 0},
    {"bytes=+1-2", 1000, EDDY_HTTP_RANGE_NONE, 0, 0},
    {"", 1000, EDDY_HTTP_RANGE_NONE, 0, 0},
};

/* Checks the rows of ranges expecting verdict rc; asserts there is at least one. */
static void check_ranges(int rc_wanted)
{
    int rows = 0;
    for (size_t i = 0; i < sizeof(ranges) / sizeof(ranges[0]); i++) {
        const struct range_case *c = &ranges[i];
        struct eddy_http_range r = {0, 0};
        if (c->rc != rc_wanted)
            continue;
        rows++;
        int rc = eddy_http_range_parse(c->v, strlen(c->v), c->size, &r);
        int ok =
            rc == c->rc && (rc != EDDY_HTTP_RANGE_OK || (r.first == c->first && r.last == c->last));
        if (!ok)
            printf("#   case \"%s\" size %llu: %d [%llu, %llu]\n", c->v,
                   (unsigned long long)c->size, rc, (unsigned long long)r.first,
                   (unsigned long long)r.last);
        ASSERT(ok);
    }
    ASSERT_GT(rows, 0);
}

static void test_range_single_forms(void)
{
    check_ranges(EDDY_HTTP_RANGE_OK);
}

static void test_range_unsatisfiable(void)
{
    check_ranges(EDDY_HTTP_RANGE_UNSATISFIABLE);
}

/* Range sets: "FIRST-LAST ..." of the expected parts, in order, or the verdict. */
static const struct set_case {
    const char *v;
    uint64_t size;
    int rc;
    const char *parts;
} sets[] = {
    {"bytes=0-1,3-4", 10, EDDY_HTTP_RANGE_OK, "0-1 3-4"},
    {"bytes=3-4,0-1", 10, EDDY_HTTP_RANGE_OK, "3-4 0-1"}, /* request order kept */
    {"bytes=0-1,2-4", 10, EDDY_HTTP_RANGE_OK, "0-4"},     /* adjacent: merged */
    {"bytes=0-5,2-3", 10, EDDY_HTTP_RANGE_OK, "0-5"},     /* contained */
    {"bytes=0-1,2-4,1-3", 10, EDDY_HTTP_RANGE_OK, "0-4"},
    {"bytes=5-6,0-1,3-3,2-2", 10, EDDY_HTTP_RANGE_OK, "5-6 0-3"}, /* a bridge joins two */
    {"bytes=0-1,5-6,2-4", 10, EDDY_HTTP_RANGE_OK, "0-6"},
    {"bytes=8-,-3", 10, EDDY_HTTP_RANGE_OK, "7-9"},
    {"bytes=0-0,-1", 10, EDDY_HTTP_RANGE_OK, "0-0 9-9"},
    {"bytes= 0-1 , , 4-5 ,", 10, EDDY_HTTP_RANGE_OK, "0-1 4-5"}, /* empty elements */
    {"bytes=0-1,20-30", 10, EDDY_HTTP_RANGE_OK, "0-1"},          /* unsatisfiable dropped */
    {"bytes=20-30,40-", 10, EDDY_HTTP_RANGE_UNSATISFIABLE, ""},
    {"bytes=0-1,5-1", 10, EDDY_HTTP_RANGE_NONE, ""}, /* one invalid spec: ignored */
    {"bytes=0-1;3-4", 10, EDDY_HTTP_RANGE_NONE, ""},
    {"bytes=,", 10, EDDY_HTTP_RANGE_NONE, ""},
};

static void format_parts(const struct eddy_http_range *r, size_t n, char *out, size_t cap)
{
    size_t o = 0;
    out[0] = '\0';
    for (size_t i = 0; i < n && o < cap; i++)
        o += (size_t)snprintf(out + o, cap - o, "%s%llu-%llu", i ? " " : "",
                              (unsigned long long)r[i].first, (unsigned long long)r[i].last);
}

static void test_range_sets(void)
{
    for (size_t i = 0; i < sizeof(sets) / sizeof(sets[0]); i++) {
        const struct set_case *c = &sets[i];
        struct eddy_http_range r[EDDY_HTTP_MAX_RANGES];
        size_t n = 99;
        char got[256];
        int rc = eddy_http_ranges_parse(c->v, strlen(c->v), c->size, r, EDDY_HTTP_MAX_RANGES, &n);
        format_parts(r, rc == EDDY_HTTP_RANGE_OK ? n : 0, got, sizeof got);
        if (rc != c->rc || strcmp(got, c->parts) != 0)
            printf("#   case \"%s\": %d \"%s\"\n", c->v, rc, got);
        ASSERT_EQ(rc, c->rc);
        ASSERT_STR_EQ(got, c->parts);
    }
}

/* RFC 9110 14.2: a bounded number of range-specs; many tiny or overlapping ones cannot
 * make the answer larger than the file. */
static void test_range_set_limits(void)
{
    char v[1024] = "bytes=";
    struct eddy_http_range r[EDDY_HTTP_MAX_RANGES];
    size_t n;
    for (int i = 0; i < EDDY_HTTP_MAX_RANGES; i++)
        sprintf(v + strlen(v), "%s%d-%d", i ? "," : "", i * 3, i * 3);
    ASSERT_EQ(eddy_http_ranges_parse(v, strlen(v), 1000, r, EDDY_HTTP_MAX_RANGES, &n),
              EDDY_HTTP_RANGE_OK);
    ASSERT_EQ(n, EDDY_HTTP_MAX_RANGES);
    strcat(v, ",999-999");
    ASSERT_EQ(eddy_http_ranges_parse(v, strlen(v), 1000, r, EDDY_HTTP_MAX_RANGES, &n),
              EDDY_HTTP_RANGE_NONE);
    strcpy(v, "bytes=");
    for (int i = 0; i < EDDY_HTTP_MAX_RANGES; i++) /* every one the whole file */
        strcat(v, i ? ",0-" : "0-");
    ASSERT_EQ(eddy_http_ranges_parse(v, strlen(v), 1000, r, EDDY_HTTP_MAX_RANGES, &n),
              EDDY_HTTP_RANGE_OK);
    ASSERT_EQ(n, 1);
    ASSERT_EQ(r[0].first, 0);
    ASSERT_EQ(r[0].last, 999);
}

static void test_range_ignored(void)
{
    check_ranges(EDDY_HTTP_RANGE_NONE);
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
    RUN(test_etag_ignores_inode);
    RUN(test_range_sets);
    RUN(test_range_set_limits);
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
