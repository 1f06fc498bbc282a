/*
 * Request-head parser: a table of inputs with their expected verdict and fields. Every
 * input is also parsed at every split point (each prefix in its own exact-size heap
 * block, so ASan sees any over-read) and must give INCOMPLETE or the same verdict.
 */
#include "eddy/http_parser.h"
#include "../../lib/test.h"

#include <stdlib.h>

#include "guard_page.h"

#define DONE (-100) /* expected: complete, consumes the whole input */

struct pcase {
    const char *name;
    const char *in;
    int ret;    /* DONE, EDDY_HTTP_INCOMPLETE or EDDY_HTTP_ERROR */
    int status; /* for EDDY_HTTP_ERROR */
    enum eddy_http_method method;
    int minor;
    long long cl;
    int chunked, keep_alive, expect;
    size_t nh;
    const char *host; /* NULL: not checked */
    const char *path;
    const struct eddy_http_limits *lim;
};

static const struct eddy_http_limits small = {40, 64, 3};

#define H11 "Host: x\r\n"
#define OK(n, in, m, minor, cl, ch, ka, nh, host, path)                                            \
    {                                                                                              \
        n, in, DONE, 0, m, minor, cl, ch, ka, 0, nh, host, path, NULL                              \
    }
#define OKX(n, in, cl, ch, ka, ex, nh)                                                             \
    {                                                                                              \
        n, in, DONE, 0, EDDY_HTTP_GET, 1, cl, ch, ka, ex, nh, NULL, NULL, NULL                     \
    }
#define ERR(n, in, st)                                                                             \
    {                                                                                              \
        n, in, EDDY_HTTP_ERROR, st, 0, 0, 0, 0, 0, 0, 0, NULL, NULL, NULL                          \
    }
#define ERRL(n, in, st)                                                                            \
    {                                                                                              \
        n, in, EDDY_HTTP_ERROR, st, 0, 0, 0, 0, 0, 0, 0, NULL, NULL, &small                        \
    }
#define INCL(n, in)                                                                                \
    {                                                                                              \
        n, in, EDDY_HTTP_INCOMPLETE, 0, 0, 0, 0, 0, 0, 0, 0, NULL, NULL, &small                    \
    }

