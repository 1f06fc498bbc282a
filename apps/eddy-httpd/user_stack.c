/*
 * --stack user: eddy-httpd on ustack. The process creates (or attaches) the TAP
 * device and runs one stack in every loop that owns connections (a uepoll backend).
 * With threads 0 that is the base loop, on a plain TAP. With --threads N each
 * sub-reactor gets one queue of a multi-queue TAP (IFF_MULTI_QUEUE: the kernel spreads
 * flows over the queues by hash), its own stack on it with the same MAC and IP, and its
 * own listening socket: it accepts and keeps its connections, the main reactor accepts
 * nothing. The stacks share nothing; how each one resolves its peers when ARP replies
 * land on a sibling's queue is in docs/USTACK.md (Threads). Accepted ustack sockets
 * become connections of the HTTP server like accepted kernel sockets, through
 * eddy_transport_ustack. The kernel side of the TAP is configured by whoever runs us.
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

/* One stack per loop that owns connections, each touched only in that loop's thread. */
struct loop_stack {
    struct httpd_user_stack *u;
    int index; /* loop index for eddy_ustack_listen_at; -1: the base loop hands out */
    struct ue_stack *st;
    struct eddy_ustack_driver *drv;
    struct eddy_ustack_listener *lst;
    int rc;
    const char *failed; /* what failed, for the message */
};

struct httpd_user_stack {
    struct eddy_tcp_server *tcp;
    struct sockaddr_in addr;
    int n;
    struct loop_stack *ls;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int pending;
    int started; /* the loops run their stacks: stop them before the loops go */
};

/* The port of the first --listen ("ADDR:PORT", ":PORT", "[V6]:PORT"). */
static int listen_port(const char *spec)
{
    const char *colon = strrchr(spec, ':');
    char *end;
    long p = colon ? strtol(colon + 1, &end, 10) : -1;
    return colon && !*end && end != colon + 1 && p > 0 && p < 65536 ? (int)p : -1;
}

static int fail(struct httpd_user_stack *u, const char *what, int err)
{
    fprintf(stderr, "eddy-httpd: --stack user: %s: %s\n", what, strerror(err));
    httpd_user_stack_free(u);
    return -1;
}

static void task_done(struct httpd_user_stack *u)
{
    pthread_mutex_lock(&u->lock);
    u->pending--;
    pthread_cond_broadcast(&u->cond);
    pthread_mutex_unlock(&u->lock);
}

/* Runs fn for every stack in its loop's thread and waits for all of them. */
static void each_loop(struct httpd_user_stack *u, eddy_task_fn fn)
{
    pthread_mutex_lock(&u->lock);
    u->pending = u->n;
    pthread_mutex_unlock(&u->lock);
    for (int i = 0; i < u->n; i++) {
        struct eddy_event_loop *l = eddy_tcp_server_loop_at(u->tcp, i);
        if (eddy_event_loop_run_in_loop(l, fn, &u->ls[i]) < 0) {
            u->ls[i].rc = -ENOMEM;
            u->ls[i].failed = "task";
            task_done(u);
        }
    }
    pthread_mutex_lock(&u->lock);
    while (u->pending > 0)
        pthread_cond_wait(&u->cond, &u->lock);
    pthread_mutex_unlock(&u->lock);
}

/* In the loop's thread: the stack runs there and listens there. */
static void start_task(void *arg)
{
    struct loop_stack *s = arg;
    struct eddy_event_loop *loop = eddy_tcp_server_loop_at(s->u->tcp, s->index < 0 ? 0 : s->index);
    s->rc = eddy_ustack_driver_start(&s->drv, loop, s->st);
    if (s->rc < 0)
        s->failed = "driver";
    else if ((s->rc =
                  eddy_ustack_listen_at(&s->lst, s->u->tcp, s->index, s->st, &s->u->addr, 511)) < 0)
        s->failed = "listen";
    task_done(s->u);
}

static void stop_task(void *arg)
{
    struct loop_stack *s = arg;
    eddy_ustack_listener_close(s->lst);
    s->lst = NULL;
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
        return fail(u, tap, -rc);
    c->arp_glean = u->n > 1;
    for (int i = 0; i < u->n; i++) {
        c->dev = devs[i];
        u->ls[i] = (struct loop_stack){.u = u, .index = single ? -1 : i};
        if (!(u->ls[i].st = ue_stack_create(c))) {
            rc = errno;
            for (int j = i; j < u->n; j++)
                ue_dev_destroy(devs[j]);
            return fail(u, "stack", rc);
        }
    }
    return 0;
}

int httpd_user_stack_start(struct httpd_user_stack **out, struct eddy_tcp_server *tcp,
                           const struct httpd_options *o)
{
    int port = listen_port(o->listen[0]);
    struct ue_stack_config c = {0};
    int n = eddy_tcp_server_loop_count(tcp);
    if (port < 0 || eddy_ustack_parse_addr(&c, o->ip, o->gateway) < 0 || n < 1 || n > 256) {
        fprintf(stderr, "eddy-httpd: --stack user: bad --ip, --gateway or --listen port\n");
        return -1;
    }
    struct httpd_user_stack *u = calloc(1, sizeof(*u));
    struct loop_stack *ls = calloc((size_t)n, sizeof(*ls));
    if (!u || !ls) {
        free(u);
        free(ls);
        fprintf(stderr, "eddy-httpd: --stack user: out of memory\n");
        return -1;
    }
    *out = u;
    *u = (struct httpd_user_stack){.tcp = tcp, .n = n, .ls = ls};
    u->addr = (struct sockaddr_in){.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    pthread_mutex_init(&u->lock, NULL);
    pthread_cond_init(&u->cond, NULL);
    if (make_stacks(u, &c, o->tap) < 0)
        return -1;
    each_loop(u, start_task);
    u->started = 1;
    for (int i = 0; i < n; i++)
        if (ls[i].rc < 0)
            return fail(u, ls[i].failed, -ls[i].rc);
    char ip[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &c.addr, ip, sizeof(ip)); /* without the prefix of --ip */
    fprintf(stderr, "eddy-httpd listening on http://%s:%d (ustack on TAP %s, %d queue%s)\n", ip,
            port, o->tap, n, n > 1 ? "s" : "");
    return 0;
}

/* Before the server is freed, while the loops still run: each loop closes its
 * listener and stops driving its stack; closing the connections afterwards sends
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
