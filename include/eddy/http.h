/*
 * http: an HTTP/1.1 server library on top of tcp_server.
 *
 *   struct eddy_http_server_options o;
 *   eddy_http_server_options_init(&o);
 *   o.tcp.threads = 4;
 *   eddy_http_server_new(&srv, loop, &o);
 *   eddy_http_server_route(srv, EDDY_HTTP_GET, "/hello", hello, NULL);
 *   eddy_http_server_listen(srv, "127.0.0.1:8080", NULL);
 *   eddy_http_server_start(srv);
 *   eddy_event_loop_run(loop);
 *
 *   static void hello(struct eddy_http_request *req, struct eddy_http_response *res, void *d)
 *   {
 *       eddy_http_response_reply(res, 200, "text/plain", "hi", 2);
 *   }
 *
 * Model. Every callback runs in the thread of the loop that owns the connection. The
 * library parses every complete request in the bytes received, calls the handler of
 * each in order and builds the responses directly in the connection's output buffer,
 * so all responses to one read leave in one write. Request heads are parsed in place
 * (zero-copy) into one per-loop scratch structure: a struct eddy_http_request and
 * everything it points to is valid only during the handler call.
 *
 * Responses are strictly in request order. A handler answers synchronously (the common
 * case) or calls eddy_http_response_defer and finishes later from the same loop thread;
 * requests pipelined behind a deferred response wait (bounded by max_pipelined, then the
 * connection stops reading).
 *
 * Headers added by the library: Date (cached per loop, refreshed once a second), Server
 * (options.server_name), Content-Length or Transfer-Encoding: chunked, and Connection
 * when needed (keep-alive for HTTP/1.0, close when the connection will close). A
 * handler must not add Date, Content-Length, Transfer-Encoding or Connection itself
 * (-EINVAL); eddy_http_response_set_close asks for Connection: close. A response to
 * HEAD carries the same headers as the GET response would, without a body; routes
 * registered for GET also receive HEAD.
 *
 * Threading: create, route, listen, start, stop and free in the base loop's thread;
 * request and response functions in the connection's loop thread only (to finish a
 * deferred response from another thread, hop with eddy_event_loop_run_in_loop to
 * eddy_http_response_loop(res)).
 */
#ifndef EDDY_HTTP_H
#define EDDY_HTTP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "eddy/http_form.h"
#include "eddy/http_parser.h"
#include "eddy/inet.h"
#include "eddy/tcp_server.h"

