/*
 * read, write, readv, writev and fcntl on uepoll descriptors (fs/read_write.c,
 * fs/fcntl.c): the checks every file kind shares, in the kernel's order, before the
 * file's own method runs.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* F_GETPIPE_SZ, O_DIRECT, O_NOATIME */
#endif
#include "ue_internal.h"

#include <limits.h>
#include <stdarg.h>
#include <string.h>

/* rw_verify_area: one call moves at most INT_MAX rounded down to a page. */
#define MAX_RW_COUNT ((size_t)0x7ffff000)
#ifndef UIO_MAXIOV
#define UIO_MAXIOV 1024
#endif

/* Walks the pieces from offset off, n bytes, calling copy on each run. */
static void io_walk(const struct ue_io *io, size_t off, char *mem, size_t n, int to_user)
{
    for (int i = 0; i < io->iovcnt && n; i++) {
        size_t len = io->iov[i].iov_len;
        if (off >= len) {
            off -= len;
            continue;
        }
        size_t k = len - off < n ? len - off : n;
        char *user = (char *)io->iov[i].iov_base + off;
        if (to_user)
            memcpy(user, mem, k);
        else
            memcpy(mem, user, k);
        mem += k;
        n -= k;
        off = 0;
    }
}

void eddy__ue_io_copy_in(const struct ue_io *io, size_t off, void *dst, size_t n)
{
    io_walk(io, off, dst, n, 0);
}

void eddy__ue_io_copy_out(const struct ue_io *io, size_t off, const void *src, size_t n)
{
    io_walk(io, off, (char *)src, n, 1);
}

/* import_iovec: the vector's checks, its total and the bytes before the first fault. */
static int io_import(struct ue_io *io, const struct iovec *iov, int iovcnt, size_t *total)
{
    size_t sum = 0;
    if (iovcnt < 0 || iovcnt > UIO_MAXIOV)
        return -EINVAL;
    if (iovcnt > 0 && !iov)
        return -EFAULT;
    io->iov = iov;
    io->iovcnt = iovcnt;
    io->valid = SIZE_MAX;
    for (int i = 0; i < iovcnt; i++) {
        if (iov[i].iov_len > (size_t)SSIZE_MAX - sum)
            return -EINVAL;
        if (!iov[i].iov_base && iov[i].iov_len && io->valid == SIZE_MAX)
            io->valid = sum;
        sum += iov[i].iov_len;
    }
    *total = sum > MAX_RW_COUNT ? MAX_RW_COUNT : sum;
    return 0;
}

/* vfs_read/vfs_write order: not opened that way is EBADF, no method is EINVAL. */
static ssize_t do_io(int fd, const struct ue_io *io, size_t n, int write)
{
    struct ue_file *f = eddy__ue_fget(fd);
    if (!f)
        return -EBADF;
    ssize_t r;
    if (!(f->mode & (write ? UE_FMODE_WRITE : UE_FMODE_READ)))
        r = -EBADF;
    else if (!(write ? f->ops->write != NULL : f->ops->read != NULL))
        r = -EINVAL;
    else
        r = write ? f->ops->write(f, io, n) : f->ops->read(f, io, n);
    eddy__ue_fput(f);
    eddy__ue_wake_flush();
    return r;
}

static ssize_t one_piece(int fd, void *buf, size_t n, int write)
{
    struct iovec v = {.iov_base = buf, .iov_len = n};
    struct ue_io io = {.iov = &v, .iovcnt = 1, .valid = buf ? n : 0};
    n = n > MAX_RW_COUNT ? MAX_RW_COUNT : n;
    ssize_t r = do_io(fd, &io, n, write);
    return r < 0 ? eddy__ue_fail((int)-r) : r;
}

ssize_t ue_read(int fd, void *buf, size_t n)
{
    return one_piece(fd, buf, n, 0);
}

ssize_t ue_write(int fd, const void *buf, size_t n)
{
    return one_piece(fd, (void *)buf, n, 1);
}

/* A file with ->write only (eventfd) gets one call per iovec (do_loop_readv_writev). */
static ssize_t write_each(int fd, const struct iovec *iov, int iovcnt)
{
    ssize_t ret = 0;
    for (int i = 0; i < iovcnt; i++) {
        struct ue_io one = {.iov = &iov[i], .iovcnt = 1};
        one.valid = iov[i].iov_base ? iov[i].iov_len : 0;
        ssize_t r = do_io(fd, &one, iov[i].iov_len, 1);
        if (r < 0)
            return ret ? ret : r;
        ret += r;
        if ((size_t)r != iov[i].iov_len)
            break;
    }
    return ret;
}

static ssize_t vector(int fd, const struct iovec *iov, int iovcnt, int write)
{
    struct ue_file *f = eddy__ue_fget(fd);
    struct ue_io io;
    size_t total = 0;
    if (!f)
        return -EBADF;
    int per_iovec = write && f->ops->write_per_iovec;
    ssize_t r = !(f->mode & (write ? UE_FMODE_WRITE : UE_FMODE_READ))
                    ? -EBADF
                    : io_import(&io, iov, iovcnt, &total);
    eddy__ue_fput(f);
    if (r < 0 || total == 0)
        return r;
    return per_iovec ? write_each(fd, iov, iovcnt) : do_io(fd, &io, total, write);
}

ssize_t ue_readv(int fd, const struct iovec *iov, int iovcnt)
{
    ssize_t r = vector(fd, iov, iovcnt, 0);
    return r < 0 ? eddy__ue_fail((int)-r) : r;
}

ssize_t ue_writev(int fd, const struct iovec *iov, int iovcnt)
{
    ssize_t r = vector(fd, iov, iovcnt, 1);
    return r < 0 ? eddy__ue_fail((int)-r) : r;
}

/* setfl: the status flags F_SETFL may change. O_DIRECT is packet mode on a pipe and
 * refused elsewhere (uepoll files have no direct I/O). */
#define SETFL_MASK (O_APPEND | O_NONBLOCK | O_DIRECT | O_NOATIME)

static long setfl(struct ue_file *f, unsigned long arg)
{
    if ((arg & O_DIRECT) && !f->ops->fcntl)
        return -EINVAL;
    int old = atomic_load(&f->flags), want;
    do
        want = (int)(arg & SETFL_MASK) | (old & ~SETFL_MASK);
    while (!atomic_compare_exchange_weak(&f->flags, &old, want));
    return 0;
}

static long getfl(struct ue_file *f)
{
    int acc = f->mode == (UE_FMODE_READ | UE_FMODE_WRITE) ? O_RDWR
              : f->mode & UE_FMODE_WRITE                  ? O_WRONLY
                                                          : O_RDONLY;
    return acc | atomic_load(&f->flags);
}

int ue_fcntl(int fd, int cmd, ...)
{
    va_list ap;
    va_start(ap, cmd);
    unsigned long arg = va_arg(ap, unsigned long);
    va_end(ap);
    struct ue_file *f = eddy__ue_fget(fd);
    if (!f)
        return eddy__ue_fail(EBADF);
    long r;
    switch (cmd) {
    case F_GETFL:
        r = getfl(f);
        break;
    case F_SETFL:
        r = setfl(f, arg);
        break;
    case F_GETPIPE_SZ:
    case F_SETPIPE_SZ:
        r = f->ops->fcntl ? f->ops->fcntl(f, cmd, arg) : -EBADF;
        break;
    default:
        r = -EINVAL;
    }
    eddy__ue_fput(f);
    eddy__ue_wake_flush();
    return r < 0 ? eddy__ue_fail((int)-r) : (int)r;
}
