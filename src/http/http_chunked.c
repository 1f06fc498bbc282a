/*
 * In-place incremental decoder for the chunked transfer coding (RFC 9112 7.1).
 *
 * Every byte outside chunk data goes through a small state machine, so the result never
 * depends on how the input was split across calls. Choices: CRLF is required everywhere
 * (bare LF or bare CR is 400); leading zeros in a chunk size are allowed but the whole
 * size line (with extensions) is limited to EDDY_HTTP_CHUNK_MAX_LINE bytes (400); no
 * whitespace may follow the size unless an extension follows (BWS ";"), while BWS at the
 * end of an extension is tolerated; trailer fields follow the header-field rules and are
 * limited to EDDY_HTTP_CHUNK_MAX_TRAILER bytes / EDDY_HTTP_CHUNK_MAX_TRAILERS fields (431).
 */
#include "eddy/http_parser.h"

#include "http_ctype.h"

#include <string.h>

enum {
    S_SIZE_START = 0, /* first hex digit of a chunk size */
    S_SIZE,           /* more hex digits */
    S_SIZE_WS,        /* BWS after the size: ';' must follow */
    S_EXT_PRE_NAME,   /* after ';' */
    S_EXT_NAME,
    S_EXT_PRE_VAL, /* after '=' */
    S_EXT_TOKEN,
    S_EXT_QUOTED,
    S_EXT_QPAIR,
    S_EXT_NAME_WS, /* BWS after a name: '=', ';' or CR */
    S_EXT_VAL_WS,  /* BWS after a value: ';' or CR */
    S_SIZE_LF,
    S_DATA,
    S_DATA_CR,
    S_DATA_LF,
    S_TRAILER_START,
    S_TRAILER_NAME,
    S_TRAILER_VALUE,
    S_TRAILER_LF,
    S_END_LF,
    S_DONE,
};

#define ERR400 400

static int is_ws(unsigned char c)
{
    return c == ' ' || c == '\t';
}

static int is_tok(unsigned char c)
{
    return eddy__hc(c, EDDY__HC_TOKEN);
}

static unsigned hexval(unsigned char c)
{
    return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;
}

/* The size is known: apply the body limit, then read the line end. */
static int size_done(struct eddy_http_chunked_decoder *d)
{
    if (d->max_body && d->size > d->max_body - d->total)
        return 413;
    if (d->size > UINT64_MAX - d->total)
        return ERR400;
    return 0;
}

static int after_size(struct eddy_http_chunked_decoder *d, unsigned char c)
{
    if (c == '\r')
        d->state = S_SIZE_LF;
    else if (c == ';')
        d->state = S_EXT_PRE_NAME;
    else if (is_ws(c))
        d->state = S_SIZE_WS;
    else
        return ERR400;
    return size_done(d);
}

/* One byte of a chunk extension (";name=value" after the size), which is checked and
 * ignored. */
static int ext_byte(struct eddy_http_chunked_decoder *d, unsigned char c)
{
    switch (d->state) {
    case S_EXT_PRE_NAME:
        if (is_tok(c))
            d->state = S_EXT_NAME;
        else if (!is_ws(c))
            return ERR400;
        return 0;
    case S_EXT_NAME:
    case S_EXT_TOKEN:
        if (is_tok(c))
            return 0;
        if (c == '=' && d->state == S_EXT_NAME)
            d->state = S_EXT_PRE_VAL;
        else if (c == ';')
            d->state = S_EXT_PRE_NAME;
        else if (c == '\r')
            d->state = S_SIZE_LF;
        else if (is_ws(c))
            d->state = d->state == S_EXT_NAME ? S_EXT_NAME_WS : S_EXT_VAL_WS;
        else
            return ERR400;
        return 0;
    case S_EXT_PRE_VAL:
        if (is_tok(c))
            d->state = S_EXT_TOKEN;
        else if (c == '"')
            d->state = S_EXT_QUOTED;
        else if (!is_ws(c))
            return ERR400;
        return 0;
    case S_EXT_QUOTED:
        /* qdtext: HTAB, SP, VCHAR except '"' and '\\', obs-text */
        if (c == '"')
            d->state = S_EXT_VAL_WS;
        else if (c == '\\')
            d->state = S_EXT_QPAIR;
        else if (!eddy__hc(c, EDDY__HC_VALUE))
            return ERR400;
        return 0;
    case S_EXT_QPAIR:
        if (!eddy__hc(c, EDDY__HC_VALUE))
            return ERR400;
        d->state = S_EXT_QUOTED;
        return 0;
    case S_EXT_NAME_WS:
    case S_EXT_VAL_WS:
        if (c == ';')
            d->state = S_EXT_PRE_NAME;
        else if (c == '=' && d->state == S_EXT_NAME_WS)
            d->state = S_EXT_PRE_VAL;
        else if (c == '\r')
            d->state = S_SIZE_LF;
        else if (!is_ws(c))
            return ERR400;
        return 0;
    }
    return ERR400;
}