static const struct pcase cases[] = {
    /* well-formed heads */
    OK("minimal", "GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n", EDDY_HTTP_GET, 1, -1, 0, 1, 1, "x",
       "/hello.txt"),
    OK("http10 no host", "GET / HTTP/1.0\r\n\r\n", EDDY_HTTP_GET, 0, -1, 0, 0, 0, "", "/"),
    OK("http10 keep-alive", "HEAD / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", EDDY_HTTP_HEAD, 0,
       -1, 0, 1, 1, NULL, "/"),
    OK("http11 close", "GET / HTTP/1.1\r\nConnection: foo, close\r\n" H11 "\r\n", EDDY_HTTP_GET, 1,
       -1, 0, 0, 2, NULL, NULL),
    OK("close beats keep-alive", "GET / HTTP/1.0\r\nConnection: keep-alive,close\r\n\r\n",
       EDDY_HTTP_GET, 0, -1, 0, 0, 1, NULL, NULL),
    OK("http12 as 11", "GET / HTTP/1.2\r\n" H11 "\r\n", EDDY_HTTP_GET, 1, -1, 0, 1, 1, "x", "/"),
    OK("leading empty lines", "\r\n\r\nGET / HTTP/1.1\r\n" H11 "\r\n", EDDY_HTTP_GET, 1, -1, 0, 1,
       1, "x", "/"),
    OK("post cl", "POST /f HTTP/1.1\r\n" H11 "Content-Length: 42\r\n\r\n", EDDY_HTTP_POST, 1, 42, 0,
       1, 2, "x", "/f"),
    OK("cl leading zeros", "PUT /f HTTP/1.1\r\n" H11 "content-length: 007\r\n\r\n", EDDY_HTTP_PUT,
       1, 7, 0, 1, 2, NULL, NULL),
    OK("cl list same", "POST / HTTP/1.1\r\n" H11 "Content-Length: 5, 5\r\n\r\n", EDDY_HTTP_POST, 1,
       5, 0, 1, 2, NULL, NULL),
    OK("cl repeated same",
       "POST / HTTP/1.1\r\n" H11 "Content-Length: 5\r\nContent-Length: 5\r\n\r\n", EDDY_HTTP_POST,
       1, 5, 0, 1, 3, NULL, NULL),
    OK("cl max", "POST / HTTP/1.1\r\n" H11 "Content-Length: 9223372036854775807\r\n\r\n",
       EDDY_HTTP_POST, 1, 9223372036854775807LL, 0, 1, 2, NULL, NULL),
    OK("te chunked", "POST / HTTP/1.1\r\n" H11 "Transfer-Encoding: Chunked\r\n\r\n", EDDY_HTTP_POST,
       1, -1, 1, 1, 2, NULL, NULL),
    OK("te empty elements", "POST / HTTP/1.1\r\n" H11 "Transfer-Encoding: , chunked ,\r\n\r\n",
       EDDY_HTTP_POST, 1, -1, 1, 1, 2, NULL, NULL),
    OK("all methods 1", "DELETE /x HTTP/1.1\r\n" H11 "\r\n", EDDY_HTTP_DELETE, 1, -1, 0, 1, 1, NULL,
       NULL),
    OK("options *", "OPTIONS * HTTP/1.1\r\n" H11 "\r\n", EDDY_HTTP_OPTIONS, 1, -1, 0, 1, 1, "x",
       "*"),
    OK("trace", "TRACE / HTTP/1.1\r\n" H11 "\r\n", EDDY_HTTP_TRACE, 1, -1, 0, 1, 1, NULL, NULL),
    OK("patch", "PATCH / HTTP/1.1\r\n" H11 "\r\n", EDDY_HTTP_PATCH, 1, -1, 0, 1, 1, NULL, NULL),
    OK("connect", "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
       EDDY_HTTP_CONNECT, 1, -1, 0, 1, 1, "example.com:443", ""),
    OK("absolute form", "GET http://Example.org:8080/a/b?q=1 HTTP/1.1\r\nHost: other\r\n\r\n",
       EDDY_HTTP_GET, 1, -1, 0, 1, 1, "Example.org:8080", "/a/b?q=1"),
    OK("absolute https no path", "GET HTTPS://h HTTP/1.1\r\nHost: h\r\n\r\n", EDDY_HTTP_GET, 1, -1,
       0, 1, 1, "h", "/"),
    OK("value ows trimmed", "GET / HTTP/1.1\r\nHost:  \t x.org \t \r\n\r\n", EDDY_HTTP_GET, 1, -1,
       0, 1, 1, "x.org", "/"),
    ERR("empty host", "GET / HTTP/1.1\r\nHost:\r\n\r\n", 400),
    ERR("empty host ows", "GET / HTTP/1.1\r\nHost:  \r\n\r\n", 400),
    ERR("empty host http10", "GET / HTTP/1.0\r\nHost:\r\n\r\n", 400),
    ERR("empty host asterisk", "OPTIONS * HTTP/1.1\r\nHost:\r\n\r\n", 400),
    OK("empty host absolute form", "GET http://a.b/x HTTP/1.1\r\nHost:\r\n\r\n", EDDY_HTTP_GET, 1,
       -1, 0, 1, 1, "a.b", "/x"),
    OK("obs-text value", "GET / HTTP/1.1\r\n" H11 "X-A: caf\xc3\xa9 \x80\xff\r\n\r\n",
       EDDY_HTTP_GET, 1, -1, 0, 1, 2, NULL, NULL),
    OK("token name chars", "GET / HTTP/1.1\r\n" H11 "!#$%&'*+-.^_`|~09aZ: v\r\n\r\n", EDDY_HTTP_GET,
       1, -1, 0, 1, 2, NULL, NULL),
    ERR("raw utf8 target", "GET /caf\xc3\xa9 HTTP/1.1\r\n" H11 "\r\n", 400),
    ERR("overlong utf8 target", "GET /\xc0\xaf HTTP/1.1\r\n" H11 "\r\n", 400),
    ERR("high byte late in target", "GET /0123456789abcdef/x\xff HTTP/1.1\r\n" H11 "\r\n", 400),
    ERR("high byte in absolute form", "GET http://h\xe9.org/ HTTP/1.1\r\n" H11 "\r\n", 400),
    OK("percent-encoded utf8 target", "GET /caf%C3%A9 HTTP/1.1\r\n" H11 "\r\n", EDDY_HTTP_GET, 1,
       -1, 0, 1, 1, NULL, "/caf%C3%A9"),
    OKX("expect 100", "GET / HTTP/1.1\r\n" H11 "Expect: 100-Continue\r\n\r\n", -1, 0, 1, 1, 2),
    OK("expect ignored 1.0", "GET / HTTP/1.0\r\nExpect: foo\r\n\r\n", EDDY_HTTP_GET, 0, -1, 0, 0, 1,
       NULL, NULL),
    OKX("tab in value", "GET / HTTP/1.1\r\n" H11 "X: a\tb\r\n\r\n", -1, 0, 1, 0, 2),
    OK("expect 100 ignored 1.0", "PUT / HTTP/1.0\r\nExpect: 100-continue\r\n\r\n", EDDY_HTTP_PUT, 0,
       -1, 0, 0, 1, NULL, NULL),
    OK("absolute overrides host", "GET http://a.b/ HTTP/1.1\r\nHost: c.d\r\n\r\n", EDDY_HTTP_GET, 1,
       -1, 0, 1, 1, "a.b", "/"),
    OK("absolute query only", "GET http://a.b?x=1 HTTP/1.1\r\nHost: a.b\r\n\r\n", EDDY_HTTP_GET, 1,
       -1, 0, 1, 1, "a.b", "?x=1"),
    OK("ipv6 host", "GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n", EDDY_HTTP_GET, 1, -1, 0, 1, 1,
       "[::1]:8080", "/"),
    OK("cl zero", "POST / HTTP/1.1\r\n" H11 "Content-Length: 0\r\n\r\n", EDDY_HTTP_POST, 1, 0, 0, 1,
       2, NULL, NULL),
    OK("host port", "GET / HTTP/1.1\r\nHost: a.b:8080\r\n\r\n", EDDY_HTTP_GET, 1, -1, 0, 1, 1,
       "a.b:8080", "/"),
    OK("host empty port", "GET / HTTP/1.1\r\nHost: a.b:\r\n\r\n", EDDY_HTTP_GET, 1, -1, 0, 1, 1,
       "a.b:", "/"),
    ERR("host bad port", "GET / HTTP/1.1\r\nHost: a:b\r\n\r\n", 400),
    ERR("host two colons", "GET / HTTP/1.1\r\nHost: a:1:2\r\n\r\n", 400),
    ERR("host unclosed bracket", "GET / HTTP/1.1\r\nHost: [::1\r\n\r\n", 400),
    ERR("host stray bracket", "GET / HTTP/1.1\r\nHost: a]b\r\n\r\n", 400),
    ERR("host junk after literal", "GET / HTTP/1.1\r\nHost: [::1]x\r\n\r\n", 400),
    ERR("host userinfo", "GET / HTTP/1.1\r\nHost: u@h\r\n\r\n", 400),
    ERR("absolute port only", "GET http://:80/ HTTP/1.1\r\n" H11 "\r\n", 400),
    ERR("absolute bad port", "GET http://h:x/ HTTP/1.1\r\n" H11 "\r\n", 400),
    ERR("absolute no host field", "GET http://a.b/ HTTP/1.1\r\n\r\n", 400),
    ERR("connect bad authority", "CONNECT a/b:1 HTTP/1.1\r\n" H11 "\r\n", 400),
    ERR("host two in one", "GET / HTTP/1.1\r\nHost: a, b\r\n\r\n", 400),
    /* method */
    ERR("lowercase method ok token but unknown", "get / HTTP/1.1\r\n" H11 "\r\n", 501),
    ERR("unknown method", "BREW / HTTP/1.1\r\n" H11 "\r\n", 501),
    ERR("method longer than any known", "PROPFIND / HTTP/1.1\r\n" H11 "\r\n", 501),
    ERR("long method before the line ends", "OPTIONSX", 501),
    INCL("known-length method prefix", "OPTIONS"),
    ERRL("long method past the line window",
         "XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX", 501),
    ERR("non-token method", "G(T / HTTP/1.1\r\n" H11 "\r\n", 400),
    ERR("empty method", " / HTTP/1.1\r\n" H11 "\r\n", 400),
    ERR("method bare LF", "GET\n", 400),
    /* request line */
    ERR("two spaces", "GET  / HTTP/1.1\r\n" H11 "\r\n", 400),
    ERR("two spaces before version", "GET /  HTTP/1.1\r\n" H11 "\r\n", 400),
    ERR("tab separator", "GET\t/ HTTP/1.1\r\n", 400),
    ERR("no version", "GET /\r\n\r\n", 400),
    ERR("ctl in target", "GET /a\x01 HTTP/1.1\r\n", 400),
    ERR("del in target", "GET /a\x7f HTTP/1.1\r\n", 400),
    ERR("relative target", "GET a/b HTTP/1.1\r\n" H11 "\r\n", 400),
    ERR("asterisk not options", "GET * HTTP/1.1\r\n" H11 "\r\n", 400),
    ERR("connect origin form", "CONNECT / HTTP/1.1\r\n" H11 "\r\n", 400),
    ERR("ftp scheme", "GET ftp://h/ HTTP/1.1\r\n" H11 "\r\n", 400),
    ERR("absolute userinfo", "GET http://u@h/ HTTP/1.1\r\n" H11 "\r\n", 400),
    ERR("absolute empty host", "GET http:///x HTTP/1.1\r\n" H11 "\r\n", 400),
    ERR("request line bare LF", "GET / HTTP/1.1\n" H11 "\r\n", 400),
    ERR("request line bare CR", "GET / HTTP/1.1\rX", 400),
    ERR("leading bare LF", "\nGET / HTTP/1.1\r\n", 400),
    ERR("leading CR junk", "\r\rGET / HTTP/1.1\r\n", 400),
    ERR("nul in method", "GE\0T / HTTP/1.1\r\n", 400),
    /* version */
    ERR("http2", "GET / HTTP/2.0\r\n" H11 "\r\n", 505),
    ERR("http3", "GET / HTTP/3.0\r\n\r\n", 505),
    ERR("http09", "GET / HTTP/0.9\r\n\r\n", 505),
    ERR("leading zero major", "GET / HTTP/01.1\r\n", 400),
    ERR("lowercase http", "GET / http/1.1\r\n", 400),
    ERR("version suffix", "GET / HTTP/1.1x\r\n", 400),
    ERR("version space", "GET / HTTP/1.1 \r\n", 400),
    ERR("version short", "GET / HTTP/1\r\n", 400),
    ERR("version two digit minor", "GET / HTTP/1.10\r\n", 400),
    ERR("version garbage early", "GET / HTX", 400),
    /* fields */
    ERR("http11 no host", "GET / HTTP/1.1\r\n\r\n", 400),
    ERR("two hosts", "GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n", 400),
    ERR("bad host chars", "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 400),
    ERR("host with space", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400),
    ERR("space before colon", "GET / HTTP/1.1\r\nHost : x\r\n\r\n", 400),
    ERR("tab before colon", "GET / HTTP/1.1\r\nHost\t: x\r\n\r\n", 400),
    ERR("obs-fold", "GET / HTTP/1.1\r\n" H11 "X: a\r\n b\r\n\r\n", 400),
    ERR("obs-fold tab", "GET / HTTP/1.1\r\n" H11 "X: a\r\n\tb\r\n\r\n", 400),
    ERR("space after request line", "GET / HTTP/1.1\r\n " H11 "\r\n", 400),
    ERR("no colon", "GET / HTTP/1.1\r\n" H11 "Foo\r\n\r\n", 400),
    ERR("empty name", "GET / HTTP/1.1\r\n" H11 ": v\r\n\r\n", 400),
    ERR("non-token name", "GET / HTTP/1.1\r\n" H11 "X(y): v\r\n\r\n", 400),
    ERR("utf8 name", "GET / HTTP/1.1\r\n" H11 "X\xc3\xa9: v\r\n\r\n", 400),
    ERR("bare CR in value", "GET / HTTP/1.1\r\n" H11 "X: a\rb\r\n\r\n", 400),
    ERR("bare LF in value", "GET / HTTP/1.1\r\n" H11 "X: a\nb\r\n\r\n", 400),
    ERR("bare LF line end", "GET / HTTP/1.1\r\nHost: x\n\r\n", 400),
    ERR("bare LF final", "GET / HTTP/1.1\r\nHost: x\r\n\n", 400),
    ERR("bare CR final", "GET / HTTP/1.1\r\nHost: x\r\n\rX", 400),
    ERR("nul in value", "GET / HTTP/1.1\r\n" H11 "X: a\0b\r\n\r\n", 400),
    ERR("ctl in value", "GET / HTTP/1.1\r\n" H11 "X: a\x1b b\r\n\r\n", 400),
    ERR("del in value", "GET / HTTP/1.1\r\n" H11 "X: a\x7f\r\n\r\n", 400),
    ERR("vt in long value", "GET / HTTP/1.1\r\n" H11 "X: 0123456789abcdef01\x0b\r\n\r\n", 400),
    /* Content-Length / Transfer-Encoding */
    ERR("cl and te",
        "POST / HTTP/1.1\r\n" H11 "Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
    ERR("te and cl",
        "POST / HTTP/1.1\r\n" H11 "Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n", 400),
    ERR("cl sign", "POST / HTTP/1.1\r\n" H11 "Content-Length: +5\r\n\r\n", 400),
    ERR("cl negative", "POST / HTTP/1.1\r\n" H11 "Content-Length: -5\r\n\r\n", 400),
    ERR("cl hex", "POST / HTTP/1.1\r\n" H11 "Content-Length: 0x5\r\n\r\n", 400),
    ERR("cl empty", "POST / HTTP/1.1\r\n" H11 "Content-Length: \r\n\r\n", 400),
    ERR("cl space inside", "POST / HTTP/1.1\r\n" H11 "Content-Length: 1 2\r\n\r\n", 400),
    ERR("cl overflow", "POST / HTTP/1.1\r\n" H11 "Content-Length: 9223372036854775808\r\n\r\n",
        400),
    ERR("cl huge", "POST / HTTP/1.1\r\n" H11 "Content-Length: 99999999999999999999999\r\n\r\n",
        400),
    ERR("cl list differ", "POST / HTTP/1.1\r\n" H11 "Content-Length: 5, 6\r\n\r\n", 400),
    ERR("cl list empty el", "POST / HTTP/1.1\r\n" H11 "Content-Length: 5,\r\n\r\n", 400),
    ERR("cl repeated differ",
        "POST / HTTP/1.1\r\n" H11 "Content-Length: 5\r\nContent-Length: 6\r\n\r\n", 400),
    ERR("te gzip", "POST / HTTP/1.1\r\n" H11 "Transfer-Encoding: gzip\r\n\r\n", 501),
    ERR("te gzip chunked", "POST / HTTP/1.1\r\n" H11 "Transfer-Encoding: gzip, chunked\r\n\r\n",
        501),
    ERR("te chunked not last", "POST / HTTP/1.1\r\n" H11 "Transfer-Encoding: chunked, gzip\r\n\r\n",
        400),
    ERR("te chunked twice", "POST / HTTP/1.1\r\n" H11 "Transfer-Encoding: chunked, chunked\r\n\r\n",
        400),
    ERR("te chunked twice fields",
        "POST / HTTP/1.1\r\n" H11
        "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
        400),
    ERR("te empty", "POST / HTTP/1.1\r\n" H11 "Transfer-Encoding:\r\n\r\n", 400),
    ERR("te chunked param", "POST / HTTP/1.1\r\n" H11 "Transfer-Encoding: chunked;q=1\r\n\r\n",
        501),
    ERR("te in http10", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
    ERR("expect other", "POST / HTTP/1.1\r\n" H11 "Expect: 200-ok\r\n\r\n", 417),
    /* limits (small: line 40, header bytes 64, 3 fields) */
    INCL("line at limit incomplete", "GET /0123456789012345678901234 HTTP/1."),
    ERRL("line over limit no end", "GET /01234567890123456789012345678901234567890123", 414),
    ERRL("line over limit with end", "GET /0123456789012345678901234567 HTTP/1.1\r\n\r\n", 414),
    ERRL("leading CRLFs count",
         "\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n",
         414),
    {"line exactly at limit", "GET /012345678901234567890123 HTTP/1.1\r\n" H11 "\r\n", DONE, 0,
     EDDY_HTTP_GET, 1, -1, 0, 1, 0, 1, "x", NULL, &small},
    ERRL("too many fields", "GET / HTTP/1.1\r\n" H11 "A: 1\r\nB: 2\r\nC: 3\r\n\r\n", 431),
    {"max fields", "GET / HTTP/1.1\r\n" H11 "A: 1\r\nB: 2\r\n\r\n", DONE, 0, EDDY_HTTP_GET, 1, -1,
     0, 1, 0, 3, "x", NULL, &small},
    ERRL("header bytes over",
         "GET / HTTP/1.1\r\n" H11
         "A: 0123456789012345678901234567890123456789012345678901234567890",
         431),
    ERRL("header bytes over complete",
         "GET / HTTP/1.1\r\n" H11 "A: 01234567890123456789012345678901234567890123456789\r\n\r\n",
         431),
    INCL("header bytes under", "GET / HTTP/1.1\r\n" H11 "A: 0123456789"),
};

static int view_eq(const struct eddy_http_str *v, const char *s)
{
    return v->len == strlen(s) && (v->len == 0 || memcmp(v->p, s, v->len) == 0);
}

static int check_fields(const struct pcase *c, const struct eddy_http_request_head *r)
{
    if (c->ret != DONE)
        return 1;
    if ((int)r->method_id != (int)c->method || r->minor_version != c->minor ||
        r->content_length != c->cl || r->chunked != c->chunked || r->keep_alive != c->keep_alive ||
        r->expect_continue != c->expect || r->num_headers != c->nh)
        return 0;
    return (!c->host || view_eq(&r->host, c->host)) && (!c->path || view_eq(&r->path, c->path));
}

static size_t case_len(const struct pcase *c)
{
    /* Inputs with an embedded NUL: the literal length is needed. */
    if (strcmp(c->name, "nul in method") == 0)
        return 18;
    if (strcmp(c->name, "nul in value") == 0)
        return strlen("GET / HTTP/1.1\r\n" H11 "X: a") + 1 + strlen("b\r\n\r\n");
    return strlen(c->in);
}

static int parse_copy(const char *in, size_t len, struct eddy_http_request_head *r,
                      const struct eddy_http_limits *lim)
{
    char *b = malloc(len ? len : 1);
    memcpy(b, in, len);
    int ret = eddy_http_parse_request(b, len, r, lim);
    /* Views point into b: compare them while it lives, by rebasing onto in. */
    ptrdiff_t shift = in - b;
    r->host.p = r->host.p && r->host.p >= b && r->host.p <= b + len ? r->host.p + shift : r->host.p;
    r->path.p = r->path.p && r->path.p >= b && r->path.p <= b + len ? r->path.p + shift : r->path.p;
    free(b);
    return ret;
}

static struct eddy_http_request_head head; /* large: not on the stack */

/* Runs check on every case (len: its input's length) until one fails. */
static void each_case(void (*check)(const struct pcase *c, size_t len))
{
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]) && !eddy_test_failed(); i++)
        check(&cases[i], case_len(&cases[i]));
}

