/*
 * tcp_server: acceptors on the base loop, a thread_pool of sub-reactors,
 * and one net_loop (scratch buffer, free lists, connection list) per loop
 * that owns connections.
 *
 * Hand-off: the base loop accepts, allocates the connection and queues its
 * registration to the chosen loop (round-robin); from then on only that loop
 * touches it. With threads = 0 the hand-off runs inline.
 *
 * Shutdown: connections must be closed in their own threads, while those
 * still run, so free queues a close-all task to every sub-loop and waits for
 * it before the pool stops them.
 */
#include "eddy/tcp_server.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "eddy/acceptor.h"
#include "eddy/event_loop.h"
#include "eddy/thread_pool.h"
#include "net_internal.h"
#include "reactor/loop_hooks.h"

#define DEFAULT_HWM ((size_t)4 << 20)

struct eddy_tcp_server {
    struct eddy_event_loop *base;
    struct eddy_tcp_server_options opts;
    char *backend;
    const struct eddy_tcp_callbacks *cb;
    void *data;
    struct listener **listeners;
    int nlisteners;
    struct eddy_thread_pool *pool;
    struct eddy__net_loop **loops;
    int nloops;
    int started;
    unsigned rr;
    uint64_t next_id;
};

/* One listening address and the transport its connections get. */
struct listener {
    struct eddy_acceptor *acceptor;
    struct eddy_tcp_server *server;
    const struct eddy_transport_ops *ops;
    void *arg;
};

void eddy_tcp_server_options_init(struct eddy_tcp_server_options *o)
{
    memset(o, 0, sizeof *o);
    o->backlog = 511;
    o->tcp_nodelay = 1;
    o->high_water_mark = DEFAULT_HWM;
    o->handshake_timeout_ms = 10000;
}

/* The sum of the loops' counts: each loop counts its own connections, so
 * closing one touches nothing shared with the other loops. */
size_t eddy_tcp_server_connection_count(const struct eddy_tcp_server *s)
{
    struct eddy__net_loop *const *loops = s->loops;
    size_t n = 0;
    int i;

    for (i = 0; loops != NULL && i < s->nloops; i++)
        if (loops[i] != NULL)
            n += __atomic_load_n(&loops[i]->live, __ATOMIC_RELAXED); /* per accept: no call */
    return n;
}

static int at_max(const struct eddy_tcp_server *s)
{
    size_t max = (size_t)s->opts.max_connections;

    return max > 0 && eddy_tcp_server_connection_count(s) >= max;
}

/* t (an opened transport instance) becomes a connection of nl, not yet
 * established; the caller checked max_connections. 0 or -errno (t is then
 * closed). */
static int admit(struct eddy_tcp_server *s, struct eddy__net_loop *nl, struct eddy_transport *t,
                 const struct sockaddr *peer, socklen_t peer_len, struct eddy_tcp_connection **c)
{
    int r = eddy__tcp_connection_new(c, nl, t, peer, peer_len,
                                     __atomic_add_fetch(&s->next_id, 1, __ATOMIC_RELAXED),
                                     s->opts.context_size);

    if (r == 0)
        eddy__net_loop_count_in(nl);
    return r;
}

/* Base loop thread: t becomes a connection of the next loop in turn. */
static int hand_off(struct eddy_tcp_server *s, struct eddy_transport *t,
                    const struct sockaddr *peer, socklen_t peer_len)
{
    struct eddy__net_loop *nl;
    struct eddy_tcp_connection *c;
    int r;

    if (s->loops == NULL) {
        t->ops->close(t);
        return -EINVAL;
    }
    nl = s->loops[s->rr++ % (unsigned)s->nloops];
    if ((r = admit(s, nl, t, peer, peer_len, &c)) < 0)
        return r;
    if (nl->loop == s->base) { /* threads = 0: served right here */
        eddy__tcp_connection_establish(c);
        return 0;
    }
    /* The sub-loop is woken once per accept burst (on_burst_end), not per connection. */
    if (eddy__event_loop_queue_nowake(nl->loop, eddy__tcp_connection_establish, c) < 0) {
        eddy__tcp_connection_discard(c);
        return -ENOMEM;
    }
    nl->wake_due = 1;
    return 0;
}

