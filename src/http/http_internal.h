/*
 * Internals of the HTTP server library shared by http_server.c, http_conn.c,
 * http_response.c and http_request.c.
 *
 * Memory layout, chosen so an idle keep-alive connection costs only the tcp_connection
 * and the small struct http_conn in its context area:
 *  - per server: options, routes, the list of per-loop states;
 *  - per loop (struct http_loop): the large parsed-head struct, the request and the
 *    synchronous response objects, the path scratch and the Date cache, reused by every
 *    request handled on that loop;
 *  - per connection: struct http_conn (timer, deadline, phase, flags) and, only while
 *    something unusual is going on (a body arriving over several reads, a chunked body,
 *    a deferred response, requests queued behind a paused response), a heap struct
 *    http_slow that is freed as soon as the connection is back to the common case.
 */
#ifndef EDDY_HTTP_INTERNAL_H
#define EDDY_HTTP_INTERNAL_H

#include "eddy/buffer.h"
#include "eddy/event_loop.h"
#include "eddy/http.h"
#include "eddy/tcp_connection.h"
#include "eddy/tcp_server.h"
#include "eddy/timer.h"

#include <pthread.h>
#include <stdatomic.h>

#define HTTP_DEFAULT_MAX_BODY      (1024 * 1024)
#define HTTP_DEFAULT_MAX_PIPELINED 32
/* nginx's keepalive_requests: long-lived connections give back their per-connection
 * memory now and then, and a balancer's clients get spread again. */
#define HTTP_DEFAULT_KEEPALIVE_REQUESTS 1000
/* Output held in memory (file ranges count EDDY_TCP_FILE_RANGE_COST) past which a
 * connection stops reading requests. 256 KiB holds the answers to a full 64 KiB read of
 * small pipelined requests (~1,600 of ~40 bytes, ~150 bytes each answered), so a
 * pipelining client that reads is not paused in the middle of a read; a client that never
 * reads costs that much plus the kernel's buffers (4 MiB before: 20 such clients made
 * 97 MiB). Bodies sent from files cost no memory and do not count. */
#define HTTP_DEFAULT_HIGH_WATER ((size_t)256 * 1024)
/* How long a closing connection waits for the peer's FIN after our last byte was queued,
 * reading and discarding, so unread input does not turn our close into a reset that
 * could destroy the response in flight (nginx's lingering close). */
#define HTTP_LINGER_MS 5000
/* The linger after a timeout's 408: a client that let a timeout run out is not one whose
 * response we protect for long, and a slowloris client must lose its slot at once
 * (nginx closes at the header timeout). */
#define HTTP_LINGER_TIMEOUT_MS 1000

struct http_route {
    char *prefix; /* the pattern (see http_route.c) */
    size_t len;
    char *key;      /* the pattern without parameter names: equal keys are one route */
    unsigned segs;  /* path segments in the pattern */
    uint32_t kinds; /* bit i: segment i is a parameter */
    int params;     /* any parameter at all: else a lookup is one memcmp */
    enum eddy_http_method method;
    unsigned flags; /* EDDY_HTTP_ROUTE_* */
    eddy_http_handler_fn fn;
    void *data;
};

struct http_loop;

struct eddy_http_server {
    struct eddy_tcp_server *tcp;
    struct eddy_event_loop *base;
    struct eddy_http_server_options opt; /* defaults resolved */
    struct eddy_http_limits lim;
    char *server_line; /* "Server: NAME\r\n" or NULL */
    size_t server_line_len;
    struct http_route *routes; /* most specific first (http_route.c) */
    size_t nroutes;
    pthread_mutex_t mu; /* guards loops (connection setup only) */
    struct http_loop *loops;
    atomic_int stopping;
    int started;
    /* graceful stop (base loop) */
    struct eddy_timer stop_timer;
    uint64_t drain_deadline; /* 0: unbounded */
    int drain_forced;
    void (*stop_done)(struct eddy_http_server *s, void *arg);
    void *stop_arg;
};

