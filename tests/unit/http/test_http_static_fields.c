/* The response fields the open-file cache builds once per entry: the same text the
 * handler would add field by field, rebuilt when the file changes, none for directories. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "eddy/http_static.h"
#include "../../lib/test.h"

static char base[256];
static struct eddy_http_root root;

static void put(const char *rel, const char *content)
{
    char p[512];
    snprintf(p, sizeof p, "%s/%s", base, rel);
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
        if (write(fd, content, strlen(content)) != (ssize_t)strlen(content))
            perror("write");
        close(fd);
    }
}

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

static void test_fields_of_small_and_large_files(void)
{
    struct eddy_http_fcache *c;
    const struct eddy_http_file *f;
    char *big = malloc(100001);
    memset(big, 'x', 100000);
    big[100000] = 0;
    put("a.css", "body{}");
    put("big.bin", big);
    free(big);
    ASSERT_EQ(eddy_http_fcache_new(&c, &root, NULL), 0);
    ASSERT_EQ(eddy_http_fcache_get(c, "/a.css", 1000, &f), 0);
    expect_fields(f);
    ASSERT(strstr(f->fields, "Content-Type: text/css; charset=utf-8\r\n") != NULL);
    ASSERT_EQ(eddy_http_fcache_get(c, "/big.bin", 1000, &f), 0);
    ASSERT(f->body == NULL);
    expect_fields(f);
    eddy_http_fcache_free(c);
}

static void test_fields_follow_a_change(void)
{
    struct eddy_http_fcache *c;
    const struct eddy_http_file *f;
    char etag1[EDDY_HTTP_ETAG_MAX];
    put("b.txt", "one");
    ASSERT_EQ(eddy_http_fcache_new(&c, &root, NULL), 0);
    ASSERT_EQ(eddy_http_fcache_get(c, "/b.txt", 1000, &f), 0);
    expect_fields(f);
    memcpy(etag1, f->etag, sizeof etag1);
    put("b.txt", "two, longer");
    ASSERT_EQ(eddy_http_fcache_get(c, "/b.txt", 5000, &f), 0); /* past valid_ms: revalidated */
    ASSERT(strcmp(f->etag, etag1) != 0);
    expect_fields(f);
    eddy_http_fcache_free(c);
}

static void test_no_fields_for_a_directory(void)
{
    struct eddy_http_fcache *c;
    const struct eddy_http_file *f;
    char p[512];
    snprintf(p, sizeof p, "%s/d", base);
    ASSERT_EQ(mkdir(p, 0755), 0);
    ASSERT_EQ(eddy_http_fcache_new(&c, &root, NULL), 0);
    ASSERT_EQ(eddy_http_fcache_get(c, "/d", 1000, &f), 0);
    ASSERT_EQ(f->is_dir, 1);
    ASSERT(f->fields == NULL);
    eddy_http_fcache_free(c);
}

int main(void)
{
    strcpy(base, "/tmp/eddy_ffields_XXXXXX");
    if (mkdtemp(base) == NULL || eddy_http_root_open(&root, base, 0) != 0)
        return 1;
    RUN(test_fields_of_small_and_large_files);
    RUN(test_fields_follow_a_change);
    RUN(test_no_fields_for_a_directory);
    eddy_http_root_close(&root);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", base);
    if (system(cmd) != 0)
        fprintf(stderr, "# cleanup failed\n");
    return eddy_test_done();
}