static void whole_case(const struct pcase *c, size_t len)
{
    int ret = parse_copy(c->in, len, &head, c->lim);
    int want = c->ret == DONE ? (int)len : c->ret;
    if (ret != want || (ret == EDDY_HTTP_ERROR && head.status != c->status) ||
        !check_fields(c, &head)) {
        printf("#   case \"%s\": ret %d (want %d) status %d (want %d)\n", c->name, ret, want,
               head.status, c->status);
        ASSERT(0);
    }
}

static void every_split_case(const struct pcase *c, size_t len)
{
    for (size_t k = 0; k < len; k++) {
        int ret = parse_copy(c->in, k, &head, c->lim);
        int same_err =
            ret == EDDY_HTTP_ERROR && c->ret == EDDY_HTTP_ERROR && head.status == c->status;
        if (ret != EDDY_HTTP_INCOMPLETE && !same_err) {
            printf("#   case \"%s\" prefix %zu: ret %d status %d\n", c->name, k, ret, head.status);
            ASSERT(0);
        }
    }
}

/* Whenever parse_needed says a call can be skipped, that call would not have succeeded. */
static void parse_needed_case(const struct pcase *c, size_t len)
{
    for (size_t k = 1; k < len; k++) {
        if (parse_copy(c->in, k, &head, c->lim) != EDDY_HTTP_INCOMPLETE)
            continue;
        for (size_t n = k; n <= len; n++) {
            if (eddy_http_parse_needed(c->in, n, k, c->lim))
                continue;
            int ret = parse_copy(c->in, n, &head, c->lim);
            if (ret >= 0) {
                printf("#   case \"%s\" %zu after %zu: skipped but %d\n", c->name, n, k, ret);
                ASSERT(0);
            }
        }
    }
    ASSERT_EQ(eddy_http_parse_needed(c->in, len, 0, c->lim), 1);
}

