/*
 * uepoll: Linux epoll's mechanism in user space.
 *
 * Descriptors returned here are numbers in a process-wide user-space table, not kernel
 * file descriptors; never pass them to the kernel's read/close. Every call is
 * thread-safe and mirrors the Linux system call of the same name without the `ue_`
 * prefix: it returns -1 and sets errno exactly as Linux would (see docs/UEPOLL.md for
 * the few cases that cannot be mirrored).
 *
 * The event structure and the EPOLL* / EFD_* / O_NONBLOCK flags are the kernel's own,
 * so a program can switch between the kernel and uepoll by renaming calls.
 */
#ifndef EDDY_UEPOLL_H
#define EDDY_UEPOLL_H

#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <signal.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <time.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Largest descriptor number + 1 the table hands out (EMFILE beyond). */
#define UE_NR_OPEN (1 << 21)

int ue_epoll_create1(int flags);
int ue_epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev);
int ue_epoll_wait(int epfd, struct epoll_event *evs, int maxevents, int timeout_ms);
int ue_pipe2(int fds[2], int flags);
int ue_eventfd(unsigned int initval, int flags);
int ue_epoll_pwait(int epfd, struct epoll_event *evs, int maxevents, int timeout_ms,
                   const sigset_t *sigmask);
int ue_epoll_pwait2(int epfd, struct epoll_event *evs, int maxevents,
                    const struct timespec *timeout, const sigset_t *sigmask);
ssize_t ue_read(int fd, void *buf, size_t n);
ssize_t ue_write(int fd, const void *buf, size_t n);
ssize_t ue_readv(int fd, const struct iovec *iov, int iovcnt);
ssize_t ue_writev(int fd, const struct iovec *iov, int iovcnt);
/* F_GETFL and F_SETFL (O_NONBLOCK, O_APPEND, O_NOATIME on every kind of file; O_DIRECT,
 * packet mode, on pipes), F_GETPIPE_SZ and F_SETPIPE_SZ; other commands: EINVAL. */
int ue_fcntl(int fd, int cmd, ...);
int ue_dup(int fd);
int ue_dup2(int oldfd, int newfd);
int ue_dup3(int oldfd, int newfd, int flags);
int ue_close(int fd);
/* poll(2) over uepoll descriptors: walks every entry on every call, as the kernel's poll
 * does (src/uepoll/poll.c). struct pollfd and nfds_t come from <poll.h>. */
struct pollfd;
int ue_poll(struct pollfd *fds, unsigned long nfds, int timeout_ms);

/*
 * eddy extensions, no Linux counterpart: waiting for a uepoll epoll and kernel
 * descriptors in one thread. ue_epoll_notify_arm hooks a one-shot notifier on epfd:
 * the next event that makes epfd ready writes an 8-byte 1 to the kernel eventfd
 * kernel_eventfd, so a thread blocked in the kernel (epoll_wait on its kernel
 * descriptors and that eventfd) wakes up. Returns 1 if epfd is ready already (the
 * hook is then removed: do not block), 0 once armed, -1 with errno (EBADF, EINVAL:
 * not an epoll). ue_epoll_notify_disarm removes the hook if it has not fired.
 */
int ue_epoll_notify_arm(int epfd, int kernel_eventfd);
int ue_epoll_notify_disarm(int epfd);
/* ue_poll over uepoll descriptors (fds) and kernel descriptors (kfds) at once: a wait
 * that finds nothing blocks in the kernel on kfds plus an eventfd that any uepoll
 * wake-up of fds writes. Returns the entries ready in both arrays, or -1 with errno. */
int ue_poll_kernel(struct pollfd *fds, unsigned long nfds, struct pollfd *kfds, unsigned long nk,
                   int timeout_ms);

#ifdef __cplusplus
}
#endif

#endif
