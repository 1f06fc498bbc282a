/* Open-file cache: hits without syscalls, revalidation, replacement, eviction, limits. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "eddy/http_static.h"
#include "../../lib/test.h"

static char base[256];
static struct eddy_http_root root;

static void put(const char *rel, const char *content, size_t len)
{
    char p[512];
    snprintf(p, sizeof p, "%s/%s", base, rel);
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
        if (write(fd, content, len) != (ssize_t)len)
            perror("write");
        close(fd);
    }
}

static int count_open_fds(void)
{
    int n = 0;
    for (int fd = 0; fd < 4096; fd++)
        if (fcntl(fd, F_GETFD) >= 0)
            n++;
    return n;
}

static void test_small_file_held_in_memory(void)
{
    put("small.css", "body{}", 6);
    struct eddy_http_fcache *c;
    ASSERT_EQ(eddy_http_fcache_new(&c, &root, NULL), 0);
    const struct eddy_http_file *f;
    ASSERT_EQ(eddy_http_fcache_get(c, "/small.css", 1000, &f), 0);
    ASSERT(f->body != NULL);
    ASSERT_MEM_EQ(f->body, "body{}", 6);
    ASSERT_EQ(f->st.st_size, 6);
    ASSERT_STR_EQ(f->mime, "text/css; charset=utf-8");
    ASSERT_EQ(f->etag_len, strlen(f->etag));
    ASSERT_EQ(f->etag[0], '"');
    ASSERT_EQ(strlen(f->last_modified), EDDY_HTTP_DATE_LEN);
    ASSERT_EQ(f->is_dir, 0);
    ASSERT_EQ(eddy_http_fcache_hits(c), 0);
    ASSERT_EQ(eddy_http_fcache_get(c, "/small.css", 1500, &f), 0);
    ASSERT_EQ(eddy_http_fcache_hits(c), 1);
    ASSERT_EQ(eddy_http_fcache_size(c), 1);
    eddy_http_fcache_free(c);
}

static void test_large_file_served_from_fd(void)
{
    size_t n = 100000;
    char *big = malloc(n);
    memset(big, 'x', n);
    put("big.bin", big, n);
    free(big);
    struct eddy_http_fcache *c;
    ASSERT_EQ(eddy_http_fcache_new(&c, &root, NULL), 0);
    const struct eddy_http_file *f;
    ASSERT_EQ(eddy_http_fcache_get(c, "/big.bin", 0, &f), 0);
    ASSERT(f->body == NULL);
    ASSERT_GE(f->fd, 0);
    char b[4];
    ASSERT_EQ(pread(f->fd, b, 4, 50000), 4);
    ASSERT_MEM_EQ(b, "xxxx", 4);
    eddy_http_fcache_free(c);
}

static void test_change_noticed_only_after_valid_period(void)
{
    put("v.txt", "one", 3);
    struct eddy_http_fcache *c;
    ASSERT_EQ(eddy_http_fcache_new(&c, &root, NULL), 0);
    const struct eddy_http_file *f;
    ASSERT_EQ(eddy_http_fcache_get(c, "/v.txt", 10000, &f), 0);
    char old_etag[EDDY_HTTP_ETAG_MAX];
    strcpy(old_etag, f->etag);
    /* Replace by rename: a new inode, like a deploy would. */
    put("v.tmp", "second", 6);
    char a[512], b[512];
    snprintf(a, sizeof a, "%s/v.tmp", base);
    snprintf(b, sizeof b, "%s/v.txt", base);
    ASSERT_EQ(rename(a, b), 0);
    ASSERT_EQ(eddy_http_fcache_get(c, "/v.txt", 10999, &f), 0);
    ASSERT_MEM_EQ(f->body, "one", 3); /* still within valid=1s */
    ASSERT_EQ(eddy_http_fcache_get(c, "/v.txt", 11000, &f), 0);
    ASSERT_EQ(f->st.st_size, 6);
    ASSERT_MEM_EQ(f->body, "second", 6);
    ASSERT(strcmp(f->etag, old_etag) != 0);
    eddy_http_fcache_free(c);
}

static void test_unchanged_revalidation_keeps_entry(void)
{
    put("u.txt", "same", 4);
    struct eddy_http_fcache *c;
    ASSERT_EQ(eddy_http_fcache_new(&c, &root, NULL), 0);
    const struct eddy_http_file *f;
    ASSERT_EQ(eddy_http_fcache_get(c, "/u.txt", 0, &f), 0);
    const char *body = f->body;
    int fd = f->fd;
    ASSERT_EQ(eddy_http_fcache_get(c, "/u.txt", 5000, &f), 0);
    ASSERT(f->body == body); /* not re-read */
    ASSERT_EQ(f->fd, fd);
    eddy_http_fcache_free(c);
}

