/* Resolution under a root: containment, symlinks, dotfiles; listing; escaping. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "eddy/http_static.h"
#include "../../lib/test.h"

static char base[256], rootdir[300];

static void put(const char *rel, const char *content)
{
    char p[512];
    snprintf(p, sizeof p, "%s/%s", base, rel);
    FILE *f = fopen(p, "w");
    if (f) {
        fputs(content, f);
        fclose(f);
    }
}

static void mk(const char *rel)
{
    char p[512];
    snprintf(p, sizeof p, "%s/%s", base, rel);
    mkdir(p, 0755);
}

static void ln(const char *target, const char *rel)
{
    char p[512];
    snprintf(p, sizeof p, "%s/%s", base, rel);
    if (symlink(target, p) != 0)
        perror("symlink");
}

/* base/root is the document root; base/outside must never be served. */
static void setup(void)
{
    strcpy(base, "/tmp/eddy_resolve_XXXXXX");
    if (mkdtemp(base) == NULL)
        abort();
    snprintf(rootdir, sizeof rootdir, "%s/root", base);
    mk("root"), mk("outside"), mk("root/sub"), mk("root/.git");
    put("root/index.html", "<h1>hi</h1>");
    put("root/a.txt", "aaa");
    put("root/sub/b.txt", "bbb");
    put("root/.env", "SECRET=1");
    put("root/.git/config", "x");
    put("outside/secret.txt", "secret");
    ln("a.txt", "root/link_in");
    ln("sub", "root/dirlink_in");
    ln("../outside/secret.txt", "root/link_out");
    ln("../outside", "root/dirlink_out");
    ln("/etc/passwd", "root/link_abs");
    mkfifo(strcat(strcpy((char[512]){0}, base), "/root/fifo"), 0644);
}

static int open_path(int flags, const char *path, struct stat *st)
{
    struct eddy_http_root r;
    if (eddy_http_root_open(&r, rootdir, flags) != 0)
        return -9999;
    int fd = eddy_http_root_openat(&r, path, st);
    if (fd >= 0)
        close(fd);
    eddy_http_root_close(&r);
    return fd >= 0 ? 0 : fd;
}

static void test_root_open_errors(void)
{
    struct eddy_http_root r;
    ASSERT_EQ(eddy_http_root_open(&r, "/nonexistent/eddy/root", 0), -ENOENT);
    char f[400];
    snprintf(f, sizeof f, "%s/a.txt", rootdir);
    ASSERT_EQ(eddy_http_root_open(&r, f, 0), -ENOTDIR);
}

static void test_regular_files_and_dirs(void)
{
    struct stat st;
    ASSERT_EQ(open_path(0, "/a.txt", &st), 0);
    ASSERT(S_ISREG(st.st_mode));
    ASSERT_EQ(st.st_size, 3);
    ASSERT_EQ(open_path(0, "/sub/b.txt", &st), 0);
    ASSERT_EQ(open_path(0, "/", &st), 0);
    ASSERT(S_ISDIR(st.st_mode));
    ASSERT_EQ(open_path(0, "/sub", &st), 0);
    ASSERT(S_ISDIR(st.st_mode));
    ASSERT_EQ(open_path(0, "/sub/", &st), 0);
    ASSERT_EQ(open_path(0, "/missing", &st), -ENOENT);
    ASSERT_EQ(open_path(0, "/a.txt/", &st), -ENOENT);
    ASSERT_EQ(open_path(0, "/a.txt/x", &st), -ENOENT);
}

static void test_invalid_paths_refused(void)
{
    struct stat st;
    ASSERT_EQ(open_path(0, "/../outside/secret.txt", &st), -ENOENT);
    ASSERT_EQ(open_path(0, "/sub/../../outside/secret.txt", &st), -ENOENT);
    ASSERT_EQ(open_path(0, "/sub\\..\\a.txt", &st), -ENOENT);
    ASSERT_EQ(open_path(0, "a.txt", &st), -ENOENT);
    ASSERT_EQ(open_path(EDDY_HTTP_RESOLVE_DOTFILES, "/..", &st), -ENOENT);
    ASSERT_EQ(open_path(EDDY_HTTP_RESOLVE_DOTFILES, "/./a.txt", &st), -ENOENT);
}

static void test_dotfiles_hidden_by_default(void)
{
    struct stat st;
    ASSERT_EQ(open_path(0, "/.env", &st), -ENOENT);
    ASSERT_EQ(open_path(0, "/.git/config", &st), -ENOENT);
    ASSERT_EQ(open_path(0, "/.git/", &st), -ENOENT);
    ASSERT_EQ(open_path(EDDY_HTTP_RESOLVE_DOTFILES, "/.env", &st), 0);
    ASSERT_EQ(open_path(EDDY_HTTP_RESOLVE_DOTFILES, "/.git/config", &st), 0);
}

static void test_symlinks_inside_root_allowed(void)
{
    struct stat st;
    ASSERT_EQ(open_path(0, "/link_in", &st), 0);
    ASSERT_EQ(st.st_size, 3);
    ASSERT_EQ(open_path(0, "/dirlink_in/b.txt", &st), 0);
}

