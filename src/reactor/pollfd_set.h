/*
 * A dense pollfd array with an fd -> slot index, shared by the poll and upoll
 * dispatchers: add, mod and del are O(1) (del swaps the last entry into the hole), so
 * only the wait itself walks every entry.
 */
#ifndef EDDY_REACTOR_POLLFD_SET_H
#define EDDY_REACTOR_POLLFD_SET_H

#include <poll.h>

struct eddy__pollfd_set {
    struct pollfd *pfds;
    int n, cap;
    int *slot; /* fd -> index in pfds, -1 if absent */
    int nslots;
};

void eddy__pollfd_set_free(struct eddy__pollfd_set *p);
/* 0, -EBADF, -EEXIST, -ENOMEM. */
int eddy__pollfd_set_add(struct eddy__pollfd_set *p, int fd, short events);
/* 0 or -ENOENT. */
int eddy__pollfd_set_mod(struct eddy__pollfd_set *p, int fd, short events);
int eddy__pollfd_set_del(struct eddy__pollfd_set *p, int fd);

#endif
