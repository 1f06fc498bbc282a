/*
 * tcp_client: outgoing connections (see eddy/tcp_client.h).
 *
 * States, all changed in the loop's thread: IDLE -> (LOOKUP) -> CONNECTING -> CONNECTED
 * -> IDLE when the connection closes. A failed address moves to the next one; a round
 * (every address once) that failed waits in BACKOFF and starts again while retries are
 * left, else on_error runs and the client is IDLE. One timer serves the connect timeout
 * (CONNECTING) and the backoff (BACKOFF).
 *
 * Lifetime: a reference is held by the user (until free), by a lookup in flight, by a
 * task queued from another thread, and by the open connection (until its on_close ran).
 * `lock` only guards `freed` against the lookup thread, which must not queue a result
 * for a client that is gone.
 */
#include "net_internal.h"
#include "tcp_client_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "eddy/event_loop.h"
#include "eddy/ustack.h"

enum { CL_IDLE, CL_LOOKUP, CL_CONNECTING, CL_BACKOFF, CL_CONNECTED };

struct eddy_tcp_client {
    struct eddy_event_loop *loop;
    struct client_group *g;
    eddy_tcp_client_error_cb on_error;
    void *data;
    struct eddy_tcp_client_options o;
    char *host, *port; /* a name to look up; NULL for a numeric address */
    union eddy_sockaddr addrs[CLIENT_MAX_ADDRS];
    socklen_t lens[CLIENT_MAX_ADDRS];
    int naddrs, ai;
    int rounds;     /* failed rounds since connect */
    unsigned delay; /* next backoff */
    unsigned attempts;
    int state;
    struct eddy_channel ch; /* the socket while connecting; ch.fd -1 when none */
    int watching;           /* ch is registered with the loop */
    struct eddy_timer timer;
    struct eddy_tcp_connection *conn;
    pthread_mutex_t lock;
    int freed;
    int refs; /* atomic */
};

static uint64_t next_id = 1; /* atomic: connection ids of clients */

void eddy_tcp_client_options_init(struct eddy_tcp_client_options *o)
{
    memset(o, 0, sizeof *o);
    o->connect_timeout_ms = 10000;
    o->tcp_nodelay = 1;
    o->high_water_mark = (size_t)4 << 20;
}

void eddy__client_ref(struct eddy_tcp_client *cl)
{
    __atomic_fetch_add(&cl->refs, 1, __ATOMIC_RELAXED);
}

void eddy__client_unref(struct eddy_tcp_client *cl)
{
    if (__atomic_fetch_sub(&cl->refs, 1, __ATOMIC_ACQ_REL) != 1)
        return;
    eddy__client_group_put(cl->g);
    pthread_mutex_destroy(&cl->lock);
    free(cl->host);
    free(cl->port);
    free(cl);
}

/* "HOST:PORT" with a numeric port 1..65535 into cl->host, cl->port. 0 or -EINVAL. */
static int split_name(struct eddy_tcp_client *cl, const char *addr)
{
    const char *colon = strrchr(addr, ':');
    if (!colon || colon == addr || addr[0] == '[' || strncmp(addr, "unix:", 5) == 0)
        return -EINVAL;
    size_t np = strlen(colon + 1);
    if (np == 0 || np > 5 || strspn(colon + 1, "0123456789") != np)
        return -EINVAL;
    long port = strtol(colon + 1, NULL, 10);
    if (port < 1 || port > 65535)
        return -EINVAL;
    cl->host = strndup(addr, (size_t)(colon - addr));
    cl->port = strdup(colon + 1);
    return cl->host && cl->port ? 0 : -ENOMEM;
}

static void on_timer(struct eddy_timer *t);

