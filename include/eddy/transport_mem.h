/*
 * transport_mem: two transport ends joined in memory, for tests that drive a
 * tcp_connection (and the HTTP layer above it) without a socket. What one end
 * writes, the other reads; each direction holds at most the reader's window
 * (its receive buffer). Scripts make the ends misbehave at chosen points:
 * short reads and writes, -EAGAIN, errors, a reset after a byte count.
 *
 * Wake-ups: each end owns a doorbell, an eventfd of the loop's descriptor
 * kind (a kernel eventfd, or a uepoll one for the uepoll backends), which is
 * the end's `fd`. It rings when the end has something new: input, the peer's
 * end of input or reset, or window space after one of its writes found the
 * window full. Every op drains it first. A write that finds the window full
 * returns -EAGAIN with want = EDDY_EV_READ (an eventfd is always writable),
 * and `pending` reports the input held, so a short scripted read is followed
 * by more reads without a new event, edge- or level-triggered.
 *
 * Closing an end with input it never read resets the connection, as TCP does
 * (the peer's next call fails with -ECONNRESET and its unread input is gone);
 * otherwise the peer reads its input and then end of input, and its writes
 * fail with -EPIPE. File ranges take the generic path (pread + write).
 *
 * Threading: every call takes the pair's mutex, so a test thread may drive
 * one end while a loop thread owns the other.
 */
#ifndef EDDY_TRANSPORT_MEM_H
#define EDDY_TRANSPORT_MEM_H

#include <stddef.h>

#include "eddy/event_dispatcher.h"
#include "eddy/transport.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A script step: > 0 caps the bytes one call moves; EDDY_MEM_AGAIN makes one
 * call return -EAGAIN (the doorbell rings again, as if the bytes came a moment
 * later); any other negative value is a -errno the call returns once
 * (-ECONNRESET also resets the pair). */
#define EDDY_MEM_AGAIN     (-11L) /* -EAGAIN */
#define EDDY_MEM_MAX_STEPS 64

extern const struct eddy_transport_ops eddy_transport_mem;    /* kernel eventfd doorbells */
extern const struct eddy_transport_ops eddy_transport_mem_ue; /* uepoll eventfd doorbells */

/* Makes a and b the two ends of one pair, each with a window of `window` bytes
 * (0: 256 KiB), doorbells of `kind` (the loop's: eddy_event_loop_dispatcher
 * (loop)->kind). 0 or -errno. Each end is closed with its ops' close, or by the
 * tcp_connection it was handed to. */
int eddy_mem_transport_pair(struct eddy_transport *a, struct eddy_transport *b,
                            enum eddy_fd_kind kind, size_t window);

/* Scripts the next readv (or writev) calls of end t: steps apply to one call
 * each, in order; after the last one, calls move what they can, at most max
 * bytes each (set_max, 0: no cap). -EINVAL beyond EDDY_MEM_MAX_STEPS. */
int eddy_mem_script_reads(struct eddy_transport *t, const long *steps, int n);
int eddy_mem_script_writes(struct eddy_transport *t, const long *steps, int n);
void eddy_mem_set_max(struct eddy_transport *t, size_t read_max, size_t write_max);
/* The end's window: how much its peer may write before it reads. */
void eddy_mem_set_window(struct eddy_transport *t, size_t window);
/* Once end t has written `bytes` in all, its next write fails with -err and
 * the pair is reset (err ECONNRESET or EPIPE). */
void eddy_mem_fail_after(struct eddy_transport *t, size_t bytes, int err);
/* Resets the pair now: both ends' calls fail with -ECONNRESET. */
void eddy_mem_reset(struct eddy_transport *t);

/* What end t saw, for assertions. */
struct eddy_mem_stats {
    size_t written;  /* bytes this end's writes took */
    size_t read;     /* bytes this end's reads returned */
    size_t queued;   /* input waiting to be read */
    int shut;        /* this end called shutdown_write */
    int peer_shut;   /* the peer called shutdown_write or closed cleanly */
    int peer_closed; /* the peer closed */
    int reset;       /* the pair was reset */
    int closed;      /* this end was closed */
};
void eddy_mem_stats(const struct eddy_transport *t, struct eddy_mem_stats *out);

#ifdef __cplusplus
}
#endif

#endif
