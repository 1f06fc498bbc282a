/*
 * Invariant checks over every eventpoll, for tests and the fuzzer. They take the same
 * locks as epoll_ctl (ep->mtx, then ep->lock), so they can run while other threads
 * work; each eventpoll is checked at a moment no scan is in progress.
 */
#include "eventpoll.h"

#include <stdio.h>
#include <stdlib.h>

static int fail(int fd, const char *what)
{
    fprintf(stderr, "uepoll invariant broken on epoll %d: %s\n", fd, what);
    return -1;
}

/* Tree shape, in-order sorted, counts, back links. */
static int check_tree(int fd, struct ue_eventpoll *ep)
{
    if (eddy__ue_rb_check(&ep->rbr, eddy__ue_ep_cmp) < 0)
        return fail(fd, "red-black tree shape or order");
    size_t n = 0;
    struct ue_rb_node *prev = NULL;
    for (struct ue_rb_node *r = eddy__ue_rb_first(&ep->rbr); r; r = eddy__ue_rb_next(r)) {
        struct ue_epitem *epi = ue_container_of(r, struct ue_epitem, rbn);
        if (prev && eddy__ue_ep_cmp(prev, r) >= 0)
            return fail(fd, "tree not sorted by (file, fd)");
        if (epi->ep != ep)
            return fail(fd, "item points to another eventpoll");
        if (epi->next != EP_UNACTIVE_PTR)
            return fail(fd, "item left on ovflist outside a scan");
        if (!epi->pwqlist)
            return fail(fd, "registered item hooked on no wait queue");
        prev = r;
        n++;
    }
    if (n != ep->nitems)
        return fail(fd, "item count differs from tree size");
    return 0;
}

/* Ready list: only registered items, each once (bounded walk catches cycles). */
static int check_ready(int fd, struct ue_eventpoll *ep)
{
    size_t n = 0;
    if (ep->ovflist != EP_UNACTIVE_PTR)
        return fail(fd, "ovflist active outside a scan");
    for (struct ue_list *l = ep->rdllist.next; l != &ep->rdllist; l = l->next) {
        struct ue_epitem *epi = ue_container_of(l, struct ue_epitem, rdllink);
        if (++n > ep->nitems)
            return fail(fd, "ready list longer than the tree (an item twice?)");
        if (l->next->prev != l)
            return fail(fd, "ready list links broken");
        struct ue_rb_node *r = ep->rbr.node;
        while (r && r != &epi->rbn) {
            int c = eddy__ue_ep_cmp(&epi->rbn, r);
            r = c < 0 ? r->left : r->right;
        }
        if (r != &epi->rbn)
            return fail(fd, "ready list holds an item not in the tree");
    }
    return 0;
}

/* Level-triggered, armed items on ordinary files that are ready must be queued: a
 * missing one is a lost wake-up. Epoll targets are skipped (polling one mutates it). */
static int check_no_lost_wakeup(int fd, struct ue_eventpoll *ep)
{
    struct ue_poll_table pt = {0};
    for (struct ue_rb_node *r = eddy__ue_rb_first(&ep->rbr); r; r = eddy__ue_rb_next(r)) {
        struct ue_epitem *epi = ue_container_of(r, struct ue_epitem, rbn);
        uint32_t ev = epi_events(epi);
        if (epi->file->is_epoll || (ev & (EPOLLET | EPOLLONESHOT)))
            continue;
        if (!eddy__ue_file_live(epi->file))
            continue;
        if ((epi->file->ops->poll(epi->file, &pt, 1) & ev) && !ep_is_linked(epi))
            return fail(fd, "ready level-triggered item missing from the ready list");
    }
    return 0;
}

static int check_one(int fd, struct ue_file *f, void *arg)
{
    int quiescent = *(int *)arg;
    if (!f->is_epoll)
        return 0;
    struct ue_eventpoll *ep = f->priv;
    pthread_mutex_lock(&ep->mtx);
    int r = check_tree(fd, ep);
    if (!r) {
        pthread_mutex_lock(&ep->lock);
        r = check_ready(fd, ep);
        pthread_mutex_unlock(&ep->lock);
    }
    if (!r && quiescent)
        r = check_no_lost_wakeup(fd, ep);
    pthread_mutex_unlock(&ep->mtx);
    return r;
}

int eddy__ue_check_invariants(int quiescent)
{
    return eddy__ue_fd_for_each(check_one, &quiescent);
}
