/*
 * HTTP/1.1 request-head parser, chunked-body decoder and request-path normaliser.
 *
 * Pure functions: no I/O, no allocation, no global state. The parser is zero-copy: every
 * string in struct eddy_http_request_head is a view (pointer + length) into the caller's
 * buffer, valid as long as that buffer is. Strict RFC 9110/9112 framing rules; each
 * violation yields EDDY_HTTP_ERROR with the status code to answer in req->status.
 *
 * Choices where the RFC leaves room (see also docs in src/http/http_parser.c):
 *  - Line ends must be CRLF everywhere (head, chunk lines, trailers): a bare LF is 400.
 *  - Any number of empty lines (CRLF) before the request line is skipped; they count
 *    against max_request_line.
 *  - Request line: exactly one SP between method, target and version.
 *  - HTTP/1.2 .. HTTP/1.9 are processed as HTTP/1.1 (minor_version = 1, RFC 9110 6.2);
 *    a well-formed major other than 1 (HTTP/0.9, HTTP/2.0, HTTP/3.0) is 505.
 *  - Content-Length: a list of identical values ("5, 5") and repeated identical fields
 *    are accepted as one value; leading zeros are accepted; > INT64_MAX is 400.
 *  - Transfer-Encoding in an HTTP/1.0 request is 400 (framing cannot be trusted).
 *  - Expect in an HTTP/1.0 request is ignored (RFC 9110 10.1.1); in 1.1 anything but
 *    100-continue is 417.
 *  - Unknown methods are 501 only after the request line is otherwise well-formed.
 */
#ifndef EDDY_HTTP_PARSER_H
#define EDDY_HTTP_PARSER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#define EDDY_HTTP_ERROR      (-1)
#define EDDY_HTTP_INCOMPLETE (-2)

/* Capacity of the headers array; lim->max_headers is clamped to it. */
#define EDDY_HTTP_MAX_HEADERS 100

#define EDDY_HTTP_DEFAULT_MAX_REQUEST_LINE 8192  /* bytes incl. leading CRLFs and CRLF */
#define EDDY_HTTP_DEFAULT_MAX_HEADER_BYTES 16384 /* field lines + final CRLF */
#define EDDY_HTTP_DEFAULT_MAX_HEADERS      100
#define EDDY_HTTP_CHUNK_MAX_LINE           4096  /* chunk-size line incl. extensions */
#define EDDY_HTTP_CHUNK_MAX_TRAILER        16384 /* trailer section incl. final CRLF */
#define EDDY_HTTP_CHUNK_MAX_TRAILERS       100

/* A view into the parsed buffer; not NUL-terminated. */
struct eddy_http_str {
    const char *p;
    size_t len;
};

struct eddy_http_header {
    struct eddy_http_str name;  /* as sent (token characters) */
    struct eddy_http_str value; /* leading and trailing SP/HTAB removed */
};

enum eddy_http_method {
    EDDY_HTTP_METHOD_UNKNOWN = 0, /* never returned on success: unknown methods are 501 */
    EDDY_HTTP_GET,
    EDDY_HTTP_HEAD,
    EDDY_HTTP_POST,
    EDDY_HTTP_PUT,
    EDDY_HTTP_DELETE,
    EDDY_HTTP_OPTIONS,
    EDDY_HTTP_TRACE,
    EDDY_HTTP_CONNECT,
    EDDY_HTTP_PATCH,
};

enum eddy_http_target_form {
    EDDY_HTTP_FORM_ORIGIN = 0, /* "/path?query" */
    EDDY_HTTP_FORM_ABSOLUTE,   /* "http://host/path?query" (scheme http or https only) */
    EDDY_HTTP_FORM_AUTHORITY,  /* "host:port", only with CONNECT */
    EDDY_HTTP_FORM_ASTERISK,   /* "*", only with OPTIONS */
};

/* Zero in a field means "the default". */
struct eddy_http_limits {
    size_t max_request_line;
    size_t max_header_bytes;
    unsigned max_headers;
};

struct eddy_http_request_head {
    int status; /* set on EDDY_HTTP_ERROR: 400, 414, 417, 431, 501 or 505 */
    enum eddy_http_method method_id;
    enum eddy_http_target_form form;
    int minor_version; /* 0 or 1 (1.2..1.9 are reported as 1) */
    struct eddy_http_str method;
    struct eddy_http_str target; /* raw request-target */
    /* The path (with query) to serve: the target itself in origin form, the part after the
     * authority in absolute form ("/" when that is empty), "*" or empty otherwise. */
    struct eddy_http_str path;
    /* Authority from an absolute-form/authority-form target, else the Host field value
     * (possibly empty). */
    struct eddy_http_str host;
    int64_t content_length;   /* -1 when absent */
    unsigned char chunked;    /* Transfer-Encoding: chunked (the only one accepted) */
    unsigned char keep_alive; /* after Connection and version defaults */
    unsigned char expect_continue;
    unsigned char upgrade; /* Connection: upgrade was listed */
    unsigned host_count;   /* number of Host fields: 0 or 1 on success */
    size_t num_headers;
    struct eddy_http_header headers[EDDY_HTTP_MAX_HEADERS];
};

