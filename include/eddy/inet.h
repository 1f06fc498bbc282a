/*
 * inet: socket addresses as text ("127.0.0.1:8080", "[::1]:8080") and small
 * socket helpers.
 */
#ifndef EDDY_INET_H
#define EDDY_INET_H

#include <stddef.h>
#include <netinet/in.h>
#include <sys/socket.h>

#ifdef __cplusplus
extern "C" {
#endif

union eddy_sockaddr {
    struct sockaddr sa;
    struct sockaddr_in in4;
    struct sockaddr_in6 in6;
};

/* Parses "A.B.C.D:PORT", "[V6]:PORT", or ":PORT"/"*:PORT" (all IPv4 addresses).
 * Numeric only, no name lookups. 0 or -EINVAL. */
int eddy_sockaddr_parse(const char *text, union eddy_sockaddr *out, socklen_t *len);
/* "ip:port" or "[ip]:port" into out (NUL-terminated). Length or -ENOSPC/-EAFNOSUPPORT. */
int eddy_sockaddr_format(const struct sockaddr *sa, char *out, size_t cap);
/* The address only, without port or brackets. Length or -errno. */
int eddy_sockaddr_format_ip(const struct sockaddr *sa, char *out, size_t cap);
int eddy_sockaddr_port(const struct sockaddr *sa);
socklen_t eddy_sockaddr_len(const struct sockaddr *sa);

int eddy_socket_set_nodelay(int fd, int on); /* 0 or -errno */

#ifdef __cplusplus
}
#endif

#endif
