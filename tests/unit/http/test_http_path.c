/* Request-path normaliser: table of targets and their normal form, query or error. */
#include "eddy/http_parser.h"
#include "../../lib/test.h"

#include <errno.h>
#include <stdlib.h>

#include "guard_page.h"

struct ncase {
    const char *in;
    const char *out;   /* NULL: expect -EINVAL */
    const char *query; /* NULL: no '?' */
};

static const struct ncase cases[] = {
    {"/", "/", NULL},
    {"/hello.txt", "/hello.txt", NULL},
    {"/a/b/c", "/a/b/c", NULL},
    {"/a/b/", "/a/b/", NULL},
    {"//a///b//", "/a/b/", NULL},
    {"/./a/./b/.", "/a/b/", NULL},
    {"/a/b/../c", "/a/c", NULL},
    {"/a/b/..", "/a/", NULL},
    {"/a/..", "/", NULL},
    {"/a/../", "/", NULL},
    {"/a/b/../../c/", "/c/", NULL},
    {"/a//..//b", "/b", NULL},
    {"/...", "/...", NULL},
    {"/..a/b..", "/..a/b..", NULL},
    {"/.hidden/.x", "/.hidden/.x", NULL},
    {"/a?", "/a", ""},
    {"/a?b=1&c=/../..", "/a", "b=1&c=/../.."},
    {"/a%20b", "/a b", NULL},
    {"/%41%62%7a", "/Abz", NULL},
    {"/a%2Fb", "/a/b", NULL},
    {"/a%2f..%2f..%2fb", NULL, NULL},
    {"/x/..%2Fy", "/y", NULL},
    {"/x/%2E%2E/y", "/y", NULL},
    {"/x/%2e/y", "/x/y", NULL},
    {"/%2e%2e", NULL, NULL},
    {"/a%252F", "/a%2F", NULL},
    {"/a%3Fb?c", "/a?b", "c"},
    {"/caf%C3%A9", "/caf\xc3\xa9", NULL},
    {"/caf\xc3\xa9", "/caf\xc3\xa9", NULL},
    {"?x", "/", "x"},
    {"", "/", NULL},
    {"/..", NULL, NULL},
    {"/../a", NULL, NULL},
    {"/a/../..", NULL, NULL},
    {"/a/../../b", NULL, NULL},
    {"/./..", NULL, NULL},
    {"a/b", NULL, NULL},
    {"*", NULL, NULL},
    {"%2Fa", NULL, NULL},
    {"/a\\b", NULL, NULL},
    {"/a%5cb", NULL, NULL},
    {"/a%5Cb", NULL, NULL},
    {"/a%00b", NULL, NULL},
    {"/a%0ab", NULL, NULL},
    {"/a%7f", NULL, NULL},
    {"/a%", NULL, NULL},
    {"/a%4", NULL, NULL},
    {"/a%4?x", NULL, NULL},
    {"/a%g0", NULL, NULL},
    {"/a%0g", NULL, NULL},
    {"/a b", NULL, NULL},
    {"/a\x01", NULL, NULL},
    {"/a\x7f", NULL, NULL},
    /* a plain prefix copied as is, then the general path from the byte that needs it */
    {"/abc//d/../e", "/abc/e", NULL},
    {"/abc/..", "/", NULL},
    {"/abc//", "/abc/", NULL},
    {"/ab/c%2F..%2Fd", "/ab/d", NULL},
    {"/ab/cd../x", "/ab/cd../x", NULL},
    {"/ab/x.y/./z", "/ab/x.y/z", NULL},
};

static void test_table(void)
{
    char out[256];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct ncase *c = &cases[i];
        struct eddy_http_str q = {"junk", 4};
        ssize_t n = eddy_http_normalize_path(c->in, strlen(c->in), out, sizeof(out), &q);
        int ok = c->out ? n == (ssize_t)strlen(c->out) && strcmp(out, c->out) == 0 : n == -EINVAL;
        if (ok && c->out) {
            if (c->query)
                ok = q.len == strlen(c->query) && memcmp(q.p, c->query, q.len) == 0;
            else
                ok = q.p == NULL && q.len == 0;
        }
        if (!ok) {
            printf("#   case \"%s\": got %zd \"%s\"\n", c->in, n, n >= 0 ? out : "");
            ASSERT(0);
        }
    }
}

/* Exact-size output buffers work; one byte less is -ENOBUFS, never an overflow. */
static void test_buffer_sizes(void)
{
    char *out = malloc(16);
    ASSERT_EQ(eddy_http_normalize_path("/abc", 4, out, 5, NULL), 4);
    ASSERT_STR_EQ(out, "/abc");
    ASSERT_EQ(eddy_http_normalize_path("/abc", 4, out, 4, NULL), -ENOBUFS);
    ASSERT_EQ(eddy_http_normalize_path("", 0, out, 2, NULL), 1);
    ASSERT_EQ(eddy_http_normalize_path("", 0, out, 1, NULL), -ENOBUFS);
    ASSERT_EQ(eddy_http_normalize_path("/a?xyz", 6, out, 3, NULL), 2);
    free(out);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t len = strlen(cases[i].in);
        char *o = malloc(len + 2);
        ssize_t n = eddy_http_normalize_path(cases[i].in, len, o, len + 2, NULL);
        ASSERT(n == -EINVAL || (n >= 1 && (size_t)n <= (len ? len : 1) && o[0] == '/'));
        free(o);
    }
}

/* Inputs end right before a PROT_NONE page: a truncated escape must not read past. */
static void test_guard_page(void)
{
    struct guard_page g;
    char out[300];
    ASSERT_EQ(guard_page_open(&g), 0);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t len = strlen(cases[i].in);
        for (size_t k = 0; k <= len; k++) {
            const char *b = guard_page_put(&g, cases[i].in, k);
            ssize_t n = eddy_http_normalize_path(b, k, out, sizeof(out), NULL);
            ASSERT(n == -EINVAL || n >= 1);
        }
    }
    guard_page_close(&g);
}

/* Random paths over a small alphabet: the output is always in normal form. */
static void test_random_invariants(void)
{
    static const char alpha[] = "/./a%2e%2F?";
    unsigned seed = 7;
    char in[40], out[48];
    for (int it = 0; it < 200000; it++) {
        size_t len = (size_t)(rand_r(&seed) % 30);
        in[0] = '/';
        for (size_t k = 1; k < len; k++)
            in[k] = alpha[rand_r(&seed) % (sizeof(alpha) - 1)];
        ssize_t n = eddy_http_normalize_path(in, len, out, sizeof(out), NULL);
        if (n < 0)
            continue;
        ASSERT_EQ(out[0], '/');
        ASSERT(strstr(out, "//") == NULL);
        ASSERT(strstr(out, "/./") == NULL && strstr(out, "/../") == NULL);
        ASSERT(!(n >= 2 && strcmp(out + n - 2, "/.") == 0));
        ASSERT(!(n >= 3 && strcmp(out + n - 3, "/..") == 0));
        /* normalising again changes nothing (no %-escapes can be left over here
         * unless the input had "%25", which the alphabet cannot produce) */
        char again[48];
        ASSERT_EQ(eddy_http_normalize_path(out, (size_t)n, again, sizeof(again), NULL),
                  strchr(out, '?') ? (ssize_t)(strchr(out, '?') - out) : n);
    }
}

int main(void)
{
    RUN(test_table);
    RUN(test_buffer_sizes);
    RUN(test_guard_page);
    RUN(test_random_invariants);
    return eddy_test_done();
}
