/*
 * The mapping between EDDY_EV_* and epoll's event bits, shared by the kernel
 * epoll and the uepoll dispatchers (uepoll uses the kernel's EPOLL* values).
 * IN -> READ, OUT -> WRITE, ERR -> ERROR, HUP -> HUP; RDHUP is never asked
 * for (dispatcher_epoll.c says why).
 */
#ifndef EDDY_EPOLL_EVENTS_H
#define EDDY_EPOLL_EVENTS_H

#include <stdint.h>
#include <sys/epoll.h>

#include "eddy/channel.h"

static inline uint32_t to_epoll_events(int events, uint32_t extra)
{
    uint32_t e = extra;
    if (events & EDDY_EV_READ)
        e |= EPOLLIN;
    if (events & EDDY_EV_WRITE)
        e |= EPOLLOUT;
    return e;
}

static inline int from_epoll_events(uint32_t e)
{
    int r = 0;
    if (e & EPOLLIN)
        r |= EDDY_EV_READ;
    if (e & EPOLLOUT)
        r |= EDDY_EV_WRITE;
    if (e & EPOLLERR)
        r |= EDDY_EV_ERROR;
    if (e & EPOLLHUP)
        r |= EDDY_EV_HUP;
    return r;
}

#endif