struct eddy_http_request {
    const struct eddy_http_request_head *head;
    const char *path;
    size_t path_len;
    struct eddy_http_str query;
    struct eddy_http_str body;
    const struct http_route *route; /* the route that took it, for its parameters */
    struct eddy_tcp_connection *c;
    struct http_loop *ls;
    int keep_alive;
};

enum { RES_NEW = 0, RES_STREAMING, RES_DONE };

/* What a response tells the one that made it (http_conn, for the requests of a
 * connection), so http_response.c need not know about connections' state. */
struct http_response_owner {
    /* The response finished (or was aborted); a deferred one is freed right after. */
    void (*done)(struct eddy_http_response *res);
    /* d, a heap copy of the handler's res, now carries the response. 0 or -ENOMEM. */
    int (*adopt)(struct eddy_http_response *res, struct eddy_http_response *d);
    /* The deferred handle of res's connection, or NULL. */
    struct eddy_http_response *(*deferred)(struct eddy_http_response *res);
    /* The application aborts res: its connection closes now. */
    void (*abort)(struct eddy_http_response *res);
};

struct eddy_http_response {
    struct eddy_tcp_connection *c; /* NULL once the connection closed (aborted) */
    struct http_loop *ls;
    const struct http_response_owner *owner;
    struct eddy_buffer hdrs; /* "Name: value\r\n" lines added by the handler */
    int status;
    uint8_t state;
    uint8_t deferred;    /* this is a heap handle from eddy_http_response_defer */
    uint8_t head_only;   /* HEAD request: headers only */
    uint8_t minor;       /* request's HTTP/1.x */
    uint8_t close;       /* the connection closes after this response */
    uint8_t server_set;  /* the handler added its own Server field */
    uint8_t chunked;     /* streaming with Transfer-Encoding: chunked */
    uint8_t in_handler;  /* the handler is still running (finish must not resume) */
    uint8_t in_write;    /* flushing a write of its own: no drain callback */
    int64_t remaining;   /* streaming with Content-Length: bytes still due; else -1 */
    uint64_t body_bytes; /* for the access log: body bytes queued */
    uint64_t body_off;   /* access log on: eddy_tcp_connection_bytes_sent at which the body
                            starts, so a cut-off response logs the bytes actually sent */
    struct eddy_http_res_log {
        struct eddy_http_str method, target, user_agent, referer;
    } log;
    char *log_copy;                          /* deferred: owns the bytes the log views point to */
    union eddy_sockaddr peer;                /* deferred: the client, for the log after a close */
    eddy_http_response_cb drain_cb, gone_cb; /* deferred only */
    void *cb_arg;
};

/* Per-loop state; one per (server, loop), created on the first connection of a loop. */
struct http_loop {
    struct http_loop *next;
    struct eddy_http_server *srv;
    struct eddy_event_loop *loop;
    int depth; /* handlers running now: >0 means no synchronous resume */
    struct eddy_http_request req;
    struct eddy_http_response res;
    char *path; /* normalised path scratch: max_request_line + 2 */
    size_t path_cap;
    size_t high_water;     /* output held (eddy_tcp_connection_output_held) past which a
                              connection stops taking requests */
    uint64_t date_next_ms; /* loop time at which the Date line is stale */
    time_t date_sec;
    char date_line[6 + EDDY_HTTP_DATE_LEN + 2 + 1]; /* "Date: ...\r\n" */
    struct eddy_http_request_head head;             /* large: keep it last */
};

enum {
    PH_FRESH = 0, /* connected, no byte yet */
    PH_IDLE,      /* between requests (keep-alive) */
    PH_HEAD,      /* part of a request head received */
    PH_BODY,      /* head complete, body arriving (in slow->msg) */
    PH_WAIT,      /* a deferred response holds the connection */
    PH_CLOSING,   /* last response queued; discarding input until FIN or the linger ends */
    PH_CLOSED,    /* on_close ran */
};

