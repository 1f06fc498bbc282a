/*
 * readv, writev and fcntl on ue descriptors (fs/read_write.c do_readv/do_writev,
 * fs/fcntl.c setfl), for any file: pipes, eventfds, ustack sockets.
 *
 * readv/writev run the file's read or write method once per buffer and stop at the
 * first short transfer, so a stream socket sees the same byte sequence as one call.
 */
#include "ue_internal.h"

#include <limits.h>
#include <stdarg.h>

static ssize_t rw_vec(int fd, const struct iovec *iov, int iovcnt, int write)
{
    if (iovcnt < 0 || iovcnt > IOV_MAX)
        return eddy__ue_fail(EINVAL);
    if (iovcnt && !iov)
        return eddy__ue_fail(EFAULT);
    size_t total = 0;
    for (int i = 0; i < iovcnt; i++) {
        if (iov[i].iov_len > (size_t)SSIZE_MAX - total)
            return eddy__ue_fail(EINVAL);
        total += iov[i].iov_len;
    }
    struct ue_file *f = eddy__ue_fget(fd);
    if (!f)
        return eddy__ue_fail(EBADF);
    unsigned need = write ? UE_FMODE_WRITE : UE_FMODE_READ;
    ssize_t done = 0, r = 0;
    if (!(f->mode & need))
        r = -EBADF;
    else if (!(write ? (void *)f->ops->write : (void *)f->ops->read))
        r = -EINVAL;
    for (int i = 0; !r && i < iovcnt; i++) {
        if (!iov[i].iov_len)
            continue;
        r = write ? f->ops->write(f, iov[i].iov_base, iov[i].iov_len)
                  : f->ops->read(f, iov[i].iov_base, iov[i].iov_len);
        if (r > 0) {
            done += r;
            r = (size_t)r < iov[i].iov_len ? 1 : 0; /* short: stop here */
        } else if (r == 0) {
            r = 1;
        }
    }
    eddy__ue_fput(f);
    eddy__ue_wake_flush();
    if (r < 0 && !done)
        return eddy__ue_fail((int)-r);
    return done;
}

ssize_t ue_readv(int fd, const struct iovec *iov, int iovcnt)
{
    return rw_vec(fd, iov, iovcnt, 0);
}

ssize_t ue_writev(int fd, const struct iovec *iov, int iovcnt)
{
    return rw_vec(fd, iov, iovcnt, 1);
}

int ue_fcntl(int fd, int cmd, ...)
{
    va_list ap;
    va_start(ap, cmd);
    long arg = va_arg(ap, long);
    va_end(ap);
    struct ue_file *f = eddy__ue_fget(fd);
    if (!f)
        return eddy__ue_fail(EBADF);
    int r = 0;
    unsigned rw = UE_FMODE_READ | UE_FMODE_WRITE;
    switch (cmd) {
    case F_GETFL:
        r = f->flags | ((f->mode & rw) == rw         ? O_RDWR
                        : (f->mode & UE_FMODE_WRITE) ? O_WRONLY
                                                     : O_RDONLY);
        break;
    case F_SETFL:
        f->flags = (f->flags & ~O_NONBLOCK) | ((int)arg & O_NONBLOCK);
        break;
    case F_GETFD:
    case F_SETFD:
        break; /* no exec: FD_CLOEXEC has no meaning here */
    default:
        r = -EINVAL;
    }
    eddy__ue_fput(f);
    return r < 0 ? eddy__ue_fail(-r) : r;
}