int eddy_tcp_client_new(struct eddy_tcp_client **out, struct eddy_event_loop *loop,
                        const char *addr, const struct eddy_tcp_client_options *o,
                        const struct eddy_tcp_callbacks *cb, eddy_tcp_client_error_cb on_error,
                        void *data)
{
    *out = NULL;
    if (!loop || !addr || !cb ||
        (o && o->transport && (o->transport->caps & EDDY_TRANSPORT_FD_UEPOLL) && !o->stack))
        return -EINVAL;
    struct eddy_tcp_client *cl = calloc(1, sizeof *cl);
    if (!cl)
        return -ENOMEM;
    if (o)
        cl->o = *o;
    else
        eddy_tcp_client_options_init(&cl->o);
    if (!cl->o.high_water_mark)
        cl->o.high_water_mark = (size_t)4 << 20;
    int rc = eddy_sockaddr_parse(addr, &cl->addrs[0], &cl->lens[0]);
    if (rc == 0)
        cl->naddrs = 1;
    else
        rc = split_name(cl, addr);
    if (rc == 0 && (cl->g = eddy__client_group_get(loop, cb, &cl->o)) == NULL)
        rc = -ENOMEM;
    if (rc < 0) {
        free(cl->host);
        free(cl->port);
        free(cl);
        return rc;
    }
    cl->loop = loop;
    cl->on_error = on_error;
    cl->data = data;
    cl->ch.fd = -1;
    cl->refs = 1;
    pthread_mutex_init(&cl->lock, NULL);
    eddy_timer_init(&cl->timer, loop, on_timer, cl);
    *out = cl;
    return 0;
}

/* ---- attempts (loop thread) ---------------------------------------------------------- */

/* Whether the client's sockets are ustack's (o.stack), not the kernel's. */
static int on_ustack(const struct eddy_tcp_client *cl)
{
    return cl->o.transport && (cl->o.transport->caps & EDDY_TRANSPORT_FD_UEPOLL);
}

static void close_attempt(struct eddy_tcp_client *cl)
{
    eddy_timer_stop(&cl->timer);
    if (cl->watching)
        eddy_channel_remove(&cl->ch);
    cl->watching = 0;
    if (cl->ch.fd >= 0)
        (on_ustack(cl) ? ue_close : close)(cl->ch.fd);
    cl->ch.fd = -1;
}

static void begin_round(struct eddy_tcp_client *cl);
static void attempt(struct eddy_tcp_client *cl);

/* Every address of this round failed: back off and retry, or report err. */
static void round_failed(struct eddy_tcp_client *cl, int err)
{
    cl->rounds++;
    if (cl->o.retries < 0 || cl->rounds <= cl->o.retries) {
        unsigned cap = cl->o.retry_max_delay_ms ? cl->o.retry_max_delay_ms : 10000;
        cl->state = CL_BACKOFF;
        eddy_timer_start(&cl->timer, cl->delay, 0);
        cl->delay = cl->delay > cap / 2 ? cap : cl->delay * 2;
        return;
    }
    cl->state = CL_IDLE;
    if (cl->on_error)
        cl->on_error(cl, err);
}

static void attempt_failed(struct eddy_tcp_client *cl, int err)
{
    close_attempt(cl);
    if (++cl->ai < cl->naddrs)
        attempt(cl);
    else
        round_failed(cl, err);
}

/* The socket is connected: it becomes a transport instance (the socket one unless the
 * options chose another, such as TLS) and then a tcp_connection of the client's group,
 * established here in the loop's thread (a handshake, if any, runs before on_connected). */