static void test_table(void)
{
    each_case(whole_case);
}

static void test_every_split(void)
{
    each_case(every_split_case);
}

static void test_parse_needed(void)
{
    each_case(parse_needed_case);
}

/* A head trickled in byte by byte needs one full parse, not one per byte. */
static void test_trickle(void)
{
    static char buf[30000];
    static struct eddy_http_request_head r;
    size_t off = (size_t)sprintf(buf, "GET / HTTP/1.1\r\nHost: x\r\n");
    while (off < 16000 - 400)
        off += (size_t)sprintf(buf + off, "X-Padding-Field: %0200zu\r\n", off);
    off += (size_t)sprintf(buf + off, "\r\n");
    size_t prev = 0, parses = 0;
    int ret = EDDY_HTTP_INCOMPLETE;
    for (size_t n = 1; n <= off && ret == EDDY_HTTP_INCOMPLETE; n++) {
        if (!eddy_http_parse_needed(buf, n, prev, NULL))
            continue;
        parses++;
        ret = eddy_http_parse_request(buf, n, &r, NULL);
        prev = n;
    }
    ASSERT_EQ(ret, (int)off);
    ASSERT_EQ(parses, 2); /* the first byte, then the complete head */
    /* past both windows a verdict is forced: 431 here */
    memset(buf + 100, 'a', sizeof(buf) - 100);
    ASSERT_EQ(eddy_http_parse_needed(buf, 8192 + 16384, 50, NULL), 0);
    ASSERT_EQ(eddy_http_parse_needed(buf, 8192 + 16384 + 1, 50, NULL), 1);
}

