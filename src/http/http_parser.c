/*
 * HTTP/1.1 request-head parser (RFC 9112 sections 2-3, 5-6; RFC 9110 for field semantics).
 *
 * One forward pass over the buffer, no state kept between calls: a caller that got
 * EDDY_HTTP_INCOMPLETE calls again with the longer buffer. Limits are applied as windows:
 * the request line is looked for only in the first max_request_line bytes and the field
 * section only in the next max_header_bytes bytes, so the verdict never depends on where
 * the input was split (a prefix gives INCOMPLETE or the same verdict as the whole).
 * Syntax errors are found in byte order; framing facts are derived per field as soon as
 * its line is complete; the missing-Host check happens at the end of the head.
 */
#include "eddy/http_parser.h"

#include "http_ctype.h"

#include <limits.h>
#include <string.h>
#include <strings.h>

/* Generated from the RFC 9110 ABNF; bits are EDDY__HC_*. */
const unsigned char eddy__http_ctype[256] = {
    0,  0,  0,  0,  0,  0,  0,  0,  0,  2,  0, 0, 0, 0, 0, 0, /* 0x00 */
    0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0, 0, 0, 0, 0, 0, /* 0x10 */
    2,  7,  2,  3,  7,  7,  7,  7,  6,  6,  7, 7, 6, 7, 7, 2, /* 0x20 */
    15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 6, 6, 2, 6, 2, 2, /* 0x30 */
    2,  15, 15, 15, 15, 15, 15, 7,  7,  7,  7, 7, 7, 7, 7, 7, /* 0x40 */
    7,  7,  7,  7,  7,  7,  7,  7,  7,  7,  7, 6, 2, 6, 3, 7, /* 0x50 */
    3,  15, 15, 15, 15, 15, 15, 7,  7,  7,  7, 7, 7, 7, 7, 7, /* 0x60 */
    7,  7,  7,  7,  7,  7,  7,  7,  7,  7,  7, 2, 3, 2, 7, 0, /* 0x70 */
    2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2, 2, 2, 2, 2, 2, /* 0x80 */
    2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2, 2, 2, 2, 2, 2, /* 0x90 */
    2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2, 2, 2, 2, 2, 2, /* 0xa0 */
    2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2, 2, 2, 2, 2, 2, /* 0xb0 */
    2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2, 2, 2, 2, 2, 2, /* 0xc0 */
    2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2, 2, 2, 2, 2, 2, /* 0xd0 */
    2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2, 2, 2, 2, 2, 2, /* 0xe0 */
    2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2, 2, 2, 2, 2, 2, /* 0xf0 */
};

/* Internal results of the steps; a positive value is an HTTP status. */
#define NEED (-2)
#define OK   0

/* Framing facts collected while the fields are read. */
struct framing {
    int have_cl;
    int have_te;
    int conn_close;
    int conn_keep_alive;
};

/* Case-insensitive compare with a lower-case literal of >= 4 letters, digits and '-'.
 * Exact for tokens and for field values: c | 0x20 equals such a literal byte only for
 * the letter in either case, or for a CTL (0x0d, 0x10-0x19), which neither can hold. */
static int token_is(const char *p, size_t n, const char *lit, size_t litlen)
{
    if (n != litlen)
        return 0;
    /* Word compares (every literal has >= 4 bytes); the last word may overlap. */
    if (n < 8) {
        uint32_t a, b, c, d;
        memcpy(&a, p, 4), memcpy(&b, lit, 4), memcpy(&c, p + n - 4, 4), memcpy(&d, lit + n - 4, 4);
        return ((a | 0x20202020u) == b) & ((c | 0x20202020u) == d);
    }
    for (size_t i = 0; i + 8 < n; i += 8)
        if ((eddy__load64(p + i) | EDDY__ONES * 0x20) != eddy__load64(lit + i))
            return 0;
    return (eddy__load64(p + n - 8) | EDDY__ONES * 0x20) == eddy__load64(lit + n - 8);
}

#define METHOD_MAX 7 /* "OPTIONS", "CONNECT": the longest method method_id knows */

