/*
 * eddy-httpd: a static-file HTTP/1.1 server on the eddy reactor.
 *
 * Signals are watched by the base loop (eddy_signal_watch: blocked in every thread, read
 * from a signalfd), so SIGTERM, SIGINT and SIGHUP are handled as ordinary events in one thread,
 * never inside a signal handler.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "eddy/channel.h"
#include "eddy/event_dispatcher.h"
#include "eddy/event_loop.h"
#include "eddy/http.h"
#include "eddy/http_static.h"
#include "eddy/inet.h"
#include "eddy/signal.h"
#include "eddy/transport.h"
#include "httpd_tls.h"
#include "listen.h"
#include "user_stack.h"
#include "log.h"
#include "operate.h"
#include "options.h"
#include "site.h"

struct httpd {
    struct httpd_options opt;
    struct eddy_event_loop *base;
    struct eddy_http_server *srv;
    struct httpd_user_stack *ustack; /* --stack user */
    struct eddy_http_static *files;
    int signals_watched;
    int stopping;
    /* shutdown: loops that still have to stop their log flusher */
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int pending;
    union eddy_sockaddr bound[HTTPD_MAX_BOUND]; /* a host name may give several */
    int nbound;
    struct httpd_conf *conf; /* with -c: the config loaded at start */
    struct httpd_reload_ctx reload;
    int pid_written;
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
    httpd_site_release_thread();
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
    if (!httpd_log_enabled() && h->conf == NULL)
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
    httpd_user_stack_close_listeners(h->ustack); /* the kernel's close in the server's stop */
    if (eddy_http_server_stop(h->srv, h->opt.drain_timeout_ms, on_drained, h) < 0)
        eddy_event_loop_stop(h->base);
}

static void on_signal(struct eddy_event_loop *loop, int signo, void *data)
{
    (void)loop;
    struct httpd *h = data;
    if (signo == SIGHUP) {
        int rc = httpd_log_reopen();
        if (rc == 0)
            rc = httpd_errlog_reopen();
        if (rc < 0)
            httpd_err("error", "reopening the logs: %s", strerror(-rc));
        else
            httpd_err("info", "SIGHUP: logs reopened");
        if (h->conf)
            httpd_reload(&h->reload);
        httpd_tls_reload(&h->tls);
    } else {
        begin_shutdown(h, signo);
    }
}

static const int httpd_signals[] = {SIGINT, SIGTERM, SIGHUP};
#define HTTPD_NSIGNALS (int)(sizeof httpd_signals / sizeof httpd_signals[0])

/* Watched before any thread starts, so every thread inherits them blocked. 0 or -errno. */
static int setup_signals(struct httpd *h)
{
    signal(SIGPIPE, SIG_IGN);
    /* Ignored for good, so sendfile needs no SIGPIPE mask around it (2 syscalls per file). */
    eddy_transport_socket_sigpipe_ignored(1);
    eddy_transport_socket_set_file_chunk(h->opt.sendfile_chunk);
    eddy_transport_socket_set_file_lowat(h->opt.file_lowat);
    eddy_transport_socket_set_file_lowat_min(h->opt.file_lowat_min);
    eddy_transport_socket_set_file_copy_min(h->opt.file_copy_min);
    for (; h->signals_watched < HTTPD_NSIGNALS; h->signals_watched++) {
        int rc = eddy_signal_watch(h->base, httpd_signals[h->signals_watched], on_signal, h);
        if (rc < 0)
            return rc;
    }
    return 0;
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
        httpd_log_error(HTTPD_LOG_EMERG, "root '%s': %s", h->opt.root, strerror(-rc));
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
    o.keepalive_requests = h->opt.keepalive_requests;
    if (httpd_log_enabled() || h->conf) {
        o.access_log = h->conf ? httpd_log_hook : httpd_access_log;
        o.access_log_data = h;
    }
    if (h->conf) /* the error log of the config file tells resets and send timeouts */
        o.conn_error = httpd_conn_error;
    int rc = eddy_http_server_new(&h->srv, h->base, &o);
    eddy_http_handler_fn handler = h->conf ? httpd_site_handler : eddy_http_static_handler;
    void *data = h->files;
    if (h->tls.ctx != NULL) { /* HSTS or the redirect first, then the files */
        h->tls.inner = handler;
        h->tls.inner_data = data;
        handler = httpd_tls_front;
        data = &h->tls;
    }
    if (rc == 0)
        rc = eddy_http_server_route_flags(h->srv, EDDY_HTTP_ANY, "/", EDDY_HTTP_ROUTE_NO_BODY,
                                          handler, data);
    if (rc < 0)
        httpd_log_error(HTTPD_LOG_EMERG, "cannot create the server: %s", strerror(-rc));
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
    return h->conf ? httpd_tls_conf_listen(&h->tls, h->srv, h->conf) : 0;
}