/* Three heads back to back, then the start of a fourth: each parse takes exactly one head. */
static void test_pipelined(void)
{
    static const struct pcase heads[] = {
        OK("get", "GET /a HTTP/1.1\r\nHost: x\r\n\r\n", EDDY_HTTP_GET, 1, -1, 0, 1, 1, "x", "/a"),
        OK("post", "POST /b HTTP/1.1\r\nHost: y\r\nContent-Length: 0\r\n\r\n", EDDY_HTTP_POST, 1, 0,
           0, 1, 2, "y", "/b"),
        OK("head", "\r\nHEAD /c HTTP/1.0\r\n\r\n", EDDY_HTTP_HEAD, 0, -1, 0, 0, 0, "", "/c"),
    };
    char in[200];
    size_t len = 0, off = 0;
    for (size_t i = 0; i < 3; i++)
        len += (size_t)sprintf(in + len, "%s", heads[i].in);
    len += (size_t)sprintf(in + len, "GET /d HT");
    for (size_t i = 0; i < 3; i++) {
        int n = eddy_http_parse_request(in + off, len - off, &head, NULL);
        ASSERT_EQ(n, strlen(heads[i].in));
        ASSERT(check_fields(&heads[i], &head));
        off += (size_t)n;
    }
    ASSERT_EQ(eddy_http_parse_request(in + off, len - off, &head, NULL), EDDY_HTTP_INCOMPLETE);
}

