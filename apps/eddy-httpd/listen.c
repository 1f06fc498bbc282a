/*
 * --listen addresses: numeric ones ("127.0.0.1:8080", "[::1]:8080", ":8080") go to the
 * library as they are; a host name ("localhost:8080") is resolved once, at startup, with
 * getaddrinfo, and every address it resolves to is bound (nginx does the same), so a name
 * with an IPv4 and an IPv6 address listens on both. With --stack user every listener,
 * also those of a reload, is ustack's (user_stack.c) instead of the kernel's.
 */
#include "listen.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "user_stack.h"

static struct httpd_user_stack *user_stack; /* base loop thread only */

void httpd_listen_set_user_stack(struct httpd_user_stack *u)
{
    user_stack = u;
}

int httpd_listen_addr(struct eddy_http_server *srv, const char *addr, struct eddy_tls_context *tls,
                      union eddy_sockaddr *bound)
{
    if (user_stack)
        return httpd_user_stack_listen(user_stack, addr, tls, bound);
    return tls ? eddy_http_server_listen_tls(srv, addr, tls, bound)
               : eddy_http_server_listen(srv, addr, bound);
}

int httpd_unlisten(struct eddy_http_server *srv, const union eddy_sockaddr *bound)
{
    if (user_stack)
        return httpd_user_stack_unlisten(user_stack, bound);
    return eddy_tcp_server_unlisten(eddy_http_server_tcp(srv), bound);
}

static int fail(const char *spec, const char *what)
{
    fprintf(stderr, "eddy-httpd: cannot listen on %s: %s\n", spec, what);
    return -1;
}

static int listen_one(struct eddy_http_server *srv, const char *spec, const char *addr,
                      struct eddy_tls_context *tls, union eddy_sockaddr *bound, int *n, int max)
{
    if (*n == max)
        return fail(spec, "too many addresses");
    int rc = httpd_listen_addr(srv, addr, tls, &bound[*n]);
    if (rc == -EINVAL)
        return fail(spec, "invalid address (expected ADDR:PORT, HOST:PORT or [V6]:PORT)");
    if (user_stack && (rc == -EAFNOSUPPORT || rc == -EADDRNOTAVAIL)) {
        char why[200];
        snprintf(why, sizeof why,
                 "%s: --stack user listens on IPv4, on its --ip address or "
                 "on all (:PORT) only",
                 addr);
        return fail(spec, why);
    }
    if (rc < 0) {
        if (strcmp(spec, addr) == 0)
            return fail(spec, strerror(-rc));
        char why[160];
        snprintf(why, sizeof why, "%s: %s", addr, strerror(-rc));
        return fail(spec, why);
    }
    (*n)++;
    return 0;
}

/* A port of 1 to 5 digits, at most 65535. */
static int port_ok(const char *p)
{
    size_t n = strlen(p);
    if (n == 0 || n > 5 || strspn(p, "0123456789") != n)
        return 0;
    return atoi(p) <= 65535;
}

static int seen(const union eddy_sockaddr *from, const union eddy_sockaddr *to,
                const struct sockaddr *sa)
{
    for (const union eddy_sockaddr *b = from; b < to; b++)
        if (b->sa.sa_family == sa->sa_family && memcmp(b, sa, eddy_sockaddr_len(&b->sa)) == 0)
            return 1;
    return 0;
}

static int listen_resolved(struct eddy_http_server *srv, const char *spec, const char *host,
                           const char *port, struct eddy_tls_context *tls,
                           union eddy_sockaddr *bound, int *n, int max)
{
    struct addrinfo hints, *res;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    int rc = getaddrinfo(host, port, &hints, &res);
    if (rc != 0)
        return fail(spec, rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc));
    int first = *n;
    rc = 0;
    for (struct addrinfo *ai = res; ai && rc == 0; ai = ai->ai_next) {
        char text[INET6_ADDRSTRLEN + 16];
        if ((ai->ai_family != AF_INET && ai->ai_family != AF_INET6) ||
            seen(bound + first, bound + *n, ai->ai_addr) ||
            eddy_sockaddr_format(ai->ai_addr, text, sizeof text) < 0)
            continue;
        rc = listen_one(srv, spec, text, tls, bound, n, max);
    }
    freeaddrinfo(res);
    if (rc == 0 && *n == first)
        return fail(spec, "the name has no IPv4 or IPv6 address");
    return rc;
}

int httpd_listen(struct eddy_http_server *srv, const char *spec, struct eddy_tls_context *tls,
                 union eddy_sockaddr *bound, int *n, int max)
{
    union eddy_sockaddr sa;
    socklen_t len;
    const char *colon = strrchr(spec, ':');
    if (eddy_sockaddr_parse(spec, &sa, &len) == 0 || colon == NULL || colon == spec ||
        spec[0] == '[')
        return listen_one(srv, spec, spec, tls, bound, n, max);
    if (!port_ok(colon + 1))
        return fail(spec, "invalid port (expected 1 to 65535)");
    char host[256];
    size_t hl = (size_t)(colon - spec);
    if (hl >= sizeof host)
        return fail(spec, "host name too long");
    memcpy(host, spec, hl);
    host[hl] = '\0';
    return listen_resolved(srv, spec, host, colon + 1, tls, bound, n, max);
}
