/* Open-file cache: hits without syscalls, revalidation, replacement, eviction, limits. */
#include <errno.h>

#include "static_test_util.h"

static int count_open_fds(void)
{
    int n = 0;
    for (int fd = 0; fd < 4096; fd++)
        if (fcntl(fd, F_GETFD) >= 0)
            n++;
    return n;
}

static void test_small_file_held_in_memory(struct eddy_http_fcache *c)
{
    put("small.css", "body{}", 6);
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
}

static void test_large_file_served_from_fd(struct eddy_http_fcache *c)
{
    size_t n = 100000;
    char *big = malloc(n);
    memset(big, 'x', n);
    put("big.bin", big, n);
    free(big);
    const struct eddy_http_file *f;
    ASSERT_EQ(eddy_http_fcache_get(c, "/big.bin", 0, &f), 0);
    ASSERT(f->body == NULL);
    ASSERT_GE(f->fd, 0);
    char b[4];
    ASSERT_EQ(pread(f->fd, b, 4, 50000), 4);
    ASSERT_MEM_EQ(b, "xxxx", 4);
}

static void test_change_noticed_only_after_valid_period(struct eddy_http_fcache *c)
{
    put("v.txt", "one", 3);
    const struct eddy_http_file *f;
    ASSERT_EQ(eddy_http_fcache_get(c, "/v.txt", 10000, &f), 0);
    char old_etag[EDDY_HTTP_ETAG_MAX];
    strcpy(old_etag, f->etag);
    /* Replace by rename: a new inode, like a deploy would. */
    put("v.tmp", "second", 6);
    char a[512], b[512];
    ASSERT_EQ(rename(scratch_path(a, "v.tmp"), scratch_path(b, "v.txt")), 0);
    ASSERT_EQ(eddy_http_fcache_get(c, "/v.txt", 10999, &f), 0);
    ASSERT_MEM_EQ(f->body, "one", 3); /* still within valid=1s */
    ASSERT_EQ(eddy_http_fcache_get(c, "/v.txt", 11000, &f), 0);
    ASSERT_EQ(f->st.st_size, 6);
    ASSERT_MEM_EQ(f->body, "second", 6);
    ASSERT(strcmp(f->etag, old_etag) != 0);
}

static void test_unchanged_revalidation_keeps_entry(struct eddy_http_fcache *c)
{
    put("u.txt", "same", 4);
    const struct eddy_http_file *f;
    ASSERT_EQ(eddy_http_fcache_get(c, "/u.txt", 0, &f), 0);
    const char *body = f->body;
    int fd = f->fd;
    ASSERT_EQ(eddy_http_fcache_get(c, "/u.txt", 5000, &f), 0);
    ASSERT(f->body == body); /* not re-read */
    ASSERT_EQ(f->fd, fd);
}

