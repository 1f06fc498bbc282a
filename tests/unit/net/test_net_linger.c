/*
 * The loop's table of lingering closes and handshake deadlines (src/net/net_loop.c):
 * entries added and removed in any order are found by their connection while the
 * table grows and shrinks, a connection's newest entry is the one found and removed,
 * and the entries left expire in deadline order, each once, through their timers.
 * The connections are only keys here: nothing of them is touched.
 */
#include <stdlib.h>

#include "eddy/event_loop.h"
#include "net/net_internal.h"
#include "../../lib/test.h"

#define N 3000

static struct eddy_tcp_connection *conns;
static struct eddy__net_loop *nl;
static int fired[N];
static int order[N];
static int nfired;
static int left;

static int idx(const struct eddy_tcp_connection *c)
{
    return (int)(c - conns);
}

/* As a real expiry does (request_close, do_close): the entry goes in its own callback. */
static void expired(struct eddy_timer *t)
{
    struct eddy_tcp_connection *c = t->data;
    struct eddy_event_loop *loop = t->loop; /* t goes with the entry */

    fired[idx(c)]++;
    order[nfired++] = idx(c);
    eddy__net_linger_remove(nl, c);
    if (--left == 0)
        eddy_event_loop_stop(loop);
}

static void shuffle(int *v, int n)
{
    int i;

    for (i = n - 1; i > 0; i--) {
        int j = rand() % (i + 1), t = v[i];
        v[i] = v[j];
        v[j] = t;
    }
}

static void stop_cb(struct eddy_timer *t)
{
    eddy_event_loop_stop(t->loop);
}

static void test_linger_add_remove_any_order_expire_in_deadline_order(void)
{
    static int perm[N], removed[N];
    struct eddy_event_loop *loop;
    struct eddy__linger *l;
    struct eddy_timer guard;
    int i, k, prev;

    srand(7);
    conns = calloc(N, sizeof *conns);
    ASSERT(conns != NULL);
    ASSERT_EQ(eddy_event_loop_new(&loop, NULL), 0);
    nl = eddy__net_loop_new(loop, NULL, NULL, 0);
    ASSERT(nl != NULL);
    for (i = 0; i < N; i++)
        perm[i] = i;
    shuffle(perm, N);
    /* Deadlines 20..59 ms (many ties, which fire in start order), each timer started
     * with its entry, as a handshake's is. */
    for (i = 0; i < N; i++) {
        ASSERT_EQ(eddy__net_linger_add(nl, &conns[perm[i]], 20 + (unsigned)perm[i] % 40), 0);
        l = eddy__net_linger_find(nl, &conns[perm[i]]);
        l->timer.cb = expired;
        ASSERT_EQ(eddy_timer_start(&l->timer, l->ms, 0), 0);
    }
    ASSERT_EQ(nl->nlingers, (size_t)N);
    ASSERT_GE(nl->linger_cap, (size_t)N); /* grown: chains about one long */
    for (i = 0; i < N; i++) {
        l = eddy__net_linger_find(nl, &conns[i]);
        ASSERT(l != NULL && l->c == &conns[i]);
        ASSERT_EQ(l->ms, 20 + (unsigned)i % 40);
    }
    /* Remove two thirds in another order (their timers stop); removing an absent one
     * changes nothing. */
    shuffle(perm, N);
    for (i = 0; i < 2 * N / 3; i++) {
        eddy__net_linger_remove(nl, &conns[perm[i]]);
        eddy__net_linger_remove(nl, &conns[perm[i]]);
        removed[perm[i]] = 1;
    }
    ASSERT_EQ(nl->nlingers, (size_t)(N - 2 * N / 3));
    for (i = 0; i < N; i++)
        ASSERT_EQ(eddy__net_linger_find(nl, &conns[i]) == NULL, removed[i]);

    /* A second entry of one connection: found and removed first (newest first). */
    for (k = 0; removed[k]; k++)
        ;
    ASSERT_EQ(eddy__net_linger_add(nl, &conns[k], 5), 0); /* its timer is never started */
    ASSERT_EQ(eddy__net_linger_find(nl, &conns[k])->ms, 5u);
    eddy__net_linger_remove(nl, &conns[k]);
    ASSERT_EQ(eddy__net_linger_find(nl, &conns[k])->ms, 20 + (unsigned)k % 40);

    left = N - 2 * N / 3;
    eddy_timer_init(&guard, loop, stop_cb, NULL);
    ASSERT_EQ(eddy_timer_start(&guard, 5000, 0), 0); /* bounds the run if one never fires */
    ASSERT_EQ(eddy_event_loop_run(loop), 0);
    eddy_timer_stop(&guard);
    ASSERT_EQ(left, 0);
    ASSERT_EQ(nfired, N - 2 * N / 3);
    for (i = 0, prev = 0; i < nfired; i++) {
        unsigned ms = 20 + (unsigned)order[i] % 40;

        ASSERT_GE((int)ms, prev); /* deadline order (all started within the same ms or so) */
        prev = (int)ms;
    }
    for (i = 0; i < N; i++)
        ASSERT_EQ(fired[i], !removed[i]);
    ASSERT_EQ(nl->nlingers, (size_t)0);
    ASSERT_EQ(nl->linger_cap, (size_t)0); /* a grown table goes with its last entry */
    ASSERT(eddy__net_linger_find(nl, &conns[k]) == NULL);
    eddy__net_loop_free(nl);
    eddy_event_loop_free(loop);
    free(conns);
}

int main(void)
{
    RUN(test_linger_add_remove_any_order_expire_in_deadline_order);
    return eddy_test_done();
}
