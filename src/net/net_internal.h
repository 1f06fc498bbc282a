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
#include "eddy/inet.h"
#include "eddy/tcp_connection.h"
#include "eddy/timer.h"
#include "eddy/transport.h"
#include "socket_io.h"

/* A file range in a connection's output queue; memory queued after it waits
 * in `after`, so bytes leave in the order they were queued. */
struct eddy__out_seg {
    struct eddy__out_seg *next;
    int fd;
    unsigned close_fd : 1;
    unsigned generic : 1;       /* send by pread + write, not the transport's send_file */
    void (*release)(void *arg); /* instead of close_fd: the owner's reference on fd */
    void *release_arg;
    off_t offset;
    size_t len; /* file bytes still to send */
    struct eddy_buffer after;
};

/* A lingering close requested or running, or a handshake's deadline (see
 * tcp_connection.c): kept by the loop, not in the connection, so idle connections
 * do not pay for it. The loop finds an entry by a hash of its connection's address
 * (thousands of handshakes may be in flight at once); it expires by its own timer,
 * in the loop's timer heap. */
struct eddy__linger {
    struct eddy__linger *next; /* in its hash slot */
    struct eddy_tcp_connection *c;
    unsigned ms;
    struct eddy_timer timer;
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
    /* Optional: a connection closed without on_connected having run (a failed handshake,
     * a failed registration), so no on_close follows either: tcp_client's hook. */
    void (*on_abandon)(struct eddy_tcp_connection *c);
    size_t high_water_mark;
    int nodelay;    /* TCP_NODELAY before a connection's second write */
    int read_first; /* read a new connection before registering it (data is likely there) */
    unsigned handshake_timeout_ms; /* for transports with a handshake; 0: none */
    int wake_due; /* base loop thread: establish tasks queued since the last wake-up */
    /* Input of the connection being read when it had no leftover bytes. */
    struct eddy_buffer scratch;
    int scratch_busy;
    /* Open connections of this server on this loop (intrusive list), and how
     * many there are: nconns is owner-thread, live counts the connections
     * handed to this loop and not yet gone (atomic: the accepting thread adds,
     * the owner subtracts, tcp_server sums them). */
    struct eddy_tcp_connection *conns;
    size_t nconns;
    size_t live;
    int nfree;
    char *free_data[EDDY__NET_FREE_BUFS];
    size_t free_cap[EDDY__NET_FREE_BUFS];
    int nfree_segs;
    struct eddy__out_seg *free_segs;
    /* Connections in a lingering close or a handshake: a chained hash table of
     * linger_cap slots (0 or a power of two) holding nlingers entries. */
    struct eddy__linger **linger_slots;
    size_t linger_cap;
    size_t nlingers;
    /* send_batch.c: connections whose output waits for the batch's one io_uring_enter. */
    int batch_sends; /* allowed (tcp_server loops); 0 once io_uring proved unavailable */
    int flushing;
    struct eddy__uring *ring;
    struct eddy__deferred *deferred;
    size_t ndeferred, deferred_cap;
};

/* tcp_connection flags (owner thread). */
enum {
    F_ESTABLISHED = 1u << 0, /* registered with the loop */
    F_BATCH = 1u << 1,       /* inside on_message/on_connected: sends only append */
    F_CLOSE_PENDING = 1u << 2,
    F_SHUT_WR_REQ = 1u << 3,
    F_SHUT_WR_DONE = 1u << 4,
    F_PEER_EOF = 1u << 5,
    F_HIGH_WATER = 1u << 6, /* above the mark since the last crossing */
    F_WANT_READ = 1u << 7,  /* the user did not pause reading */
    F_REDELIVER = 1u << 8,  /* a task will hand leftover input to on_message */
    F_IN_WC = 1u << 9,      /* inside on_write_complete */
    F_WC_AGAIN = 1u << 10,
    F_WROTE = 1u << 11,         /* a write was made: the next one wants TCP_NODELAY */
    F_NODELAY = 1u << 12,       /* TCP_NODELAY is set */
    F_CLOSE_FLUSHED = 1u << 13, /* close once the output queue is written */
    F_LINGER_REQ = 1u << 14,    /* lingering close once the output queue is written */
    F_LINGERING = 1u << 15,     /* write side shut, input read and discarded until EOF */
    F_HANDSHAKE = 1u << 16,     /* the transport's handshake runs: no callbacks yet */
    F_CONNECTED = 1u << 17,     /* on_connected was called: on_close will be */
    F_RD_WANTS_WR = 1u << 18,   /* the last read waits for write readiness (tr.want) */
    F_WR_WANTS_RD = 1u << 19,   /* the last write waits for read readiness (tr.want) */
    F_OWN_NL = 1u << 20,        /* adopted outside a server: nl is the connection's own */
    F_RESET = 1u << 21,         /* a read or write failed with ECONNRESET */
    F_FILE_STARTED = 1u << 22,  /* a file range went out: the socket's file options are set */
    F_DEFERRED = 1u << 23,      /* its output waits in the loop's send batch */
    F_SENT_AHEAD = 1u << 24,    /* the batch sent bytes of it: the write path takes over */
    F_NO_MORE = F_SHUT_WR_REQ | F_CLOSE_FLUSHED | F_LINGER_REQ, /* sends are refused */
};

