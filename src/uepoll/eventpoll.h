/*
 * eventpoll structures, shared by eventpoll.c (the mechanism), epoll_nest.c (loop and
 * depth checks) and epoll_check.c (invariants). See eventpoll.c for the locking rules.
 */
#ifndef EDDY_UEPOLL_EVENTPOLL_H
#define EDDY_UEPOLL_EVENTPOLL_H

#include "rbtree.h"
#include "ue_internal.h"

/* Kernel constants (fs/eventpoll.c). */
#define EP_MAX_NESTS    4
#define EP_PRIVATE_BITS (EPOLLWAKEUP | EPOLLONESHOT | EPOLLET | EPOLLEXCLUSIVE)
#define EPOLLINOUT_BITS (EPOLLIN | EPOLLOUT)
#define EPOLLEXCLUSIVE_OK_BITS                                                                     \
    (EPOLLINOUT_BITS | EPOLLERR | EPOLLHUP | EPOLLWAKEUP | EPOLLET | EPOLLEXCLUSIVE)
#define EP_MAX_EVENTS ((int)(0x7fffffff / sizeof(struct epoll_event)))

struct ue_epitem;

/* ovflist sentinel: "not chained" for an item, "not scanning" for the eventpoll. */
#define EP_UNACTIVE_PTR ((struct ue_epitem *)-1L)

/* One hook of an epitem on one wait queue of the watched file (eppoll_entry). */
struct ue_eppoll_entry {
    struct ue_wait_entry wait;
    struct ue_eppoll_entry *next; /* the item's other hooks */
    struct ue_epitem *base;
    struct ue_waitqueue *whead;
};

struct ue_eventpoll;

/* One registration: (file, fd) watched by one eventpoll (struct epitem). */
struct ue_epitem {
    struct ue_rb_node rbn;  /* in ep->rbr, keyed by (file, fd); ep->mtx */
    struct ue_list rdllink; /* on ep->rdllist or a scan's private list; ep->lock */
    struct ue_epitem *next; /* ovflist chain, EP_UNACTIVE_PTR when off it; ep->lock */
    struct ue_file *file;
    int fd;
    struct ue_eppoll_entry *pwqlist; /* ep->mtx */
    struct ue_eventpoll *ep;
    struct ue_list fllink;   /* on file->f_ep; file->f_lock */
    _Atomic uint32_t events; /* interest + private bits; written under ep->mtx,
                                read by callbacks under ep->lock */
    uint64_t data;           /* ep->mtx */
};

struct ue_eventpoll {
    pthread_mutex_t mtx;           /* tree, items, scans, ctl */
    pthread_mutex_t lock;          /* rdllist, ovflist, wq membership */
    struct ue_waitqueue wq;        /* threads in ue_epoll_wait */
    struct ue_waitqueue poll_wait; /* epolls watching this one */
    struct ue_wait_entry notify;   /* ue_epoll_notify_arm's hook, on poll_wait */
    int notify_fd;                 /* the kernel eventfd it writes; poll_wait.lock */
    struct ue_list rdllist;
    struct ue_epitem *ovflist;
    struct ue_rb_root rbr;
    size_t nitems;
    struct ue_file *file;
    unsigned long gen;    /* loop_check_gen stamp; epmutex */
    int loop_check_depth; /* epmutex */
};

static inline int ep_is_linked(const struct ue_epitem *epi)
{
    return !ue_list_empty(&epi->rdllink);
}

static inline uint32_t epi_events(const struct ue_epitem *epi)
{
    return atomic_load_explicit(&epi->events, memory_order_relaxed);
}

/* Global mutex for nested adds, file release and epoll release (see eventpoll.c). */
extern pthread_mutex_t eddy__ue_epmutex;

/* 0, or -1 if adding `to` into `ep` makes a loop or a chain deeper than EP_MAX_NESTS.
 * Called with eddy__ue_epmutex held and no ep->mtx. */
int eddy__ue_ep_loop_check(struct ue_eventpoll *ep, struct ue_eventpoll *to);

/* Wake-up path limits (reverse_path_check), all with eddy__ue_epmutex held: files
 * whose paths a nested ADD may lengthen are listed, then each one's paths up to the
 * top-level epolls are counted per length against the kernel's limits. */
void eddy__ue_ep_list_file(struct ue_file *f);
int eddy__ue_ep_reverse_path_check(void);
void eddy__ue_ep_clear_file_list(void);

int eddy__ue_ep_cmp(const struct ue_rb_node *a, const struct ue_rb_node *b);

#endif
