/*
 * net_loop: what the connections of one server share on one loop: the
 * scratch input buffer, small free lists of buffer storage and output
 * segments (so request/response traffic allocates nothing once warm), and
 * the list of open connections used by foreach and by shutdown, and the
 * table of lingering closes and handshake deadlines.
 */
#include "net_internal.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "eddy/tcp_connection.h"

struct eddy__net_loop *eddy__net_loop_new(struct eddy_event_loop *loop,
                                          struct eddy_tcp_server *server,
                                          const struct eddy_tcp_callbacks *cb, size_t hwm)
{
    struct eddy__net_loop *nl = calloc(1, sizeof *nl);

    if (nl == NULL)
        return NULL;
    nl->loop = loop;
    nl->server = server;
    nl->cb = cb;
    nl->high_water_mark = hwm;
    eddy_buffer_init(&nl->scratch);
    return nl;
}

void eddy__net_loop_free(struct eddy__net_loop *nl)
{
    struct eddy__out_seg *s;
    int i;

    if (nl == NULL)
        return;
    for (i = 0; i < nl->nfree; i++)
        free(nl->free_data[i]);
    while ((s = nl->free_segs) != NULL) {
        nl->free_segs = s->next;
        free(s);
    }
    eddy__send_batch_free(nl);
    eddy_buffer_free(&nl->scratch);
    free(nl->linger_slots);
    free(nl);
}

void eddy__net_loop_count_in(struct eddy__net_loop *nl)
{
    __atomic_fetch_add(&nl->live, 1, __ATOMIC_RELAXED);
}

void eddy__net_loop_count_out(struct eddy__net_loop *nl)
{
    __atomic_fetch_sub(&nl->live, 1, __ATOMIC_RELAXED);
}

/* Slots kept when the last entry goes: enough for a steady trickle of handshakes
 * without a calloc each time, little after a burst has grown the table. */
#define LINGER_KEEP_SLOTS 64

static struct eddy__linger **linger_slot(const struct eddy__net_loop *nl,
                                         const struct eddy_tcp_connection *c)
{
    /* Fibonacci hashing: the product's upper half depends on every address bit,
     * the low ones of which are equal for all connections (alignment). */
    uint64_t h = (uint64_t)(uintptr_t)c * UINT64_C(0x9E3779B97F4A7C15);

    return &nl->linger_slots[(size_t)(h >> 32) & (nl->linger_cap - 1)];
}

/* Doubles the table so that chains stay about one entry long. An entry's new slot
 * gets entries from its old slot only; reversing each old chain before pushing its
 * entries keeps their order, so a connection's newest entry stays first. A failed
 * grow is no error while a table exists: chains just get longer. */
static int linger_grow(struct eddy__net_loop *nl)
{
    size_t ocap = nl->linger_cap, i;
    struct eddy__linger **old = nl->linger_slots, *l, *rev, *next;

    nl->linger_slots = calloc(ocap ? ocap * 2 : 16, sizeof *old);
    if (nl->linger_slots == NULL) {
        nl->linger_slots = old;
        return ocap > 0 ? 0 : -ENOMEM;
    }
    nl->linger_cap = ocap ? ocap * 2 : 16;
    for (i = 0; i < ocap; i++) {
        for (rev = NULL, l = old[i]; l != NULL; l = next) {
            next = l->next;
            l->next = rev;
            rev = l;
        }
        for (l = rev; l != NULL; l = next) {
            struct eddy__linger **slot = linger_slot(nl, l->c);

            next = l->next;
            l->next = *slot;
            *slot = l;
        }
    }
    free(old);
    return 0;
}

struct eddy__linger *eddy__net_linger_find(struct eddy__net_loop *nl,
                                           const struct eddy_tcp_connection *c)
{
    struct eddy__linger *l;

    if (nl->nlingers == 0)
        return NULL;
    for (l = *linger_slot(nl, c); l != NULL && l->c != c; l = l->next)
        ;
    return l;
}

