/*
 * tcp_connection: one accepted TCP connection, owned by one event_loop (its
 * owner thread). It owns the fd, its channel, an input and an output buffer,
 * and an ordered output queue that may mix memory bytes and file ranges (sent
 * with sendfile).
 *
 * Memory: buffers are allocated only while bytes wait in them and released
 * when the connection goes idle, so an idle connection costs the struct
 * itself plus the user context (a few hundred bytes), not two 64 KiB buffers.
 *
 * Writes are coalesced: what on_message sends (or appends to the output
 * buffer) goes out in one write (writev) after on_message returns, so a read
 * carrying many pipelined requests is answered with one write. A send from
 * outside on_message in the owner thread is written at once. A partial write
 * keeps the rest and enables write interest until the queue drains.
 *
 * Lifetime: the connection is freed exactly once, after on_close returned and
 * every reference (eddy_tcp_connection_ref) was dropped; its fd is closed
 * exactly once, before on_close. Another thread that wants to call
 * send/shutdown/close must hold a reference.
 *
 * End of input from the peer (a read returned end of file: the peer called
 * shutdown(SHUT_WR), or closed; TCP cannot tell the two apart): reading stops
 * for good, and the fd is no longer polled for reading (a socket at end of
 * input stays readable). Then:
 *  - without on_peer_eof (the default), the connection closes once its queued
 *    output has been written, so a half-closed peer still gets the answers
 *    queued by then, but nothing sent later;
 *  - with on_peer_eof, the connection stays open and the callback decides: it
 *    may close at once, or keep sending (an answer computed later, from a timer
 *    or another thread) and then call close_flushed, shutdown or close. Nothing
 *    bounds that wait but the user: a peer that half-closed cannot signal that
 *    it left (its later close sends nothing until we write), so give the wait a
 *    timeout. Once the output is written after a shutdown (both directions are
 *    finished), the connection closes by itself; a peer EOF arriving after our
 *    own half-close was written closes it too, without the callback.
 */
#ifndef EDDY_TCP_CONNECTION_H
#define EDDY_TCP_CONNECTION_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "eddy/buffer.h"
#include "eddy/inet.h"