static enum eddy_http_method method_id(const char *m, size_t n)
{
    switch (n) {
    case 3:
        if (memcmp(m, "GET", 3) == 0)
            return EDDY_HTTP_GET;
        if (memcmp(m, "PUT", 3) == 0)
            return EDDY_HTTP_PUT;
        break;
    case 4:
        if (memcmp(m, "HEAD", 4) == 0)
            return EDDY_HTTP_HEAD;
        if (memcmp(m, "POST", 4) == 0)
            return EDDY_HTTP_POST;
        break;
    case 5:
        if (memcmp(m, "TRACE", 5) == 0)
            return EDDY_HTTP_TRACE;
        if (memcmp(m, "PATCH", 5) == 0)
            return EDDY_HTTP_PATCH;
        break;
    case 6:
        if (memcmp(m, "DELETE", 6) == 0)
            return EDDY_HTTP_DELETE;
        break;
    case 7:
        if (memcmp(m, "OPTIONS", 7) == 0)
            return EDDY_HTTP_OPTIONS;
        if (memcmp(m, "CONNECT", 7) == 0)
            return EDDY_HTTP_CONNECT;
        break;
    }
    return EDDY_HTTP_METHOD_UNKNOWN;
}

static int host_char(unsigned char c)
{
    return eddy__hc(c, EDDY__HC_HOST) && c != '[' && c != ']';
}

/* uri-host [":" port] (RFC 3986 3.2.2-3.2.3): an IP-literal in brackets or a reg-name /
 * IPv4 address, then optional digits. '@' (userinfo) is refused; an empty host is
 * allowed here (on_host refuses an empty Host where the target needs it). */
static int valid_authority(const char *p, size_t n)
{
    size_t i = 0;
    if (n && p[0] == '[') {
        for (i = 1; i < n && p[i] != ']'; i++)
            if (!host_char((unsigned char)p[i]))
                return 0;
        if (i == n)
            return 0;
        i++;
    } else {
        for (; i < n && p[i] != ':'; i++)
            if (!host_char((unsigned char)p[i])) /* not '@' either (not a host char) */
                return 0;
    }
    if (i == n)
        return 1;
    if (p[i] != ':')
        return 0;
    for (i++; i < n; i++)
        if (p[i] < '0' || p[i] > '9')
            return 0;
    return 1;
}

/* Length of "http://" or "https://" (any case) at the start of t, else 0. */
static size_t http_scheme_len(const char *t, size_t n)
{
    if (n >= 7 && token_is(t, 4, "http", 4) && memcmp(t + 4, "://", 3) == 0)
        return 7;
    if (n >= 8 && token_is(t, 5, "https", 5) && memcmp(t + 5, "://", 3) == 0)
        return 8;
    return 0;
}

/* Classifies the request-target (RFC 9112 3.2) and derives path and host. */
static int classify_target(struct eddy_http_request_head *req)
{
    const char *t = req->target.p;
    size_t n = req->target.len;
    if (req->method_id == EDDY_HTTP_CONNECT) {
        if (!valid_authority(t, n) || t[0] == ':')
            return 400;
        req->form = EDDY_HTTP_FORM_AUTHORITY;
        req->host = (struct eddy_http_str){t, n};
        req->path = (struct eddy_http_str){t + n, 0};
        return OK;
    }
    if (t[0] == '/') {
        req->path = (struct eddy_http_str){t, n};
        return OK;
    }
    if (n == 1 && t[0] == '*') {
        if (req->method_id != EDDY_HTTP_OPTIONS)
            return 400;
        req->form = EDDY_HTTP_FORM_ASTERISK;
        req->path = (struct eddy_http_str){t, n};
        return OK;
    }
    size_t s = http_scheme_len(t, n);
    if (s == 0)
        return 400;
    size_t a = s;
    while (a < n && t[a] != '/' && t[a] != '?')
        a++;
    /* userinfo ('@') is deprecated and a known spoofing vector: valid_authority refuses it. */
    if (a == s || t[s] == ':' || !valid_authority(t + s, a - s))
        return 400;
    req->form = EDDY_HTTP_FORM_ABSOLUTE;
    req->host = (struct eddy_http_str){t + s, a - s};
    req->path = a < n ? (struct eddy_http_str){t + a, n - a} : (struct eddy_http_str){"/", 1};
    return OK;
}

/* Checks the bytes present against "HTTP/" DIGIT "." DIGIT CRLF so that garbage is refused
 * before the line is complete. */
static int version_prefix_ok(const char *p, size_t n)
{
    static const char pat[] = "HTTP/0.0\r\n";
    for (size_t i = 0; i < n; i++) {
        if (pat[i] == '0' ? (p[i] < '0' || p[i] > '9') : p[i] != pat[i])
            return 0;
    }
    return 1;
}