/*
 * Parses the request head at buf[0..len). Returns the number of bytes of the head
 * (leading empty lines, request line, field lines, final CRLF) when it is complete,
 * EDDY_HTTP_INCOMPLETE when more bytes are needed, or EDDY_HTTP_ERROR with req->status
 * set. Limits are enforced on incomplete input too (414 / 431), so a caller never needs
 * to buffer more than max_request_line + max_header_bytes bytes. The verdict on a prefix
 * of an input is always INCOMPLETE or the verdict on the whole input. lim may be NULL.
 */
int eddy_http_parse_request(const char *buf, size_t len, struct eddy_http_request_head *req,
                            const struct eddy_http_limits *lim);

/*
 * For a caller that got EDDY_HTTP_INCOMPLETE on buf[0..prev_len) and now holds
 * buf[0..len) (same start, more bytes): returns 0 when parsing again cannot succeed yet
 * and no size limit forces a verdict, so the call may be skipped; 1 otherwise (always
 * for prev_len == 0). It only looks at the new bytes, so a client trickling a head byte
 * by byte costs O(n) in total instead of O(n^2). Syntax errors may then be reported
 * only once the head is complete or the limits are reached.
 */
int eddy_http_parse_needed(const char *buf, size_t len, size_t prev_len,
                           const struct eddy_http_limits *lim);

/*
 * Case-insensitive lookup of a field by name, iterating over repeated fields:
 *   size_t pos = 0; const struct eddy_http_header *h;
 *   while ((h = eddy_http_header_find(req, "Accept", &pos)) != NULL) ...
 * *pos is the index to start searching at; it is set past the returned field.
 */
const struct eddy_http_header *eddy_http_header_find(const struct eddy_http_request_head *req,
                                                     const char *name, size_t *pos);

/* Method name for an enum value ("GET", ...), or NULL for an unknown value. */
const char *eddy_http_method_name(enum eddy_http_method m);

/*
 * Incremental in-place decoder of a chunked body (RFC 9112 7.1). Extensions are checked
 * and ignored; trailer fields are checked with the header-field rules and dropped.
 */
struct eddy_http_chunked_decoder {
    uint64_t max_body;  /* 0: no limit; else a bigger body is 413 */
    uint64_t total;     /* body bytes produced so far */
    uint64_t remaining; /* bytes left in the current chunk's data */
    uint64_t size;      /* chunk size being read */
    size_t line_bytes;  /* bytes of the current size line / trailer section so far */
    unsigned trailers;  /* trailer fields seen */
    int state;
    int status; /* set on EDDY_HTTP_ERROR: 400, 413 or 431 */
};

void eddy_http_chunked_init(struct eddy_http_chunked_decoder *d, uint64_t max_body);

/*
 * Decodes buf[0..*len) in place: the body bytes are moved to the front and *len is set
 * to their count. Returns EDDY_HTTP_INCOMPLETE when every byte was consumed and the body
 * is not finished yet (call again with the next bytes), EDDY_HTTP_ERROR with d->status
 * set, or, once the body including trailers and final CRLF is complete, the number of
 * bytes after the body that belong to the next message; they are moved to buf + *len.
 */
ssize_t eddy_http_decode_chunked(struct eddy_http_chunked_decoder *d, char *buf, size_t *len);

/* Nonzero once the decoder has seen the end of the body. */
int eddy_http_chunked_done(const struct eddy_http_chunked_decoder *d);

/*
 * Normalises an origin-form target (or the path of an absolute-form one): splits off the
 * query at the first '?', %XX-decodes the path, collapses "//", resolves "." and "..",
 * and writes the result, NUL-terminated, to out. It always starts with '/'; a trailing
 * '/' is kept. An empty path (absolute form "http://h") becomes "/".
 *  - Returns the output length, -EINVAL for a target to answer with 400, or -ENOBUFS when
 *    out_cap is too small (never when out_cap >= len + 2).
 *  - 400 cases: path not starting with '/', a bad or truncated %-escape, %00 or any other
 *    decoded control byte (0x01-0x1F, 0x7F), a raw or decoded backslash, a raw byte
 *    <= 0x20 or 0x7F, and a ".." that would climb above the root.
 *  - %2F decodes to '/' and then counts as a separator, so "..%2F" cannot escape either;
 *    decoding happens exactly once ("%252F" yields "%2F").
 * query (may be NULL) receives the raw query after '?' (no '?'), or {NULL, 0} if none.
 */
ssize_t eddy_http_normalize_path(const char *target, size_t len, char *out, size_t out_cap,
                                 struct eddy_http_str *query);

#ifdef __cplusplus
}
#endif

#endif