static void established(struct eddy_tcp_client *cl)
{
    struct eddy_transport t;
    struct eddy_tcp_connection *c;
    size_t tail = eddy__client_tail_offset(cl->o.context_size);
    int fd = cl->ch.fd;
    eddy_timer_stop(&cl->timer);
    if (cl->watching)
        eddy_channel_remove(&cl->ch);
    cl->watching = 0;
    cl->ch.fd = -1; /* the transport's now, closed by it on failure too */
    int rc =
        eddy_transport_open(&t, cl->o.transport, fd, cl->o.transport_arg, EDDY_TRANSPORT_CONNECTED);
    if (rc == 0)
        rc = eddy__tcp_connection_new(&c, cl->g->nl, &t, &cl->addrs[cl->ai].sa, cl->lens[cl->ai],
                                      __atomic_fetch_add(&next_id, 1, __ATOMIC_RELAXED),
                                      tail + sizeof cl);
    if (rc < 0) {
        attempt_failed(cl, rc);
        return;
    }
    memcpy((char *)eddy_tcp_connection_context(c) + tail, &cl, sizeof cl);
    cl->conn = c;
    cl->state = CL_CONNECTED;
    eddy__client_ref(cl); /* dropped when the connection closed */
    eddy__net_loop_count_in(cl->g->nl);
    eddy__tcp_connection_establish(c);
}

