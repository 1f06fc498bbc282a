/*
 * inet: socket addresses as text ("127.0.0.1:8080", "[::1]:8080", "unix:/run/x.sock",
 * "unix:@name") and small socket helpers.
 */
#ifndef EDDY_INET_H
#define EDDY_INET_H

#include <stddef.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>

#ifdef __cplusplus
extern "C" {
#endif

union eddy_sockaddr {
    struct sockaddr sa;
    struct sockaddr_in in4;
    struct sockaddr_in6 in6;
    struct sockaddr_un un; /* a path, or an abstract name (sun_path[0] == 0) */
};

/* Parses "A.B.C.D:PORT", "[V6]:PORT", ":PORT"/"*:PORT" (all IPv4 addresses), or a Unix
 * domain stream socket: "unix:PATH" (a file, e.g. "unix:/run/app.sock") or "unix:@NAME"
 * (Linux's abstract namespace: no file, gone with the last socket). Numeric only, no
 * name lookups. 0, -EINVAL, or -ENAMETOOLONG (a Unix path over 107 bytes). */
int eddy_sockaddr_parse(const char *text, union eddy_sockaddr *out, socklen_t *len);
/* "ip:port", "[ip]:port", "unix:PATH" or "unix:@NAME" ("unix:" for an unnamed socket,
 * such as the peer of an accepted Unix connection) into out (NUL-terminated). Length or
 * -ENOSPC/-EAFNOSUPPORT. */
int eddy_sockaddr_format(const struct sockaddr *sa, char *out, size_t cap);
/* The address only, without port or brackets (Unix: as eddy_sockaddr_format). Length
 * or -errno. */
int eddy_sockaddr_format_ip(const struct sockaddr *sa, char *out, size_t cap);
int eddy_sockaddr_port(const struct sockaddr *sa); /* -EAFNOSUPPORT for Unix */
/* The length to pass to bind/connect (for Unix: up to the path's NUL, or the name's end). */
socklen_t eddy_sockaddr_len(const struct sockaddr *sa);

int eddy_socket_set_nodelay(int fd, int on); /* 0 or -errno */

#ifdef __cplusplus
}
#endif

#endif
