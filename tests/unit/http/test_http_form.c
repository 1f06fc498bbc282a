/* Query and form decoders: a table of inputs and their pairs or error, malformed input
 * (bad escapes, missing '=', empty keys), repeated keys, the content-type check, and the
 * request helpers over a socket. */
#include "eddy/http.h"
#include "eddy/http_form.h"
#include "../../lib/test.h"

#include <errno.h>
#include <string.h>

#include "http_test_util.h"

struct fcase {
    const char *in;
    int rc;
    const char *pairs; /* expected "k=v|k=v|" as decoded (NUL shown as "\\0") */
};

static const struct fcase cases[] = {
    {"", 0, ""},
    {"a=1", 0, "a=1|"},
    {"a=1&b=2", 0, "a=1|b=2|"},
    {"a=1&a=2&a=", 0, "a=1|a=2|a=|"},
    {"q=hello+world&x=%41%62%7a", 0, "q=hello world|x=Abz|"},
    {"k%20ey=v%3D1%26", 0, "k ey=v=1&|"},
    {"a=b=c", 0, "a=b=c|"},
    {"debug", 0, "debug=|"},
    {"a=1&flag&b=2", 0, "a=1|flag=|b=2|"},
    {"a=1&&b=2&", 0, "a=1|b=2|"},
    {"&&&", 0, ""},
    {"caf%C3%A9=%e2%82%ac", 0, "caf\xc3\xa9=\xe2\x82\xac|"},
    {"z=%00", 0, "z=\\0|"},
    {"plus=%2B", 0, "plus=+|"},
    {"=v", -EINVAL, NULL},
    {"a=1&=2", -EINVAL, NULL},
    {"=", -EINVAL, NULL},
    {"a=%", -EINVAL, NULL},
    {"a=%4", -EINVAL, NULL},
    {"a=%G1", -EINVAL, NULL},
    {"a=%1g", -EINVAL, NULL},
    {"%zz=1", -EINVAL, NULL},
    {"a=1&b=%%", -EINVAL, NULL},
};

static void render(const struct eddy_http_form *f, char *out, size_t cap)
{
    struct eddy_http_str k, v;
    size_t n = 0;
    out[0] = '\0';
    for (size_t i = 0; eddy_http_form_at(f, i, &k, &v) == 0; i++) {
        const struct eddy_http_str *part[2] = {&k, &v};
        for (int j = 0; j < 2; j++) {
            ASSERT_EQ(part[j]->p[part[j]->len], '\0');
            for (size_t b = 0; b < part[j]->len && n + 3 < cap; b++)
                n += (size_t)(part[j]->p[b] ? snprintf(out + n, cap - n, "%c", part[j]->p[b])
                                            : snprintf(out + n, cap - n, "\\0"));
            n += (size_t)snprintf(out + n, cap - n, j ? "|" : "=");
        }
    }
}

static void test_decode_table(void)
{
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct eddy_http_form *f = (struct eddy_http_form *)1;
        int rc = eddy_http_form_parse(&f, cases[i].in, strlen(cases[i].in));
        printf("# %s\n", cases[i].in);
        ASSERT_EQ(rc, cases[i].rc);
        if (rc < 0) {
            ASSERT(f == NULL);
            continue;
        }
        char got[256];
        render(f, got, sizeof got);
        ASSERT_STR_EQ(got, cases[i].pairs);
        eddy_http_form_free(f);
    }
}

static void test_repeated_keys(void)
{
    struct eddy_http_form *f;
    const char *q = "tag=a&x=1&tag=b&tag=&tags=no";
    ASSERT_EQ(eddy_http_form_parse(&f, q, strlen(q)), 0);
    ASSERT_EQ(eddy_http_form_count(f), 5);
    ASSERT_STR_EQ(eddy_http_form_get(f, "tag"), "a");
    ASSERT_STR_EQ(eddy_http_form_get(f, "x"), "1");
    ASSERT(eddy_http_form_get(f, "ta") == NULL);
    ASSERT(eddy_http_form_get(f, "missing") == NULL);
    size_t pos = 0, len = 99;
    const char *want[] = {"a", "b", ""};
    for (int i = 0; i < 3; i++) {
        const char *v = eddy_http_form_next(f, "tag", &pos, &len);
        ASSERT(v != NULL);
        ASSERT_STR_EQ(v, want[i]);
        ASSERT_EQ(len, strlen(want[i]));
    }
    ASSERT(eddy_http_form_next(f, "tag", &pos, NULL) == NULL);
    ASSERT(eddy_http_form_next(f, "tag", &pos, NULL) == NULL);
    struct eddy_http_str k, v;
    ASSERT_EQ(eddy_http_form_at(f, 5, &k, &v), -ERANGE);
    eddy_http_form_free(f);
}