static void test_connection_flags(void)
{
    static struct eddy_http_request_head r;
    const char *in =
        "GET /chat HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n";
    ASSERT_EQ(eddy_http_parse_request(in, strlen(in), &r, NULL), (int)strlen(in));
    ASSERT_EQ(r.upgrade, 1);
    ASSERT_EQ(r.keep_alive, 1);
    ASSERT_EQ(r.host_count, 1);
    ASSERT_EQ(r.form, EDDY_HTTP_FORM_ORIGIN);
    in = "GET / HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\nConnection: CLOSE\r\n\r\n";
    ASSERT_EQ(eddy_http_parse_request(in, strlen(in), &r, NULL), (int)strlen(in));
    ASSERT_EQ(r.upgrade, 0);
    ASSERT_EQ(r.keep_alive, 0);
    /* a limit above the array capacity is clamped to it */
    struct eddy_http_limits big = {0, 0, 1000};
    static char buf[4096];
    size_t off = (size_t)sprintf(buf, "GET / HTTP/1.1\r\nHost: x\r\n");
    for (int i = 0; i < EDDY_HTTP_MAX_HEADERS; i++)
        off += (size_t)sprintf(buf + off, "F: %d\r\n", i);
    off += (size_t)sprintf(buf + off, "\r\n");
    ASSERT_EQ(eddy_http_parse_request(buf, off, &r, &big), EDDY_HTTP_ERROR);
    ASSERT_EQ(r.status, 431);
}

