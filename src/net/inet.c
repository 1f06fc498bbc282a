/*
 * inet: numeric socket addresses as text, and small socket helpers.
 * Parsing is strict on purpose: an address comes from a command line or a
 * configuration file, and a typo must be an error, not a surprise bind.
 */
#include "eddy/inet.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stddef.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>

/* Decimal 0..65535, digits only (no sign, no spaces), at most 5 digits. */
static int parse_port(const char *s, in_port_t *out)
{
    unsigned v = 0;
    size_t n = 0;

    for (; s[n] != '\0'; n++) {
        if (s[n] < '0' || s[n] > '9' || n >= 5)
            return -EINVAL;
        v = v * 10 + (unsigned)(s[n] - '0');
    }
    if (n == 0 || v > 65535)
        return -EINVAL;
    *out = htons((uint16_t)v);
    return 0;
}

static int parse_v6(const char *text, union eddy_sockaddr *out, socklen_t *len)
{
    const char *close = strchr(text, ']');
    char host[INET6_ADDRSTRLEN];
    size_t hlen;
    in_port_t port;

    if (close == NULL || close[1] != ':')
        return -EINVAL;
    hlen = (size_t)(close - (text + 1));
    if (hlen == 0 || hlen >= sizeof host)
        return -EINVAL;
    memcpy(host, text + 1, hlen);
    host[hlen] = '\0';
    if (parse_port(close + 2, &port) < 0)
        return -EINVAL;
    memset(out, 0, sizeof *out);
    if (inet_pton(AF_INET6, host, &out->in6.sin6_addr) != 1)
        return -EINVAL;
    out->in6.sin6_family = AF_INET6;
    out->in6.sin6_port = port;
    *len = sizeof out->in6;
    return 0;
}

static int parse_v4(const char *text, union eddy_sockaddr *out, socklen_t *len)
{
    const char *colon = strrchr(text, ':');
    char host[INET_ADDRSTRLEN];
    size_t hlen;
    in_port_t port;

    if (colon == NULL)
        return -EINVAL;
    hlen = (size_t)(colon - text);
    if (hlen >= sizeof host)
        return -EINVAL;
    memcpy(host, text, hlen);
    host[hlen] = '\0';
    if (parse_port(colon + 1, &port) < 0)
        return -EINVAL;
    memset(out, 0, sizeof *out);
    out->in4.sin_family = AF_INET;
    out->in4.sin_port = port;
    if (hlen == 0 || strcmp(host, "*") == 0)
        out->in4.sin_addr.s_addr = htonl(INADDR_ANY);
    else if (inet_pton(AF_INET, host, &out->in4.sin_addr) != 1)
        return -EINVAL;
    *len = sizeof out->in4;
    return 0;
}

/* "unix:PATH" or "unix:@NAME"; the abstract name is kept without a trailing NUL. */
static int parse_unix(const char *name, union eddy_sockaddr *out, socklen_t *len)
{
    size_t n = strlen(name);

    if (n == 0 || (name[0] == '@' && n == 1))
        return -EINVAL;
    if (n >= sizeof out->un.sun_path)
        return -ENAMETOOLONG;
    memset(out, 0, sizeof *out);
    out->un.sun_family = AF_UNIX;
    memcpy(out->un.sun_path, name, n);
    if (name[0] == '@')
        out->un.sun_path[0] = '\0';
    *len = eddy_sockaddr_len(&out->sa);
    return 0;
}

int eddy_sockaddr_parse(const char *text, union eddy_sockaddr *out, socklen_t *len)
{
    union eddy_sockaddr tmp;
    socklen_t tlen = 0;
    int r;

    if (text == NULL || out == NULL)
        return -EINVAL;
    if (strncmp(text, "unix:", 5) == 0)
        r = parse_unix(text + 5, &tmp, &tlen);
    else
        r = text[0] == '[' ? parse_v6(text, &tmp, &tlen) : parse_v4(text, &tmp, &tlen);
    if (r < 0)
        return r;
    *out = tmp;
    if (len != NULL)
        *len = tlen;
    return 0;
}

