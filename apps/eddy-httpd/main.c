/*
 * eddy-httpd: a static-file HTTP/1.1 server on the eddy reactor.
 *
 * Signals are blocked in every thread and read from a signalfd watched by the base
 * loop, so SIGTERM, SIGINT and SIGHUP are handled as ordinary events in one thread,
 * never inside a signal handler.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "eddy/channel.h"
#include "eddy/event_dispatcher.h"
#include "eddy/event_loop.h"
#include "eddy/http.h"
#include "eddy/http_static.h"
#include "eddy/inet.h"
#include "httpd_tls.h"
#include "listen.h"
#include "log.h"
#include "options.h"

struct httpd {
    struct httpd_options opt;
    struct eddy_event_loop *base;
    struct eddy_http_server *srv;
    struct eddy_http_static *files;
    struct eddy_channel sig_ch;
    int sig_fd;
    int stopping;
    /* shutdown: loops that still have to stop their log flusher */
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int pending;
    union eddy_sockaddr bound[HTTPD_MAX_BOUND]; /* a host name may give several */
    int nbound;
    struct httpd_tls tls;
    union eddy_sockaddr bound_tls[HTTPD_MAX_BOUND];
    int nbound_tls;
};

static void flusher_start_task(void *arg)
{
    struct eddy_event_loop *loop = arg;
    httpd_log_start_flusher(loop);
}

static void flusher_stop_task(void *arg)
{
    struct httpd *h = arg;
    httpd_log_stop_flusher();
    pthread_mutex_lock(&h->lock);
    h->pending--;
    pthread_cond_broadcast(&h->cond);
    pthread_mutex_unlock(&h->lock);
}

static void for_each_loop(struct httpd *h, eddy_task_fn fn, int with_loop_arg)
{
    struct eddy_tcp_server *tcp = eddy_http_server_tcp(h->srv);
    int n = eddy_tcp_server_loop_count(tcp);
    for (int i = 0; i < n; i++) {
        struct eddy_event_loop *l = eddy_tcp_server_loop_at(tcp, i);
        eddy_event_loop_run_in_loop(l, fn, with_loop_arg ? (void *)l : (void *)h);
    }
}

/* Flushes and stops every loop's log timer, waiting for the sub-reactors to do it. */
static void stop_flushers(struct httpd *h)
{
    if (!httpd_log_enabled())
        return;
    struct eddy_tcp_server *tcp = eddy_http_server_tcp(h->srv);
    pthread_mutex_lock(&h->lock);
    h->pending = eddy_tcp_server_loop_count(tcp);
    pthread_mutex_unlock(&h->lock);
    for_each_loop(h, flusher_stop_task, 0);
    pthread_mutex_lock(&h->lock);
    while (h->pending > 0)
        pthread_cond_wait(&h->cond, &h->lock);
    pthread_mutex_unlock(&h->lock);
    if (eddy_tcp_server_loop_at(tcp, 0) != h->base)
        httpd_log_stop_flusher(); /* the base loop's own timer, if it has one */
}

static void on_drained(struct eddy_http_server *s, void *arg)
{
    (void)s;
    struct httpd *h = arg;
    eddy_event_loop_stop(h->base);
}

static void begin_shutdown(struct httpd *h, int sig)
{
    if (h->stopping++) {
        httpd_err("warn", "second %s: exiting without waiting", strsignal(sig));
        eddy_event_loop_stop(h->base);
        return;
    }
    httpd_err("info", "%s: draining connections (at most %u ms)", strsignal(sig),
              h->opt.drain_timeout_ms);
    if (eddy_http_server_stop(h->srv, h->opt.drain_timeout_ms, on_drained, h) < 0)
        eddy_event_loop_stop(h->base);
}

static void on_signal(struct eddy_channel *ch, int revents)
{
    (void)revents;
    struct httpd *h = ch->data;
    struct signalfd_siginfo si;
    while (read(h->sig_fd, &si, sizeof si) == (ssize_t)sizeof si) {
        if (si.ssi_signo == SIGHUP) {
            int rc = httpd_log_reopen();
            if (rc < 0)
                httpd_err("error", "reopening the access log: %s", strerror(-rc));
            else
                httpd_err("info", "SIGHUP: access log reopened");
            httpd_tls_reload(&h->tls);
        } else {
            begin_shutdown(h, (int)si.ssi_signo);
        }
    }
}

