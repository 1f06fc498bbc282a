/*
 * echo_server: sends back every byte it receives.
 *
 *   echo_server [-l ADDR:PORT] [-t THREADS] [-b BACKEND]
 *
 * SIGINT/SIGTERM stop it cleanly: the base loop watches them (eddy_signal_watch,
 * a signalfd), so no work happens in a signal handler and the shutdown runs in
 * the loop's thread.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "eddy/eddy.h"
#include "eddy/signal.h"

static void on_message(struct eddy_tcp_connection *c, struct eddy_buffer *in)
{
    /* Queued now, written in one go when on_message returns. */
    eddy_tcp_connection_send(c, eddy_buffer_peek(in), eddy_buffer_readable(in));
    eddy_buffer_retrieve_all(in);
}

static const struct eddy_tcp_callbacks echo_callbacks = {
    .on_message = on_message,
};

static void on_signal(struct eddy_event_loop *loop, int signo, void *data)
{
    (void)signo, (void)data;
    eddy_event_loop_stop(loop);
}

static void usage(FILE *f)
{
    const char *const *n;

    fprintf(f, "usage: echo_server [-l ADDR:PORT] [-t THREADS] [-b BACKEND]\n"
               "  -l, --listen ADDR       default 127.0.0.1:8080; or unix:PATH, unix:@NAME\n"
               "  -t, --threads N         sub-reactors, default 0 (one loop does everything)\n"
               "  -b, --backend NAME      one of:");
    for (n = eddy_event_dispatcher_names(); *n != NULL; n++)
        fprintf(f, " %s", *n);
    fprintf(f, " (default epoll)\n");
}

struct config {
    const char *listen;
    const char *backend;
    int threads;
};

static int parse_args(int argc, char **argv, struct config *cfg)
{
    static const struct option longopts[] = {{"listen", required_argument, NULL, 'l'},
                                             {"threads", required_argument, NULL, 't'},
                                             {"backend", required_argument, NULL, 'b'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    int ch;
    char *end;

    while ((ch = getopt_long(argc, argv, "l:t:b:h", longopts, NULL)) != -1) {
        switch (ch) {
        case 'l':
            cfg->listen = optarg;
            break;
        case 't':
            errno = 0;
            cfg->threads = (int)strtol(optarg, &end, 10);
            if (errno || *end || end == optarg || cfg->threads < 0 || cfg->threads > 256) {
                fprintf(stderr, "echo_server: bad thread count '%s'\n", optarg);
                return -1;
            }
            break;
        case 'b':
            cfg->backend = optarg;
            break;
        case 'h':
            usage(stdout);
            exit(0);
        default:
            usage(stderr);
            return -1;
        }
    }
    if (optind < argc) {
        usage(stderr);
        return -1;
    }
    if (eddy_event_dispatcher_find(cfg->backend) == NULL) {
        fprintf(stderr, "echo_server: unknown backend '%s'\n", cfg->backend);
        return -1;
    }
    return 0;
}

static int serve(struct eddy_event_loop *loop, const struct config *cfg)
{
    struct eddy_tcp_server_options opts;
    struct eddy_tcp_server *server;
    union eddy_sockaddr bound;
    char text[64];
    int r;

    eddy_tcp_server_options_init(&opts);
    opts.threads = cfg->threads;
    r = eddy_tcp_server_new(&server, loop, &opts, &echo_callbacks, NULL);
    if (r < 0)
        return r;
    r = eddy_tcp_server_listen(server, cfg->listen, &bound);
    if (r == 0)
        r = eddy_tcp_server_start(server);
    if (r == 0) {
        eddy_sockaddr_format(&bound.sa, text, sizeof text);
        fprintf(stderr, "echo_server listening on %s\n", text);
        r = eddy_event_loop_run(loop);
    }
    eddy_tcp_server_free(server);
    return r;
}

int main(int argc, char **argv)
{
    struct config cfg = {"127.0.0.1:8080", "epoll", 0};
    struct eddy_event_loop *loop;
    int r;

    if (parse_args(argc, argv, &cfg) < 0)
        return 2;
    signal(SIGPIPE, SIG_IGN);
    r = eddy_event_loop_new(&loop, cfg.backend);
    if (r < 0) {
        fprintf(stderr, "echo_server: event loop: %s\n", strerror(-r));
        return 1;
    }
    /* Before any thread exists, so every sub-reactor inherits them blocked. */
    if ((r = eddy_signal_watch(loop, SIGINT, on_signal, NULL)) < 0 ||
        (r = eddy_signal_watch(loop, SIGTERM, on_signal, NULL)) < 0) {
        fprintf(stderr, "echo_server: signals: %s\n", strerror(-r));
        return 1;
    }
    r = serve(loop, &cfg);
    if (r < 0)
        fprintf(stderr, "echo_server: %s: %s\n", cfg.listen, strerror(-r));
    eddy_signal_unwatch(loop, SIGINT);
    eddy_signal_unwatch(loop, SIGTERM);
    eddy_event_loop_free(loop);
    return r < 0 ? 1 : 0;
}
