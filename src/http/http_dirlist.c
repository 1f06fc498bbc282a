/*
 * HTML directory listing, with sizes and dates. Names are collected, sorted bytewise (stable output
 * for clients and tests), then written with every name URL-escaped in the href and HTML-escaped in
 * the text, so a file called "<script>" is shown, never run.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "eddy/http_static.h"

#define MAX_ENTRIES 100000 /* bound the memory a huge directory can make us use */

struct name {
    char *s;
    int dir;
    long long size; /* -1: unknown */
    time_t mtime;
};

static int cmp_name(const void *a, const void *b)
{
    return strcmp(((const struct name *)a)->s, ((const struct name *)b)->s);
}

static void free_names(struct name *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i].s);
    free(v);
}

/* Type, size and date of an entry (symlinks followed, as a click on it would). */
static void stat_entry(DIR *d, const struct dirent *e, struct name *out)
{
    struct stat st;
    if (fstatat(dirfd(d), e->d_name, &st, 0) == 0) {
        out->dir = S_ISDIR(st.st_mode);
        out->size = st.st_size;
        out->mtime = st.st_mtime;
    } else {
        out->dir = e->d_type == DT_DIR;
        out->size = -1;
        out->mtime = 0;
    }
}

static int collect(DIR *d, int show_dot, struct name **out, size_t *count)
{
    struct name *v = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL && n < MAX_ENTRIES) {
        if (e->d_name[0] == '.' &&
            (!show_dot || !e->d_name[1] || (e->d_name[1] == '.' && !e->d_name[2])))
            continue;
        if (n == cap) {
            size_t nc = cap ? cap * 2 : 64;
            struct name *nv = realloc(v, nc * sizeof *v);
            if (nv == NULL)
                return free_names(v, n), -ENOMEM;
            v = nv, cap = nc;
        }
        stat_entry(d, e, &v[n]);
        if ((v[n].s = strdup(e->d_name)) == NULL)
            return free_names(v, n), -ENOMEM;
        n++;
    }
    if (n > 1)
        qsort(v, n, sizeof *v, cmp_name);
    *out = v;
    *count = n;
    return 0;
}

/* A growable string; kept local so this module needs nothing but libc. */
struct sbuf {
    char *p;
    size_t len, cap;
};

static int reserve(struct sbuf *b, size_t n)
{
    if (b->len + n + 1 <= b->cap)
        return 0;
    size_t nc = b->cap ? b->cap : 4096;
    while (nc < b->len + n + 1)
        nc *= 2;
    char *np = realloc(b->p, nc);
    if (np == NULL)
        return -ENOMEM;
    b->p = np, b->cap = nc;
    return 0;
}

static int append_str(struct sbuf *b, const char *s)
{
    size_t n = strlen(s);
    if (reserve(b, n) < 0)
        return -ENOMEM;
    memcpy(b->p + b->len, s, n + 1);
    b->len += n;
    return 0;
}

/* Appends s escaped by fn (url or html escape) to b. */
static int append_escaped(struct sbuf *b, const char *s,
                          long (*fn)(const char *, size_t, char *, size_t))
{
    size_t len = strlen(s), need = len * 6 + 1;
    if (reserve(b, need) < 0)
        return -ENOMEM;
    long n = fn(s, len, b->p + b->len, need);
    if (n < 0)
        return (int)n;
    b->len += (size_t)n;
    return 0;
}

/* Date (UTC, nginx's format) and size in bytes ("-" for a directory). */
static int append_details(struct sbuf *b, const struct name *e)
{
    char when[32] = "-", size[32] = "-", line[128];
    struct tm tm;
    if (e->mtime && gmtime_r(&e->mtime, &tm))
        strftime(when, sizeof when, "%d-%b-%Y %H:%M", &tm);
    if (!e->dir && e->size >= 0)
        snprintf(size, sizeof size, "%lld", e->size);
    snprintf(line, sizeof line, " <time>%s</time> <data>%s</data></li>\n", when, size);
    return append_str(b, line);
}

static int render(struct sbuf *b, const char *path, const struct name *v, size_t n)
{
    int rc = append_str(b, "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
                           "<title>Index of ");
    rc |= append_escaped(b, path, eddy_http_html_escape);
    rc |= append_str(b, "</title></head>\n<body><h1>Index of ");
    rc |= append_escaped(b, path, eddy_http_html_escape);
    rc |= append_str(b, "</h1>\n<ul>\n");
    if (strcmp(path, "/") != 0)
        rc |= append_str(b, "<li><a href=\"../\">../</a></li>\n");
    for (size_t i = 0; i < n && rc == 0; i++) {
        rc |= append_str(b, "<li><a href=\"./");
        rc |= append_escaped(b, v[i].s, eddy_http_url_escape);
        rc |= append_str(b, v[i].dir ? "/\">" : "\">");
        rc |= append_escaped(b, v[i].s, eddy_http_html_escape);
        rc |= append_str(b, v[i].dir ? "/</a>" : "</a>");
        rc |= append_details(b, &v[i]);
    }
    rc |= append_str(b, "</ul>\n</body></html>\n");
    return rc ? -ENOMEM : 0;
}

int eddy_http_dir_listing(int dirfd_in, const char *path, int show_dot, char **out, size_t *out_len)
{
    /* A fresh open file description: readdir must not move a shared (cached) fd. */
    int fd = openat(dirfd_in, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    DIR *d = fdopendir(fd);
    if (d == NULL) {
        int e = errno;
        close(fd);
        return -e;
    }
    struct name *v = NULL;
    size_t n = 0;
    int rc = collect(d, show_dot, &v, &n);
    closedir(d);
    if (rc < 0)
        return rc;
    struct sbuf b = {NULL, 0, 0};
    rc = render(&b, path, v, n);
    free_names(v, n);
    if (rc < 0) {
        free(b.p);
        return rc;
    }
    *out = b.p;
    *out_len = b.len;
    return 0;
}