/* Blocks the signals in this thread and every thread created after, and reads them. */
static int setup_signals(struct httpd *h)
{
    signal(SIGPIPE, SIG_IGN);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    if (pthread_sigmask(SIG_BLOCK, &set, NULL) != 0)
        return -1;
    h->sig_fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (h->sig_fd < 0)
        return -1;
    eddy_channel_init(&h->sig_ch, h->base, h->sig_fd, on_signal, h);
    return eddy_channel_enable_reading(&h->sig_ch) < 0 ? -1 : 0;
}

/* Raises the descriptor limit to its hard maximum (connections and cached files both
 * need descriptors) and sizes the per-thread file caches to a quarter of it. */
static unsigned cache_entries(const struct httpd *h)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return 0;
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
            getrlimit(RLIMIT_NOFILE, &rl);
    }
    unsigned loops = h->opt.threads > 0 ? (unsigned)h->opt.threads : 1;
    rlim_t per_loop = rl.rlim_cur / 4 / loops;
    if (per_loop >= EDDY_HTTP_FCACHE_DEFAULT_ENTRIES)
        return EDDY_HTTP_FCACHE_DEFAULT_ENTRIES;
    return per_loop < 16 ? 16 : (unsigned)per_loop;
}

/* A backend with a descriptor limit (select: below FD_SETSIZE) cannot watch the
 * descriptors above it: the server closes such a connection at once (the library
 * refuses to register it). The descriptor limit stays high, so cached files and
 * logs never run short under a flood. */
static void warn_fd_limit(const struct httpd *h)
{
    const struct eddy_event_dispatcher *d = eddy_event_dispatcher_find(h->opt.backend);
    if (d != NULL && d->max_fd >= 0)
        fprintf(stderr,
                "eddy-httpd: warning: the %s backend handles descriptors below %d "
                "only; connections beyond are refused (closed at once); "
                "use -b epoll for more\n",
                d->name, d->max_fd + 1);
}

static int open_files(struct httpd *h)
{
    struct eddy_http_static_options so;
    eddy_http_static_options_init(&so);
    warn_fd_limit(h);
    so.cache.max_entries = cache_entries(h);
    so.root = h->opt.root;
    so.resolve_flags = h->opt.follow_symlinks ? EDDY_HTTP_RESOLVE_FOLLOW_SYMLINKS : 0;
    so.dir_listing = h->opt.dir_listing;
    int rc = eddy_http_static_new(&h->files, &so);
    if (rc < 0)
        fprintf(stderr, "eddy-httpd: root '%s': %s\n", h->opt.root, strerror(-rc));
    return rc;
}

static int make_server(struct httpd *h)
{
    struct eddy_http_server_options o;
    eddy_http_server_options_init(&o);
    o.tcp.threads = h->opt.threads;
    o.tcp.backend = h->opt.backend;
    o.tcp.reuseport = h->opt.reuseport;
    o.tcp.max_connections = h->opt.max_connections;
    o.tcp.defer_accept = 1; /* seconds; the request comes with the accept (nginx: deferred) */
    o.tcp.delayed_ack = 1;  /* the ACK of a request rides on the response */
    o.tcp.handshake_timeout_ms = h->opt.tls_handshake_timeout_ms;
    o.max_body = h->opt.max_body;
    o.header_timeout_ms = h->opt.header_timeout_ms;
    o.body_timeout_ms = h->opt.body_timeout_ms;
    o.keepalive_timeout_ms = h->opt.keepalive_timeout_ms;
    o.send_timeout_ms = h->opt.send_timeout_ms;
    if (httpd_log_enabled()) {
        o.access_log = httpd_access_log;
        o.access_log_data = h;
    }
    int rc = eddy_http_server_new(&h->srv, h->base, &o);
    /* With HTTPS the front handler adds HSTS or redirects, then serves files. */
    h->tls.inner = eddy_http_static_handler;
    h->tls.inner_data = h->files;
    if (rc == 0 && h->tls.ctx == NULL)
        rc = eddy_http_server_route_flags(h->srv, EDDY_HTTP_ANY, "/", EDDY_HTTP_ROUTE_NO_BODY,
                                          eddy_http_static_handler, h->files);
    else if (rc == 0)
        rc = eddy_http_server_route_flags(h->srv, EDDY_HTTP_ANY, "/", EDDY_HTTP_ROUTE_NO_BODY,
                                          httpd_tls_front, &h->tls);
    if (rc < 0)
        fprintf(stderr, "eddy-httpd: cannot create the server: %s\n", strerror(-rc));
    return rc;
}