static void on_accept(struct eddy_acceptor *a, int fd, const struct sockaddr *peer,
                      socklen_t peer_len, void *data)
{
    struct listener *l = data;
    struct eddy_transport t;

    (void)a;
    if (at_max(l->server)) {
        close(fd); /* before the transport exists: nothing else to undo */
        return;
    }
    if (eddy_transport_open(&t, l->ops, fd, l->arg, EDDY_TRANSPORT_ACCEPTED) == 0)
        hand_off(l->server, &t, peer, peer_len);
}

static void wake_due_loops(struct eddy_tcp_server *s)
{
    int i;

    for (i = 0; i < s->nloops; i++) {
        if (s->loops[i]->wake_due) {
            s->loops[i]->wake_due = 0;
            eddy__event_loop_wake(s->loops[i]->loop);
        }
    }
}

static void on_burst_end(struct eddy_acceptor *a, void *data)
{
    struct listener *l = data;

    (void)a;
    wake_due_loops(l->server);
}

int eddy_tcp_server_adopt(struct eddy_tcp_server *s, struct eddy_transport *t,
                          const struct sockaddr *peer, socklen_t peer_len)
{
    int r;

    if (at_max(s)) {
        t->ops->close(t);
        return -EMFILE;
    }
    r = hand_off(s, t, peer, peer_len);
    wake_due_loops(s);
    return r;
}

/* A sub-loop that accepts by itself (a ustack per loop) keeps what it accepts: no
 * hand-off, no wake-up. Ids come from the one atomic counter; the connection limit is
 * checked against the loops' counts as on the base loop (a burst on several loops at
 * once may pass it by at most one connection per loop). */
int eddy_tcp_server_adopt_at(struct eddy_tcp_server *s, int i, struct eddy_transport *t,
                             const struct sockaddr *peer, socklen_t peer_len)
{
    struct eddy_tcp_connection *c;
    int r;

    if (s->loops == NULL || i < 0 || i >= s->nloops) {
        t->ops->close(t);
        return -EINVAL;
    }
    if (at_max(s)) {
        t->ops->close(t);
        return -EMFILE;
    }
    if ((r = admit(s, s->loops[i], t, peer, peer_len, &c)) < 0)
        return r;
    eddy__tcp_connection_establish(c);
    return 0;
}

int eddy_tcp_server_new(struct eddy_tcp_server **out, struct eddy_event_loop *base,
                        const struct eddy_tcp_server_options *o,
                        const struct eddy_tcp_callbacks *cb, void *data)
{
    struct eddy_tcp_server *s;
    const char *backend;
    int r;

    if (out == NULL || base == NULL || cb == NULL || (o != NULL && o->threads < 0))
        return -EINVAL;
    s = calloc(1, sizeof *s);
    if (s == NULL)
        return -ENOMEM;
    if (o != NULL)
        s->opts = *o;
    else
        eddy_tcp_server_options_init(&s->opts);
    if (s->opts.high_water_mark == 0)
        s->opts.high_water_mark = DEFAULT_HWM;
    backend = s->opts.backend ? s->opts.backend : eddy_event_loop_dispatcher(base)->name;
    s->backend = strdup(backend);
    s->opts.backend = s->backend;
    r = s->backend ? eddy_thread_pool_new(&s->pool, base, s->opts.threads, s->backend) : -ENOMEM;
    if (r < 0) {
        free(s->backend);
        free(s);
        return r;
    }
    s->base = base;
    s->cb = cb;
    s->data = data;
    *out = s;
    return 0;
}

int eddy_tcp_server_listen(struct eddy_tcp_server *s, const char *addr, union eddy_sockaddr *bound)
{
    return eddy_tcp_server_listen_transport(s, addr, bound, NULL, NULL);
}

