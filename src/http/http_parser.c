/* HTTP/1.1 request-head parser: implementation in progress (header API is final). */
#include "eddy/http_parser.h"

#include <errno.h>
#include <string.h>

int eddy_http_parse_request(const char *buf, size_t len, struct eddy_http_request_head *req,
                            const struct eddy_http_limits *lim)
{
    (void)buf;
    (void)len;
    (void)lim;
    req->status = 501;
    return EDDY_HTTP_ERROR;
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
    static const char *const names[] = {NULL,     "GET",   "HEAD",    "POST", "PUT",
                                        "DELETE", "OPTIONS", "TRACE", "CONNECT", "PATCH"};
    if ((unsigned)m >= sizeof(names) / sizeof(names[0]))
        return NULL;
    return names[m];
}

void eddy_http_chunked_init(struct eddy_http_chunked_decoder *d, uint64_t max_body)
{
    memset(d, 0, sizeof(*d));
    d->max_body = max_body;
}

ssize_t eddy_http_decode_chunked(struct eddy_http_chunked_decoder *d, char *buf, size_t *len)
{
    (void)buf;
    *len = 0;
    d->status = 501;
    return EDDY_HTTP_ERROR;
}

int eddy_http_chunked_done(const struct eddy_http_chunked_decoder *d)
{
    (void)d;
    return 0;
}

ssize_t eddy_http_normalize_path(const char *target, size_t len, char *out, size_t out_cap,
                                 struct eddy_http_str *query)
{
    (void)target;
    (void)len;
    (void)out;
    (void)out_cap;
    if (query)
        query->p = NULL, query->len = 0;
    return -EINVAL;
}