enum {
    HC_PAUSED_HW = 1 << 0,     /* output past the high-water mark: not processing */
    HC_NOT_READING = 1 << 1,   /* we turned reading off */
    HC_BUSY = 1 << 2,          /* process() is running for this connection */
    HC_RESUME_QUEUED = 1 << 3, /* a resume task is queued (holds a reference) */
    HC_STOPPING = 1 << 4,      /* graceful stop: close after the current request */
    HC_CLOSE_AFTER = 1 << 5,   /* a deferred response finished inside its handler, closing */
    HC_CLIENT_CLOSE = 1 << 6,  /* the client asked for the close (it sends nothing more) */
    HC_QUICK_CLOSE = 1 << 7,   /* closing; process() picks linger or plain close at its end */
};

/* The slow path: see the top of this file. */
struct http_slow {
    struct eddy_buffer stash; /* received bytes not processed yet (we were paused) */
    struct eddy_buffer msg;   /* head + body so far of a request whose body is arriving */
    size_t head_len;          /* bytes of msg that are the head */
    struct eddy_http_chunked_decoder dec;
    uint8_t chunked;
    uint8_t discard;   /* no handler reads the body: drop it as it arrives, keep the head */
    uint64_t body_len; /* Content-Length of the body arriving */
    uint64_t body_got; /* body bytes received so far (kept or dropped) */
    struct eddy_http_response *deferred;
};

/* The tcp_connection context area. */
struct http_conn {
    struct eddy_timer timer;
    uint64_t deadline; /* loop ms; 0: none (the timer does nothing when it fires) */
    struct http_loop *ls;
    struct http_slow *slow;
    struct http_logrec *logq; /* access log lines waiting for their bytes to be sent */
    size_t last_queued;       /* output bytes queued at the last send-timeout check */
    uint32_t nreq;
    uint8_t phase;
    uint8_t flags;
    /* Bytes of an incomplete head already parsed (0: none, or too many to count), so a
     * head trickled in small reads is not re-parsed from its start on every read. */
    uint16_t head_seen;
};

static inline struct http_conn *http_conn_of(struct eddy_tcp_connection *c)
{
    return (struct http_conn *)eddy_tcp_connection_context(c);
}

static inline struct eddy_http_server *http_srv_of(const struct http_conn *hc)
{
    return hc->ls->srv;
}

/* Not processing requests: output past the high-water mark, or a deferred response. */
static inline int http_paused(const struct http_conn *hc)
{
    return (hc->flags & HC_PAUSED_HW) || hc->phase == PH_WAIT;
}

/* http_server.c */
struct http_loop *eddy__http_loop_get(struct eddy_http_server *s, struct eddy_event_loop *loop);
const char *eddy__http_date_line(struct http_loop *ls); /* 37 bytes, refreshed lazily */
void eddy__http_routes_free(struct eddy_http_server *s);
const struct http_route *eddy__http_route_find(const struct eddy_http_server *s,
                                               enum eddy_http_method m, const char *path,
                                               size_t len, unsigned *allow);
int eddy__http_allow_header(unsigned allow, char *out, size_t cap);

/* http_conn.c: the callbacks and the request loop */
extern const struct eddy_tcp_callbacks eddy__http_callbacks;
/* The owner of the responses http_conn makes (see struct http_response_owner). */
extern const struct http_response_owner eddy__http_conn_owner;
void eddy__http_conn_drain(struct eddy_tcp_connection *c, void *arg);
/* The connection's slow-path state, created on demand; NULL on -ENOMEM. */
struct http_slow *eddy__http_slow(struct http_conn *hc);
/* Reading on or off, as far as http_conn is concerned (HC_NOT_READING). */
void eddy__http_set_reading(struct eddy_tcp_connection *c, struct http_conn *hc, int on);

/* http_dispatch.c: running a request */
/* The request h (with its body, if any) goes to its route or gets the library's answer;
 * close_after: the connection closes after the response whatever the request says. */
void eddy__http_dispatch(struct eddy_tcp_connection *c, struct http_conn *hc,
                         const struct eddy_http_request_head *h, const char *body, size_t blen,
                         int close_after);
