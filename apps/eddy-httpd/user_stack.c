/*
 * --stack user: eddy-httpd on ustack. The process creates (or attaches) the TAP
 * device and runs one stack in every loop that owns connections (a uepoll backend).
 * With threads 0 that is the base loop, on a plain TAP. With --threads N each
 * sub-reactor gets one queue of a multi-queue TAP (IFF_MULTI_QUEUE: the kernel spreads
 * flows over the queues by hash), its own stack on it with the same MAC and IP, and its
 * own listening sockets: it accepts and keeps its connections, the main reactor accepts
 * nothing. The stacks share nothing; how each one resolves its peers when ARP replies
 * land on a sibling's queue is in docs/USTACK.md (Threads). Accepted ustack sockets
 * become connections of the HTTP server like accepted kernel sockets, through
 * eddy_transport_ustack, or eddy_transport_tls_ustack on a TLS listener. The kernel
 * side of the TAP is configured by whoever runs us.
 *
 * Every listening address (--listen, --listen-tls, the listen directives of -c FILE,
 * and those a reload adds) is one slot: a listening socket in every stack, opened and
 * closed by a task each loop runs in its own thread while the base loop waits.
 */
#include "user_stack.h"

#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eddy/event_loop.h"
#include "eddy/inet.h"
#include "eddy/ustack_net.h"

#define MAX_SLOTS HTTPD_MAX_BOUND

/* One stack per loop that owns connections, each touched only in that loop's thread. */
struct loop_stack {
    struct httpd_user_stack *u;
    int index; /* loop index for eddy_ustack_listen_at; -1: the base loop hands out */
    struct ue_stack *st;
    struct eddy_ustack_driver *drv;
    struct eddy_ustack_listener *lst[MAX_SLOTS];
    int rc;
};

/* A listening address, the same in every stack. */
struct slot {
    struct sockaddr_in addr;
    const struct eddy_transport_ops *ops;
    void *arg; /* the TLS context */
    int used;
};

struct httpd_user_stack {
    struct eddy_tcp_server *tcp;
    struct in_addr ip;
    int n;
    struct loop_stack *ls;
    struct slot slot[MAX_SLOTS];
    int cur; /* the slot the loops' listen and close tasks work on */
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int pending;
    int started; /* the loops run their stacks: stop them before the loops go */
    char desc[96];
};

static int fail(const char *what, int err)
{
    fprintf(stderr, "eddy-httpd: --stack user: %s: %s\n", what, strerror(err));
    return -1;
}

static void task_done(struct httpd_user_stack *u)
{
    pthread_mutex_lock(&u->lock);
    u->pending--;
    pthread_cond_broadcast(&u->cond);
    pthread_mutex_unlock(&u->lock);
}

/* Runs fn for every stack in its loop's thread (at once in the caller's own) and waits
 * for all of them. */
static void each_loop(struct httpd_user_stack *u, eddy_task_fn fn)
{
    pthread_mutex_lock(&u->lock);
    u->pending = u->n;
    pthread_mutex_unlock(&u->lock);
    for (int i = 0; i < u->n; i++)
        u->ls[i].rc = 0;
    for (int i = 0; i < u->n; i++) {
        struct eddy_event_loop *l = eddy_tcp_server_loop_at(u->tcp, i);
        if (eddy_event_loop_run_in_loop(l, fn, &u->ls[i]) < 0) {
            u->ls[i].rc = -ENOMEM;
            task_done(u);
        }
    }
    pthread_mutex_lock(&u->lock);
    while (u->pending > 0)
        pthread_cond_wait(&u->cond, &u->lock);
    pthread_mutex_unlock(&u->lock);
}

/* The first failure of the last each_loop, or 0. */
static int loops_rc(const struct httpd_user_stack *u)
{
    for (int i = 0; i < u->n; i++)
        if (u->ls[i].rc < 0)
            return u->ls[i].rc;
    return 0;
}

static void driver_task(void *arg)
{
    struct loop_stack *s = arg;
    struct eddy_event_loop *loop = eddy_tcp_server_loop_at(s->u->tcp, s->index < 0 ? 0 : s->index);
    s->rc = eddy_ustack_driver_start(&s->drv, loop, s->st);
    task_done(s->u);
}

static void listen_task(void *arg)
{
    struct loop_stack *s = arg;
    const struct slot *sl = &s->u->slot[s->u->cur];
    s->rc = eddy_ustack_listen_transport_at(&s->lst[s->u->cur], s->u->tcp, s->index, s->st,
                                            &sl->addr, 511, sl->ops, sl->arg);
    task_done(s->u);
}

static void close_task(void *arg)
{
    struct loop_stack *s = arg;
    eddy_ustack_listener_close(s->lst[s->u->cur]);
    s->lst[s->u->cur] = NULL;
    task_done(s->u);
}

static void close_all(struct loop_stack *s)
{
    for (int k = 0; k < MAX_SLOTS; k++) {
        eddy_ustack_listener_close(s->lst[k]);
        s->lst[k] = NULL;
    }
}

static void close_all_task(void *arg)
{
    close_all(arg);
    task_done(((struct loop_stack *)arg)->u);
}

static void stop_task(void *arg)
{
    struct loop_stack *s = arg;
    close_all(s);
    eddy_ustack_driver_stop(s->drv);
    s->drv = NULL;
    task_done(s->u);
}

