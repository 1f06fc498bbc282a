/*
 * --stack user: eddy-httpd on ustack. The process creates (or attaches) the TAP
 * device, runs one stack inside the base loop (which is also the only loop: threads 0,
 * a uepoll backend), and listens on the stack: accepted ustack sockets become
 * connections of the HTTP server like accepted kernel sockets, through
 * eddy_transport_ustack. The kernel side of the TAP is configured by whoever runs us.
 */
#include "user_stack.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eddy/inet.h"
#include "eddy/ustack_net.h"

struct httpd_user_stack {
    struct ue_stack *st;
    struct eddy_ustack_driver *drv;
    struct eddy_ustack_listener *lst;
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

int httpd_user_stack_start(struct httpd_user_stack **out, struct eddy_tcp_server *tcp,
                           const struct httpd_options *o)
{
    int port = listen_port(o->listen[0]);
    struct ue_stack_config c;
    if (port < 0 || eddy_ustack_parse_addr(&c, o->ip, o->gateway) < 0) {
        fprintf(stderr, "eddy-httpd: --stack user: bad --ip, --gateway or --listen port\n");
        return -1;
    }
    struct httpd_user_stack *u = calloc(1, sizeof(*u));
    if (!u)
        return fail(u, "memory", ENOMEM);
    *out = u;
    int rc = eddy_ustack_tap_create(&u->st, o->tap, o->ip, o->gateway);
    if (rc < 0)
        return fail(u, o->tap, -rc);
    struct eddy_event_loop *loop = eddy_tcp_server_base_loop(tcp);
    if ((rc = eddy_ustack_driver_start(&u->drv, loop, u->st)) < 0)
        return fail(u, "driver", -rc);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if ((rc = eddy_ustack_listen(&u->lst, tcp, u->st, &a, 511)) < 0)
        return fail(u, "listen", -rc);
    char ip[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &c.addr, ip, sizeof(ip)); /* --ip without its /PREFIX */
    fprintf(stderr, "eddy-httpd listening on http://%s:%d (ustack on TAP %s)\n", ip, port, o->tap);
    return 0;
}

void httpd_user_stack_stop_accepting(struct httpd_user_stack *u)
{
    if (u && u->lst) {
        eddy_ustack_listener_close(u->lst);
        u->lst = NULL;
    }
}

void httpd_user_stack_free(struct httpd_user_stack *u)
{
    if (!u)
        return;
    httpd_user_stack_stop_accepting(u);
    eddy_ustack_driver_stop(u->drv);
    if (u->st)
        ue_stack_destroy(u->st);
    free(u);
}