/* The peer as stored in a connection, 28 bytes instead of union eddy_sockaddr's 110 (the
 * size of an idle connection is what eddy is judged on): IP addresses inline; a Unix peer
 * as its family alone when unnamed (as accepted peers almost always are), else as a heap
 * copy whose pointer sits in un_ext (memcpy'd: the union keeps sockaddr_in6's alignment). */
union eddy__peer {
    struct sockaddr sa;
    struct sockaddr_in in4;
    struct sockaddr_in6 in6;
    struct {
        sa_family_t family;
        unsigned char un_ext[sizeof(struct sockaddr_un *)];
    } un;
};

/* One accepted connection; the fields belong to the owner loop's thread
 * except refs and state (atomics). See tcp_connection.c. */
struct eddy_tcp_connection {
    struct eddy_channel ch;
    struct eddy_transport tr; /* tr.fd == ch.fd */
    struct eddy__net_loop *nl;
    struct eddy_tcp_connection *prev, *next;
    struct eddy_buffer in;
    struct eddy_buffer out;
    struct eddy__out_seg *seg_head; /* file ranges (few): the tail is found by walking */
    uint64_t id;
    uint64_t sent; /* bytes written, for eddy_tcp_connection_bytes_sent */
    int refs;      /* atomic */
    /* Atomic: bit 0 closed, bit 1 the allocation has a context area (set before the
     * connection is published, never changed). 16 bits with busy beside it keep the
     * connection 208 bytes: with http_conn as its context, one malloc size class less
     * per idle connection than 216. */
    unsigned short state;
    unsigned short busy; /* nesting depth of callbacks: a few */
    unsigned flags;
    union eddy__peer peer;
};

/* transport_socket.c: a file range of len bytes is copied rather than sendfile'd; the
 * socket options for file output (eddy_transport_socket_set_file_lowat) before a range of
 * len bytes: 1 when they are set (once per socket), 0 while the range is below lowat_min. */
int eddy__transport_socket_file_copy(size_t len);
int eddy__transport_socket_file_start(int fd, size_t len);

/* net_loop.c */
struct eddy__net_loop *eddy__net_loop_new(struct eddy_event_loop *loop,
                                          struct eddy_tcp_server *server,
                                          const struct eddy_tcp_callbacks *cb, size_t hwm);
/* After every connection of the loop was closed. */
void eddy__net_loop_free(struct eddy__net_loop *nl);
/* Any thread: a connection was handed to nl's loop / left it (closed or never established). */
void eddy__net_loop_count_in(struct eddy__net_loop *nl);
void eddy__net_loop_count_out(struct eddy__net_loop *nl);
/* The lingering-close entry of c, NULL if none (the newest if c has several); add
 * one (0 or -ENOMEM); remove c's newest entry (stopping its timer) if it has one.
 * Each O(1) on average. Owner thread. */
struct eddy__linger *eddy__net_linger_find(struct eddy__net_loop *nl,
                                           const struct eddy_tcp_connection *c);
int eddy__net_linger_add(struct eddy__net_loop *nl, struct eddy_tcp_connection *c, unsigned ms);
void eddy__net_linger_remove(struct eddy__net_loop *nl, const struct eddy_tcp_connection *c);
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

/* transport_socket.c: the open of transports whose instance is the descriptor
 * alone (kernel sockets, ustack sockets). */
int eddy__transport_fd_open(struct eddy_transport *t, int fd, void *arg, unsigned flags);

/* tcp_connection.c */
/* Any thread (the accepting one): allocates a connection owned by nl's loop,
 * moving the transport instance *t into it (on failure t is closed). The
 * caller counted it in nl (eddy__net_loop_count_in). */
/* tcp_connection_api.c: store peer (len bytes) in c's peer, 0 or -ENOMEM; free what
 * that allocated (with the connection). */
int eddy__tcp_peer_set(struct eddy_tcp_connection *c, const struct sockaddr *peer, socklen_t len);
void eddy__tcp_peer_free(struct eddy_tcp_connection *c);
int eddy__tcp_connection_new(struct eddy_tcp_connection **out, struct eddy__net_loop *nl,
                             struct eddy_transport *t, const struct sockaddr *peer,
                             socklen_t peer_len, uint64_t id, size_t context_size);