int eddy_tcp_server_listen_transport(struct eddy_tcp_server *s, const char *addr,
                                     union eddy_sockaddr *bound,
                                     const struct eddy_transport_ops *ops, void *arg)
{
    struct eddy_acceptor_options ao = {.backlog = s->opts.backlog,
                                       .reuseport = s->opts.reuseport,
                                       .defer_accept = s->opts.defer_accept,
                                       .on_burst_end = on_burst_end,
                                       .delayed_ack = s->opts.delayed_ack};
    struct listener **v, *l;
    union eddy_sockaddr sa;
    socklen_t len;
    int r = eddy_sockaddr_parse(addr, &sa, &len);

    if (r < 0)
        return r;
    v = realloc(s->listeners, (size_t)(s->nlisteners + 1) * sizeof *v);
    if (v == NULL)
        return -ENOMEM;
    s->listeners = v;
    l = calloc(1, sizeof *l);
    if (l == NULL)
        return -ENOMEM;
    *l = (struct listener){.server = s, .ops = ops ? ops : &eddy_transport_socket, .arg = arg};
    r = eddy_acceptor_new(&l->acceptor, s->base, &sa.sa, len, &ao, on_accept, l);
    if (r == 0 && s->started && (r = eddy_acceptor_start(l->acceptor)) < 0)
        eddy_acceptor_free(l->acceptor);
    if (r < 0) {
        free(l);
        return r;
    }
    s->listeners[s->nlisteners++] = l;
    if (bound != NULL)
        eddy_acceptor_local_addr(l->acceptor, bound);
    return 0;
}

int eddy_tcp_server_unlisten(struct eddy_tcp_server *s, const union eddy_sockaddr *addr)
{
    union eddy_sockaddr local;
    int i;

    for (i = 0; i < s->nlisteners; i++) {
        struct listener *l = s->listeners[i];
        if (eddy_acceptor_local_addr(l->acceptor, &local) < 0 ||
            eddy_sockaddr_len(&local.sa) != eddy_sockaddr_len(&addr->sa) ||
            memcmp(&local, addr, eddy_sockaddr_len(&addr->sa)) != 0)
            continue;
        eddy_acceptor_free(l->acceptor);
        free(l);
        s->listeners[i] = s->listeners[--s->nlisteners];
        return 0;
    }
    return -ENOENT;
}

static int make_loops(struct eddy_tcp_server *s)
{
    const struct eddy_event_dispatcher *disp = eddy_event_dispatcher_find(s->backend);
    int n = eddy_thread_pool_size(s->pool), i;

    s->nloops = n > 0 ? n : 1;
    s->loops = calloc((size_t)s->nloops, sizeof *s->loops);
    if (s->loops == NULL)
        return -ENOMEM;
    for (i = 0; i < s->nloops; i++) {
        s->loops[i] = eddy__net_loop_new(eddy_thread_pool_loop_at(s->pool, i), s, s->cb,
                                         s->opts.high_water_mark);
        if (s->loops[i] == NULL)
            return -ENOMEM;
        s->loops[i]->nodelay = s->opts.tcp_nodelay != 0;
        s->loops[i]->handshake_timeout_ms = s->opts.handshake_timeout_ms;
        /* A backend that cannot watch every descriptor must refuse before on_connected. */
        s->loops[i]->read_first = s->opts.defer_accept > 0 && disp->max_fd < 0;
        s->loops[i]->batch_sends = 1;
    }
    return 0;
}

int eddy_tcp_server_start(struct eddy_tcp_server *s)
{
    int r, i;

    if (s->started)
        return -EALREADY;
    r = eddy_thread_pool_start(s->pool);
    if (r < 0)
        return r;
    s->started = 1;
    r = make_loops(s);
    for (i = 0; r == 0 && i < s->nlisteners; i++)
        r = eddy_acceptor_start(s->listeners[i]->acceptor);
    return r;
}

void eddy_tcp_server_stop_accepting(struct eddy_tcp_server *s)
{
    int i;

    for (i = 0; i < s->nlisteners; i++)
        eddy_acceptor_stop(s->listeners[i]->acceptor);
}

/* ---- foreach ---- */

struct foreach_task {
    struct eddy__net_loop *nl;
    void (*fn)(struct eddy_tcp_connection *c, void *arg);
    void *arg;
};

static void foreach_in_loop(struct eddy__net_loop *nl,
                            void (*fn)(struct eddy_tcp_connection *c, void *arg), void *arg)
{
    size_t n, i;
    struct eddy_tcp_connection **v = eddy__net_loop_snapshot(nl, &n);

    if (v == NULL)
        return;
    for (i = 0; i < n; i++) {
        if (eddy_tcp_connection_is_connected(v[i]))
            fn(v[i], arg);
        eddy_tcp_connection_unref(v[i]);
    }
    free(v);
}

