/* The static handler mounted under a prefix: the prefix is taken off before the file is
 * looked up, the bare prefix redirects to its slashed form, and the rest of the URL
 * space is left to other routes. */
#include "eddy/http.h"
#include "eddy/http_static.h"
#include "../../lib/test.h"

#include <string.h>
#include <sys/stat.h>

#include "http_test_util.h"

static struct test_server T;
static struct eddy_http_static *g_static;
static char g_dir[64];

static void other(struct eddy_http_request *req, struct eddy_http_response *res, void *data)
{
    (void)req, (void)data;
    eddy_http_response_reply(res, 200, "text/plain", "other", 5);
}

static void setup(struct eddy_http_server *srv)
{
    eddy_http_server_route_flags(srv, EDDY_HTTP_ANY, "/static", EDDY_HTTP_ROUTE_NO_BODY,
                                 eddy_http_static_handler, g_static);
    eddy_http_server_route(srv, EDDY_HTTP_GET, "/", other, NULL);
}

static void write_file(const char *rel, const char *text)
{
    char p[128];
    snprintf(p, sizeof p, "%s/%s", g_dir, rel);
    FILE *f = fopen(p, "w");
    fputs(text, f);
    fclose(f);
}

static void get(struct cli *c, const char *target, int status, const char *body, const char *hdr)
{
    char req[256];
    struct resp r;
    snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", target);
    ASSERT_EQ(cli_sends(c, req), 0);
    ASSERT_EQ(cli_read(c, &r, 0), 0);
    printf("# GET %s\n", target);
    ASSERT_EQ(r.status, status);
    if (body)
        ASSERT_STR_EQ(r.body, body);
    if (hdr)
        ASSERT(strstr(r.head, hdr) != NULL);
    resp_free(&r);
}

static void test_mounted_under_prefix(void)
{
    struct cli *c = malloc(sizeof *c);
    ASSERT_EQ(cli_connect(c, T.port), 0);
    get(c, "/static/a.txt", 200, "file a", "Content-Type: text/plain");
    get(c, "/static/sub/b.css", 200, "b{}", "text/css");
    get(c, "/static/", 200, "index", NULL);
    get(c, "/static", 301, NULL, "Location: /static/\r\n");
    get(c, "/static/sub", 301, NULL, "Location: /static/sub/\r\n");
    get(c, "/static/static/a.txt", 404, NULL, NULL); /* not root/static/... */
    get(c, "/static/missing", 404, NULL, NULL);
    get(c, "/a.txt", 200, "other", NULL); /* outside the mount: the other route */
    get(c, "/staticx", 200, "other", NULL);
    ASSERT_EQ(cli_closed(c, 10), 0);
    ASSERT_EQ(count_of("x", "x"), 1);
    cli_close(c);
    free(c);
}

static void test_bad_mount(void)
{
    struct eddy_http_static_options o;
    struct eddy_http_static *s = NULL;
    eddy_http_static_options_init(&o);
    o.root = g_dir;
    o.mount = "static";
    ASSERT_EQ(eddy_http_static_new(&s, &o), -EINVAL);
    o.mount = "/"; /* no mount at all */
    ASSERT_EQ(eddy_http_static_new(&s, &o), 0);
    eddy_http_static_free(s);
}

int main(void)
{
    snprintf(g_dir, sizeof g_dir, "/tmp/eddy_mount_%d", (int)getpid());
    char sub[96], cmd[128];
    snprintf(sub, sizeof sub, "%s/sub", g_dir);
    if (mkdir(g_dir, 0700) < 0 || mkdir(sub, 0700) < 0)
        return 1;
    write_file("a.txt", "file a");
    write_file("sub/b.css", "b{}");
    write_file("index.html", "index");
    struct eddy_http_static_options o;
    eddy_http_static_options_init(&o);
    o.root = g_dir;
    o.mount = "/static/";
    if (eddy_http_static_new(&g_static, &o) < 0)
        return 1;
    eddy_http_server_options_init(&T.opt);
    T.setup = setup;
    if (test_server_start(&T) < 0)
        return 1;
    RUN(test_mounted_under_prefix);
    RUN(test_bad_mount);
    test_server_stop(&T);
    eddy_http_static_free(g_static);
    snprintf(cmd, sizeof cmd, "rm -rf %s", g_dir);
    if (system(cmd) != 0)
        printf("# could not remove %s\n", g_dir);
    return eddy_test_done();
}