#ifdef __cplusplus
extern "C" {
#endif

struct eddy_event_loop;
struct eddy_http_server;
struct eddy_http_request;  /* valid during the handler call only */
struct eddy_http_response; /* valid until finished (see below) */

/* ---- access log hook ---------------------------------------------------------------- */

/* One completed (or aborted) response. Strings are views, valid during the call only. */
struct eddy_http_log_entry {
    struct eddy_http_str method;     /* empty if the request line was unreadable */
    struct eddy_http_str target;     /* raw request-target, may be empty */
    struct eddy_http_str user_agent; /* empty if absent */
    struct eddy_http_str referer;    /* empty if absent */
    int status;                      /* final status sent */
    int minor_version;               /* HTTP/1.x of the request (1 if unknown) */
    uint64_t body_bytes;             /* body bytes sent (0 for HEAD, 304, ...): fewer than
                                        the body's length if the connection closed first */
    const struct sockaddr *peer;     /* the client; length eddy_sockaddr_len() */
    time_t time;                     /* wall clock (seconds) when the response completed */
    struct eddy_event_loop *loop;    /* the calling thread's loop, to buffer per thread */
    const char *tls_version;         /* "TLSv1.3" over TLS, else NULL (eddy/tls.h) */
    const char *tls_cipher;          /* the cipher over TLS, else NULL */
};

/* Called once per response, in the connection's loop thread, when its last byte was
 * written or the connection closed under it (so a client may see the response a moment
 * before it is logged); must not block. */
typedef void (*eddy_http_log_fn)(const struct eddy_http_log_entry *e, void *data);

/* ---- server ------------------------------------------------------------------------- */

struct eddy_http_server_options {
    /* threads, backend, reuseport, backlog, max_connections, tcp_nodelay, high_water_mark
     * (output held in memory beyond which the connection stops reading requests until it
     * drains; a queued file range counts EDDY_TCP_FILE_RANGE_COST, not its size; default
     * 256 KiB). context_size is the library's and ignored. */
    struct eddy_tcp_server_options tcp;

    /* Limits; 0 means the default. */
    size_t max_request_line;     /* 414 beyond; default 8 KiB */
    size_t max_header_bytes;     /* 431 beyond; default 16 KiB */
    unsigned max_headers;        /* 431 beyond; default and maximum 100 */
    uint64_t max_body;           /* request body (held in memory, or dropped for routes that
                                    take none); 413 beyond; default 1 MiB */
    unsigned max_pipelined;      /* complete requests queued behind an unfinished response
                                    before the connection stops reading; default 32 */
    unsigned keepalive_requests; /* requests answered on one connection: the last one's
                                    response carries Connection: close; default 1000
                                    (nginx's keepalive_requests) */

    /* Timeouts in ms; 0 disables one. */
    unsigned header_timeout_ms;    /* first byte to end of head, then 408 + close; 10000 */
    unsigned body_timeout_ms;      /* between two reads of a body, then 408 + close; 30000 */
    unsigned keepalive_timeout_ms; /* idle between requests, then close; 75000 */
    unsigned send_timeout_ms;      /* output queued with no progress, then close; also how
                                      long a deferred response may go without a write once
                                      the client half-closed (it can no longer signal that it
                                      left); 60000 */

    const char *server_name; /* Server header value; default "eddy"; NULL or "": none */

    eddy_http_log_fn access_log; /* NULL: none */
    void *access_log_data;
    /* A connection closed by the client's reset (err -ECONNRESET) or by the send timeout
     * (-ETIMEDOUT), which nginx logs at info; in the connection's thread. NULL: none. */
    void (*conn_error)(const struct sockaddr *peer, int err, void *data);
    void *conn_error_data;
};

/* Defaults as documented above; tcp gets eddy_tcp_server_options_init's. */
void eddy_http_server_options_init(struct eddy_http_server_options *o);

/* base: the loop that accepts (the caller runs it). o may be NULL (defaults); it is
 * copied (server_name too). 0 or -errno. */
int eddy_http_server_new(struct eddy_http_server **out, struct eddy_event_loop *base,
                         const struct eddy_http_server_options *o);

/* Any method, for eddy_http_server_route. */
#define EDDY_HTTP_ANY EDDY_HTTP_METHOD_UNKNOWN

/*
 * The handler. Before returning it either finishes the response (reply, send,
 * send_file, send_error, or start/write/end), or calls eddy_http_response_defer. A
 * handler that returns with the response neither finished nor deferred: a started
 * stream is ended, an unstarted response becomes a 500.
 */
typedef void (*eddy_http_handler_fn)(struct eddy_http_request *req, struct eddy_http_response *res,
                                     void *data);

/*
 * Routes. A pattern is a decoded, normalised path starting with '/'; a segment ":name"
 * (letters, digits, '_', '-') is a path parameter that matches one non-empty segment and
 * is read with eddy_http_request_param. A route is either
 *  - exact (EDDY_HTTP_ROUTE_EXACT): the pattern must match the whole path:
 *    "/users/:id" takes "/users/42", not "/users" nor "/users/42/posts";
 *  - prefix (EDDY_HTTP_ROUTE_PREFIX, also the default when neither is given): the pattern
 *    matches leading whole segments: "/api" takes "/api" and "/api/x" but not "/apix";
 *    "/api/" takes "/api/x" but not "/api"; "/" takes everything.
 * The most specific route that matches the path and the method wins: more segments;
 * exact before prefix; a literal segment before a parameter in the same place
 * ("/users/me" before "/users/:id"); then a named method before GET before EDDY_HTTP_ANY.
 * If routes match the path but none the method: 405 with Allow; if none matches: 404.
 * EDDY_HTTP_GET also takes HEAD. Before start only.
 * 0; -EINVAL (pattern not starting with '/', an empty or malformed parameter name such as
 * "/:" or "/:id.json", a name used twice, unknown flags, EXACT with PREFIX); -EEXIST (the
 * same method on an equivalent route: same mode and the same pattern up to parameter
 * names); -ENOMEM.
 */
int eddy_http_server_route(struct eddy_http_server *s, enum eddy_http_method method,
                           const char *prefix, eddy_http_handler_fn handler, void *data);

/* Flags for eddy_http_server_route_flags. */
enum {
    /* The handler never reads a request body (a file server, a redirect): a body sent
     * anyway is read and dropped as it arrives instead of being gathered in memory
     * (framing, max_body and body_timeout still apply, so keep-alive carries on), and
     * the handler runs once it is over, with eddy_http_request_body empty. Requests no
     * route takes (404, 405) are treated the same way. */
    EDDY_HTTP_ROUTE_NO_BODY = 1 << 0,
    EDDY_HTTP_ROUTE_EXACT = 1 << 1,  /* the pattern matches the whole path only */
    EDDY_HTTP_ROUTE_PREFIX = 1 << 2, /* the pattern matches leading segments (default) */
};

/* eddy_http_server_route with flags (EDDY_HTTP_ROUTE_*; 0: a prefix route that gets the
 * body, as with eddy_http_server_route). */
int eddy_http_server_route_flags(struct eddy_http_server *s, enum eddy_http_method method,
                                 const char *pattern, unsigned flags, eddy_http_handler_fn handler,
                                 void *data);

/* "ADDR:PORT" or "[V6]:PORT"; may be called for several addresses before start. bound
 * (may be NULL) receives the real address (port 0 picks one). 0 or -errno. */
int eddy_http_server_listen(struct eddy_http_server *s, const char *addr,
                            union eddy_sockaddr *bound);

/* eddy_http_server_listen serving HTTPS: every connection of this address runs TLS with
 * ctx (eddy/tls.h: certificates, SNI, ALPN http/1.1) before its first request; the same
 * routes and handlers serve it. ctx must outlive the server. -ENOTSUP in a build without
 * TLS. */
struct eddy_tls_context;
int eddy_http_server_listen_tls(struct eddy_http_server *s, const char *addr,
                                struct eddy_tls_context *ctx, union eddy_sockaddr *bound);

/* Starts the sub-reactors and accepting. Base loop thread. 0 or -errno. */
int eddy_http_server_start(struct eddy_http_server *s);

/*
 * Graceful stop, base loop thread: stops accepting, closes idle keep-alive connections,
 * lets every request already received finish (its response carries Connection: close),
 * then closes. After drain_ms (0: wait without bound) whatever remains is closed. done
 * (may be NULL) runs in the base loop's thread once no connection remains; or poll
 * eddy_http_server_connection_count. 0 or -errno. Calling it twice is harmless.
 */
int eddy_http_server_stop(struct eddy_http_server *s, unsigned drain_ms,
                          void (*done)(struct eddy_http_server *s, void *arg), void *arg);

/* Open connections; any thread. */
size_t eddy_http_server_connection_count(const struct eddy_http_server *s);
/* The underlying tcp_server (loops, connection count, ...). */
struct eddy_tcp_server *eddy_http_server_tcp(const struct eddy_http_server *s);

/* Base loop thread, once the base loop no longer runs: closes every connection, joins
 * the sub-reactors, frees everything. Deferred responses still open get their gone
 * callback (finish them there); no handle may be used after this returns. */
void eddy_http_server_free(struct eddy_http_server *s);

/* ---- request (valid during the handler call only) ------------------------------------ */

enum eddy_http_method eddy_http_request_method(const struct eddy_http_request *r);
struct eddy_http_str eddy_http_request_method_str(const struct eddy_http_request *r);
/* Raw request-target as sent. */
struct eddy_http_str eddy_http_request_target(const struct eddy_http_request *r);
/* %-decoded, normalised path ("/a/b"), NUL-terminated; see eddy_http_normalize_path. */
const char *eddy_http_request_path(const struct eddy_http_request *r);
size_t eddy_http_request_path_len(const struct eddy_http_request *r);
/* Raw query after '?' (not decoded); {NULL, 0} when there is none. Decode it with
 * eddy_http_form_parse (eddy/http_form.h). */
struct eddy_http_str eddy_http_request_query(const struct eddy_http_request *r);
/* The path parameter ":name" of the route that took the request, as matched in the
 * decoded path (so "/users/a%20b" gives "a b"); {NULL, 0} if the route has none by that
 * name. Valid during the handler call only, like the path. */
struct eddy_http_str eddy_http_request_param(const struct eddy_http_request *r, const char *name);
/* The pattern of the route that took the request, as registered. */
const char *eddy_http_request_route(const struct eddy_http_request *r);
/* Host field value or the authority of an absolute-form target (may be empty). */
struct eddy_http_str eddy_http_request_host(const struct eddy_http_request *r);
/* 0 for HTTP/1.0, 1 for HTTP/1.1. */
int eddy_http_request_minor_version(const struct eddy_http_request *r);
/* Whether the connection stays open after this response (as things stand now). */
int eddy_http_request_keep_alive(const struct eddy_http_request *r);

/* First field named name (case-insensitive), or NULL. */
const struct eddy_http_str *eddy_http_request_header(const struct eddy_http_request *r,
                                                     const char *name);
/* Iterates over every field named name (repeated fields kept, in order):
 *   size_t pos = 0; const struct eddy_http_header *h;
 *   while ((h = eddy_http_request_header_next(req, "Accept", &pos)) != NULL) ...  */
const struct eddy_http_header *eddy_http_request_header_next(const struct eddy_http_request *r,
                                                             const char *name, size_t *pos);
/* All fields in order: i < eddy_http_request_header_count. */
size_t eddy_http_request_header_count(const struct eddy_http_request *r);
const struct eddy_http_header *eddy_http_request_header_at(const struct eddy_http_request *r,
                                                           size_t i);
/* The full parsed head (content_length, chunked, expect_continue, ...). */
const struct eddy_http_request_head *eddy_http_request_head(const struct eddy_http_request *r);

/* The body, de-chunked, complete (bounded by max_body); {"", 0} when there is none or
 * the route was registered with EDDY_HTTP_ROUTE_NO_BODY. */
struct eddy_http_str eddy_http_request_body(const struct eddy_http_request *r);

/* The client's address: eddy_tcp_connection_peer() of the request's connection (its
 * length is eddy_sockaddr_len(); valid while the connection lives, so copy it with
 * memcpy(&u, sa, eddy_sockaddr_len(sa)) to keep it longer). */
const struct sockaddr *eddy_http_request_peer(const struct eddy_http_request *r);
struct eddy_tcp_connection *eddy_http_request_connection(const struct eddy_http_request *r);
struct eddy_event_loop *eddy_http_request_loop(const struct eddy_http_request *r);
struct eddy_http_server *eddy_http_request_server(const struct eddy_http_request *r);

/* ---- response --------------------------------------------------------------------- */

/* Default 200. Before the response is started or sent. */
void eddy_http_response_set_status(struct eddy_http_response *res, int status);
/* Adds a field (repeats allowed). Names must be tokens and values free of control
 * characters but HTAB (-EINVAL); the library's own fields (see top) are -EINVAL. 0, -EINVAL,
 * -EALREADY (head already sent), -ENOMEM. */
int eddy_http_response_add_header(struct eddy_http_response *res, const char *name,
                                  const char *value);
int eddy_http_response_add_header_n(struct eddy_http_response *res, const char *name,
                                    size_t name_len, const char *value, size_t value_len);
/* Like add, but first removes every field of that name added before. */
int eddy_http_response_set_header(struct eddy_http_response *res, const char *name,
                                  const char *value);
/* The connection closes after this response (Connection: close). */
void eddy_http_response_set_close(struct eddy_http_response *res);

/* Finishing calls: each sends the whole response; the handle is finished afterwards
 * (a deferred handle is freed). 0, or -EPIPE when the client is gone (the response is
 * then finished all the same), -EALREADY, -ENOMEM. */

/* Status, Content-Type (NULL: none) and a body copied from memory. */
int eddy_http_response_reply(struct eddy_http_response *res, int status, const char *content_type,
                             const void *body, size_t len);
/* The status and headers set so far and a body copied from memory. */
int eddy_http_response_send(struct eddy_http_response *res, const void *body, size_t len);
/* A body of len bytes of fd from offset, sent with sendfile. If close_fd, fd is closed
 * once sent, on error, or when the response is for HEAD. */
int eddy_http_response_send_file(struct eddy_http_response *res, int fd, off_t offset, size_t len,
                                 int close_fd);
/* The same for a shared descriptor the caller holds a reference on (a file cache's, see
 * eddy_http_file_fd_ref): nothing closes or dups fd; release(arg) runs exactly once, when
 * the range was sent, dropped, or at once when nothing is queued (error, HEAD, 304). */
int eddy_http_response_send_file_ref(struct eddy_http_response *res, int fd, off_t offset,
                                     size_t len, void (*release)(void *arg), void *arg);
/* status with a small HTML body naming it ("404 Not Found"); headers set so far are kept. */
int eddy_http_response_send_error(struct eddy_http_response *res, int status);

/* Streaming. start sends the head: with content_length >= 0 a Content-Length body of
 * exactly that size; with -1, Transfer-Encoding: chunked for HTTP/1.1, or a body
 * delimited by closing the connection for HTTP/1.0. write sends body bytes (one chunk);
 * empty writes are ignored. end finishes. 0, -EPIPE (client gone), -EALREADY, -ENOMEM,
 * -EINVAL (more bytes than the declared length). */
int eddy_http_response_start(struct eddy_http_response *res, int64_t content_length);
int eddy_http_response_write(struct eddy_http_response *res, const void *data, size_t len);
/* Streams len bytes of fd from offset with sendfile, after what was written before (a
 * multipart body mixes it with writes). close_fd as for send_file (also on failure).
 * Not with a chunked body (-EINVAL): start with the length. Same results as write. */
int eddy_http_response_write_file(struct eddy_http_response *res, int fd, off_t offset, size_t len,
                                  int close_fd);
int eddy_http_response_end(struct eddy_http_response *res);

/*
 * Keeps the response open after the handler returns and gives the handle to finish it
 * with later, from the connection's loop thread; res itself is invalid afterwards (as is
 * the request). The handle stays valid until finished, even if the client goes away
 * (then finishing returns -EPIPE and frees it). NULL on -ENOMEM (the library then
 * answers 500 itself). At most one response per connection is deferred at a time;
 * requests behind it wait.
 */
struct eddy_http_response *eddy_http_response_defer(struct eddy_http_response *res);
/* 1 once the connection of a (deferred) response has closed. */
int eddy_http_response_aborted(const struct eddy_http_response *res);
/* Output bytes queued on the connection (for a streaming producer to pace itself). */
size_t eddy_http_response_queued(const struct eddy_http_response *res);
/* The loop to finish a deferred response from. */
struct eddy_event_loop *eddy_http_response_loop(const struct eddy_http_response *res);
/* Abandons a deferred response: closes the connection at once and frees the handle. */
void eddy_http_response_abort(struct eddy_http_response *res);

typedef void (*eddy_http_response_cb)(struct eddy_http_response *res, void *arg);
/*
 * Callbacks of a deferred response (either may be NULL), in its loop thread:
 *  - drain: output that a write could not send at once has now been written out. A
 *    streaming producer writes while eddy_http_response_queued is below its mark, and
 *    when it is not, waits for drain (never called from inside a write of its own).
 *  - gone: the connection closed before the response was finished (client gone, timeout,
 *    server free), unless a write of its own returned -EPIPE for it. The handle stays
 *    valid: finish or abort it (from the callback too). A client's FIN alone is not gone:
 *    it may have half-closed and still wait for the answer (see send_timeout_ms).
 */
void eddy_http_response_set_callbacks(struct eddy_http_response *res, eddy_http_response_cb drain,
                                      eddy_http_response_cb gone, void *arg);

/* ---- helpers ------------------------------------------------------------------------ */

/* Reason phrase of a status code ("Not Found"), "Unknown" for others. */
const char *eddy_http_status_reason(int status);

/* IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT"), NUL-terminated, into out[30]. */
#define EDDY_HTTP_DATE_LEN 29
void eddy_http_date_format(time_t t, char out[EDDY_HTTP_DATE_LEN + 1]);
/* Parses an HTTP-date (IMF-fixdate, RFC 850 or asctime form, RFC 9110 5.6.7).
 * 0 or -EINVAL. */
int eddy_http_date_parse(const char *s, size_t len, time_t *out);

#ifdef __cplusplus
}
#endif

#endif