static void test_deleted_file_dropped(void)
{
    put("d.txt", "gone", 4);
    struct eddy_http_fcache *c;
    ASSERT_EQ(eddy_http_fcache_new(&c, &root, NULL), 0);
    const struct eddy_http_file *f;
    ASSERT_EQ(eddy_http_fcache_get(c, "/d.txt", 0, &f), 0);
    char p[512];
    snprintf(p, sizeof p, "%s/d.txt", base);
    unlink(p);
    ASSERT_EQ(eddy_http_fcache_get(c, "/d.txt", 2000, &f), -ENOENT);
    ASSERT_EQ(eddy_http_fcache_size(c), 0);
    ASSERT_EQ(eddy_http_fcache_get(c, "/missing", 2000, &f), -ENOENT);
    ASSERT_EQ(eddy_http_fcache_get(c, "/.hidden", 2000, &f), -ENOENT);
    ASSERT_EQ(eddy_http_fcache_size(c), 0);
    eddy_http_fcache_free(c);
}

static void test_lru_bound_and_no_fd_leak(void)
{
    int before = count_open_fds();
    char name[64];
    for (int i = 0; i < 20; i++) {
        snprintf(name, sizeof name, "f%02d.txt", i);
        put(name, name, strlen(name));
    }
    struct eddy_http_fcache *c;
    struct eddy_http_fcache_options o = {.max_entries = 8};
    ASSERT_EQ(eddy_http_fcache_new(&c, &root, &o), 0);
    const struct eddy_http_file *f;
    for (int i = 0; i < 20; i++) {
        snprintf(name, sizeof name, "/f%02d.txt", i);
        ASSERT_EQ(eddy_http_fcache_get(c, name, 0, &f), 0);
        ASSERT_MEM_EQ(f->body, name + 1, strlen(name + 1));
        /* keep f00 hot: it must survive eviction */
        ASSERT_EQ(eddy_http_fcache_get(c, "/f00.txt", 0, &f), 0);
    }
    ASSERT_EQ(eddy_http_fcache_size(c), 8);
    ASSERT_EQ(count_open_fds(), before + 8);
    uint64_t h = eddy_http_fcache_hits(c);
    ASSERT_EQ(eddy_http_fcache_get(c, "/f00.txt", 0, &f), 0);
    ASSERT_EQ(eddy_http_fcache_hits(c), h + 1);
    ASSERT_EQ(eddy_http_fcache_get(c, "/f19.txt", 0, &f), 0);
    ASSERT_EQ(eddy_http_fcache_hits(c), h + 2);
    ASSERT_EQ(eddy_http_fcache_get(c, "/f05.txt", 0, &f), 0); /* evicted: a miss */
    ASSERT_EQ(eddy_http_fcache_hits(c), h + 2);
    eddy_http_fcache_free(c);
    ASSERT_EQ(count_open_fds(), before);
}

static void test_inactive_entries_closed(void)
{
    put("i1.txt", "1", 1);
    put("i2.txt", "2", 1);
    struct eddy_http_fcache *c;
    struct eddy_http_fcache_options o = {.inactive_ms = 5000};
    ASSERT_EQ(eddy_http_fcache_new(&c, &root, &o), 0);
    const struct eddy_http_file *f;
    int before = count_open_fds();
    ASSERT_EQ(eddy_http_fcache_get(c, "/i1.txt", 1000, &f), 0);
    ASSERT_EQ(eddy_http_fcache_get(c, "/i2.txt", 4000, &f), 0);
    ASSERT_EQ(count_open_fds(), before + 2);
    ASSERT_EQ(eddy_http_fcache_get(c, "/i2.txt", 5500, &f), 0); /* i1 idle 4.5 s: kept */
    ASSERT_EQ(eddy_http_fcache_size(c), 2);
    ASSERT_EQ(eddy_http_fcache_get(c, "/i2.txt", 6000, &f), 0); /* i1 idle 5 s: closed */
    ASSERT_EQ(eddy_http_fcache_size(c), 1);
    ASSERT_EQ(count_open_fds(), before + 1);
    eddy_http_fcache_free(c);
}

static void test_directory_entry(void)
{
    char p[512];
    snprintf(p, sizeof p, "%s/dir", base);
    mkdir(p, 0755);
    struct eddy_http_fcache *c;
    ASSERT_EQ(eddy_http_fcache_new(&c, &root, NULL), 0);
    const struct eddy_http_file *f;
    ASSERT_EQ(eddy_http_fcache_get(c, "/dir", 0, &f), 0);
    ASSERT_EQ(f->is_dir, 1);
    ASSERT(f->body == NULL);
    eddy_http_fcache_free(c);
}

int main(void)
{
    strcpy(base, "/tmp/eddy_fcache_XXXXXX");
    if (mkdtemp(base) == NULL || eddy_http_root_open(&root, base, 0) != 0)
        return 1;
    RUN(test_small_file_held_in_memory);
    RUN(test_large_file_served_from_fd);
    RUN(test_change_noticed_only_after_valid_period);
    RUN(test_unchanged_revalidation_keeps_entry);
    RUN(test_deleted_file_dropped);
    RUN(test_lru_bound_and_no_fd_leak);
    RUN(test_inactive_entries_closed);
    RUN(test_directory_entry);
    eddy_http_root_close(&root);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", base);
    if (system(cmd) != 0)
        fprintf(stderr, "# cleanup failed\n");
    return eddy_test_done();
}
