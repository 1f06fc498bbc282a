/* The response fields the open-file cache builds once per entry: the same text the
 * handler would add field by field, rebuilt when the file changes, none for directories. */
#include "static_test_util.h"

static void expect_fields(const struct eddy_http_file *f)
{
    char want[512];
    int v =
        snprintf(want, sizeof want, "ETag: %s\r\nLast-Modified: %s\r\n", f->etag, f->last_modified);
    int n = v + snprintf(want + v, sizeof want - (size_t)v,
                         "Accept-Ranges: bytes\r\nContent-Type: %s\r\n", f->mime);
    ASSERT(f->fields != NULL);
    ASSERT_EQ(f->validators_len, (size_t)v);
    ASSERT_EQ(f->fields_len, (size_t)n);
    ASSERT_MEM_EQ(f->fields, want, (size_t)n);
}

static void test_fields_of_small_and_large_files(struct eddy_http_fcache *c)
{
    const struct eddy_http_file *f;
    char *big = malloc(100001);
    memset(big, 'x', 100000);
    big[100000] = 0;
    put_str("a.css", "body{}");
    put_str("big.bin", big);
    free(big);
    ASSERT_EQ(eddy_http_fcache_get(c, "/a.css", 1000, &f), 0);
    expect_fields(f);
    ASSERT(strstr(f->fields, "Content-Type: text/css; charset=utf-8\r\n") != NULL);
    ASSERT_EQ(eddy_http_fcache_get(c, "/big.bin", 1000, &f), 0);
    ASSERT(f->body == NULL);
    expect_fields(f);
}

static void test_fields_follow_a_change(struct eddy_http_fcache *c)
{
    const struct eddy_http_file *f;
    char etag1[EDDY_HTTP_ETAG_MAX];
    put_str("b.txt", "one");
    ASSERT_EQ(eddy_http_fcache_get(c, "/b.txt", 1000, &f), 0);
    expect_fields(f);
    memcpy(etag1, f->etag, sizeof etag1);
    put_str("b.txt", "two, longer");
    ASSERT_EQ(eddy_http_fcache_get(c, "/b.txt", 5000, &f), 0); /* past valid_ms: revalidated */
    ASSERT(strcmp(f->etag, etag1) != 0);
    expect_fields(f);
}

static void test_no_fields_for_a_directory(struct eddy_http_fcache *c)
{
    const struct eddy_http_file *f;
    char p[512];
    ASSERT_EQ(mkdir(scratch_path(p, "d"), 0755), 0);
    ASSERT_EQ(eddy_http_fcache_get(c, "/d", 1000, &f), 0);
    ASSERT_EQ(f->is_dir, 1);
    ASSERT(f->fields == NULL);
}

int main(void)
{
    if (scratch_root_open("/tmp/eddy_ffields_XXXXXX") != 0)
        return 1;
    RUN_WITH_FCACHE(test_fields_of_small_and_large_files, NULL);
    RUN_WITH_FCACHE(test_fields_follow_a_change, NULL);
    RUN_WITH_FCACHE(test_no_fields_for_a_directory, NULL);
    scratch_root_close();
    return eddy_test_done();
}