static void test_header_views_and_find(void)
{
    const char *in = "GET / HTTP/1.1\r\nHost: x\r\nAccept: a/b \r\nX-Y:z\r\naccept:  c\t\r\n"
                     "Empty:\r\n\r\n";
    static struct eddy_http_request_head r;
    ASSERT_EQ(eddy_http_parse_request(in, strlen(in), &r, NULL), (int)strlen(in));
    ASSERT_EQ(r.num_headers, 5);
    ASSERT_EQ(r.headers[1].name.len, 6);
    ASSERT_MEM_EQ(r.headers[1].name.p, "Accept", 6);
    ASSERT_EQ(r.headers[1].value.len, 3);
    ASSERT_MEM_EQ(r.headers[2].value.p, "z", 1);
    ASSERT_EQ(r.headers[4].value.len, 0);
    size_t pos = 0;
    const struct eddy_http_header *h = eddy_http_header_find(&r, "ACCEPT", &pos);
    ASSERT(h == &r.headers[1]);
    h = eddy_http_header_find(&r, "accept", &pos);
    ASSERT(h == &r.headers[3]);
    ASSERT_EQ(h->value.len, 1);
    ASSERT_MEM_EQ(h->value.p, "c", 1);
    ASSERT(eddy_http_header_find(&r, "accept", &pos) == NULL);
    pos = 0;
    ASSERT(eddy_http_header_find(&r, "Accep", &pos) == NULL);
    pos = 0;
    ASSERT(eddy_http_header_find(&r, "x-y", &pos) == &r.headers[2]);
    ASSERT_STR_EQ(eddy_http_method_name(EDDY_HTTP_GET), "GET");
    ASSERT_STR_EQ(eddy_http_method_name(EDDY_HTTP_PATCH), "PATCH");
    ASSERT(eddy_http_method_name(EDDY_HTTP_METHOD_UNKNOWN) == NULL);
}