static int size_line_byte(struct eddy_http_chunked_decoder *d, unsigned char c)
{
    if (++d->line_bytes > EDDY_HTTP_CHUNK_MAX_LINE)
        return ERR400;
    switch (d->state) {
    case S_SIZE_START:
    case S_SIZE:
        if (eddy__hc(c, EDDY__HC_HEX)) {
            if (d->size > (UINT64_MAX >> 4))
                return ERR400;
            d->size = (d->size << 4) | hexval(c);
            d->state = S_SIZE;
            return 0;
        }
        return d->state == S_SIZE ? after_size(d, c) : ERR400;
    case S_SIZE_WS:
        if (c == ';')
            d->state = S_EXT_PRE_NAME;
        else if (!is_ws(c))
            return ERR400;
        return 0;
    default:
        return ext_byte(d, c);
    }
}

static int trailer_byte(struct eddy_http_chunked_decoder *d, unsigned char c)
{
    if (++d->line_bytes > EDDY_HTTP_CHUNK_MAX_TRAILER)
        return 431;
    switch (d->state) {
    case S_TRAILER_START:
        if (c == '\r') {
            d->state = S_END_LF;
            return 0;
        }
        if (!is_tok(c))
            return ERR400; /* includes obs-fold (SP/HTAB) and bare LF */
        if (++d->trailers > EDDY_HTTP_CHUNK_MAX_TRAILERS)
            return 431;
        d->state = S_TRAILER_NAME;
        return 0;
    case S_TRAILER_NAME:
        if (c == ':')
            d->state = S_TRAILER_VALUE;
        else if (!is_tok(c))
            return ERR400;
        return 0;
    case S_TRAILER_VALUE:
        if (c == '\r')
            d->state = S_TRAILER_LF;
        else if (!eddy__hc(c, EDDY__HC_VALUE))
            return ERR400;
        return 0;
    case S_TRAILER_LF:
        if (c != '\n')
            return ERR400;
        d->state = S_TRAILER_START;
        return 0;
    case S_END_LF:
        if (c != '\n')
            return ERR400;
        d->state = S_DONE;
        return 0;
    }
    return ERR400;
}

/* One byte outside chunk data. */
static int control_byte(struct eddy_http_chunked_decoder *d, unsigned char c)
{
    switch (d->state) {
    case S_SIZE_LF:
        if (c != '\n' || ++d->line_bytes > EDDY_HTTP_CHUNK_MAX_LINE)
            return ERR400;
        d->line_bytes = 0;
        d->remaining = d->size;
        d->state = d->size ? S_DATA : S_TRAILER_START;
        d->size = 0;
        return 0;
    case S_DATA_CR:
        if (c != '\r')
            return ERR400;
        d->state = S_DATA_LF;
        return 0;
    case S_DATA_LF:
        if (c != '\n')
            return ERR400;
        d->state = S_SIZE_START;
        return 0;
    case S_TRAILER_START:
    case S_TRAILER_NAME:
    case S_TRAILER_VALUE:
    case S_TRAILER_LF:
    case S_END_LF:
        return trailer_byte(d, c);
    default:
        return size_line_byte(d, c);
    }
}

void eddy_http_chunked_init(struct eddy_http_chunked_decoder *d, uint64_t max_body)
{
    memset(d, 0, sizeof(*d));
    d->max_body = max_body;
    d->state = S_SIZE_START;
}

int eddy_http_chunked_done(const struct eddy_http_chunked_decoder *d)
{
    return d->state == S_DONE;
}

ssize_t eddy_http_decode_chunked(struct eddy_http_chunked_decoder *d, char *buf, size_t *len)
{
    size_t n = *len, src = 0, dst = 0;
    while (src < n && d->state != S_DONE) {
        if (d->state == S_DATA) {
            size_t k = n - src;
            if (d->remaining < k)
                k = (size_t)d->remaining;
            if (dst != src)
                memmove(buf + dst, buf + src, k);
            dst += k;
            src += k;
            d->remaining -= k;
            d->total += k;
            if (d->remaining == 0)
                d->state = S_DATA_CR;
            continue;
        }
        if (d->state == S_TRAILER_VALUE) {
            /* Trailer values can be long: skip the plain bytes word-wise. */
            const char *stop = eddy__scan_value(buf + src, buf + n);
            size_t k = (size_t)(stop - (buf + src));
            if (k > EDDY_HTTP_CHUNK_MAX_TRAILER - d->line_bytes) {
                d->status = 431;
                *len = dst;
                return EDDY_HTTP_ERROR;
            }
            d->line_bytes += k;
            src += k;
            if (src == n)
                break;
        }
        int st = control_byte(d, (unsigned char)buf[src++]);
        if (st) {
            d->status = st;
            *len = dst;
            return EDDY_HTTP_ERROR;
        }
    }
    *len = dst;
    if (d->state != S_DONE)
        return EDDY_HTTP_INCOMPLETE;
    size_t rest = n - src;
    if (dst != src && rest)
        memmove(buf + dst, buf + src, rest);
    return (ssize_t)rest;
}