static void test_deleted_file_dropped(struct eddy_http_fcache *c)
{
    put("d.txt", "gone", 4);
    const struct eddy_http_file *f;
    ASSERT_EQ(eddy_http_fcache_get(c, "/d.txt", 0, &f), 0);
    char p[512];
    unlink(scratch_path(p, "d.txt"));
    ASSERT_EQ(eddy_http_fcache_get(c, "/d.txt", 2000, &f), -ENOENT);
    ASSERT_EQ(eddy_http_fcache_size(c), 0);
    ASSERT_EQ(eddy_http_fcache_get(c, "/missing", 2000, &f), -ENOENT);
    ASSERT_EQ(eddy_http_fcache_get(c, "/.hidden", 2000, &f), -ENOENT);
    ASSERT_EQ(eddy_http_fcache_size(c), 0);
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

/* A response's reference keeps the cached descriptor open past eviction, revalidation
 * and the cache's end; the last one to let go closes it, and nothing is dup'ed. */
static void test_fd_ref_outlives_entry(void)
{
    static char big[40000];
    int before = count_open_fds();
    struct eddy_http_fcache *c;
    struct eddy_http_fcache_options o = {.max_entries = 1, .valid_ms = 10};
    const struct eddy_http_file *f;
    char b[4];
    memset(big, 'r', sizeof big);
    put("r1.bin", big, sizeof big);
    put("r2.bin", big, sizeof big);
    put("small.txt", "s", 1);
    ASSERT_EQ(eddy_http_fcache_new(&c, &root, &o), 0);
    ASSERT_EQ(eddy_http_fcache_get(c, "/small.txt", 0, &f), 0);
    ASSERT(eddy_http_file_fd_ref(f) == NULL); /* in memory: no holder */
    ASSERT_EQ(eddy_http_fcache_get(c, "/r1.bin", 0, &f), 0);
    int fd1 = f->fd;
    struct eddy_http_fd_ref *r1 = eddy_http_file_fd_ref(f), *r1b = eddy_http_file_fd_ref(f);
    ASSERT(r1 != NULL && r1 == r1b);
    ASSERT_EQ(eddy_http_fcache_get(c, "/r2.bin", 0, &f), 0); /* evicts r1 */
    ASSERT_EQ(eddy_http_fcache_size(c), 1);
    ASSERT_EQ(pread(fd1, b, 4, 30000), 4);
    eddy_http_fd_unref(r1);
    ASSERT_EQ(pread(fd1, b, 4, 30000), 4);
    eddy_http_fd_unref(r1b); /* the last user: closed */
    ASSERT_EQ(fcntl(fd1, F_GETFD), -1);
    int fd2 = f->fd;
    struct eddy_http_fd_ref *r2 = eddy_http_file_fd_ref(f);
    put("r2.bin", "changed", 7); /* revalidation after 10 ms refills the entry */
    ASSERT_EQ(eddy_http_fcache_get(c, "/r2.bin", 100, &f), 0);
    ASSERT(f->body != NULL && f->fd != fd2);
    ASSERT_EQ(pread(fd2, b, 4, 0), 4); /* the old file, still readable */
    ASSERT_EQ(eddy_http_fcache_get(c, "/r1.bin", 100, &f), 0);
    struct eddy_http_fd_ref *r3 = eddy_http_file_fd_ref(f);
    int fd3 = f->fd;
    eddy_http_fcache_free(c);
    ASSERT_EQ(pread(fd3, b, 4, 0), 4);
    eddy_http_fd_unref(r3);
    eddy_http_fd_unref(r2);
    ASSERT_EQ(count_open_fds(), before);
}

static const struct eddy_http_fcache_options inactive_5s = {.inactive_ms = 5000};

static void test_inactive_entries_closed(struct eddy_http_fcache *c)
{
    put("i1.txt", "1", 1);
    put("i2.txt", "2", 1);
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
}

static void test_directory_entry(struct eddy_http_fcache *c)
{
    char p[512];
    mkdir(scratch_path(p, "dir"), 0755);
    const struct eddy_http_file *f;
    ASSERT_EQ(eddy_http_fcache_get(c, "/dir", 0, &f), 0);
    ASSERT_EQ(f->is_dir, 1);
    ASSERT(f->body == NULL);
}

int main(void)
{
    if (scratch_root_open("/tmp/eddy_fcache_XXXXXX") != 0)
        return 1;
    RUN_WITH_FCACHE(test_small_file_held_in_memory, NULL);
    RUN_WITH_FCACHE(test_large_file_served_from_fd, NULL);
    RUN_WITH_FCACHE(test_change_noticed_only_after_valid_period, NULL);
    RUN_WITH_FCACHE(test_unchanged_revalidation_keeps_entry, NULL);
    RUN_WITH_FCACHE(test_deleted_file_dropped, NULL);
    RUN(test_lru_bound_and_no_fd_leak);
    RUN(test_fd_ref_outlives_entry);
    RUN_WITH_FCACHE(test_inactive_entries_closed, &inactive_5s);
    RUN_WITH_FCACHE(test_directory_entry, NULL);
    scratch_root_close();
    return eddy_test_done();
}