static int parse_version(const char *p, const char *end, struct eddy_http_request_head *req)
{
    size_t n = (size_t)(end - p);
    /* Fast path for the versions clients send (ab and other HTTP/1.0 clients too). */
    uint64_t w = n >= 10 ? eddy__load64(p) : 0;
    if ((w == eddy__load64("HTTP/1.1") || w == eddy__load64("HTTP/1.0")) && p[8] == '\r' &&
        p[9] == '\n') {
        req->minor_version = p[7] == '1';
        return OK;
    }
    if (n < 10)
        return version_prefix_ok(p, n) ? NEED : 400;
    if (!version_prefix_ok(p, 10))
        return 400;
    if (p[5] != '1')
        return 505;
    req->minor_version = p[7] == '0' ? 0 : 1;
    return OK;
}

static int parse_request_line(const char **pp, const char *end, struct eddy_http_request_head *req)
{
    const char *p = *pp;
    /* RFC 9112 2.2: empty lines before the request line are ignored. */
    while (p < end && *p == '\r') {
        if (end - p < 2)
            return NEED;
        if (p[1] != '\n')
            return 400;
        p += 2;
    }
    const char *m = p;
    uint32_t get;
    memcpy(&get, "GET ", 4);
    if (end - p >= 4 && memcmp(p, &get, 4) == 0) { /* the common case, without a scan */
        p += 3;
    } else {
        p = eddy__scan_token(p, end);
        /* Longer than any method eddy knows: unknown (501) as soon as that is certain, not
         * a 414 once the window ends, which would blame the target. */
        if (p - m > METHOD_MAX)
            return 501;
        if (p == end)
            return NEED;
        if (*p != ' ' || p == m)
            return 400;
    }
    req->method = (struct eddy_http_str){m, (size_t)(p - m)};
    const char *t = ++p;
    p = eddy__scan_target(p, end);
    if (p == end)
        return NEED;
    if (*p != ' ' || p == t)
        return 400;
    req->target = (struct eddy_http_str){t, (size_t)(p - t)};
    p++;
    int r = parse_version(p, end, req);
    if (r != OK)
        return r;
    *pp = p + 10;
    req->method_id = method_id(req->method.p, req->method.len);
    if (req->method_id == EDDY_HTTP_METHOD_UNKNOWN)
        return 501;
    return classify_target(req);
}

/* Next element of a comma-separated list value, trimmed of OWS; *pos advances. Returns 0
 * when the list is exhausted. Empty elements are returned as empty (RFC 9110 5.6.1 says
 * to ignore them; callers do). */
static int next_element(const struct eddy_http_str *v, size_t *pos, struct eddy_http_str *el)
{
    size_t i = *pos, n = v->len;
    if (i > n)
        return 0;
    const char *s = v->p;
    while (i < n && (s[i] == ' ' || s[i] == '\t'))
        i++;
    size_t b = i;
    while (i < n && s[i] != ',')
        i++;
    size_t e = i;
    while (e > b && (s[e - 1] == ' ' || s[e - 1] == '\t'))
        e--;
    *el = (struct eddy_http_str){s + b, e - b};
    *pos = i + 1;
    return 1;
}

/* RFC 9110 8.6: 1*DIGIT; a list of identical values is accepted as that value. */
static int on_content_length(const struct eddy_http_str *v, struct eddy_http_request_head *req,
                             struct framing *f)
{
    if (f->have_te)
        return 400;
    size_t pos = 0;
    struct eddy_http_str el;
    while (next_element(v, &pos, &el)) {
        if (el.len == 0)
            return 400;
        int64_t x = 0;
        for (size_t i = 0; i < el.len; i++) {
            unsigned d = (unsigned char)el.p[i] - '0';
            if (d > 9 || x > (INT64_MAX - (int64_t)d) / 10)
                return 400;
            x = x * 10 + (int64_t)d;
        }
        if (f->have_cl && x != req->content_length)
            return 400;
        f->have_cl = 1;
        req->content_length = x;
    }
    return OK;
}

/* RFC 9112 6.1: only chunked is implemented (others 501); it must come last and once. */
static int on_transfer_encoding(const struct eddy_http_str *v, struct eddy_http_request_head *req,
                                struct framing *f)
{
    if (f->have_cl || req->minor_version == 0)
        return 400;
    f->have_te = 1;
    size_t pos = 0;
    int codings = 0;
    struct eddy_http_str el;
    while (next_element(v, &pos, &el)) {
        if (el.len == 0)
            continue;
        codings++;
        if (req->chunked)
            return 400;
        if (!token_is(el.p, el.len, "chunked", 7))
            return 501;
        req->chunked = 1;
    }
    return codings ? OK : 400;
}

