/* The pollfd set of the poll and upoll dispatchers (see pollfd_set.h). */
#include "reactor/pollfd_set.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

static int slot_of(const struct eddy__pollfd_set *p, int fd)
{
    return fd >= 0 && fd < p->nslots ? p->slot[fd] : -1;
}

static int reserve(struct eddy__pollfd_set *p, int fd)
{
    if (fd >= p->nslots) {
        size_t n = p->nslots > 0 ? (size_t)p->nslots : 64;
        while (n <= (size_t)fd)
            n *= 2;
        if (n > INT_MAX)
            n = (size_t)fd + 1;
        int *t = realloc(p->slot, n * sizeof(*t));
        if (t == NULL)
            return -ENOMEM;
        memset(t + p->nslots, 0xff, (n - (size_t)p->nslots) * sizeof(*t));
        p->slot = t;
        p->nslots = (int)n;
    }
    if (p->n == p->cap) {
        int cap = p->cap ? p->cap * 2 : 64;
        struct pollfd *t = realloc(p->pfds, (size_t)cap * sizeof(*t));
        if (t == NULL)
            return -ENOMEM;
        p->pfds = t;
        p->cap = cap;
    }
    return 0;
}

void eddy__pollfd_set_free(struct eddy__pollfd_set *p)
{
    free(p->pfds);
    free(p->slot);
    memset(p, 0, sizeof(*p));
}

int eddy__pollfd_set_add(struct eddy__pollfd_set *p, int fd, short events)
{
    if (fd < 0)
        return -EBADF;
    if (slot_of(p, fd) >= 0)
        return -EEXIST;
    int r = reserve(p, fd);
    if (r < 0)
        return r;
    p->pfds[p->n] = (struct pollfd){.fd = fd, .events = events};
    p->slot[fd] = p->n++;
    return 0;
}

int eddy__pollfd_set_mod(struct eddy__pollfd_set *p, int fd, short events)
{
    int i = slot_of(p, fd);
    if (i < 0)
        return -ENOENT;
    p->pfds[i].events = events;
    return 0;
}

int eddy__pollfd_set_del(struct eddy__pollfd_set *p, int fd)
{
    int i = slot_of(p, fd);
    if (i < 0)
        return -ENOENT;
    int last = --p->n;
    if (i != last) {
        p->pfds[i] = p->pfds[last];
        p->slot[p->pfds[i].fd] = i;
    }
    p->slot[fd] = -1;
    return 0;
}
