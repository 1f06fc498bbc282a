/*
 * echo_server: sends back every byte it receives.
 *
 *   echo_server [-l ADDR:PORT] [-t THREADS] [-b BACKEND]
 *               [--stack user --tap NAME --ip ADDR/PREFIX [--gateway ADDR]]
 *
 * --stack user serves on eddy's own TCP/IP stack (ustack) over a TAP device, as
 * eddy-httpd does: one loop on a uepoll backend runs the stack, the port of -l is
 * the port on the stack's address, and the kernel side of the TAP is set up by
 * whoever runs us.
 *
 * SIGINT/SIGTERM stop it cleanly: the base loop watches them (eddy_signal_watch,
 * a signalfd), so no work happens in a signal handler and the shutdown runs in
 * the loop's thread.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "eddy/eddy.h"
#include "eddy/signal.h"
#include "eddy/ustack_net.h"

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
    fprintf(f, " (default epoll; uepoll with --stack user)\n"
               "      --stack kernel|user TCP/IP stack: the kernel's or ustack on a TAP\n"
               "      --tap NAME          TAP device for --stack user (created or attached)\n"
               "      --ip ADDR/PREFIX    ustack's IPv4 address on the TAP\n"
               "      --gateway ADDR      ustack's next hop beyond the prefix\n");
}

struct config {
    const char *listen;
    const char *backend;
    int threads;
    int user_stack;
    const char *tap, *ip, *gateway;
};

enum { OPT_STACK = 256, OPT_TAP, OPT_IP, OPT_GATEWAY };

/* --stack user: one loop that also runs the stack, on a uepoll dispatcher. */
static int check_user_stack(struct config *cfg, int backend_given)
{
    if (!cfg->tap || !cfg->ip) {
        fprintf(stderr, "echo_server: --stack user needs --tap NAME and --ip ADDR/PREFIX\n");
        return -1;
    }
    struct ue_stack_config c;
    if (eddy_ustack_parse_addr(&c, cfg->ip, cfg->gateway) < 0) {
        fprintf(stderr, "echo_server: --stack user: bad --ip or --gateway\n");
        return -1;
    }
    if (cfg->threads != 0) {
        fprintf(stderr, "echo_server: --stack user runs one loop: use -t 0\n");
        return -1;
    }
    if (!backend_given)
        cfg->backend = "uepoll";
    else if (strncmp(cfg->backend, "uepoll", 6) != 0) {
        fprintf(stderr, "echo_server: --stack user needs the uepoll or uepoll-et backend\n");
        return -1;
    }
    return 0;
}

/* One option of parse_args: 0, or -1 after saying what is wrong. */
static int parse_opt(struct config *cfg, int ch, const char *arg, int *backend_given)
{
    char *end;

    switch (ch) {
    case 'l':
        cfg->listen = arg;
        return 0;
    case 't':
        errno = 0;
        cfg->threads = (int)strtol(arg, &end, 10);
        if (errno || *end || end == arg || cfg->threads < 0 || cfg->threads > 256) {
            fprintf(stderr, "echo_server: bad thread count '%s'\n", arg);
            return -1;
        }
        return 0;
    case 'b':
        cfg->backend = arg;
        *backend_given = 1;
        return 0;
    case OPT_STACK:
        if (strcmp(arg, "kernel") != 0 && strcmp(arg, "user") != 0) {
            fprintf(stderr, "echo_server: --stack: expected kernel or user\n");
            return -1;
        }
        cfg->user_stack = strcmp(arg, "user") == 0;
        return 0;
    case OPT_TAP:
        cfg->tap = arg;
        return 0;
    case OPT_IP:
        cfg->ip = arg;
        return 0;
    case OPT_GATEWAY:
        cfg->gateway = arg;
        return 0;
    case 'h':
        usage(stdout);
        exit(0);
    default:
        usage(stderr);
        return -1;
    }
}