#ifdef __cplusplus
extern "C" {
#endif

struct eddy_event_loop;
struct eddy_tcp_connection;
struct eddy_tcp_server;
struct eddy_transport;

/* Shared by all connections of a server (not copied per connection); every
 * callback runs in the connection's owner thread; any may be NULL. */
struct eddy_tcp_callbacks {
    /* Set up in its loop and about to be read (with defer_accept it is read
     * first and registered with the loop afterwards, if still open). */
    void (*on_connected)(struct eddy_tcp_connection *c);
    /* Bytes arrived. `in` holds every unconsumed byte received so far; consume
     * with eddy_buffer_retrieve what was used, leave the rest for next time. The
     * pointer is valid only during the call (it may be a per-loop scratch buffer). */
    void (*on_message)(struct eddy_tcp_connection *c, struct eddy_buffer *in);
    /* The output queue became empty after a write. */
    void (*on_write_complete)(struct eddy_tcp_connection *c);
    /* The output queue grew past the high-water mark (once per crossing; see
     * eddy_tcp_connection_output_held): a producer should pause until on_write_complete.
     * queued: eddy_tcp_connection_output_queued. */
    void (*on_high_water)(struct eddy_tcp_connection *c, size_t queued);
    /* The peer sent its end of input (see the top of this file); NULL keeps the
     * default (close once the queued output is written). Sends from here go out
     * at once, as from outside on_message. Called once. */
    void (*on_peer_eof)(struct eddy_tcp_connection *c);
    /* The last callback: the fd is already closed (peer closed, error,
     * eddy_tcp_connection_close, or server shutdown). */
    void (*on_close)(struct eddy_tcp_connection *c);
};

/* Any thread: makes the opened transport instance *t (moved in: a memory end,
 * a connected socket opened with eddy_transport_open, a ustack socket) a
 * connection of loop outside any tcp_server, with callbacks cb (kept by
 * pointer) and a zeroed context of context_size bytes. It is registered and
 * on_connected runs in the loop's thread, from a queued task. *out (may be
 * NULL) gets the connection, valid while the caller holds a reference taken
 * before the loop can run the task, or from the callbacks on. It has its own
 * per-loop state (scratch buffer, free lists), so it suits a few client or
 * test connections per loop, not thousands. 0 or -errno (t is closed). */
int eddy_tcp_connection_adopt(struct eddy_tcp_connection **out, struct eddy_event_loop *loop,
                              struct eddy_transport *t, const struct eddy_tcp_callbacks *cb,
                              size_t context_size);

/* Any thread (with a reference when not the owner). Copies the bytes.
 * 0, -EPIPE once the connection is closing or closed, -ENOMEM. */
int eddy_tcp_connection_send(struct eddy_tcp_connection *c, const void *data, size_t len);
/* Owner thread: the output buffer itself, to build a response in place
 * without a copy; appended bytes go out at the next flush (automatic after
 * on_message, or eddy_tcp_connection_flush). */
struct eddy_buffer *eddy_tcp_connection_output(struct eddy_tcp_connection *c);
/* Owner thread: writes what is queued now; inside on_message, on a server's loop, the
 * memory bytes may instead join the loop's send batch, which leaves in one system call
 * once the batch's other event callbacks ran (before its timers and tasks). 0 or -errno (the
 * connection is then closing). */
int eddy_tcp_connection_flush(struct eddy_tcp_connection *c);
/* Owner thread: queues len bytes of fd from offset, after everything queued
 * before; sent with sendfile. If close_fd, fd is closed once sent or when the
 * connection closes (also when this call fails). 0, -EPIPE, -ENOMEM. */
int eddy_tcp_connection_send_file(struct eddy_tcp_connection *c, int fd, off_t offset, size_t len,
                                  int close_fd);
/* Owner thread: as send_file, for a descriptor the caller shares (a file cache's):
 * the connection neither closes nor dups fd; it calls release(arg) exactly once when
 * the range was sent, when the connection drops it (close), or at once when this call
 * fails (also for len 0). fd must stay open until then: hold a reference on it. */
int eddy_tcp_connection_send_file_ref(struct eddy_tcp_connection *c, int fd, off_t offset,
                                      size_t len, void (*release)(void *arg), void *arg);
/* Bytes (memory and file) queued and not yet written. Owner thread. */
size_t eddy_tcp_connection_output_queued(const struct eddy_tcp_connection *c);
/* Bytes (memory and file) written so far, for an access log's "bytes sent". Owner thread;
 * in on_close too, where the output queue is already gone. */
uint64_t eddy_tcp_connection_bytes_sent(const struct eddy_tcp_connection *c);

/* What a queued file range counts for against the high-water mark: it holds no memory,
 * but a descriptor (often a dup), which is scarcer; at a 256 KiB mark a connection that is
 * not read pins at most 8 of them before it is told to pause. */
#define EDDY_TCP_FILE_RANGE_COST ((size_t)32 * 1024)
/* What the high-water mark is compared with: the queued bytes held in memory plus
 * EDDY_TCP_FILE_RANGE_COST per queued file range (its bytes cost no memory, so a large
 * file does not pause a producer). Owner thread. */
size_t eddy_tcp_connection_output_held(const struct eddy_tcp_connection *c);

/* Any thread: half-close (shutdown(SHUT_WR)) once the output queue is written. */
void eddy_tcp_connection_shutdown(struct eddy_tcp_connection *c);
/* Any thread: closes once the output queue is written (no half-close first,
 * no waiting for the peer); later sends fail with -EPIPE. Input still
 * unread then makes the kernel send a reset, so use it when the peer is
 * known to send nothing more (it asked for the close). */
void eddy_tcp_connection_close_flushed(struct eddy_tcp_connection *c);
/* Any thread: nginx's lingering close. Once the output queue is written: shut
 * the write side (the peer reads our FIN after the last byte), then read and
 * discard input (on_message is no longer called, a paused connection reads
 * too) until the peer's end of input or linger_ms elapsed, then close. So
 * request bytes still in flight when we decide to close cannot turn the close
 * into a reset that destroys the response in the peer's receive buffer.
 * linger_ms 0: close as soon as the output is written, without a half-close
 * or lingering reads (eddy_tcp_connection_close_flushed). If the peer's end
 * of input was already read, the connection closes once the output is
 * written. Later sends fail with -EPIPE; a close already decided
 * (close_flushed, an earlier close_lingering) stands. Bound the wait for the
 * output itself (a peer that reads nothing) with your own timeout and
 * eddy_tcp_connection_close. */
void eddy_tcp_connection_close_lingering(struct eddy_tcp_connection *c, unsigned linger_ms);
/* Any thread: closes now, dropping unsent output; on_close follows in the owner thread. */
void eddy_tcp_connection_close(struct eddy_tcp_connection *c);
/* Owner thread: stop/start reading (backpressure). */
void eddy_tcp_connection_set_reading(struct eddy_tcp_connection *c, int on);
int eddy_tcp_connection_is_connected(const struct eddy_tcp_connection *c);
/* Owner thread: 1 once the peer's end of input was read (on_peer_eof, if set, ran or runs). */
int eddy_tcp_connection_peer_eof(const struct eddy_tcp_connection *c);
/* Owner thread (on_close too): 1 if a read or write failed with ECONNRESET (the peer
 * reset the connection). */
int eddy_tcp_connection_was_reset(const struct eddy_tcp_connection *c);

void eddy_tcp_connection_ref(struct eddy_tcp_connection *c);   /* any thread */
void eddy_tcp_connection_unref(struct eddy_tcp_connection *c); /* any thread */

/* The per-connection user area of tcp_server_options.context_size bytes,
 * zeroed at accept, allocated with the connection (NULL if size 0). */
void *eddy_tcp_connection_context(struct eddy_tcp_connection *c);
struct eddy_event_loop *eddy_tcp_connection_loop(const struct eddy_tcp_connection *c);
struct eddy_tcp_server *eddy_tcp_connection_server(const struct eddy_tcp_connection *c);
/* The descriptor the loop watches (tr.fd; a uepoll one for ustack), -1 once closed. */
int eddy_tcp_connection_fd(const struct eddy_tcp_connection *c);
/* The connection's transport instance (its ops name what kind it is). Owner thread. */
const struct eddy_transport *eddy_tcp_connection_transport(const struct eddy_tcp_connection *c);
uint64_t eddy_tcp_connection_id(const struct eddy_tcp_connection *c);
/* The peer's address as accepted or connected to (no syscall), valid while the
 * connection lives; its length is eddy_sockaddr_len() of it (do not copy a whole
 * union eddy_sockaddr out of it: the connection keeps an IP peer in 28 bytes). An
 * unnamed Unix peer is its family alone (length sizeof(sa_family_t)); a connection made
 * without an address gives family AF_UNSPEC (length 0). */
const struct sockaddr *eddy_tcp_connection_peer(const struct eddy_tcp_connection *c);

#ifdef __cplusplus
}
#endif

#endif