static void on_connect_event(struct eddy_channel *ch, int revents)
{
    struct eddy_tcp_client *cl = ch->data;
    int err = 0;
    socklen_t len = sizeof err;
    (void)revents;
    int rc = on_ustack(cl) ? ue_getsockopt(ch->fd, SOL_SOCKET, SO_ERROR, &err, &len)
                           : getsockopt(ch->fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (rc < 0)
        err = errno;
    if (err == EINPROGRESS || err == EALREADY)
        return;
    if (err)
        attempt_failed(cl, -err);
    else
        established(cl);
}

static void attempt(struct eddy_tcp_client *cl)
{
    const union eddy_sockaddr *a = &cl->addrs[cl->ai];
    cl->state = CL_CONNECTING;
    cl->attempts++;
    int us = on_ustack(cl), fd;
    if (us) {
        ue_stack_set_current(cl->o.stack);
        fd = ue_socket(a->sa.sa_family, SOCK_STREAM | SOCK_NONBLOCK, 0);
    } else {
        fd = socket(a->sa.sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    }
    if (fd < 0) {
        attempt_failed(cl, -errno);
        return;
    }
    if (us)
        eddy_channel_init(&cl->ch, cl->loop, fd, on_connect_event, cl); /* a uepoll one */
    else
        eddy_channel_init_kernel(&cl->ch, cl->loop, fd, on_connect_event, cl); /* a socket */
    int rc = 0;
    while ((rc = us ? ue_connect(fd, &a->sa, cl->lens[cl->ai])
                    : connect(fd, &a->sa, cl->lens[cl->ai])) < 0 &&
           errno == EINTR) {
    }
    if (rc == 0) {
        established(cl);
        return;
    }
    if (errno != EINPROGRESS) {
        attempt_failed(cl, -errno);
        return;
    }
    rc = eddy_channel_enable_writing(&cl->ch);
    if (rc < 0) {
        attempt_failed(cl, rc);
        return;
    }
    cl->watching = 1;
    if (cl->o.connect_timeout_ms)
        eddy_timer_start(&cl->timer, cl->o.connect_timeout_ms, 0);
}

static void connect_round(struct eddy_tcp_client *cl)
{
    cl->ai = 0;
    attempt(cl);
}

static void on_timer(struct eddy_timer *t)
{
    struct eddy_tcp_client *cl = t->data;
    if (cl->state == CL_CONNECTING)
        attempt_failed(cl, -ETIMEDOUT);
    else if (cl->state == CL_BACKOFF)
        begin_round(cl);
}

static void lookup_done(void *arg)
{
    struct client_lookup *lk = arg;
    struct eddy_tcp_client *cl = lk->cl;
    if (!cl->freed && cl->state == CL_LOOKUP) {
        memcpy(cl->addrs, lk->addrs, sizeof lk->addrs);
        memcpy(cl->lens, lk->lens, sizeof lk->lens);
        cl->naddrs = lk->n;
        if (lk->err < 0)
            round_failed(cl, lk->err);
        else
            connect_round(cl);
    }
    free(lk->host);
    free(lk->port);
    free(lk);
    eddy__client_unref(cl);
}

int eddy__client_deliver_lookup(struct client_lookup *lk)
{
    struct eddy_tcp_client *cl = lk->cl;
    pthread_mutex_lock(&cl->lock);
    int ok = !cl->freed && eddy_event_loop_queue_in_loop(cl->loop, lookup_done, lk) == 0;
    pthread_mutex_unlock(&cl->lock);
    return ok;
}

static void begin_round(struct eddy_tcp_client *cl)
{
    if (!cl->host) {
        connect_round(cl);
        return;
    }
    cl->state = CL_LOOKUP;
    int rc = eddy__client_lookup_start(cl, cl->host, cl->port);
    if (rc < 0)
        round_failed(cl, rc);
}

/* ---- public calls -------------------------------------------------------------------- */

static void start(struct eddy_tcp_client *cl)
{
    if (cl->freed || cl->state != CL_IDLE)
        return;
    cl->rounds = 0;
    cl->delay = cl->o.retry_delay_ms ? cl->o.retry_delay_ms : 100;
    begin_round(cl);
}

static void start_task(void *arg)
{
    start(arg);
    eddy__client_unref(arg);
}

int eddy_tcp_client_connect(struct eddy_tcp_client *cl)
{
    if (eddy_event_loop_is_in_loop_thread(cl->loop)) {
        if (cl->state != CL_IDLE)
            return -EALREADY;
        start(cl);
        return 0;
    }
    eddy__client_ref(cl);
    int rc = eddy_event_loop_queue_in_loop(cl->loop, start_task, cl);
    if (rc < 0)
        eddy__client_unref(cl);
    return rc;
}

void eddy__client_connection_closed(struct eddy_tcp_client *cl, struct eddy_tcp_connection *c)
{
    if (cl->conn == c) {
        cl->conn = NULL;
        cl->state = CL_IDLE;
    }
    eddy__client_unref(cl);
}

static void abandoned_task(void *arg)
{
    struct eddy_tcp_client *cl = arg;
    if (!cl->freed && cl->state == CL_CONNECTING)
        attempt_failed(cl, -ECONNABORTED);
    eddy__client_unref(cl);
}

/* The connection closed before on_connected (its handshake failed): a failed attempt,
 * carried on from a task, not from inside the connection's close. */
void eddy__client_connection_abandoned(struct eddy_tcp_client *cl, struct eddy_tcp_connection *c)
{
    if (cl->conn != c) {
        eddy__client_unref(cl);
        return;
    }
    cl->conn = NULL;
    cl->state = CL_CONNECTING;
    if (eddy_event_loop_queue_in_loop(cl->loop, abandoned_task, cl) < 0) {
        cl->state = CL_IDLE;
        eddy__client_unref(cl);
    }
}

static void do_free(void *arg)
{
    struct eddy_tcp_client *cl = arg;
    pthread_mutex_lock(&cl->lock);
    cl->freed = 1;
    pthread_mutex_unlock(&cl->lock);
    close_attempt(cl);
    cl->state = CL_IDLE;
    if (cl->conn)
        eddy_tcp_connection_close(cl->conn);
    eddy__client_unref(cl);
}

void eddy_tcp_client_free(struct eddy_tcp_client *cl)
{
    if (!cl)
        return;
    if (eddy_event_loop_is_in_loop_thread(cl->loop) ||
        eddy_event_loop_queue_in_loop(cl->loop, do_free, cl) < 0)
        do_free(cl);
}

struct eddy_tcp_connection *eddy_tcp_client_connection(const struct eddy_tcp_client *cl)
{
    return cl->conn;
}

void *eddy_tcp_client_data(const struct eddy_tcp_client *cl)
{
    return cl->data;
}

struct eddy_event_loop *eddy_tcp_client_loop(const struct eddy_tcp_client *cl)
{
    return cl->loop;
}

unsigned eddy_tcp_client_attempts(const struct eddy_tcp_client *cl)
{
    return cl->attempts;
}
