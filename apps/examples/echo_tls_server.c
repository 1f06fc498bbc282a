/*
 * echo_tls_server: echo over TLS. The same callbacks as a plain echo server;
 * only the listener differs: it takes the TLS transport and a context.
 *
 *   echo_tls_server --cert CHAIN.pem --key KEY.pem [-l ADDR:PORT] [-t THREADS] [-b BACKEND]
 *   openssl s_client -connect 127.0.0.1:8443 -CAfile ca.pem
 *
 * SIGINT/SIGTERM stop it (read from a signalfd by the base loop).
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "eddy/eddy.h"
#include "eddy/tls.h"

static void on_message(struct eddy_tcp_connection *c, struct eddy_buffer *in)
{
    eddy_tcp_connection_send(c, eddy_buffer_peek(in), eddy_buffer_readable(in));
    eddy_buffer_retrieve_all(in);
}

static const struct eddy_tcp_callbacks callbacks = {.on_message = on_message};

static void on_signal(struct eddy_channel *ch, int revents)
{
    struct signalfd_siginfo si;

    (void)revents;
    while (read(ch->fd, &si, sizeof si) == (ssize_t)sizeof si)
        eddy_event_loop_stop(ch->loop);
}

struct args {
    const char *listen, *backend, *cert, *key;
    int threads;
};

static int parse(int argc, char **argv, struct args *a)
{
    static const struct option lo[] = {
        {"listen", required_argument, NULL, 'l'},  {"threads", required_argument, NULL, 't'},
        {"backend", required_argument, NULL, 'b'}, {"cert", required_argument, NULL, 'c'},
        {"key", required_argument, NULL, 'k'},     {NULL, 0, NULL, 0}};
    int ch;

    while ((ch = getopt_long(argc, argv, "l:t:b:c:k:", lo, NULL)) != -1) {
        if (ch == 'l')
            a->listen = optarg;
        else if (ch == 't')
            a->threads = atoi(optarg);
        else if (ch == 'b')
            a->backend = optarg;
        else if (ch == 'c')
            a->cert = optarg;
        else if (ch == 'k')
            a->key = optarg;
        else
            return -1;
    }
    return a->cert && a->key && optind == argc && a->threads >= 0 ? 0 : -1;
}

/* The loop runs until a signal; returns 0 or -errno. */
static int serve(struct eddy_event_loop *loop, const struct args *a, struct eddy_tls_context *tls,
                 int sfd)
{
    struct eddy_tcp_server_options o;
    struct eddy_tcp_server *srv;
    struct eddy_channel sig;
    union eddy_sockaddr bound;
    char text[64];
    int r;

    eddy_tcp_server_options_init(&o);
    o.threads = a->threads;
    if ((r = eddy_tcp_server_new(&srv, loop, &o, &callbacks, NULL)) < 0)
        return r;
    r = eddy_tcp_server_listen_transport(srv, a->listen, &bound, &eddy_transport_tls, tls);
    if (r == 0)
        r = eddy_tcp_server_start(srv);
    eddy_channel_init(&sig, loop, sfd, on_signal, NULL);
    if (r == 0)
        r = eddy_channel_enable_reading(&sig);
    if (r == 0) {
        eddy_sockaddr_format(&bound.sa, text, sizeof text);
        fprintf(stderr, "echo_tls_server listening on %s\n", text);
        r = eddy_event_loop_run(loop);
    }
    eddy_channel_remove(&sig);
    eddy_tcp_server_free(srv);
    return r;
}

int main(int argc, char **argv)
{
    struct args a = {"127.0.0.1:8443", "epoll", NULL, NULL, 0};
    struct eddy_tls_options to;
    struct eddy_tls_context *tls;
    struct eddy_event_loop *loop;
    char err[512];
    sigset_t mask;
    int sfd, r;

    if (parse(argc, argv, &a) < 0) {
        fprintf(stderr, "usage: echo_tls_server --cert CHAIN.pem --key KEY.pem "
                        "[-l ADDR:PORT] [-t THREADS] [-b BACKEND]\n");
        return 2;
    }
    eddy_tls_options_init(&to);
    to.alpn = NULL; /* not HTTP: no ALPN answer */
    eddy_tls_options_add_cert(&to, a.cert, a.key);
    if (eddy_tls_context_new(&tls, &to, err, sizeof err) < 0) {
        fprintf(stderr, "echo_tls_server: %s\n", err);
        return 1;
    }
    sigemptyset(&mask);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &mask, NULL);
    sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
    r = sfd < 0 ? -1 : eddy_event_loop_new(&loop, a.backend);
    if (r == 0) {
        r = serve(loop, &a, tls, sfd);
        eddy_event_loop_free(loop);
    }
    if (r < 0)
        fprintf(stderr, "echo_tls_server: %s: %s\n", a.listen, r == -1 ? "setup" : strerror(-r));
    if (sfd >= 0)
        close(sfd);
    eddy_tls_context_free(tls);
    return r < 0 ? 1 : 0;
}
