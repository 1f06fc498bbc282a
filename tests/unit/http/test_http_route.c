/* Routes: pattern checks and conflicts at registration, a matching table (exact, prefix,
 * parameters, methods, ranking), parameters read back, and the same over a socket. */
#include "http/http_internal.h"
#include "../../lib/test.h"

#include <errno.h>
#include <string.h>

#include "http_test_util.h"

static struct eddy_event_loop *g_loop;

static void h(struct eddy_http_request *req, struct eddy_http_response *res, void *data)
{
    (void)req;
    eddy_http_response_reply(res, 200, "text/plain", data, strlen(data));
}

struct reg {
    enum eddy_http_method m;
    const char *pattern;
    unsigned flags;
    int rc;
};

#define X EDDY_HTTP_ROUTE_EXACT
#define P EDDY_HTTP_ROUTE_PREFIX

static const struct reg regs[] = {
    {EDDY_HTTP_GET, "/", 0, 0},
    {EDDY_HTTP_GET, "/", X, 0},
    {EDDY_HTTP_GET, "/", P, -EEXIST}, /* 0 means prefix */
    {EDDY_HTTP_GET, "/api", P, 0},
    {EDDY_HTTP_POST, "/api", P, 0},
    {EDDY_HTTP_GET, "/api/", P, 0},
    {EDDY_HTTP_GET, "/api", X, 0},
    {EDDY_HTTP_GET, "/users/:id", X, 0},
    {EDDY_HTTP_GET, "/users/:name", X, -EEXIST},
    {EDDY_HTTP_DELETE, "/users/:name", X, 0},
    {EDDY_HTTP_ANY, "/users/:id", X, 0},
    {EDDY_HTTP_GET, "/users/me", X, 0},
    {EDDY_HTTP_GET, "/users/:id/posts/:post", X, 0},
    {EDDY_HTTP_GET, "/users/:uid/posts/latest", X, 0},
    {EDDY_HTTP_GET, "/files/:dir", P, 0},
    {EDDY_HTTP_GET, "/a:b", X, 0}, /* ':' inside a segment is a literal */
    {EDDY_HTTP_GET, "/x/:", X, -EINVAL},
    {EDDY_HTTP_GET, "/x/:id.json", X, -EINVAL},
    {EDDY_HTTP_GET, "/x/:id/:id", X, -EINVAL},
    {EDDY_HTTP_GET, "x", X, -EINVAL},
    {EDDY_HTTP_GET, "", 0, -EINVAL},
    {EDDY_HTTP_GET, "/y", X | P, -EINVAL},
    {EDDY_HTTP_GET, "/y", 1u << 9, -EINVAL},
};

struct want {
    enum eddy_http_method m;
    const char *path;
    const char *route; /* the pattern that takes it; NULL: none */
    unsigned allow;    /* methods reported for 405 when route is NULL */
    const char *param, *value;
};

#define B(m) (1u << EDDY_HTTP_##m)

static const struct want wants[] = {
    {EDDY_HTTP_GET, "/", "/", 0, NULL, NULL},
    {EDDY_HTTP_GET, "/other", "/", 0, NULL, NULL},
    {EDDY_HTTP_HEAD, "/api", "/api", 0, NULL, NULL},
    {EDDY_HTTP_GET, "/api/x", "/api/", 0, NULL, NULL},
    {EDDY_HTTP_GET, "/apix", "/", 0, NULL, NULL},
    {EDDY_HTTP_POST, "/api/x/y", "/api", 0, NULL, NULL},
    {EDDY_HTTP_PUT, "/api/x", NULL, B(GET) | B(HEAD) | B(POST), NULL, NULL},
    {EDDY_HTTP_GET, "/users/42", "/users/:id", 0, "id", "42"},
    {EDDY_HTTP_GET, "/users/me", "/users/me", 0, NULL, NULL},
    {EDDY_HTTP_DELETE, "/users/7", "/users/:name", 0, "name", "7"},
    {EDDY_HTTP_PUT, "/users/7", "/users/:id", 0, "id", "7"},
    {EDDY_HTTP_GET, "/users/42/", "/", 0, NULL, NULL},
    {EDDY_HTTP_GET, "/users/42/posts", "/", 0, NULL, NULL},
    {EDDY_HTTP_GET, "/users/42/posts/9", "/users/:id/posts/:post", 0, "post", "9"},
    {EDDY_HTTP_GET, "/users/42/posts/latest", "/users/:uid/posts/latest", 0, "uid", "42"},
    {EDDY_HTTP_GET, "/users", "/", 0, NULL, NULL},
    {EDDY_HTTP_GET, "/files/docs/a/b.txt", "/files/:dir", 0, "dir", "docs"},
    {EDDY_HTTP_GET, "/files/docs", "/files/:dir", 0, "dir", "docs"},
    {EDDY_HTTP_GET, "/files", "/", 0, NULL, NULL},
    {EDDY_HTTP_GET, "/a:b", "/a:b", 0, NULL, NULL},
    {EDDY_HTTP_POST, "/", NULL, B(GET) | B(HEAD), NULL, NULL},
};