/* Default limits: 8 KiB request line, 16 KiB field section, 100 fields. */
static void test_default_limits(void)
{
    static char buf[40000];
    static struct eddy_http_request_head r;
    memset(buf, 'a', sizeof(buf));
    memcpy(buf, "GET /", 5);
    ASSERT_EQ(eddy_http_parse_request(buf, 8192, &r, NULL), EDDY_HTTP_INCOMPLETE);
    ASSERT_EQ(eddy_http_parse_request(buf, 8193, &r, NULL), EDDY_HTTP_ERROR);
    ASSERT_EQ(r.status, 414);
    /* exactly 8192 bytes of request line is fine */
    memcpy(buf + 8192 - 11, " HTTP/1.1\r\n", 11);
    size_t off = 8192;
    for (int i = 0; i < 100; i++)
        off += (size_t)sprintf(buf + off, "%s: v\r\n", i == 0 ? "Host" : "X-Field");
    memcpy(buf + off, "\r\n", 2);
    ASSERT_EQ(eddy_http_parse_request(buf, off + 2, &r, NULL), (int)off + 2);
    ASSERT_EQ(r.num_headers, 100);
    memcpy(buf + off, "Y: 1\r\n\r\n", 8);
    ASSERT_EQ(eddy_http_parse_request(buf, off + 8, &r, NULL), EDDY_HTTP_ERROR);
    ASSERT_EQ(r.status, 431);
    /* one field of 16 KiB - 2 bytes total is the maximum with its CRLF plus final CRLF */
    off = 8192;
    memcpy(buf + off, "Host: x\r\nBig: ", 14);
    memset(buf + off + 14, 'b', 16384 - 14 - 4);
    memcpy(buf + off + 16384 - 4, "\r\n\r\n", 4);
    ASSERT_EQ(eddy_http_parse_request(buf, off + 16384, &r, NULL), (int)off + 16384);
    memcpy(buf + off + 16384 - 4, "b\r\n\r\n", 5);
    ASSERT_EQ(eddy_http_parse_request(buf, off + 16385, &r, NULL), EDDY_HTTP_ERROR);
    ASSERT_EQ(r.status, 431);
    ASSERT_EQ(eddy_http_parse_request(buf, off + 16384, &r, NULL), EDDY_HTTP_INCOMPLETE);
}

/* A 100 KB method is an unknown method (501), not an over-long target (414). */
static void test_huge_method(void)
{
    static const char tail[] = " / HTTP/1.1\r\nHost: x\r\n\r\n";
    static char buf[100 * 1024 + sizeof tail];
    static struct eddy_http_request_head r;
    memset(buf, 'X', sizeof(buf));
    memcpy(buf + 100 * 1024, tail, sizeof tail - 1);
    ASSERT_EQ(eddy_http_parse_request(buf, 100 * 1024 + sizeof tail - 1, &r, NULL),
              EDDY_HTTP_ERROR);
    ASSERT_EQ(r.status, 501);
    ASSERT_EQ(eddy_http_parse_request(buf, 9000, &r, NULL), EDDY_HTTP_ERROR);
    ASSERT_EQ(r.status, 501);
}

static struct guard_page guard;

/* Every prefix ends right at the guard page: any read past it faults. */
static void guard_page_case(const struct pcase *c, size_t len)
{
    for (size_t k = 0; k <= len && k <= guard.size; k++)
        (void)eddy_http_parse_request(guard_page_put(&guard, c->in, k), k, &head, c->lim);
}

static void test_guard_page(void)
{
    ASSERT_EQ(guard_page_open(&guard), 0);
    each_case(guard_page_case);
    guard_page_close(&guard);
}

int main(void)
{
    RUN(test_table);
    RUN(test_every_split);
    RUN(test_parse_needed);
    RUN(test_trickle);
    RUN(test_pipelined);
    RUN(test_header_views_and_find);
    RUN(test_connection_flags);
    RUN(test_default_limits);
    RUN(test_huge_method);
    RUN(test_guard_page);
    return eddy_test_done();
}