int eddy__net_linger_add(struct eddy__net_loop *nl, struct eddy_tcp_connection *c, unsigned ms)
{
    struct eddy__linger *l, **slot;

    if (nl->nlingers >= nl->linger_cap && linger_grow(nl) < 0)
        return -ENOMEM;
    l = calloc(1, sizeof *l);
    if (l == NULL)
        return -ENOMEM;
    l->c = c;
    l->ms = ms;
    eddy_timer_init(&l->timer, nl->loop, NULL, c);
    slot = linger_slot(nl, c);
    l->next = *slot;
    *slot = l;
    nl->nlingers++;
    return 0;
}

void eddy__net_linger_remove(struct eddy__net_loop *nl, const struct eddy_tcp_connection *c)
{
    struct eddy__linger **pp, *l;

    if (nl->nlingers == 0)
        return;
    for (pp = linger_slot(nl, c); (l = *pp) != NULL; pp = &l->next) {
        if (l->c == c) {
            *pp = l->next;
            eddy_timer_stop(&l->timer);
            free(l);
            if (--nl->nlingers == 0 && nl->linger_cap > LINGER_KEEP_SLOTS) {
                free(nl->linger_slots);
                nl->linger_slots = NULL;
                nl->linger_cap = 0;
            }
            return;
        }
    }
}

void eddy__net_buf_get(struct eddy__net_loop *nl, struct eddy_buffer *b)
{
    if (b->data != NULL || nl->nfree == 0)
        return;
    nl->nfree--;
    b->data = nl->free_data[nl->nfree];
    b->cap = nl->free_cap[nl->nfree];
    b->rd = b->wr = EDDY_BUFFER_PREPEND;
}

void eddy__net_buf_put(struct eddy__net_loop *nl, struct eddy_buffer *b)
{
    if (b->data == NULL || eddy_buffer_readable(b) > 0)
        return;
    if (nl->nfree < EDDY__NET_FREE_BUFS && b->cap <= EDDY__NET_RECYCLE_MAX &&
        b->cap > EDDY_BUFFER_PREPEND) {
        nl->free_data[nl->nfree] = b->data;
        nl->free_cap[nl->nfree] = b->cap;
        nl->nfree++;
        eddy_buffer_init(b);
        return;
    }
    eddy_buffer_release(b);
}

struct eddy__out_seg *eddy__net_seg_get(struct eddy__net_loop *nl)
{
    struct eddy__out_seg *s = nl->free_segs;

    if (s == NULL)
        return malloc(sizeof *s);
    nl->free_segs = s->next;
    nl->nfree_segs--;
    return s;
}

void eddy__net_seg_put(struct eddy__net_loop *nl, struct eddy__out_seg *s)
{
    eddy_buffer_retrieve_all(&s->after);
    eddy__net_buf_put(nl, &s->after);
    if (nl->nfree_segs >= EDDY__NET_FREE_SEGS) {
        free(s);
        return;
    }
    s->next = nl->free_segs;
    nl->free_segs = s;
    nl->nfree_segs++;
}

struct eddy_tcp_connection **eddy__net_loop_snapshot(struct eddy__net_loop *nl, size_t *n)
{
    struct eddy_tcp_connection **v, *c;
    size_t i = 0;

    *n = nl->nconns;
    if (nl->nconns == 0)
        return NULL;
    v = malloc(nl->nconns * sizeof *v);
    if (v == NULL)
        return NULL;
    for (c = nl->conns; c != NULL && i < nl->nconns; c = eddy__tcp_connection_next(c)) {
        eddy_tcp_connection_ref(c);
        v[i++] = c;
    }
    *n = i;
    return v;
}

void eddy__net_loop_close_all(struct eddy__net_loop *nl)
{
    /* Closing one connection may close others (from on_close), so walk a
     * referenced snapshot rather than the live list. */
    while (nl->conns != NULL) {
        size_t n, i;
        struct eddy_tcp_connection **v = eddy__net_loop_snapshot(nl, &n);

        if (v == NULL) { /* out of memory: close them one by one */
            eddy_tcp_connection_close(nl->conns);
            continue;
        }
        for (i = 0; i < n; i++) {
            eddy_tcp_connection_close(v[i]);
            eddy_tcp_connection_unref(v[i]);
        }
        free(v);
    }
    eddy__send_batch_stop(nl); /* before the loop goes; the queued ones are closed */
}
