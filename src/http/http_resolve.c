/*
 * Resolution of request paths under a document root, and directory listings.
 *
 * Containment is enforced by the kernel where possible: openat2(RESOLVE_BENEATH)
 * refuses any resolution that would leave the root, including through symlinks and
 * absolute symlinks, atomically, in one syscall. On kernels without openat2 the file
 * is opened and the real path of the opened fd (from /proc/self/fd) must lie inside
 * the root's real path; checking the fd rather than the name leaves no window for a
 * symlink swapped in between check and use.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "eddy/http_static.h"

#define ROOT_NO_OPENAT2 EDDY_HTTP_RESOLVE_NO_OPENAT2
#define OPEN_FLAGS      (O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY)

static int sys_openat2(int dirfd, const char *path, unsigned long long resolve)
{
#ifdef SYS_openat2
    struct open_how how;
    memset(&how, 0, sizeof how);
    how.flags = OPEN_FLAGS;
    how.resolve = resolve;
    int fd;
    do
        fd = (int)syscall(SYS_openat2, dirfd, path, &how, sizeof how);
    while (fd < 0 && (errno == EINTR || errno == EAGAIN));
    return fd < 0 ? -errno : fd;
#else
    (void)dirfd, (void)path, (void)resolve;
    return -ENOSYS;
#endif
}

int eddy_http_root_open(struct eddy_http_root *r, const char *dir, int flags)
{
    memset(r, 0, sizeof *r);
    r->fd = -1;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    char *real = realpath(dir, NULL);
    if (real == NULL) {
        int e = errno;
        close(fd);
        return -e;
    }
    r->fd = fd;
    r->real = real;
    r->real_len = strlen(real);
    r->flags = flags;
    int probe = (flags & ROOT_NO_OPENAT2) ? -ENOSYS : sys_openat2(fd, ".", RESOLVE_BENEATH);
    if (probe >= 0)
        close(probe);
    else
        r->flags |= ROOT_NO_OPENAT2; /* ENOSYS, or a seccomp filter saying EPERM */
    return 0;
}

void eddy_http_root_close(struct eddy_http_root *r)
{
    if (r->fd >= 0)
        close(r->fd);
    free(r->real);
    r->fd = -1;
    r->real = NULL;
}

/* Refuses what the normaliser never produces, and dotfile segments unless allowed. */
static int path_allowed(const char *path, int dotfiles)
{
    if (path[0] != '/')
        return 0;
    for (const char *p = path; *p; p++) {
        if (*p == '\\')
            return 0;
        if (*p == '/' && p[1] == '.' &&
            (!dotfiles || p[2] == '/' || p[2] == '\0' ||
             (p[2] == '.' && (p[3] == '/' || p[3] == '\0'))))
            return 0;
    }
    return 1;
}

/* Fallback containment check: the opened fd's real path is the root or below it. */
static int fd_inside(const struct eddy_http_root *r, int fd)
{
    char link[64], real[4096];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, real, sizeof real - 1);
    if (n < 0 || (size_t)n < r->real_len || memcmp(real, r->real, r->real_len) != 0)
        return 0;
    if ((size_t)n == r->real_len)
        return 1;
    return r->real_len == 1 || real[r->real_len] == '/'; /* root "/" is a prefix of all */
}

static int open_below(const struct eddy_http_root *r, const char *rel)
{
    int fd;
    if (r->flags & EDDY_HTTP_RESOLVE_FOLLOW_SYMLINKS) {
        do
            fd = openat(r->fd, rel, OPEN_FLAGS);
        while (fd < 0 && errno == EINTR);
        return fd < 0 ? -errno : fd;
    }
    if (!(r->flags & ROOT_NO_OPENAT2))
        return sys_openat2(r->fd, rel, RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS);
    do
        fd = openat(r->fd, rel, OPEN_FLAGS);
    while (fd < 0 && errno == EINTR);
    if (fd < 0)
        return -errno;
    if (!fd_inside(r, fd)) {
        close(fd);
        return -EXDEV;
    }
    return fd;
}

int eddy_http_root_openat(const struct eddy_http_root *r, const char *path, struct stat *st)
{
    if (!path_allowed(path, r->flags & EDDY_HTTP_RESOLVE_DOTFILES))
        return -ENOENT;
    const char *rel = path[1] ? path + 1 : ".";
    int fd = open_below(r, rel);
    if (fd < 0)
        return (fd == -ENOTDIR || fd == -ENAMETOOLONG || fd == -ELOOP) ? -ENOENT : fd;
    if (fstat(fd, st) < 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    if (!S_ISREG(st->st_mode) && !S_ISDIR(st->st_mode)) {
        close(fd);
        return -EACCES;
    }
    return fd;
}

long eddy_http_url_escape(const char *s, size_t len, char *out, size_t cap)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        int keep = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                   (ch >= '0' && ch <= '9') || (ch && strchr("-._~/:@!$*+,;=", ch));
        if (o + (keep ? 1 : 3) >= cap)
            return -ENOBUFS;
        if (keep) {
            out[o++] = (char)ch;
        } else {
            out[o++] = '%';
            out[o++] = hex[ch >> 4];
            out[o++] = hex[ch & 15];
        }
    }
    if (o >= cap)
        return -ENOBUFS;
    out[o] = '\0';
    return (long)o;
}

long eddy_http_html_escape(const char *s, size_t len, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        const char *rep = NULL;
        switch (s[i]) {
        case '&':
            rep = "&amp;";
            break;
        case '<':
            rep = "&lt;";
            break;
        case '>':
            rep = "&gt;";
            break;
        case '"':
            rep = "&quot;";
            break;
        case '\'':
            rep = "&#39;";
            break;
        default:
            break;
        }
        size_t n = rep ? strlen(rep) : 1;
        if (o + n >= cap)
            return -ENOBUFS;
        if (rep)
            memcpy(out + o, rep, n);
        else
            out[o] = s[i];
        o += n;
    }
    if (o >= cap)
        return -ENOBUFS;
    out[o] = '\0';
    return (long)o;
}
