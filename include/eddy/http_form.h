/*
 * http_form: decoders for query strings and application/x-www-form-urlencoded bodies.
 * Both are the same format (the WHATWG URL standard parses a query with the form rules):
 * pairs "key=value" separated by '&', '+' standing for a space, "%XX" for any byte.
 *
 *   struct eddy_http_form *q;
 *   if (eddy_http_request_query_form(req, &q) == 0) {
 *       const char *page = eddy_http_form_get(q, "page"); // NULL if absent
 *       size_t pos = 0; const char *tag;
 *       while ((tag = eddy_http_form_next(q, "tag", &pos)) != NULL) ...  // "tag=a&tag=b"
 *       eddy_http_form_free(q);
 *   }
 *
 * Choices for malformed input (the whole input is rejected rather than half-read):
 *  - a '%' not followed by two hex digits: -EINVAL;
 *  - an empty key ("=v", "a=1&=2"): -EINVAL;
 *  - a pair without '=' ("debug", "a=1&flag"): the key with an empty value;
 *  - empty pairs ("a=1&&b=2", a trailing '&'): skipped;
 *  - more than EDDY_HTTP_FORM_MAX_PAIRS pairs: -E2BIG.
 * Decoded keys and values may hold any byte ("%00" included): use the lengths, or the
 * NUL that ends each one when the data is known to be text. Keys compare bytewise.
 */
#ifndef EDDY_HTTP_FORM_H
#define EDDY_HTTP_FORM_H

#include <stddef.h>
#include <sys/types.h>

#include "eddy/http_parser.h"

#ifdef __cplusplus
extern "C" {
#endif

struct eddy_http_request;
struct eddy_http_form; /* decoded pairs in order, one allocation */

#define EDDY_HTTP_FORM_MAX_PAIRS 10000

/* Percent-decodes src[0..len) into dst (at least len bytes; dst == src decodes in place),
 * '+' becoming a space if plus_is_space. The decoded length, or -EINVAL for a bad escape. */
ssize_t eddy_http_url_decode(const char *src, size_t len, char *dst, int plus_is_space);

/* Decodes "k=v&k2=v2" (without the '?'). 0, -EINVAL, -E2BIG, -ENOMEM; *out is NULL on
 * error. Empty input gives an empty form. */
int eddy_http_form_parse(struct eddy_http_form **out, const char *s, size_t len);
void eddy_http_form_free(struct eddy_http_form *f);
size_t eddy_http_form_count(const struct eddy_http_form *f);
/* Pair i in input order: 0, or -ERANGE past the end. Both strings NUL-terminated. */
int eddy_http_form_at(const struct eddy_http_form *f, size_t i, struct eddy_http_str *key,
                      struct eddy_http_str *value);
/* The first value of key, or NULL. */
const char *eddy_http_form_get(const struct eddy_http_form *f, const char *key);
/* The next value of key from *pos (start at 0), or NULL after the last: every value of a
 * repeated key in order. value_len (may be NULL) gets the value's length. */
const char *eddy_http_form_next(const struct eddy_http_form *f, const char *key, size_t *pos,
                                size_t *value_len);

/* Nonzero if a Content-Type value is application/x-www-form-urlencoded (ASCII
 * case-insensitive, parameters such as "; charset=UTF-8" allowed). */
int eddy_http_form_is_urlencoded(const char *content_type, size_t len);

/* The request's query decoded (an empty form when there is none). As eddy_http_form_parse. */
int eddy_http_request_query_form(const struct eddy_http_request *r, struct eddy_http_form **out);
/* The request's body decoded, when its Content-Type is application/x-www-form-urlencoded;
 * -EMEDIUMTYPE (answer 415) for another or no Content-Type; else as eddy_http_form_parse. */
int eddy_http_request_body_form(const struct eddy_http_request *r, struct eddy_http_form **out);

#ifdef __cplusplus
}
#endif

#endif