/* Once bound, before any thread serves: pid file, then the privilege drop. */
static int start_as_configured(struct httpd *h)
{
    const struct httpd_globals *g = &h->conf->g;
    if (g->pid) {
        int rc = httpd_write_pid(g->pid);
        if (rc < 0) {
            httpd_log_error(HTTPD_LOG_EMERG, "pid \"%s\": %s", g->pid, strerror(-rc));
            return -1;
        }
        h->pid_written = 1;
    }
    return g->user ? httpd_drop_privileges(g->user, g->group) : 0;
}

static int same_sockaddr(const union eddy_sockaddr *a, const union eddy_sockaddr *b)
{
    socklen_t n = eddy_sockaddr_len(&a->sa);
    return n == eddy_sockaddr_len(&b->sa) && memcmp(a, b, n) == 0;
}

/* Reload, before c is published: closes the listeners c no longer names (their
 * connections live on). */
static void close_removed(struct httpd *h, const struct httpd_conf *c)
{
    for (int j = 0; j < h->nbound;) {
        int keep = 0;
        for (int i = 0; i < c->naddrs && !keep; i++)
            keep = !c->addrs[i].tls && !c->addrs[i].via_wildcard &&
                   same_sockaddr(&h->bound[j], &c->addrs[i].sa);
        if (keep) {
            j++;
            continue;
        }
        char a[128] = "?";
        eddy_sockaddr_format(&h->bound[j].sa, a, sizeof a);
        if (httpd_unlisten(h->srv, &h->bound[j]) == 0)
            httpd_log_error(HTTPD_LOG_NOTICE, "reload: closed the listener on %s", a);
        h->bound[j] = h->bound[--h->nbound];
    }
    httpd_tls_conf_close_removed(&h->tls, h->srv, c);
}

/* Reload: opens the addresses of c not listened on yet, then closes the ones it dropped.
 * 0, or -1 (logged) when one cannot be opened: the old config stays. */
static int listen_new(const struct httpd_conf *c, void *arg)
{
    struct httpd *h = arg;
    for (int i = 0; i < c->naddrs; i++) {
        int j = 0;
        while (j < h->nbound && !same_sockaddr(&h->bound[j], &c->addrs[i].sa))
            j++;
        if (j < h->nbound || c->addrs[i].tls || c->addrs[i].via_wildcard)
            continue;
        if (h->nbound == HTTPD_MAX_BOUND) {
            httpd_log_error(HTTPD_LOG_ERROR, "reload: more than %d listen addresses",
                            HTTPD_MAX_BOUND);
            return -1;
        }
        int rc = httpd_listen_addr(h->srv, c->addrs[i].addr, NULL, &h->bound[h->nbound]);
        if (rc < 0) {
            httpd_log_error(HTTPD_LOG_ERROR, "reload: cannot listen on %s: %s", c->addrs[i].addr,
                            strerror(-rc));
            return -1;
        }
        h->nbound++;
        httpd_log_error(HTTPD_LOG_NOTICE, "reload: listening on %s", c->addrs[i].addr);
    }
    if (httpd_tls_conf_listen(&h->tls, h->srv, c) < 0)
        return -1;
    close_removed(h, c);
    return 0;
}

static int listen_user_stack(struct httpd *h)
{
    if (httpd_user_stack_start(h->ustack) < 0)
        return -1;
    httpd_listen_set_user_stack(h->ustack);
    return listen_all(h);
}

static void announce(const struct httpd *h)
{
    const char *how = httpd_user_stack_describe(h->ustack);
    for (int i = 0; i < h->nbound; i++) {
        char a[128];
        if (eddy_sockaddr_format(&h->bound[i].sa, a, sizeof a) > 0)
            fprintf(stderr, "eddy-httpd listening on http://%s%s\n", a, how);
    }
    for (int i = 0; i < h->nbound_tls; i++) {
        char a[128];
        if (eddy_sockaddr_format(&h->bound_tls[i].sa, a, sizeof a) > 0)
            fprintf(stderr, "eddy-httpd listening on https://%s%s\n", a, how);
    }
    httpd_tls_conf_announce(&h->tls);
}

static int run(struct httpd *h)
{
    int rc = eddy_event_loop_new(&h->base, h->opt.backend);
    if (rc < 0) {
        httpd_log_error(HTTPD_LOG_EMERG, "cannot create the event loop: %s", strerror(-rc));
        return 1;
    }
    if ((rc = setup_signals(h)) < 0) {
        httpd_log_error(HTTPD_LOG_EMERG, "cannot set up signals: %s", strerror(-rc));
        return 1;
    }
    /* ustack: the TAP before the privilege drop, the listeners once its loops run */
    if (make_server(h) < 0 ||
        (h->opt.user_stack
             ? httpd_user_stack_open(&h->ustack, eddy_http_server_tcp(h->srv), &h->opt) < 0
             : listen_all(h) < 0))
        return 1;
    if (h->conf && start_as_configured(h) < 0)
        return 1;
    if ((rc = eddy_http_server_start(h->srv)) < 0) {
        httpd_log_error(HTTPD_LOG_EMERG, "cannot start: %s", strerror(-rc));
        return 1;
    }
    if (h->opt.user_stack && listen_user_stack(h) < 0)
        return 1;
    if (httpd_log_enabled()) {
        for_each_loop(h, flusher_start_task, 1);
        struct eddy_tcp_server *tcp = eddy_http_server_tcp(h->srv);
        if (eddy_tcp_server_loop_at(tcp, 0) != h->base)
            httpd_log_start_flusher(h->base);
    }
    announce(h);
    rc = eddy_event_loop_run(h->base);
    stop_flushers(h);
    if (rc < 0) {
        httpd_err("error", "event loop failed: %s", strerror(-rc));
        return 1;
    }
    return 0;
}