/* Task run in nl's loop: registers the connection and calls on_connected. */
void eddy__tcp_connection_establish(void *conn);
/* Owner thread, for tcp_connection_api.c. enter/leave bracket every use of c
 * (leave may free c); request_close closes now or once nothing of c is on the
 * stack; write_out writes what is queued (busy > 0). */
void eddy__tcp_conn_request_close(struct eddy_tcp_connection *c);
void eddy__tcp_conn_write_out(struct eddy_tcp_connection *c);
/* Writes now unless inside on_message/on_connected (busy > 0). */
void eddy__tcp_conn_write_unless_batched(struct eddy_tcp_connection *c);
void eddy__tcp_conn_check_high_water(struct eddy_tcp_connection *c);
/* Owner thread: a task will hand leftover input, and what the transport
 * holds, to on_message (no fd event announces either). */
void eddy__tcp_conn_schedule_read(struct eddy_tcp_connection *c);
/* Owner thread, busy > 0: sends p now or queues it. 0, -EPIPE, -ENOMEM. */
int eddy__tcp_conn_send(struct eddy_tcp_connection *c, const char *p, size_t len);

static inline int eddy__tcp_conn_is_open(const struct eddy_tcp_connection *c)
{
    return (__atomic_load_n(&c->state, __ATOMIC_ACQUIRE) & 1) == 0;
}

/* Open and no close pending: may still send. Owner thread. */
static inline int eddy__tcp_conn_is_live(const struct eddy_tcp_connection *c)
{
    return eddy__tcp_conn_is_open(c) && !(c->flags & F_CLOSE_PENDING);
}
/* Closes now: the connection must not be on the stack (busy == 0), or its callers be done. */
void eddy__tcp_conn_do_close(struct eddy_tcp_connection *c);

/* Inline: every event and API call of a connection brackets itself with these. */
static inline void eddy__tcp_conn_enter(struct eddy_tcp_connection *c)
{
    c->busy++;
}

/* May free c: the caller must not touch c afterwards. */
static inline void eddy__tcp_conn_leave(struct eddy_tcp_connection *c)
{
    if (--c->busy == 0 && (c->flags & F_CLOSE_PENDING))
        eddy__tcp_conn_do_close(c);
}

/* Frees a connection that was never established (its transport is closed too). */
void eddy__tcp_connection_discard(struct eddy_tcp_connection *c);
/* Intrusive list links (owner thread). */
struct eddy_tcp_connection *eddy__tcp_connection_next(const struct eddy_tcp_connection *c);

/* Linux's Nagle (Minshall's variant) holds a small segment back only while an
 * earlier small one is unacknowledged, so a connection's first write cannot
 * be delayed: TCP_NODELAY is set before the second one, and a connection
 * closed after one response never pays the setsockopt. */
static inline void eddy__tcp_conn_before_write(struct eddy_tcp_connection *c)
{
    if ((c->flags & (F_WROTE | F_NODELAY)) == F_WROTE && c->nl->nodelay) {
        if (c->tr.ops->set_nodelay != NULL)
            c->tr.ops->set_nodelay(&c->tr, 1);
        c->flags |= F_NODELAY;
    }
    c->flags |= F_WROTE;
}

/* send_batch.c (owner thread). defer: 1 when c's output (memory only) will leave with
 * the loop's batch, right after the batch's callbacks; 0: write it now. stop: no more
 * batching on nl, queued entries dropped (their connections are closed). free: what
 * stop left, from any thread once the loop is gone. */
int eddy__send_batch_defer(struct eddy_tcp_connection *c);
void eddy__send_batch_stop(struct eddy__net_loop *nl);
void eddy__send_batch_free(struct eddy__net_loop *nl);

/* tcp_output.c: the output queue (owner thread). */
struct eddy_buffer *eddy__tcp_output_tail(struct eddy_tcp_connection *c);
/* Queues a file range after everything queued. */
void eddy__tcp_output_append_seg(struct eddy_tcp_connection *c, struct eddy__out_seg *s);
static inline int eddy__tcp_output_empty(const struct eddy_tcp_connection *c)
{
    return c->seg_head == NULL && eddy_buffer_readable(&c->out) == 0;
}
/* Writes what is queued: 1 when drained, 0 if bytes remain (socket full, or
 * level-triggered and a short write), -errno on error. et: write until EAGAIN.
 * fin_next: the connection closes once drained, so the last bytes go with
 * MSG_MORE and wait in the kernel for the FIN of the close to share their segment. */
int eddy__tcp_output_drain(struct eddy_tcp_connection *c, int et, int fin_next, int *wrote);
/* Gives the segment's file back: release(arg) or close(fd) per how it was queued. */
void eddy__tcp_output_seg_done(struct eddy__out_seg *s);
/* Drops everything queued, closing the close_fd files. */
void eddy__tcp_output_drop(struct eddy_tcp_connection *c);

#endif
