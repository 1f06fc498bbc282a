/*
 * tcp_client support: the per-loop groups that client connections share, and the
 * host-name lookup thread.
 *
 * Locking: `registry_lock` guards the group list and every group's refs. A group whose
 * last client went is freed by a task on its loop, never inside a call that came from
 * the group's own connections (they may still be unwinding through it).
 */
#include "net_internal.h"
#include "tcp_client_internal.h"

#include <errno.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>

#include "eddy/event_loop.h"

static struct client_group *groups;
static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;

size_t eddy__client_tail_offset(size_t context_size)
{
    return (context_size + sizeof(void *) - 1) & ~(sizeof(void *) - 1);
}

static void fwd_on_close(struct eddy_tcp_connection *c);
static void fwd_on_abandon(struct eddy_tcp_connection *c);

static struct client_group *group_new(struct eddy_event_loop *loop,
                                      const struct eddy_tcp_callbacks *cb,
                                      const struct eddy_tcp_client_options *o)
{
    struct client_group *g = calloc(1, sizeof *g);
    if (!g)
        return NULL;
    g->user = cb;
    g->fwd = *cb;
    g->fwd.on_close = fwd_on_close;
    g->hwm = o->high_water_mark;
    g->context_size = o->context_size;
    g->nodelay = o->tcp_nodelay != 0;
    g->nl = eddy__net_loop_new(loop, NULL, &g->fwd, g->hwm);
    if (!g->nl) {
        free(g);
        return NULL;
    }
    g->nl->nodelay = g->nodelay;
    g->nl->on_abandon = fwd_on_abandon;
    return g;
}

struct client_group *eddy__client_group_get(struct eddy_event_loop *loop,
                                            const struct eddy_tcp_callbacks *cb,
                                            const struct eddy_tcp_client_options *o)
{
    pthread_mutex_lock(&registry_lock);
    struct client_group *g = groups;
    while (g && !(g->nl->loop == loop && g->user == cb && g->hwm == o->high_water_mark &&
                  g->context_size == o->context_size && g->nodelay == (o->tcp_nodelay != 0)))
        g = g->next;
    if (!g && (g = group_new(loop, cb, o)) != NULL) {
        g->next = groups;
        groups = g;
    }
    if (g)
        g->refs++;
    pthread_mutex_unlock(&registry_lock);
    return g;
}

static void group_free_task(void *arg)
{
    struct client_group *g = arg;
    pthread_mutex_lock(&registry_lock);
    int unused = g->refs == 0;
    if (unused)
        for (struct client_group **p = &groups; *p; p = &(*p)->next)
            if (*p == g) {
                *p = g->next;
                break;
            }
    pthread_mutex_unlock(&registry_lock);
    if (unused) {
        eddy__net_loop_free(g->nl);
        free(g);
    }
}

void eddy__client_group_put(struct client_group *g)
{
    pthread_mutex_lock(&registry_lock);
    int last = --g->refs == 0;
    pthread_mutex_unlock(&registry_lock);
    /* A failed queue (out of memory) keeps the group for the next client of the loop. */
    if (last)
        eddy_event_loop_queue_in_loop(g->nl->loop, group_free_task, g);
}

static struct client_group *group_of(struct eddy_tcp_connection *c)
{
    return (struct client_group *)(void *)((char *)c->nl->cb - offsetof(struct client_group, fwd));
}

/* Defined in tcp_client.c: the client learns its connection closed, or closed before it
 * was usable (a failed handshake). */
void eddy__client_connection_closed(struct eddy_tcp_client *cl, struct eddy_tcp_connection *c);
void eddy__client_connection_abandoned(struct eddy_tcp_client *cl, struct eddy_tcp_connection *c);

static void fwd_on_abandon(struct eddy_tcp_connection *c)
{
    eddy__client_connection_abandoned(eddy_tcp_client_of(c), c);
}

static void fwd_on_close(struct eddy_tcp_connection *c)
{
    struct client_group *g = group_of(c);
    struct eddy_tcp_client *cl = eddy_tcp_client_of(c);
    if (g->user->on_close)
        g->user->on_close(c);
    eddy__client_connection_closed(cl, c);
}

struct eddy_tcp_client *eddy_tcp_client_of(struct eddy_tcp_connection *c)
{
    if (c->nl->server != NULL || c->nl->cb->on_close != fwd_on_close)
        return NULL;
    struct eddy_tcp_client *cl;
    memcpy(&cl,
           (char *)eddy_tcp_connection_context(c) +
               eddy__client_tail_offset(group_of(c)->context_size),
           sizeof cl);
    return cl;
}

/* ---- host-name lookup ---------------------------------------------------------------- */

static void lookup_free(struct client_lookup *lk)
{
    free(lk->host);
    free(lk->port);
    free(lk);
}

static void *lookup_main(void *arg)
{
    struct client_lookup *lk = arg;
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_ADDRCONFIG}, *res, *ai;
    int rc = getaddrinfo(lk->host, lk->port, &hints, &res);
    if (rc != 0) {
        lk->err = rc == EAI_NONAME || rc == EAI_NODATA ? -ENOENT
                  : rc == EAI_MEMORY                   ? -ENOMEM
                  : rc == EAI_SYSTEM                   ? -errno
                                                       : -EHOSTUNREACH;
    } else {
        for (ai = res; ai && lk->n < CLIENT_MAX_ADDRS; ai = ai->ai_next) {
            if (ai->ai_addrlen > sizeof lk->addrs[0])
                continue;
            memcpy(&lk->addrs[lk->n], ai->ai_addr, ai->ai_addrlen);
            lk->lens[lk->n++] = ai->ai_addrlen;
        }
        freeaddrinfo(res);
        lk->err = lk->n ? 0 : -ENOENT;
    }
    struct eddy_tcp_client *cl = lk->cl;
    if (!eddy__client_deliver_lookup(lk)) {
        lookup_free(lk);
        eddy__client_unref(cl);
    }
    return NULL;
}

int eddy__client_lookup_start(struct eddy_tcp_client *cl, const char *host, const char *port)
{
    struct client_lookup *lk = calloc(1, sizeof *lk);
    if (!lk || !(lk->host = strdup(host)) || !(lk->port = strdup(port))) {
        if (lk)
            lookup_free(lk);
        return -ENOMEM;
    }
    lk->cl = cl;
    eddy__client_ref(cl);
    pthread_attr_t attr;
    pthread_t th;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    int rc = pthread_create(&th, &attr, lookup_main, lk);
    pthread_attr_destroy(&attr);
    if (rc != 0) {
        lookup_free(lk);
        eddy__client_unref(cl);
        return -rc;
    }
    return 0;
}
