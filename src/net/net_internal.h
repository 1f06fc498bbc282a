/*
 * Internal to src/net: the per-loop state shared by the connections of one
 * server on one loop, and the hooks tcp_server uses to create and tear down
 * connections. Not a public API.
 *
 * Everything in struct eddy__net_loop belongs to the loop's thread.
 */
#ifndef EDDY_NET_INTERNAL_H
#define EDDY_NET_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "eddy/buffer.h"
#include "eddy/channel.h"
#include "eddy/tcp_connection.h"

/* A file range in a connection's output queue; memory queued after it waits
 * in `after`, so bytes leave in the order they were queued. */
struct eddy__out_seg {
    struct eddy__out_seg *next;
    int fd;
    int close_fd;
    off_t offset;
    size_t len; /* file bytes still to send */
    struct eddy_buffer after;
};

/* Recycled buffer memory: a drained buffer returns its storage here instead
 * of to malloc, so a connection doing request/response churns no memory. */
#define EDDY__NET_FREE_BUFS   32
#define EDDY__NET_RECYCLE_MAX (64u * 1024u)
#define EDDY__NET_FREE_SEGS   32
/* What one read offers the kernel when no leftover input is pending. */
#define EDDY__NET_SCRATCH_SIZE (64u * 1024u)

struct eddy__net_loop {
    struct eddy_event_loop *loop;
    struct eddy_tcp_server *server;
    const struct eddy_tcp_callbacks *cb;
    size_t high_water_mark;
    int nodelay;    /* TCP_NODELAY before a connection's second write */
    int read_first; /* read a new connection before registering it (data is likely there) */
    int wake_due;   /* base loop thread: establish tasks queued since the last wake-up */
    /* Input of the connection being read when it had no leftover bytes. */
    struct eddy_buffer scratch;
    int scratch_busy;
    /* Open connections of this server on this loop (intrusive list). */
    struct eddy_tcp_connection *conns;
    size_t nconns;
    int nfree;
    char *free_data[EDDY__NET_FREE_BUFS];
    size_t free_cap[EDDY__NET_FREE_BUFS];
    int nfree_segs;
    struct eddy__out_seg *free_segs;
};

/* One accepted connection; the fields belong to the owner loop's thread
 * except refs and state (atomics). See tcp_connection.c. */
struct eddy_tcp_connection {
    struct eddy_channel ch;
    struct eddy__net_loop *nl;
    struct eddy_tcp_connection *prev, *next;
    struct eddy_buffer in;
    struct eddy_buffer out;
    struct eddy__out_seg *seg_head, *seg_tail;
    uint64_t id;
    uint64_t sent; /* bytes written, for eddy_tcp_connection_bytes_sent */
    int refs;      /* atomic */
    int state;     /* atomic: ST_* */
    unsigned flags;
    unsigned busy;
    union eddy_sockaddr peer;
    size_t context_size;
};

/* net_loop.c */
struct eddy__net_loop *eddy__net_loop_new(struct eddy_event_loop *loop,
                                          struct eddy_tcp_server *server,
                                          const struct eddy_tcp_callbacks *cb, size_t hwm);
/* After every connection of the loop was closed. */
void eddy__net_loop_free(struct eddy__net_loop *nl);
/* Gives an empty, memory-less buffer recycled storage if some is available. */
void eddy__net_buf_get(struct eddy__net_loop *nl, struct eddy_buffer *b);
/* Takes the storage of an empty buffer back (or frees it). */
void eddy__net_buf_put(struct eddy__net_loop *nl, struct eddy_buffer *b);
struct eddy__out_seg *eddy__net_seg_get(struct eddy__net_loop *nl);
void eddy__net_seg_put(struct eddy__net_loop *nl, struct eddy__out_seg *s);
/* Snapshot of the open connections, each referenced; *n gets the count.
 * NULL with *n = 0 when there is none; NULL with *n > 0 on ENOMEM. */
struct eddy_tcp_connection **eddy__net_loop_snapshot(struct eddy__net_loop *nl, size_t *n);
/* Closes every connection of the loop (owner thread). */
void eddy__net_loop_close_all(struct eddy__net_loop *nl);

/* tcp_connection.c */
/* Any thread (the accepting one): allocates a connection owned by nl's loop. */
int eddy__tcp_connection_new(struct eddy_tcp_connection **out, struct eddy__net_loop *nl, int fd,
                             const struct sockaddr *peer, socklen_t peer_len, uint64_t id,
                             size_t context_size);
/* Task run in nl's loop: registers the connection and calls on_connected. */
void eddy__tcp_connection_establish(void *conn);
/* Frees a connection that was never established (its fd is closed too). */
void eddy__tcp_connection_discard(struct eddy_tcp_connection *c);
/* Intrusive list links (owner thread). */
struct eddy_tcp_connection *eddy__tcp_connection_next(const struct eddy_tcp_connection *c);

/* tcp_output.c: the output queue (owner thread). */
struct eddy_buffer *eddy__tcp_output_tail(struct eddy_tcp_connection *c);
int eddy__tcp_output_empty(const struct eddy_tcp_connection *c);
/* Writes what is queued: 1 when drained, 0 if bytes remain (socket full, or
 * level-triggered and a short write), -errno on error. et: write until EAGAIN.
 * fin_next: the connection closes once drained, so the last bytes go with
 * MSG_MORE and wait in the kernel for the FIN of the close to share their segment. */
int eddy__tcp_output_drain(struct eddy_tcp_connection *c, int et, int fin_next, int *wrote);
/* Drops everything queued, closing the close_fd files. */
void eddy__tcp_output_drop(struct eddy_tcp_connection *c);

/* tcp_server.c */
/* A connection of s left (closed or never established). */
void eddy__tcp_server_connection_gone(struct eddy_tcp_server *s);

#endif