static void test_symlinks_out_of_root_refused(void)
{
    struct stat st;
    ASSERT_EQ(open_path(0, "/link_out", &st), -EXDEV);
    ASSERT_EQ(open_path(0, "/dirlink_out/secret.txt", &st), -EXDEV);
    int rc = open_path(0, "/link_abs", &st);
    ASSERT(rc == -EXDEV);
}

/* The same checks through the /proc/self/fd fallback used where openat2 is missing. */
static void test_fallback_containment(void)
{
    struct stat st;
    int nf = EDDY_HTTP_RESOLVE_NO_OPENAT2;
    ASSERT_EQ(open_path(nf, "/a.txt", &st), 0);
    ASSERT_EQ(open_path(nf, "/", &st), 0);
    ASSERT_EQ(open_path(nf, "/link_in", &st), 0);
    ASSERT_EQ(open_path(nf, "/dirlink_in/b.txt", &st), 0);
    ASSERT_EQ(open_path(nf, "/link_out", &st), -EXDEV);
    ASSERT_EQ(open_path(nf, "/dirlink_out/secret.txt", &st), -EXDEV);
    ASSERT_EQ(open_path(nf, "/link_abs", &st), -EXDEV);
    ASSERT_EQ(open_path(nf, "/.env", &st), -ENOENT);
    ASSERT_EQ(open_path(nf, "/fifo", &st), -EACCES);
}

static void test_follow_symlinks_flag(void)
{
    struct stat st;
    ASSERT_EQ(open_path(EDDY_HTTP_RESOLVE_FOLLOW_SYMLINKS, "/link_out", &st), 0);
    ASSERT_EQ(st.st_size, 6);
    ASSERT_EQ(open_path(EDDY_HTTP_RESOLVE_FOLLOW_SYMLINKS, "/dirlink_out/secret.txt", &st), 0);
}

static void test_special_files_refused(void)
{
    struct stat st;
    ASSERT_EQ(open_path(0, "/fifo", &st), -EACCES); /* and open did not block */
}

static void test_url_and_html_escape(void)
{
    char out[128];
    ASSERT_EQ(eddy_http_url_escape("/a b/<x>&\"'%?#", 14, out, sizeof out), 32);
    ASSERT_STR_EQ(out, "/a%20b/%3Cx%3E%26%22%27%25%3F%23");
    ASSERT_EQ(eddy_http_html_escape("<a href=\"x\">&'", 14, out, sizeof out), 38);
    ASSERT_STR_EQ(out, "&lt;a href=&quot;x&quot;&gt;&amp;&#39;");
    ASSERT_EQ(eddy_http_url_escape("abc", 3, out, 3), -ENOBUFS);
    ASSERT_EQ(eddy_http_html_escape("<", 1, out, 4), -ENOBUFS);
}

static void test_dir_listing(void)
{
    put("root/sub/<script>.txt", "x");
    put("root/sub/a&b c.txt", "x");
    put("root/sub/.hidden", "x");
    mk("root/sub/zdir");
    struct eddy_http_root r;
    ASSERT_EQ(eddy_http_root_open(&r, rootdir, 0), 0);
    struct stat st;
    int fd = eddy_http_root_openat(&r, "/sub/", &st);
    ASSERT_GE(fd, 0);
    char *html = NULL;
    size_t len = 0;
    int rc = eddy_http_dir_listing(fd, "/sub/", 0, &html, &len);
    close(fd);
    eddy_http_root_close(&r);
    ASSERT_EQ(rc, 0);
    ASSERT_EQ(strlen(html), len);
    ASSERT(strstr(html, "<script>") == NULL);
    ASSERT(strstr(html, "href=\"./%3Cscript%3E.txt\">&lt;script&gt;.txt</a>") != NULL);
    ASSERT(strstr(html, "href=\"./a%26b%20c.txt\">a&amp;b c.txt</a>") != NULL);
    ASSERT(strstr(html, "href=\"./zdir/\">zdir/</a>") != NULL);
    ASSERT(strstr(html, ".hidden") == NULL);
    ASSERT(strstr(html, "href=\"../\"") != NULL);
    /* sorted bytewise: '<' (0x3c) < 'a' < 'b' < 'z' */
    char *p1 = strstr(html, "%3Cscript"), *p2 = strstr(html, "a%26b"), *p3 = strstr(html, "b.txt"),
         *p4 = strstr(html, "zdir");
    ASSERT(p1 && p2 && p3 && p4 && p1 < p2 && p2 < p3 && p3 < p4);
    free(html);
}

static void cleanup(void)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", base);
    if (system(cmd) != 0)
        fprintf(stderr, "# cleanup failed\n");
}

int main(void)
{
    setup();
    RUN(test_root_open_errors);
    RUN(test_regular_files_and_dirs);
    RUN(test_invalid_paths_refused);
    RUN(test_dotfiles_hidden_by_default);
    RUN(test_symlinks_inside_root_allowed);
    RUN(test_symlinks_out_of_root_refused);
    RUN(test_fallback_containment);
    RUN(test_follow_symlinks_flag);
    RUN(test_special_files_refused);
    RUN(test_url_and_html_escape);
    RUN(test_dir_listing);
    cleanup();
    return eddy_test_done();
}