static struct eddy_http_server *make_server(void)
{
    struct eddy_http_server *s = NULL;
    if (eddy_http_server_new(&s, g_loop, NULL) < 0)
        abort();
    return s;
}

static void test_registration_table(void)
{
    struct eddy_http_server *s = make_server();
    for (size_t i = 0; i < sizeof regs / sizeof regs[0]; i++) {
        int rc = eddy_http_server_route_flags(s, regs[i].m, regs[i].pattern, regs[i].flags, h,
                                              (void *)regs[i].pattern);
        if (rc != regs[i].rc)
            printf("# registering %s\n", regs[i].pattern);
        ASSERT_EQ(rc, regs[i].rc);
    }
    eddy_http_server_free(s);
}

static void test_matching_table(void)
{
    struct eddy_http_server *s = make_server();
    for (size_t i = 0; i < sizeof regs / sizeof regs[0]; i++)
        eddy_http_server_route_flags(s, regs[i].m, regs[i].pattern, regs[i].flags, h,
                                     (void *)regs[i].pattern);
    for (size_t i = 0; i < sizeof wants / sizeof wants[0]; i++) {
        const struct want *w = &wants[i];
        unsigned allow;
        const struct http_route *r =
            eddy__http_route_find(s, w->m, w->path, strlen(w->path), &allow);
        printf("# %s %s\n", eddy_http_method_name(w->m), w->path);
        ASSERT_STR_EQ(r ? (const char *)r->data : "(none)", w->route ? w->route : "(none)");
        if (!r)
            ASSERT_EQ(allow, w->allow);
        if (!w->param)
            continue;
        struct eddy_http_request req = {.route = r, .path = w->path, .path_len = strlen(w->path)};
        struct eddy_http_str v = eddy_http_request_param(&req, w->param);
        ASSERT(v.p != NULL);
        ASSERT_EQ(v.len, strlen(w->value));
        ASSERT_MEM_EQ(v.p, w->value, v.len);
        ASSERT(eddy_http_request_param(&req, "nope").p == NULL);
        ASSERT_STR_EQ(eddy_http_request_route(&req), w->route);
    }
    eddy_http_server_free(s);
}

static void test_exact_is_not_prefix(void)
{
    struct eddy_http_server *s = make_server();
    unsigned allow;
    ASSERT_EQ(eddy_http_server_route_flags(s, EDDY_HTTP_GET, "/plaintext", X, h, "p"), 0);
    ASSERT(eddy__http_route_find(s, EDDY_HTTP_GET, "/plaintext", 10, &allow) != NULL);
    ASSERT(eddy__http_route_find(s, EDDY_HTTP_GET, "/plaintext/x", 12, &allow) == NULL);
    ASSERT(eddy__http_route_find(s, EDDY_HTTP_GET, "/plaintextx", 11, &allow) == NULL);
    eddy_http_server_free(s);
}

/* ---- over a socket ------------------------------------------------------------------- */

static struct test_server T;

static void user(struct eddy_http_request *req, struct eddy_http_response *res, void *data)
{
    (void)data;
    struct eddy_http_str id = eddy_http_request_param(req, "id");
    char out[256];
    int n = snprintf(out, sizeof out, "id=[%.*s]", (int)id.len, id.p);
    eddy_http_response_reply(res, 200, "text/plain", out, (size_t)n);
}

static void setup(struct eddy_http_server *srv)
{
    eddy_http_server_route_flags(srv, EDDY_HTTP_GET, "/users/:id", X, user, NULL);
    eddy_http_server_route_flags(srv, EDDY_HTTP_GET, "/plaintext", X, h, "plain");
}

static void get(struct cli *c, const char *target, int status, const char *body)
{
    char req[512];
    struct resp r;
    snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", target);
    ASSERT_EQ(cli_sends(c, req), 0);
    ASSERT_EQ(cli_read(c, &r, 0), 0);
    ASSERT_EQ(r.status, status);
    if (body)
        ASSERT_STR_EQ(r.body, body);
    resp_free(&r);
}

static void test_params_over_socket(void)
{
    struct cli *c = malloc(sizeof *c);
    ASSERT_EQ(cli_connect(c, T.port), 0);
    get(c, "/users/42", 200, "id=[42]");
    get(c, "/users/a%20b?x=1", 200, "id=[a b]");
    get(c, "/users/42/posts", 404, NULL);
    get(c, "/users/", 404, NULL);
    get(c, "/plaintext", 200, "plain");
    get(c, "/plaintext/x", 404, NULL);
    ASSERT_EQ(cli_closed(c, 50), 0); /* keep-alive held through 404s */
    ASSERT_EQ(count_of("/a/b", "/"), 2);
    cli_close(c);
    free(c);
}

int main(void)
{
    if (eddy_event_loop_new(&g_loop, "epoll") < 0)
        return 1;
    RUN(test_registration_table);
    RUN(test_matching_table);
    RUN(test_exact_is_not_prefix);
    eddy_http_server_options_init(&T.opt);
    T.setup = setup;
    if (test_server_start(&T) < 0) {
        printf("not ok - server start\n");
        return 1;
    }
    RUN(test_params_over_socket);
    test_server_stop(&T);
    eddy_event_loop_free(g_loop);
    return eddy_test_done();
}