static void foreach_task_run(void *arg)
{
    struct foreach_task *t = arg;

    foreach_in_loop(t->nl, t->fn, t->arg);
    free(t);
}

int eddy_tcp_server_foreach_connection(struct eddy_tcp_server *s,
                                       void (*fn)(struct eddy_tcp_connection *c, void *arg),
                                       void *arg)
{
    int i, r;

    for (i = 0; i < s->nloops; i++) {
        struct eddy__net_loop *nl = s->loops[i];
        struct foreach_task *t;

        if (nl == NULL)
            continue;
        if (eddy_event_loop_is_in_loop_thread(nl->loop)) {
            foreach_in_loop(nl, fn, arg);
            continue;
        }
        t = malloc(sizeof *t);
        if (t == NULL)
            return -ENOMEM;
        t->nl = nl;
        t->fn = fn;
        t->arg = arg;
        r = eddy_event_loop_queue_in_loop(nl->loop, foreach_task_run, t);
        if (r < 0) {
            free(t);
            return r;
        }
    }
    return 0;
}

/* ---- accessors ---- */

int eddy_tcp_server_loop_count(const struct eddy_tcp_server *s)
{
    int n = eddy_thread_pool_size(s->pool);
    return n > 0 ? n : 1;
}

struct eddy_event_loop *eddy_tcp_server_loop_at(const struct eddy_tcp_server *s, int i)
{
    if (i < 0 || i >= eddy_tcp_server_loop_count(s))
        return NULL;
    if (s->loops != NULL && s->loops[i] != NULL)
        return s->loops[i]->loop;
    return eddy_thread_pool_loop_at(s->pool, i);
}

struct eddy_event_loop *eddy_tcp_server_base_loop(const struct eddy_tcp_server *s)
{
    return s->base;
}

void *eddy_tcp_server_data(const struct eddy_tcp_server *s)
{
    return s->data;
}

/* ---- shutdown ---- */

struct close_wait {
    struct eddy__net_loop *nl;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int done;
};

static void close_all_task(void *arg)
{
    struct close_wait *w = arg;

    eddy__net_loop_close_all(w->nl);
    pthread_mutex_lock(&w->mu);
    w->done = 1;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

/* Closes the connections of a sub-loop in its own thread and waits. */
static void close_all_remote(struct eddy__net_loop *nl)
{
    struct close_wait w = {.nl = nl, .done = 0};

    pthread_mutex_init(&w.mu, NULL);
    pthread_cond_init(&w.cv, NULL);
    while (eddy_event_loop_queue_in_loop(nl->loop, close_all_task, &w) < 0)
        usleep(1000); /* out of memory: nothing else can close them safely */
    pthread_mutex_lock(&w.mu);
    while (!w.done)
        pthread_cond_wait(&w.cv, &w.mu);
    pthread_mutex_unlock(&w.mu);
    pthread_cond_destroy(&w.cv);
    pthread_mutex_destroy(&w.mu);
}

void eddy_tcp_server_free(struct eddy_tcp_server *s)
{
    int i;

    if (s == NULL)
        return;
    for (i = 0; i < s->nlisteners; i++) {
        eddy_acceptor_free(s->listeners[i]->acceptor);
        free(s->listeners[i]);
    }
    for (i = 0; s->loops != NULL && i < s->nloops; i++) {
        struct eddy__net_loop *nl = s->loops[i];

        if (nl == NULL)
            continue;
        if (nl->loop == s->base)
            eddy__net_loop_close_all(nl);
        else
            close_all_remote(nl);
    }
    /* Tasks still queued in the sub-loops (cross-thread sends) run here and
     * only drop their references: the connections are closed. */
    eddy_thread_pool_free(s->pool);
    for (i = 0; s->loops != NULL && i < s->nloops; i++)
        eddy__net_loop_free(s->loops[i]);
    free(s->loops);
    free(s->listeners);
    free(s->backend);
    free(s);
}
