/*
 * Unix domain stream sockets: what binding and closing a listener on a path needs beyond
 * what TCP needs.
 *
 * A server that died leaves its socket file behind, and bind() then fails with
 * EADDRINUSE. nginx unlinks the file before binding; we do the same, but only once the
 * file is known to be a stale socket: it is a socket and nothing accepts on it (a connect
 * is refused). A live server's socket and any other kind of file are left alone, and
 * bind reports EADDRINUSE. On close, a listener removes its own file (checked by inode,
 * so a file another server bound since is not touched).
 */
#include "unix_socket.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

static int is_path(const struct sockaddr *sa)
{
    const struct sockaddr_un *un = (const struct sockaddr_un *)(const void *)sa;
    return sa->sa_family == AF_UNIX && un->sun_path[0] != '\0';
}

/* 1 if something accepts connections on the socket file at sa. */
static int socket_alive(const struct sockaddr *sa, socklen_t len)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return 1; /* cannot tell: leave it */
    int alive = connect(fd, sa, len) == 0 || errno == EAGAIN || errno == EINPROGRESS;
    close(fd);
    return alive;
}

int eddy__unix_reclaim_stale(const struct sockaddr *sa, socklen_t len)
{
    struct stat st;
    if (!is_path(sa))
        return 0;
    const char *path = ((const struct sockaddr_un *)(const void *)sa)->sun_path;
    if (lstat(path, &st) < 0)
        return errno == ENOENT ? 0 : -errno;
    if (!S_ISSOCK(st.st_mode) || socket_alive(sa, len))
        return -EADDRINUSE;
    if (unlink(path) < 0 && errno != ENOENT)
        return -errno;
    return 0;
}

uint64_t eddy__unix_inode(const struct sockaddr *sa)
{
    struct stat st;
    if (!is_path(sa) || lstat(((const struct sockaddr_un *)(const void *)sa)->sun_path, &st) < 0)
        return 0;
    return (uint64_t)st.st_ino;
}

void eddy__unix_unlink_own(const struct sockaddr *sa, uint64_t ino)
{
    if (ino != 0 && eddy__unix_inode(sa) == ino)
        unlink(((const struct sockaddr_un *)(const void *)sa)->sun_path);
}