/* "unix:PATH", "unix:@NAME" or "unix:" (unnamed). */
static int format_unix(const struct sockaddr_un *un, char *out, size_t cap)
{
    const char *p = un->sun_path;
    size_t max = sizeof un->sun_path;
    int abstract = p[0] == '\0' && p[1] != '\0';
    int n = snprintf(out, cap, "unix:%s%.*s", abstract ? "@" : "", (int)(max - (size_t)abstract),
                     p + abstract);

    if (n < 0 || (size_t)n >= cap) {
        if (cap > 0)
            out[0] = '\0';
        return -ENOSPC;
    }
    return n;
}

int eddy_sockaddr_format_ip(const struct sockaddr *sa, char *out, size_t cap)
{
    char tmp[INET6_ADDRSTRLEN];
    const void *src;
    size_t n;

    if (sa == NULL || out == NULL)
        return -EINVAL;
    if (sa->sa_family == AF_UNIX)
        return format_unix((const struct sockaddr_un *)(const void *)sa, out, cap);
    if (sa->sa_family == AF_INET)
        src = &((const struct sockaddr_in *)(const void *)sa)->sin_addr;
    else if (sa->sa_family == AF_INET6)
        src = &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;
    else
        return -EAFNOSUPPORT;
    if (inet_ntop(sa->sa_family, src, tmp, sizeof tmp) == NULL)
        return -errno;
    n = strlen(tmp);
    if (n + 1 > cap)
        return -ENOSPC;
    memcpy(out, tmp, n + 1);
    return (int)n;
}

int eddy_sockaddr_format(const struct sockaddr *sa, char *out, size_t cap)
{
    char ip[INET6_ADDRSTRLEN];
    int r, n;

    if (sa != NULL && sa->sa_family == AF_UNIX)
        return eddy_sockaddr_format_ip(sa, out, cap);
    r = eddy_sockaddr_format_ip(sa, ip, sizeof ip);
    if (r < 0)
        return r;
    if (sa->sa_family == AF_INET6)
        n = snprintf(out, cap, "[%s]:%d", ip, eddy_sockaddr_port(sa));
    else
        n = snprintf(out, cap, "%s:%d", ip, eddy_sockaddr_port(sa));
    if (n < 0 || (size_t)n >= cap) {
        if (cap > 0)
            out[0] = '\0';
        return -ENOSPC;
    }
    return n;
}

int eddy_sockaddr_port(const struct sockaddr *sa)
{
    if (sa == NULL)
        return -EINVAL;
    if (sa->sa_family == AF_INET)
        return ntohs(((const struct sockaddr_in *)(const void *)sa)->sin_port);
    if (sa->sa_family == AF_INET6)
        return ntohs(((const struct sockaddr_in6 *)(const void *)sa)->sin6_port);
    return -EAFNOSUPPORT;
}

socklen_t eddy_sockaddr_len(const struct sockaddr *sa)
{
    if (sa == NULL)
        return 0;
    if (sa->sa_family == AF_INET)
        return sizeof(struct sockaddr_in);
    if (sa->sa_family == AF_INET6)
        return sizeof(struct sockaddr_in6);
    if (sa->sa_family == AF_UNIX) {
        const struct sockaddr_un *un = (const struct sockaddr_un *)(const void *)sa;
        size_t max = sizeof un->sun_path;
        size_t base = offsetof(struct sockaddr_un, sun_path);
        if (un->sun_path[0] == '\0') /* abstract: the name, no NUL; or unnamed */
            return (socklen_t)(base +
                               (un->sun_path[1] ? 1 + strnlen(un->sun_path + 1, max - 1) : 0));
        return (socklen_t)(base + strnlen(un->sun_path, max) + 1);
    }
    return 0;
}

int eddy_socket_set_nodelay(int fd, int on)
{
    int v = on ? 1 : 0;

    if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &v, sizeof v) < 0)
        return -errno;
    return 0;
}