static int parse_args(int argc, char **argv, struct config *cfg)
{
    static const struct option longopts[] = {{"listen", required_argument, NULL, 'l'},
                                             {"threads", required_argument, NULL, 't'},
                                             {"backend", required_argument, NULL, 'b'},
                                             {"help", no_argument, NULL, 'h'},
                                             {"stack", required_argument, NULL, OPT_STACK},
                                             {"tap", required_argument, NULL, OPT_TAP},
                                             {"ip", required_argument, NULL, OPT_IP},
                                             {"gateway", required_argument, NULL, OPT_GATEWAY},
                                             {NULL, 0, NULL, 0}};
    int ch, backend_given = 0;

    while ((ch = getopt_long(argc, argv, "l:t:b:h", longopts, NULL)) != -1)
        if (parse_opt(cfg, ch, optarg, &backend_given) < 0)
            return -1;
    if (optind < argc) {
        usage(stderr);
        return -1;
    }
    if (cfg->user_stack && check_user_stack(cfg, backend_given) < 0)
        return -1;
    if (eddy_event_dispatcher_find(cfg->backend) == NULL) {
        fprintf(stderr, "echo_server: unknown backend '%s'\n", cfg->backend);
        return -1;
    }
    return 0;
}

/* --stack user: a stack on the TAP run by the base loop; its listener on the port of -l
 * hands every connection to the server like an accepted kernel socket. */
struct user_stack {
    struct ue_stack *st;
    struct eddy_ustack_driver *drv;
    struct eddy_ustack_listener *lst;
};

static int user_stack_listen(struct user_stack *u, struct eddy_tcp_server *server,
                             const struct config *cfg)
{
    union eddy_sockaddr a;
    socklen_t len;
    int r = eddy_sockaddr_parse(cfg->listen, &a, &len);
    struct ue_stack_config c;
    if (r == 0 && (a.sa.sa_family != AF_INET || eddy_ustack_parse_addr(&c, cfg->ip, cfg->gateway)))
        r = -EINVAL; /* the address was checked with the options: -l is not IPv4 */
    if (r < 0)
        return r;
    struct sockaddr_in port = {.sin_family = AF_INET, .sin_port = a.in4.sin_port};
    if ((r = eddy_ustack_tap_create(&u->st, cfg->tap, cfg->ip, cfg->gateway)) < 0 ||
        (r = eddy_ustack_driver_start(&u->drv, eddy_tcp_server_base_loop(server), u->st)) < 0 ||
        (r = eddy_ustack_listen(&u->lst, server, u->st, &port, 511)) < 0)
        return r;
    char ip[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &c.addr, ip, sizeof(ip));
    fprintf(stderr, "echo_server listening on %s:%d (ustack on TAP %s)\n", ip, ntohs(port.sin_port),
            cfg->tap);
    return 0;
}

/* After the server is freed: its connections, the last sockets of the stack, are closed. */
static void user_stack_free(struct user_stack *u)
{
    eddy_ustack_driver_stop(u->drv);
    if (u->st)
        ue_stack_destroy(u->st);
}

static int serve(struct eddy_event_loop *loop, const struct config *cfg)
{
    struct eddy_tcp_server_options opts;
    struct eddy_tcp_server *server;
    struct user_stack us = {0};
    union eddy_sockaddr bound;
    char text[64];
    int r;

    eddy_tcp_server_options_init(&opts);
    opts.threads = cfg->threads;
    r = eddy_tcp_server_new(&server, loop, &opts, &echo_callbacks, NULL);
    if (r < 0)
        return r;
    r = cfg->user_stack ? 0 : eddy_tcp_server_listen(server, cfg->listen, &bound);
    if (r == 0)
        r = eddy_tcp_server_start(server);
    if (r == 0 && cfg->user_stack)
        r = user_stack_listen(&us, server, cfg);
    else if (r == 0) {
        eddy_sockaddr_format(&bound.sa, text, sizeof text);
        fprintf(stderr, "echo_server listening on %s\n", text);
    }
    if (r == 0)
        r = eddy_event_loop_run(loop);
    if (us.lst)
        eddy_ustack_listener_close(us.lst);
    eddy_tcp_server_free(server);
    user_stack_free(&us);
    return r;
}

int main(int argc, char **argv)
{
    struct config cfg = {.listen = "127.0.0.1:8080", .backend = "epoll"};
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