static void on_connection(const struct eddy_http_str *v, struct eddy_http_request_head *req,
                          struct framing *f)
{
    size_t pos = 0;
    struct eddy_http_str el;
    while (next_element(v, &pos, &el)) {
        if (token_is(el.p, el.len, "close", 5))
            f->conn_close = 1;
        else if (token_is(el.p, el.len, "keep-alive", 10))
            f->conn_keep_alive = 1;
        else if (token_is(el.p, el.len, "upgrade", 7))
            req->upgrade = 1;
    }
}

static int on_host(const struct eddy_http_str *v, struct eddy_http_request_head *req)
{
    if (++req->host_count > 1 || !valid_authority(v->p, v->len))
        return 400;
    /* The target URI of an origin- or asterisk-form request takes its authority from Host,
     * and an http(s) URI with an empty host is invalid (RFC 9110 4.2.1, RFC 9112 3.2). */
    if (v->len == 0 && (req->form == EDDY_HTTP_FORM_ORIGIN || req->form == EDDY_HTTP_FORM_ASTERISK))
        return 400;
    /* RFC 9112 3.2.2: an absolute-form target's authority overrides Host. */
    if (req->form == EDDY_HTTP_FORM_ORIGIN || req->form == EDDY_HTTP_FORM_ASTERISK)
        req->host = *v;
    return OK;
}

static int on_expect(const struct eddy_http_str *v, struct eddy_http_request_head *req)
{
    if (req->minor_version == 0)
        return OK; /* RFC 9110 10.1.1: ignore 100-continue from HTTP/1.0 */
    if (!token_is(v->p, v->len, "100-continue", 12))
        return 417;
    req->expect_continue = 1;
    return OK;
}

/* Derives framing facts from the fields that carry them. */
static int on_field(const struct eddy_http_header *h, struct eddy_http_request_head *req,
                    struct framing *f)
{
    const char *n = h->name.p;
    switch (h->name.len) {
    case 4:
        return token_is(n, 4, "host", 4) ? on_host(&h->value, req) : OK;
    case 6:
        return token_is(n, 6, "expect", 6) ? on_expect(&h->value, req) : OK;
    case 10:
        if (token_is(n, 10, "connection", 10))
            on_connection(&h->value, req, f);
        return OK;
    case 14:
        return token_is(n, 14, "content-length", 14) ? on_content_length(&h->value, req, f) : OK;
    case 17:
        return token_is(n, 17, "transfer-encoding", 17) ? on_transfer_encoding(&h->value, req, f)
                                                        : OK;
    }
    return OK;
}

/* One field line at p (not the empty line). */
static int parse_field(const char **pp, const char *end, struct eddy_http_header *h)
{
    const char *p = *pp, *name = p;
    /* A leading SP/HTAB is obs-fold (or whitespace after the request line): 400. */
    p = eddy__scan_token(p, end);
    if (p == end)
        return NEED;
    if (*p != ':' || p == name)
        return 400;
    h->name = (struct eddy_http_str){name, (size_t)(p - name)};
    p++;
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    const char *v = p;
    p = eddy__scan_value(p, end);
    if (p == end)
        return NEED;
    if (*p != '\r')
        return 400; /* bare LF, NUL, other CTL */
    if (end - p < 2)
        return NEED;
    if (p[1] != '\n')
        return 400; /* bare CR */
    const char *ve = p;
    while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
        ve--;
    h->value = (struct eddy_http_str){v, (size_t)(ve - v)};
    *pp = p + 2;
    return OK;
}

static int parse_fields(const char **pp, const char *end, struct eddy_http_request_head *req,
                        unsigned max_headers, struct framing *f)
{
    const char *p = *pp;
    for (;;) {
        if (p == end)
            return NEED;
        if (*p == '\r') {
            if (end - p < 2)
                return NEED;
            if (p[1] != '\n')
                return 400;
            *pp = p + 2;
            return OK;
        }
        if (req->num_headers >= max_headers)
            return 431;
        /* Built in a local and copied: reading back the just-stored views would stall
         * store forwarding. */
        struct eddy_http_header h;
        int r = parse_field(&p, end, &h);
        if (r != OK)
            return r;
        req->headers[req->num_headers++] = h;
        r = on_field(&h, req, f);
        if (r != OK)
            return r;
    }
}

static int finish(struct eddy_http_request_head *req, const struct framing *f)
{
    if (req->minor_version == 1 && req->host_count == 0)
        return 400;
    if (req->minor_version == 1)
        req->keep_alive = !f->conn_close;
    else
        req->keep_alive = f->conn_keep_alive && !f->conn_close;
    return OK;
}

