/* Unix domain stream sockets: stale socket files, and removing our own (unix_socket.c). */
#ifndef EDDY_NET_UNIX_SOCKET_H
#define EDDY_NET_UNIX_SOCKET_H

#include <stdint.h>
#include <sys/socket.h>

/* Before binding sa: removes a stale socket file there. 0 (nothing there, removed, not a
 * path address), -EADDRINUSE (a live socket, or not a socket), -errno. */
int eddy__unix_reclaim_stale(const struct sockaddr *sa, socklen_t len);
/* The inode of the file at a path address (0: none, or not a path). */
uint64_t eddy__unix_inode(const struct sockaddr *sa);
/* Unlinks the file at sa if it is still the one with inode ino (nonzero). */
void eddy__unix_unlink_own(const struct sockaddr *sa, uint64_t ino);

#endif
