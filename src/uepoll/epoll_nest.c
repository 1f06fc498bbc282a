/*
 * Loop and depth checks for epolls inside epolls (ep_loop_check and friends in
 * fs/eventpoll.c). Adding epoll `to` into epoll `ep` fails with ELOOP if `ep` can be
 * reached from `to` (a cycle), or if the longest chain through the new edge would be
 * deeper than EP_MAX_NESTS: the depth below `to`, plus one for the new edge, plus the
 * height above `ep`. Both walks cache per-eventpoll results stamped with a generation
 * number, so a diamond-shaped graph is walked once, as in the kernel.
 *
 * Adding also lengthens the wake-up paths from the files below: reverse_path_check
 * counts, for each listed file, the paths up to a top-level epoll by length and refuses
 * (EINVAL) more than 1000/500/100/50/10 paths of 1/2/3/4/5 links (a file directly in a
 * top-level epoll is not limited), as fs/eventpoll.c does.
 *
 * Everything here runs with eddy__ue_epmutex held, which freezes the epoll-to-epoll
 * edges (only a nested ADD creates one, and it holds epmutex) and keeps every
 * eventpoll alive. The downward walk takes each ep->mtx to read its tree; the upward
 * walks copy each file's watchers under its f_lock and recurse without it.
 */
#include "eventpoll.h"

#include <stdlib.h>
#include <string.h>

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
        if (!epi->file->is_epoll) {
            eddy__ue_ep_list_file(epi->file); /* its paths get longer: count them */
            continue;
        }
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

/*
 * The eventpolls watching file f, copied out under f->f_lock so that the upward walks
 * never hold one f_lock while taking another (nesting order changes over time). The
 * copies stay valid: eventpoll teardown needs eddy__ue_epmutex, which the walks hold.
 * Returns the count, or -1 without memory; *out is malloc'd.
 */
static long watchers_of(struct ue_file *f, struct ue_eventpoll ***out)
{
    size_t n = 0, cap = 8;
    struct ue_eventpoll **v = malloc(cap * sizeof(*v));
    pthread_mutex_lock(&f->f_lock);
    for (struct ue_list *l = f->f_ep.next; v && l != &f->f_ep; l = l->next) {
        if (n == cap) {
            struct ue_eventpoll **nv = realloc(v, (cap *= 2) * sizeof(*v));
            if (!nv) {
                free(v);
                v = NULL;
                break;
            }
            v = nv;
        }
        v[n++] = ue_container_of(l, struct ue_epitem, fllink)->ep;
    }
    pthread_mutex_unlock(&f->f_lock);
    *out = v;
    return v ? (long)n : -1;
}

/* How many epolls sit above ep (ep_get_upwards_depth_proc). */
static int ep_upwards_depth(struct ue_eventpoll *ep, int depth)
{
    int result = 0;
    struct ue_eventpoll **up;
    if (ep->gen == loop_check_gen)
        return ep->loop_check_depth;
    long n = watchers_of(ep->file, &up);
    if (n < 0)
        return LOOP_FOUND; /* out of memory: refuse rather than guess */
    for (long i = 0; i < n; i++)
        result = max_int(result, ep_upwards_depth(up[i], depth + 1) + 1);
    free(up);
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

/* ---- wake-up path limits (reverse_path_check) ---- */

#define PATH_ARR_SIZE 5
static const int path_limits[PATH_ARR_SIZE] = {1000, 500, 100, 50, 10};
static int path_count[PATH_ARR_SIZE];
static struct ue_file **file_list;
static size_t file_list_n, file_list_cap;
static unsigned long file_list_gen = 1;

void eddy__ue_ep_list_file(struct ue_file *f)
{
    if (f->path_check_gen == file_list_gen)
        return;
    if (file_list_n == file_list_cap) {
        size_t cap = file_list_cap ? file_list_cap * 2 : 16;
        struct ue_file **l = realloc(file_list, cap * sizeof(*l));
        if (!l)
            return; /* unchecked rather than refused: only limits are at stake */
        file_list = l;
        file_list_cap = cap;
    }
    f->path_check_gen = file_list_gen;
    file_list[file_list_n++] = f;
}

void eddy__ue_ep_clear_file_list(void)
{
    file_list_n = 0;
    file_list_gen++;
}

static int path_count_inc(int nests)
{
    if (nests == 0) /* any number of files directly in a top-level epoll */
        return 0;
    return ++path_count[nests] > path_limits[nests] ? -1 : 0;
}

/* Walks up from f through the epolls watching it (reverse_path_check_proc). */
static int reverse_path_check_proc(struct ue_file *f, int depth)
{
    int error = 0;
    struct ue_eventpoll **up;
    if (depth > EP_MAX_NESTS)
        return -1;
    long n = watchers_of(f, &up);
    if (n < 0)
        return -1;
    for (long i = 0; i < n && !error; i++) {
        struct ue_file *epf = up[i]->file;
        pthread_mutex_lock(&epf->f_lock);
        int top = ue_list_empty(&epf->f_ep);
        pthread_mutex_unlock(&epf->f_lock);
        error = top ? path_count_inc(depth) : reverse_path_check_proc(epf, depth + 1);
    }
    free(up);
    return error;
}

int eddy__ue_ep_reverse_path_check(void)
{
    for (size_t i = 0; i < file_list_n; i++) {
        memset(path_count, 0, sizeof(path_count));
        if (reverse_path_check_proc(file_list[i], 0))
            return -1;
    }
    return 0;
}
