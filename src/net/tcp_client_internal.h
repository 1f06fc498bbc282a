/* Internals shared by tcp_client.c and tcp_client_group.c. */
#ifndef EDDY_NET_TCP_CLIENT_INTERNAL_H
#define EDDY_NET_TCP_CLIENT_INTERNAL_H

#include "eddy/channel.h"
#include "eddy/inet.h"
#include "eddy/tcp_client.h"
#include "eddy/timer.h"

#include <pthread.h>

#define CLIENT_MAX_ADDRS 8

/* The connections of every client of one loop with the same callbacks and connection
 * options share one net_loop (its scratch buffer and free lists), as a server's
 * connections on one loop do. Its cb is `fwd`: the user's callbacks with on_close
 * wrapped, so the client learns that its connection is gone. */
struct client_group {
    struct client_group *next;
    struct eddy__net_loop *nl;
    const struct eddy_tcp_callbacks *user;
    struct eddy_tcp_callbacks fwd;
    size_t hwm, context_size;
    int nodelay;
    int refs; /* clients using it; guarded by the registry lock */
};

struct client_group *eddy__client_group_get(struct eddy_event_loop *loop,
                                            const struct eddy_tcp_callbacks *cb,
                                            const struct eddy_tcp_client_options *o);
void eddy__client_group_put(struct client_group *g);
/* Where a connection of the group keeps its client: after the user's context area. */
size_t eddy__client_tail_offset(size_t context_size);

/* A host-name lookup in a thread of its own; `done` is queued to the client's loop. */
struct client_lookup {
    struct eddy_tcp_client *cl;
    char *host, *port;
    union eddy_sockaddr addrs[CLIENT_MAX_ADDRS];
    socklen_t lens[CLIENT_MAX_ADDRS];
    int n, err;
};
/* Starts the lookup (holding a reference on cl for it). 0 or -errno. */
int eddy__client_lookup_start(struct eddy_tcp_client *cl, const char *host, const char *port);

/* tcp_client.c, for the lookup */
void eddy__client_ref(struct eddy_tcp_client *cl);
void eddy__client_unref(struct eddy_tcp_client *cl);
/* Under the client's lock: 1 if the lookup result can still be delivered (then queued). */
int eddy__client_deliver_lookup(struct client_lookup *lk);

#endif