/* The plain listen addresses of the file become the server's (the TLS ones are opened
 * by httpd_tls_conf_listen; one served through its port's wildcard is not bound). */
static int take_listeners(struct httpd *h)
{
    h->opt.nlisten = 0;
    for (int i = 0; i < h->conf->naddrs; i++) {
        const struct httpd_addr *a = &h->conf->addrs[i];
        if (a->tls || a->via_wildcard)
            continue;
        if (h->opt.nlisten == HTTPD_MAX_LISTEN) {
            httpd_log_error(HTTPD_LOG_EMERG, "more than %d listen addresses", HTTPD_MAX_LISTEN);
            return -1;
        }
        h->opt.listen[h->opt.nlisten++] = a->addr;
    }
    return 0;
}

/* -c FILE: 0 to run, 1 when -t checked it (exit 0), -1 on an error (exit 1). */
static int load_config(struct httpd *h)
{
    char err[HTTPD_CONF_ERR_MAX];
    struct httpd_reload_ctx *r = &h->reload;
    r->path = h->opt.config;
    r->load.follow_symlinks = h->opt.follow_symlinks;
    r->load.root = httpd_option_given(&h->opt, "root") ? h->opt.root : NULL;
    r->load.open_roots = 1;
    if (httpd_option_given(&h->opt, "tls-ticket-renewal"))
        r->load.tls_ticket_renewal = h->opt.tls_ticket_renewal;
    r->listen = listen_new;
    r->arg = h;
    if (httpd_conf_load(r->path, &r->load, &h->conf, err, sizeof err) < 0) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    if (h->opt.test_only) {
        fprintf(stderr,
                "eddy-httpd: the configuration file %s syntax is ok\n"
                "eddy-httpd: configuration file %s test is successful\n",
                r->path, r->path);
        return 1;
    }
    httpd_apply_globals(&h->opt, h->conf);
    if (h->opt.user_stack && httpd_user_stack_options_check(&h->opt) < 0)
        return -1; /* the file's worker_threads or backend */
    if (httpd_open_error_log(h->conf) < 0 || take_listeners(h) < 0)
        return -1;
    httpd_site_publish(h->conf);
    return 0;
}

static int open_logs_and_files(struct httpd *h)
{
    if (h->opt.config) {
        int rc = load_config(h);
        if (rc != 0)
            return rc;
    } else if (open_files(h) < 0) {
        return -1;
    }
    httpd_log_set_tls(h->opt.access_log_tls);
    int rc = httpd_log_open(h->opt.access_log);
    if (rc < 0)
        httpd_log_error(HTTPD_LOG_EMERG, "access log '%s': %s", h->opt.access_log, strerror(-rc));
    return rc < 0 ? -1 : 0;
}

static void cleanup(struct httpd *h)
{
    httpd_user_stack_stop_accepting(h->ustack);
    if (h->srv)
        eddy_http_server_free(h->srv);
    httpd_user_stack_free(h->ustack); /* its connections are closed by now */
    httpd_listen_set_user_stack(NULL);
    while (h->signals_watched > 0)
        eddy_signal_unwatch(h->base, httpd_signals[--h->signals_watched]);
    if (h->base)
        eddy_event_loop_free(h->base);
    eddy_http_static_free(h->files);
    httpd_site_shutdown();
    if (h->pid_written)
        unlink(h->conf->g.pid); /* may fail after the privilege drop; nginx's is the same */
    httpd_conf_unref(h->conf);
    httpd_tls_free(&h->tls);
    httpd_log_close();
    httpd_errlog_close();
}

int main(int argc, char **argv)
{
    static struct httpd h;
    int rc = httpd_parse_options(&h.opt, argc, argv);
    if (rc != 0)
        return rc > 0 ? 0 : 2;
    pthread_mutex_init(&h.lock, NULL);
    pthread_cond_init(&h.cond, NULL);
    rc = open_logs_and_files(&h);
    if (rc == 0 && httpd_tls_setup(&h.tls, &h.opt) < 0)
        rc = -1;
    int status = rc == 0 ? run(&h) : rc > 0 ? 0 : 1;
    cleanup(&h);
    return status;
}
