/*
 * Shared by the open-file cache tests: a scratch document root (a fresh directory under /tmp
 * opened as an eddy_http_root) and an open-file cache on it made afresh for each test.
 * Header-only, static: one copy per test binary.
 */
#ifndef EDDY_STATIC_TEST_UTIL_H
#define EDDY_STATIC_TEST_UTIL_H

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

/* base/rel into p (512 bytes). */
static inline char *scratch_path(char p[512], const char *rel)
{
    snprintf(p, 512, "%s/%s", base, rel);
    return p;
}

static inline void put(const char *rel, const void *content, size_t len)
{
    char p[512];
    int fd = open(scratch_path(p, rel), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
        if (write(fd, content, len) != (ssize_t)len)
            perror("write");
        close(fd);
    }
}

static inline void put_str(const char *rel, const char *content)
{
    put(rel, content, strlen(content));
}

/* tmpl: a mkdtemp template, "/tmp/NAME_XXXXXX". 0, or -1 if the root could not be made. */
static inline int scratch_root_open(const char *tmpl)
{
    snprintf(base, sizeof base, "%s", tmpl);
    return mkdtemp(base) != NULL && eddy_http_root_open(&root, base, 0) == 0 ? 0 : -1;
}

static inline void scratch_root_close(void)
{
    char cmd[300];
    eddy_http_root_close(&root);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", base);
    if (system(cmd) != 0)
        fprintf(stderr, "# cleanup failed\n");
}

/* RUN_WITH_FCACHE(fn, opts): like RUN, with fn(c) getting a new cache on root (options opts,
 * NULL for the defaults), freed after fn even when it fails an ASSERT. */
typedef void (*fcache_body)(struct eddy_http_fcache *c);

static struct {
    const struct eddy_http_fcache_options *opts;
    fcache_body body;
} fcache_run_args_ __attribute__((unused));

static inline void fcache_run_(void)
{
    struct eddy_http_fcache *c;
    ASSERT_EQ(eddy_http_fcache_new(&c, &root, fcache_run_args_.opts), 0);
    fcache_run_args_.body(c);
    eddy_http_fcache_free(c);
}

static inline void run_with_fcache(const char *name, const struct eddy_http_fcache_options *opts,
                                   fcache_body body)
{
    fcache_run_args_.opts = opts;
    fcache_run_args_.body = body;
    eddy_test_run(name, fcache_run_);
}

#define RUN_WITH_FCACHE(fn, opts) run_with_fcache(#fn, opts, fn)

#endif