/* The route of the head in ls->head (NULL: none takes it); *plen and *allow as for
 * eddy__http_answer_unrouted. */
const struct http_route *eddy__http_find_route(struct http_loop *ls, ssize_t *plen,
                                               unsigned *allow);
/* Answers requests no handler takes: OPTIONS *, CONNECT, bad paths (plen < 0), 404, 405
 * (allow: the methods routes take for this path). */
void eddy__http_answer_unrouted(struct eddy_http_response *res,
                                const struct eddy_http_request_head *h, ssize_t plen,
                                unsigned allow);

/* http_body.c: request bodies */
/* The head (n bytes of src) is complete and a body follows that is not all here. */
void eddy__http_body_start(struct eddy_tcp_connection *c, struct http_conn *hc,
                           struct eddy_buffer *src, size_t n);
/* Takes body bytes from src. 1: body complete; 0: need more; -1: failed (rejected). */
int eddy__http_body_feed(struct eddy_tcp_connection *c, struct http_conn *hc,
                         struct eddy_buffer *src);
/* The body in slow->msg is complete: runs its request. */
void eddy__http_body_dispatch(struct eddy_tcp_connection *c, struct http_conn *hc);

/* http_close.c: deadlines and closes */
enum { HTTP_CLOSE_NOW, HTTP_CLOSE_FLUSHED, HTTP_CLOSE_LINGER, HTTP_CLOSE_LINGER_SHORT };
/* The deadline that the connection's state calls for, counted from now. */
void eddy__http_restart_deadline(struct eddy_tcp_connection *c, struct http_conn *hc);
void eddy__http_on_timer(struct eddy_timer *t);
/* Ends the connection (HTTP_CLOSE_*): the only place that does. */
void eddy__http_close(struct eddy_tcp_connection *c, struct http_conn *hc, int how);
/* The last response is queued: linger, then close. */
void eddy__http_begin_close(struct eddy_tcp_connection *c, struct http_conn *hc);
/* A library-made error response (framing error, limit, timeout), then close. */
void eddy__http_reject(struct eddy_tcp_connection *c, struct http_conn *hc, int status);
/* A response is complete: close (close, or a graceful stop), or wait for the next. */
void eddy__http_after_response(struct eddy_tcp_connection *c, struct http_conn *hc, int close);
void eddy__http_close_after_process(struct eddy_tcp_connection *c, struct http_conn *hc,
                                    struct eddy_buffer *src);
/* Writes what is queued; output left behind starts the send timeout. */
void eddy__http_flush(struct eddy_tcp_connection *c, struct http_conn *hc);
void eddy__http_note_progress(struct eddy_tcp_connection *c, struct http_conn *hc);

/* http_log.c: the access log, written once a response's bytes were sent (or cut off). */
/* res finished: logs it now if all its bytes are out, else when they are. */
void eddy__http_log_response(struct eddy_http_response *res);
/* Output was written: logs the responses now sent whole. */
void eddy__http_log_progress(struct eddy_tcp_connection *c, struct http_conn *hc);
/* c closes: logs what is left, with the body bytes that were sent. */
void eddy__http_log_close(struct eddy_tcp_connection *c, struct http_conn *hc);
/* Body bytes of a response sent by now. */
uint64_t eddy__http_body_sent(struct eddy_tcp_connection *c, const struct eddy_http_response *res);

/* http_response.c */
void eddy__http_response_reset(struct eddy_http_response *res, struct eddy_tcp_connection *c,
                               struct http_loop *ls, const struct http_response_owner *owner,
                               const struct eddy_http_request_head *h, int keep_alive);
/* Appends whole "Name: value\r\n" lines the library built itself (no checks: none of them
 * may be a reserved or a Server field). 0 or -errno. */
int eddy__http_response_add_fields(struct eddy_http_response *res, const char *p, size_t len);
void eddy__http_response_abandon(struct eddy_http_response *res); /* connection closed */
void eddy__http_response_drained(struct eddy_http_response *res);

#endif