/* The TAP: a plain one for the base loop alone, else one queue per sub-reactor. */
static int make_stacks(struct httpd_user_stack *u, struct ue_stack_config *c, const char *tap)
{
    struct ue_dev *devs[256];
    int single = eddy_tcp_server_loop_at(u->tcp, 0) == eddy_tcp_server_base_loop(u->tcp);
    int rc = single ? ue_tap_open(devs, tap) : ue_tap_open_mq(devs, tap, u->n);
    if (rc < 0)
        return fail(tap, -rc);
    c->arp_glean = u->n > 1;
    for (int i = 0; i < u->n; i++) {
        c->dev = devs[i];
        u->ls[i] = (struct loop_stack){.u = u, .index = single ? -1 : i};
        if (!(u->ls[i].st = ue_stack_create(c))) {
            rc = errno;
            for (int j = i; j < u->n; j++)
                ue_dev_destroy(devs[j]);
            return fail("stack", rc);
        }
    }
    return 0;
}

int httpd_user_stack_open(struct httpd_user_stack **out, struct eddy_tcp_server *tcp,
                          const struct httpd_options *o)
{
    struct ue_stack_config c = {0};
    int n = eddy_tcp_server_loop_count(tcp);
    *out = NULL;
    if (eddy_ustack_parse_addr(&c, o->ip, o->gateway) < 0 || n < 1 || n > 256) {
        fprintf(stderr, "eddy-httpd: --stack user: bad --ip or --gateway\n");
        return -1;
    }
    struct httpd_user_stack *u = calloc(1, sizeof(*u));
    struct loop_stack *ls = calloc((size_t)n, sizeof(*ls));
    if (!u || !ls) {
        free(u);
        free(ls);
        return fail("setup", ENOMEM);
    }
    *out = u;
    *u = (struct httpd_user_stack){.tcp = tcp, .ip = c.addr, .n = n, .ls = ls};
    pthread_mutex_init(&u->lock, NULL);
    pthread_cond_init(&u->cond, NULL);
    char ip[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &c.addr, ip, sizeof(ip)); /* without the prefix of --ip */
    snprintf(u->desc, sizeof u->desc, " (ustack on TAP %s, %d queue%s, address %s)", o->tap, n,
             n > 1 ? "s" : "", ip);
    return make_stacks(u, &c, o->tap);
}

int httpd_user_stack_start(struct httpd_user_stack *u)
{
    each_loop(u, driver_task);
    u->started = 1;
    int rc = loops_rc(u);
    return rc < 0 ? fail("driver", -rc) : 0;
}

/* addr as ustack can listen on it: IPv4, the stack's own address or any. 0 or -errno. */
static int parse(const struct httpd_user_stack *u, const char *addr, struct sockaddr_in *out)
{
    union eddy_sockaddr sa;
    socklen_t len;
    if (eddy_sockaddr_parse(addr, &sa, &len) < 0)
        return -EINVAL;
    if (sa.sa.sa_family != AF_INET)
        return -EAFNOSUPPORT;
    if (sa.in4.sin_addr.s_addr != INADDR_ANY && sa.in4.sin_addr.s_addr != u->ip.s_addr)
        return -EADDRNOTAVAIL;
    *out = sa.in4;
    return 0;
}

int httpd_user_stack_listen(struct httpd_user_stack *u, const char *addr,
                            struct eddy_tls_context *tls, union eddy_sockaddr *bound)
{
    struct sockaddr_in sin;
    int rc = parse(u, addr, &sin), k = 0;
    if (rc < 0)
        return rc;
    while (k < MAX_SLOTS && u->slot[k].used)
        k++;
    if (k == MAX_SLOTS)
        return -EMFILE;
    u->slot[k] = (struct slot){.addr = sin, .used = 1, .arg = tls};
    u->slot[k].ops = tls ? &eddy_transport_tls_ustack : &eddy_transport_ustack;
    u->cur = k;
    each_loop(u, listen_task);
    if ((rc = loops_rc(u)) < 0) {
        each_loop(u, close_task); /* the stacks that did listen */
        u->slot[k].used = 0;
        return rc;
    }
    memset(bound, 0, sizeof *bound);
    bound->in4 = sin;
    return 0;
}

int httpd_user_stack_unlisten(struct httpd_user_stack *u, const union eddy_sockaddr *bound)
{
    for (int k = 0; k < MAX_SLOTS; k++) {
        const struct sockaddr_in *a = &u->slot[k].addr;
        if (u->slot[k].used && bound->sa.sa_family == AF_INET &&
            a->sin_port == bound->in4.sin_port &&
            a->sin_addr.s_addr == bound->in4.sin_addr.s_addr) {
            u->cur = k;
            each_loop(u, close_task);
            u->slot[k].used = 0;
            return 0;
        }
    }
    return -ENOENT;
}

void httpd_user_stack_close_listeners(struct httpd_user_stack *u)
{
    if (!u || !u->started)
        return;
    each_loop(u, close_all_task);
    for (int k = 0; k < MAX_SLOTS; k++)
        u->slot[k].used = 0;
}

const char *httpd_user_stack_describe(const struct httpd_user_stack *u)
{
    return u ? u->desc : "";
}

/* Before the server is freed, while the loops still run: each loop closes its
 * listeners and stops driving its stack; closing the connections afterwards sends
 * their FIN or RST at once, without the driver. */
void httpd_user_stack_stop_accepting(struct httpd_user_stack *u)
{
    if (u && u->started)
        each_loop(u, stop_task);
    if (u)
        u->started = 0;
}

void httpd_user_stack_free(struct httpd_user_stack *u)
{
    if (!u)
        return;
    httpd_user_stack_stop_accepting(u);
    for (int i = 0; i < u->n; i++)
        if (u->ls[i].st)
            ue_stack_destroy(u->ls[i].st);
    pthread_cond_destroy(&u->cond);
    pthread_mutex_destroy(&u->lock);
    free(u->ls);
    free(u);
}