static void test_url_decode(void)
{
    char buf[32] = "a+b%20c%2b";
    ASSERT_EQ(eddy_http_url_decode(buf, strlen(buf), buf, 0), 6);
    ASSERT_MEM_EQ(buf, "a+b c+", 6);
    strcpy(buf, "a+b");
    ASSERT_EQ(eddy_http_url_decode(buf, 3, buf, 1), 3);
    ASSERT_MEM_EQ(buf, "a b", 3);
    ASSERT_EQ(eddy_http_url_decode("%", 1, buf, 1), -EINVAL);
    ASSERT_EQ(eddy_http_url_decode("%a", 2, buf, 1), -EINVAL);
    ASSERT_EQ(eddy_http_url_decode("x%41", 1, buf, 1), 1); /* len is the end, not the NUL */
    ASSERT_EQ(eddy_http_url_decode("x%41", 3, buf, 1), -EINVAL);
}

static void test_too_many_pairs(void)
{
    size_t n = (EDDY_HTTP_FORM_MAX_PAIRS + 1) * 2;
    char *s = malloc(n);
    for (size_t i = 0; i < n; i += 2)
        memcpy(s + i, "a&", 2);
    struct eddy_http_form *f;
    ASSERT_EQ(eddy_http_form_parse(&f, s, n), -E2BIG);
    ASSERT_EQ(eddy_http_form_parse(&f, s, n - 2), 0);
    ASSERT_EQ(eddy_http_form_count(f), EDDY_HTTP_FORM_MAX_PAIRS);
    eddy_http_form_free(f);
    free(s);
}

static void test_content_type(void)
{
    const char *yes[] = {"application/x-www-form-urlencoded", "Application/X-WWW-Form-URLEncoded",
                         "application/x-www-form-urlencoded; charset=UTF-8",
                         " application/x-www-form-urlencoded ;charset=utf-8"};
    const char *no[] = {"", "text/plain", "application/x-www-form-urlencodedx",
                        "multipart/form-data; boundary=x", "application/x-www-form"};
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++)
        ASSERT(eddy_http_form_is_urlencoded(yes[i], strlen(yes[i])));
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++)
        ASSERT(!eddy_http_form_is_urlencoded(no[i], strlen(no[i])));
}

/* ---- the request helpers over a socket ----------------------------------------------- */

static struct test_server T;

/* Echoes the decoded query and body as "q:k=v,...;b:k=v,..." or the error. */
static void echo_form(struct eddy_http_request *req, struct eddy_http_response *res, void *data)
{
    (void)data;
    char out[512];
    size_t n = 0;
    struct eddy_http_form *f;
    for (int part = 0; part < 2; part++) {
        int rc =
            part ? eddy_http_request_body_form(req, &f) : eddy_http_request_query_form(req, &f);
        n += (size_t)snprintf(out + n, sizeof out - n, part ? ";b:" : "q:");
        if (rc < 0) {
            n += (size_t)snprintf(out + n, sizeof out - n, "%s", strerror(-rc));
            continue;
        }
        struct eddy_http_str k, v;
        for (size_t i = 0; eddy_http_form_at(f, i, &k, &v) == 0; i++)
            n += (size_t)snprintf(out + n, sizeof out - n, "%s=%s,", k.p, v.p);
        eddy_http_form_free(f);
    }
    eddy_http_response_reply(res, 200, "text/plain", out, n);
}

static void setup(struct eddy_http_server *srv)
{
    eddy_http_server_route(srv, EDDY_HTTP_ANY, "/form", echo_form, NULL);
}

static void roundtrip(struct cli *c, const char *req, const char *body)
{
    struct resp r;
    ASSERT_EQ(cli_sends(c, req), 0);
    ASSERT_EQ(cli_read(c, &r, 0), 0);
    ASSERT_EQ(r.status, 200);
    ASSERT_STR_EQ(r.body, body);
    resp_free(&r);
}

static void test_request_helpers(void)
{
    struct cli *c = malloc(sizeof *c);
    ASSERT_EQ(cli_connect(c, T.port), 0);
    roundtrip(c, "GET /form?a=1&tag=x+y&tag=%7E HTTP/1.1\r\nHost: h\r\n\r\n",
              "q:a=1,tag=x y,tag=~,;b:Wrong medium type");
    roundtrip(
        c,
        "POST /form HTTP/1.1\r\nHost: h\r\nContent-Type: application/x-www-form-urlencoded\r\n"
        "Content-Length: 17\r\n\r\nname=J%C3%B6rg&ok",
        "q:;b:name=J\xc3\xb6rg,ok=,");
    roundtrip(
        c,
        "POST /form?=x HTTP/1.1\r\nHost: h\r\nContent-Type: application/x-www-form-urlencoded\r\n"
        "Content-Length: 3\r\n\r\na=%",
        "q:Invalid argument;b:Invalid argument");
    ASSERT_EQ(cli_closed(c, 20), 0);
    ASSERT_EQ(count_of("a&a", "a"), 2);
    cli_close(c);
    free(c);
}

int main(void)
{
    RUN(test_decode_table);
    RUN(test_repeated_keys);
    RUN(test_url_decode);
    RUN(test_too_many_pairs);
    RUN(test_content_type);
    eddy_http_server_options_init(&T.opt);
    T.setup = setup;
    if (test_server_start(&T) < 0) {
        printf("not ok - server start\n");
        return 1;
    }
    RUN(test_request_helpers);
    test_server_stop(&T);
    return eddy_test_done();
}
