/*
 * Loop and depth checks for epolls inside epolls (ep_loop_check and friends in
 * fs/eventpoll.c). Adding epoll `to` into epoll `ep` fails with ELOOP if `ep` can be
 * reached from `to` (a cycle), or if the longest chain through the new edge would be
 * deeper than EP_MAX_NESTS: the depth below `to`, plus one for the new edge, plus the
 * height above `ep`. Both walks cache per-eventpoll results stamped with a generation
 * number, so a diamond-shaped graph is walked once, as in the kernel.
 *
 * Everything here runs with eddy__ue_epmutex held, which freezes the epoll-to-epoll
 * edges (only a nested ADD creates one, and it holds epmutex) and keeps every
 * eventpoll alive. The downward walk takes each ep->mtx to read its tree; the upward
 * walk takes file->f_lock of each epoll file, from inner to outer.
 */
#include "eventpoll.h"

/* A loop marker that, unlike the kernel's original INT_MAX, survives the "+ 1" of the
 * caller without overflowing (the kernel's later fix). */
#define LOOP_FOUND (EP_MAX_NESTS + 1)

static unsigned long loop_check_gen;
static struct ue_eventpoll *inserting_into;

static int max_int(int a, int b)
{
    return a > b ? a : b;
}

/* Depth of the epoll tree below ep, or more than EP_MAX_NESTS for a loop. */
static int ep_loop_check_proc(struct ue_eventpoll *ep, int depth)
{
    int result = 0;
    if (ep->gen == loop_check_gen)
        return ep->loop_check_depth;
    pthread_mutex_lock(&ep->mtx);
    ep->gen = loop_check_gen;
    for (struct ue_rb_node *n = eddy__ue_rb_first(&ep->rbr); n; n = eddy__ue_rb_next(n)) {
        struct ue_epitem *epi = ue_container_of(n, struct ue_epitem, rbn);
        if (!epi->file->is_epoll)
            continue;
        struct ue_eventpoll *tovisit = epi->file->priv;
        if (tovisit == inserting_into || depth > EP_MAX_NESTS)
            result = LOOP_FOUND;
        else
            result = max_int(result, ep_loop_check_proc(tovisit, depth + 1) + 1);
        if (result > EP_MAX_NESTS)
            break;
    }
    ep->loop_check_depth = result;
    pthread_mutex_unlock(&ep->mtx);
    return result;
}

/* How many epolls sit above ep (ep_get_upwards_depth_proc). */
static int ep_upwards_depth(struct ue_eventpoll *ep, int depth)
{
    int result = 0;
    if (ep->gen == loop_check_gen)
        return ep->loop_check_depth;
    struct ue_file *f = ep->file;
    pthread_mutex_lock(&f->f_lock);
    for (struct ue_list *l = f->f_ep.next; l != &f->f_ep; l = l->next) {
        struct ue_epitem *epi = ue_container_of(l, struct ue_epitem, fllink);
        result = max_int(result, ep_upwards_depth(epi->ep, depth + 1) + 1);
    }
    pthread_mutex_unlock(&f->f_lock);
    ep->gen = loop_check_gen;
    ep->loop_check_depth = result;
    return result;
}

int eddy__ue_ep_loop_check(struct ue_eventpoll *ep, struct ue_eventpoll *to)
{
    loop_check_gen++;
    inserting_into = ep;
    int depth = ep_loop_check_proc(to, 0);
    if (depth > EP_MAX_NESTS)
        return -1;
    int upwards = ep_upwards_depth(ep, 0);
    return depth + 1 + upwards > EP_MAX_NESTS ? -1 : 0;
}