static int listen_all(struct httpd *h)
{
    for (int i = 0; i < h->opt.nlisten; i++)
        if (httpd_listen(h->srv, h->opt.listen[i], NULL, h->bound, &h->nbound, HTTPD_MAX_BOUND) < 0)
            return -1;
    for (int i = 0; i < h->opt.nlisten_tls; i++)
        if (httpd_listen(h->srv, h->opt.listen_tls[i], h->tls.ctx, h->bound_tls, &h->nbound_tls,
                         HTTPD_MAX_BOUND) < 0)
            return -1;
    if (h->nbound_tls > 0)
        httpd_tls_set_port(&h->tls, eddy_sockaddr_port(&h->bound_tls[0].sa));
    return 0;
}

static int run(struct httpd *h)
{
    int rc = eddy_event_loop_new(&h->base, h->opt.backend);
    if (rc < 0) {
        fprintf(stderr, "eddy-httpd: cannot create the event loop: %s\n", strerror(-rc));
        return 1;
    }
    if (setup_signals(h) < 0) {
        fprintf(stderr, "eddy-httpd: cannot set up signals: %s\n", strerror(errno));
        return 1;
    }
    if (make_server(h) < 0 || listen_all(h) < 0)
        return 1;
    if ((rc = eddy_http_server_start(h->srv)) < 0) {
        fprintf(stderr, "eddy-httpd: cannot start: %s\n", strerror(-rc));
        return 1;
    }
    if (httpd_log_enabled()) {
        for_each_loop(h, flusher_start_task, 1);
        struct eddy_tcp_server *tcp = eddy_http_server_tcp(h->srv);
        if (eddy_tcp_server_loop_at(tcp, 0) != h->base)
            httpd_log_start_flusher(h->base);
    }
    for (int i = 0; i < h->nbound; i++) {
        char a[128];
        if (eddy_sockaddr_format(&h->bound[i].sa, a, sizeof a) > 0)
            fprintf(stderr, "eddy-httpd listening on http://%s\n", a);
    }
    for (int i = 0; i < h->nbound_tls; i++) {
        char a[128];
        if (eddy_sockaddr_format(&h->bound_tls[i].sa, a, sizeof a) > 0)
            fprintf(stderr, "eddy-httpd listening on https://%s\n", a);
    }
    rc = eddy_event_loop_run(h->base);
    stop_flushers(h);
    if (rc < 0) {
        httpd_err("error", "event loop failed: %s", strerror(-rc));
        return 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    static struct httpd h;
    int rc = httpd_parse_options(&h.opt, argc, argv);
    if (rc != 0)
        return rc > 0 ? 0 : 2;
    pthread_mutex_init(&h.lock, NULL);
    pthread_cond_init(&h.cond, NULL);
    h.sig_fd = -1;
    if (open_files(&h) < 0)
        return 1;
    if (httpd_tls_setup(&h.tls, &h.opt) < 0) {
        eddy_http_static_free(h.files);
        return 1;
    }
    if ((rc = httpd_log_open(h.opt.access_log)) < 0) {
        fprintf(stderr, "eddy-httpd: access log '%s': %s\n", h.opt.access_log, strerror(-rc));
        eddy_http_static_free(h.files);
        return 1;
    }
    int status = run(&h);
    if (h.srv)
        eddy_http_server_free(h.srv);
    if (h.sig_fd >= 0) {
        eddy_channel_remove(&h.sig_ch);
        close(h.sig_fd);
    }
    if (h.base)
        eddy_event_loop_free(h.base);
    eddy_http_static_free(h.files);
    httpd_tls_free(&h.tls);
    httpd_log_close();
    return status;
}