static void reset(struct eddy_http_request_head *req)
{
    req->status = 0;
    req->method_id = EDDY_HTTP_METHOD_UNKNOWN;
    req->form = EDDY_HTTP_FORM_ORIGIN;
    req->minor_version = 0;
    /* Separate stores: a chained assignment made gcc store, reload and copy, and the wide
     * reload of two narrow stores stalls store forwarding on every request. */
    const struct eddy_http_str empty = {NULL, 0};
    req->method = empty;
    req->target = empty;
    req->path = empty;
    req->host = empty;
    req->content_length = -1;
    req->chunked = req->keep_alive = req->expect_continue = req->upgrade = 0;
    req->host_count = 0;
    req->num_headers = 0;
}

static int fail(struct eddy_http_request_head *req, int status)
{
    req->status = status;
    return EDDY_HTTP_ERROR;
}

struct limits {
    size_t max_line, max_hdr;
    unsigned max_n;
};

/* Defaults for zero fields; capped so that a head length always fits an int. */
static struct limits resolve_limits(const struct eddy_http_limits *lim)
{
    struct limits l = {EDDY_HTTP_DEFAULT_MAX_REQUEST_LINE, EDDY_HTTP_DEFAULT_MAX_HEADER_BYTES,
                       EDDY_HTTP_DEFAULT_MAX_HEADERS};
    if (!lim)
        return l;
    if (lim->max_request_line)
        l.max_line = lim->max_request_line < INT_MAX / 4 ? lim->max_request_line : INT_MAX / 4;
    if (lim->max_header_bytes)
        l.max_hdr = lim->max_header_bytes < INT_MAX / 4 ? lim->max_header_bytes : INT_MAX / 4;
    if (lim->max_headers)
        l.max_n =
            lim->max_headers < EDDY_HTTP_MAX_HEADERS ? lim->max_headers : EDDY_HTTP_MAX_HEADERS;
    return l;
}

int eddy_http_parse_needed(const char *buf, size_t len, size_t prev_len,
                           const struct eddy_http_limits *lim)
{
    struct limits l = resolve_limits(lim);
    if (prev_len == 0 || prev_len > len || len > l.max_line + l.max_hdr)
        return 1;
    /* The previous verdict was INCOMPLETE, so the head's final CRLF CRLF, if any, ends
     * in the new bytes. */
    size_t from = prev_len < 3 ? 0 : prev_len - 3;
    return memmem(buf + from, len - from, "\r\n\r\n", 4) != NULL;
}

int eddy_http_parse_request(const char *buf, size_t len, struct eddy_http_request_head *req,
                            const struct eddy_http_limits *lim)
{
    struct limits l = resolve_limits(lim);
    size_t max_line = l.max_line, max_hdr = l.max_hdr;
    unsigned max_n = l.max_n;
    reset(req);
    const char *p = buf, *end = buf + len;
    const char *wend = len > max_line ? buf + max_line : end;
    int r = parse_request_line(&p, wend, req);
    if (r == NEED)
        return wend < end ? fail(req, 414) : EDDY_HTTP_INCOMPLETE;
    if (r != OK)
        return fail(req, r);
    wend = (size_t)(end - p) > max_hdr ? p + max_hdr : end;
    struct framing f = {0, 0, 0, 0};
    r = parse_fields(&p, wend, req, max_n, &f);
    if (r == NEED)
        return wend < end ? fail(req, 431) : EDDY_HTTP_INCOMPLETE;
    if (r == OK)
        r = finish(req, &f);
    if (r != OK)
        return fail(req, r);
    return (int)(p - buf);
}

const struct eddy_http_header *eddy_http_header_find(const struct eddy_http_request_head *req,
                                                     const char *name, size_t *pos)
{
    size_t n = strlen(name);
    for (size_t i = *pos; i < req->num_headers; i++) {
        const struct eddy_http_header *h = &req->headers[i];
        if (h->name.len == n && strncasecmp(h->name.p, name, n) == 0) {
            *pos = i + 1;
            return h;
        }
    }
    *pos = req->num_headers;
    return NULL;
}

const char *eddy_http_method_name(enum eddy_http_method m)
{
    static const char *const names[] = {NULL,     "GET",     "HEAD",  "POST",    "PUT",
                                        "DELETE", "OPTIONS", "TRACE", "CONNECT", "PATCH"};
    if ((unsigned)m >= sizeof(names) / sizeof(names[0]))
        return NULL;
    return names[m];
}
