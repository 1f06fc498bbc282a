/*
 * The config parser (syntax, errors with their lines, includes) and the model built on
 * it (levels, inheritance, servers by Host, locations).
 */
#include <stdlib.h>

#include "../../lib/test.h"
#include "httpd_conf_sources.h"

static char err[HTTPD_CONF_ERR_MAX];

static struct httpd_conf_tree *parse(const char *text)
{
    struct httpd_conf_tree *t = NULL;
    if (httpd_conf_parse_text("t.conf", text, strlen(text), 0, &t, err, sizeof err) < 0)
        return NULL;
    return t;
}

/* NULL and err set when the text does not build. */
static struct httpd_conf *build_with(const char *text, const struct httpd_conf_load_options *o)
{
    struct httpd_conf_tree *t = parse(text);
    if (t == NULL)
        return NULL;
    struct httpd_conf *c = NULL;
    if (httpd_conf_build(t, o, &c, err, sizeof err) < 0)
        c = NULL;
    httpd_conf_tree_free(t);
    return c;
}

static struct httpd_conf *build(const char *text)
{
    struct httpd_conf_load_options o = {0};
    return build_with(text, &o);
}

static void test_conf_syntax(void)
{
    struct httpd_conf_tree *t = parse("# comment\n"
                                      "a 1 'two words' \"q\\\"x\" ; b{c d;# x\n e \"\";}\n"
                                      "f \"multi\nline\" {}\n");
    ASSERT(t != NULL);
    ASSERT_EQ(t->top.n, 3);
    struct httpd_conf_dir *a = &t->top.dirs[0];
    ASSERT_EQ(a->nargs, 4);
    ASSERT_STR_EQ(a->args[2], "two words");
    ASSERT_STR_EQ(a->args[3], "q\"x");
    ASSERT_EQ(a->line, 2);
    struct httpd_conf_dir *b = &t->top.dirs[1];
    ASSERT(b->block != NULL);
    ASSERT_EQ(b->block->n, 2);
    ASSERT_STR_EQ(b->block->dirs[1].args[1], "");
    ASSERT_EQ(b->block->dirs[1].line, 3);
    ASSERT_EQ(t->top.dirs[2].line, 4);
    ASSERT_EQ(t->top.dirs[2].block->n, 0);
    httpd_conf_tree_free(t);
}

static void expect_error(const char *text, const char *msg)
{
    struct httpd_conf *c = build(text);
    if (c)
        httpd_conf_unref(c);
    ASSERT(c == NULL);
    if (strstr(err, msg) == NULL)
        eddy_test_fail_str(__FILE__, __LINE__, "error message", err, msg);
}

static void test_conf_errors_have_lines(void)
{
    expect_error("a b", "t.conf:1: unexpected end of file, expecting \";\" or \"{\"");
    expect_error("server {\n listen 1.2.3.4:80;\n", "t.conf:3: unexpected end of file, "
                                                    "expecting \"}\" (block opened on line 1)");
    expect_error("\n}\n", "t.conf:2: unexpected \"}\"");
    expect_error("\n\n;", "t.conf:3: unexpected \";\"");
    expect_error("x 'abc\n\n", "t.conf:1: unterminated string");
    expect_error("{", "t.conf:1: unexpected \"{\"");
    expect_error("server {\n  bogus 1;\n}", "t.conf:2: unknown directive \"bogus\"");
    expect_error("server {\n\n  listen nowhere;\n}", "t.conf:3: invalid listen address");
    expect_error("server { keepalive_timeout 5; }", "t.conf:1: \"keepalive_timeout\" is not "
                                                    "allowed here");
    expect_error("keepalive_timeout 5x;\nserver {}", "t.conf:1: \"keepalive_timeout\": invalid "
                                                     "time \"5x\"");
    expect_error("server {\n location /a {\n  location /b {}\n }\n}",
                 "t.conf:3: nested locations are not supported");
    expect_error("server {\n location ~ \\.php$ {}\n}", "t.conf:2: location modifier \"~\"");
    expect_error("server { return abc; }", "t.conf:1: return: invalid code");
    expect_error("server { gzip maybe; }", "t.conf:1: \"gzip\" takes \"on\" or \"off\"");
    expect_error("server { try_files $uri x; }", "must be a URI or =CODE");
    expect_error("worker_threads 1 2;\nserver{}", "t.conf:1: invalid number of arguments");
    expect_error("error_log /x nonsense;\nserver{}", "t.conf:1: unknown log level");
    expect_error("server { listen 127.0.0.1:1 default_server; }\n"
                 "server { listen 127.0.0.1:1 default_server; }",
                 "t.conf:2: a duplicate default server for 127.0.0.1:1");
    expect_error("# nothing\n", "no \"server\" block");
    expect_error("\nuser no-such-user-eddy;\nserver{}", "t.conf:2: user: no such user");
    expect_error("user nobody no-such-group-eddy;\nserver{}", "t.conf:1: user: no such group");
    expect_error("server { include x; }", "t.conf:1: \"include\" is not allowed here");
}

static void test_conf_deep_nesting_bounded(void)
{
    char text[200] = "";
    for (int i = 0; i < 40; i++)
        strcat(text, "a{");
    expect_error(text, "blocks nested too deeply");
}

static void test_conf_globals(void)
{
    struct httpd_conf *c = build("user nobody root; pid /run/e.pid;\n"
                                 "error_log /tmp/e.log info; access_log off;\n"
                                 "http { keepalive_timeout 5s; client_header_timeout 500ms;\n"
                                 " client_body_timeout 1m; send_timeout 2;\n"
                                 " client_max_body_size 8m; max_connections 100;\n"
                                 " keepalive_requests 7; worker_threads 3; backend poll;\n"
                                 " server { listen 127.0.0.1:8080; } }");
    ASSERT(c != NULL);
    ASSERT_STR_EQ(c->g.user, "nobody");
    ASSERT_STR_EQ(c->g.group, "root");
    ASSERT_STR_EQ(c->g.pid, "/run/e.pid");
    ASSERT_EQ(c->g.error_level, HTTPD_LOG_INFO);
    ASSERT_STR_EQ(c->g.access_log, "off");
    ASSERT_EQ(c->g.keepalive_timeout_ms, 5000);
    ASSERT_EQ(c->g.client_header_timeout_ms, 500);
    ASSERT_EQ(c->g.client_body_timeout_ms, 60000);
    ASSERT_EQ(c->g.send_timeout_ms, 2000);
    ASSERT_EQ(c->g.client_max_body_size, 8 << 20);
    ASSERT_EQ(c->g.max_connections, 100);
    ASSERT_EQ(c->g.keepalive_requests, 7);
    ASSERT_EQ(c->g.worker_threads, 3);
    ASSERT_STR_EQ(c->g.backend, "poll");
    ASSERT_EQ(c->nservers, 1);
    httpd_conf_unref(c);
}

static void test_conf_vhosts_by_host(void)
{
    struct httpd_conf *c = build("server { listen 127.0.0.1:80; server_name a.example; }\n"
                                 "server { listen 127.0.0.1:80; server_name B.example "
                                 "*.b.example; }\n"
                                 "server { listen 127.0.0.1:80 default_server; server_name d; }\n"
                                 "server { listen 127.0.0.1:81; }\n");
    ASSERT(c != NULL);
    ASSERT_EQ(c->naddrs, 2);
    ASSERT_EQ(c->addrs[0].nservers, 3);
    const struct httpd_server *s0 = c->addrs[0].servers[0];
    ASSERT_STR_EQ(s0->names[0], "d"); /* default_server first */
    ASSERT_STR_EQ(httpd_conf_server(c, 0, "a.example", 9)->names[0], "a.example");
    ASSERT_STR_EQ(httpd_conf_server(c, 0, "A.EXAMPLE:80", 12)->names[0], "a.example");
    ASSERT_STR_EQ(httpd_conf_server(c, 0, "b.example", 9)->names[0], "b.example");
    ASSERT_STR_EQ(httpd_conf_server(c, 0, "x.y.b.example", 13)->names[0], "b.example");
    ASSERT(httpd_conf_server(c, 0, "other", 5) == s0);
    ASSERT(httpd_conf_server(c, 0, "", 0) == s0);
    ASSERT_EQ(c->addrs[1].nservers, 1);
    httpd_conf_unref(c);
}

static void test_conf_locations_and_inheritance(void)
{
    struct httpd_conf *c = build("add_header X-A 1; expires 1h; charset utf-8;\n"
                                 "server { listen 127.0.0.1:80; root /srv; add_header X-S 2;\n"
                                 "  location /img/ { add_header X-L 3 always; expires off; }\n"
                                 "  location = /img/x { deny all; }\n"
                                 "  location /img/big/ { alias /data/; }\n"
                                 "  location / { }\n"
                                 "  index a.html b.html; }\n");
    ASSERT(c != NULL);
    const struct httpd_server *s = c->servers[0];
    ASSERT_EQ(s->nlocs, 4);
    const struct httpd_location *l = httpd_conf_location(s, "/img/x", 6);
    ASSERT(l != NULL && l->exact && l->r.deny);
    l = httpd_conf_location(s, "/img/big/a.png", 14);
    ASSERT(l != NULL && l->r.alias);
    ASSERT_STR_EQ(l->r.root, "/data/");
    l = httpd_conf_location(s, "/img/y", 6);
    ASSERT_STR_EQ(l->prefix, "/img/");
    ASSERT_EQ(l->r.nheaders, 1); /* its own list replaces the inherited one */
    ASSERT_STR_EQ(l->r.headers[0].name, "X-L");
    ASSERT_EQ(l->r.headers[0].always, 1);
    ASSERT(l->r.expires == HTTPD_EXPIRES_OFF);
    ASSERT_STR_EQ(l->r.root, "/srv");
    ASSERT_STR_EQ(l->r.charset, "utf-8");
    ASSERT_EQ(l->r.nindex, 2); /* written after the locations, inherited all the same */
    l = httpd_conf_location(s, "/imgx", 5);
    ASSERT_STR_EQ(l->prefix, "/");
    ASSERT_EQ(l->r.nheaders, 1);
    ASSERT_STR_EQ(l->r.headers[0].name, "X-S");
    ASSERT_EQ(l->r.expires, 3600);
    ASSERT_EQ(c->main_rules.nheaders, 1);
    ASSERT_STR_EQ(c->main_rules.headers[0].name, "X-A");
    httpd_conf_unref(c);
}

static void test_conf_values(void)
{
    long long v;
    ASSERT_EQ(httpd_conf_parse_time_ms("75", &v), 0);
    ASSERT_EQ(v, 75000);
    ASSERT_EQ(httpd_conf_parse_time_ms("30d", &v), 0);
    ASSERT_EQ(v, 30LL * 86400000);
    ASSERT_EQ(httpd_conf_parse_time_ms("0.5", &v), 0);
    ASSERT_EQ(v, 500);
    ASSERT_EQ(httpd_conf_parse_time_ms("-1", &v), -1);
    ASSERT_EQ(httpd_conf_parse_time_ms("1x", &v), -1);
    ASSERT_EQ(httpd_conf_parse_time_ms("", &v), -1);
    ASSERT_EQ(httpd_conf_parse_size("64k", &v), 0);
    ASSERT_EQ(v, 65536);
    ASSERT_EQ(httpd_conf_parse_size("1.5m", &v), -1);
    ASSERT_EQ(httpd_conf_parse_size("99999999999999999999g", &v), -1);
}

/* The TLS model (no files loaded here): the pairs of an address, the default server's
 * first, with the server_names SNI picks them by; one pair shared by two servers gets
 * both servers' names; the ssl_* settings; a specific address beside its port's wildcard. */
static void test_conf_tls(void)
{
    struct httpd_conf *c = build("ssl_protocols TLSv1.3; ssl_session_tickets off;\n"
                                 "ssl_ciphers HIGH; ssl_handshake_timeout 5s;\n"
                                 "server { listen 127.0.0.1:443 tls; server_name b.test;\n"
                                 "  ssl_certificate b.pem; ssl_certificate_key b.key; }\n"
                                 "server { listen 127.0.0.1:443 ssl default_server;\n"
                                 "  server_name a.test *.a.test;\n"
                                 "  tls_certificate a.pem; tls_certificate_key a.key; }\n"
                                 "server { listen 127.0.0.1:443 tls; server_name c.test;\n"
                                 "  tls_certificate b.pem; tls_certificate_key b.key; }\n"
                                 "server { listen 0.0.0.0:80; listen 127.0.0.1:80; }\n");
    ASSERT(c != NULL);
    ASSERT_EQ(c->naddrs, 3);
    const struct eddy_tls_options *o = c->addrs[0].tls_options;
    ASSERT(o != NULL);
    ASSERT_EQ(o->ncerts, 2);
    ASSERT_STR_EQ(o->cert_files[0], "a.pem");
    ASSERT_STR_EQ(o->cert_names[0], "a.test *.a.test");
    ASSERT_STR_EQ(o->key_files[1], "b.key");
    ASSERT_STR_EQ(o->cert_names[1], "b.test c.test");
    ASSERT_EQ(o->min_version, 13);
    ASSERT_EQ(o->max_version, 13);
    ASSERT_EQ(o->ticket_key_seconds, 0u);
    ASSERT_STR_EQ(o->ciphers, "HIGH");
    ASSERT_EQ(c->g.tls.handshake_timeout_ms, 5000);
    ASSERT(c->addrs[1].tls_options == NULL);
    ASSERT_EQ(c->addrs[1].via_wildcard + c->addrs[2].via_wildcard, 1);
    ASSERT_STR_EQ(c->addrs[c->addrs[1].via_wildcard ? 1 : 2].addr, "127.0.0.1:80");
    httpd_conf_unref(c);
    expect_error("server {\n listen 127.0.0.1:443 tls;\n tls_certificate a.pem; }\n",
                 "t.conf:2: no \"tls_certificate\" and \"tls_certificate_key\"");
    expect_error("ssl_protocols TLSv1.1;\nserver { listen 1.2.3.4:80; }\n",
                 "t.conf:1: ssl_protocols: neither TLSv1.2 nor TLSv1.3");
    expect_error("server { listen 1.2.3.4:80;\n ssl_session_timeout 1h; }\n",
                 "t.conf:2: \"ssl_session_timeout\" is not allowed here");
    expect_error("access_log /x json;\nserver { listen 1.2.3.4:80; }\n",
                 "t.conf:1: access_log: unknown format \"json\"");
}

/* The TLS 1.3 ticket renewal of an address: on by default, off with tls_ticket_renewal
 * off, and --tls-ticket-renewal (the load option) wins over the file. */
static int renewal_of(const char *main_level, int flag)
{
    char text[512];
    struct httpd_conf_load_options o = {.tls_ticket_renewal = flag};
    snprintf(text, sizeof text,
             "%sserver { listen 127.0.0.1:443 tls; tls_certificate a.pem;"
             " tls_certificate_key a.key; }\n",
             main_level);
    struct httpd_conf *c = build_with(text, &o);
    if (c == NULL || c->addrs[0].tls_options == NULL) {
        printf("# %s\n", err);
        httpd_conf_unref(c);
        return -1;
    }
    int r = c->addrs[0].tls_options->renew_tickets;
    httpd_conf_unref(c);
    return r;
}

static void test_conf_tls_ticket_renewal(void)
{
    ASSERT_EQ(renewal_of("", 0), 1);
    ASSERT_EQ(renewal_of("tls_ticket_renewal off;\n", 0), 0);
    ASSERT_EQ(renewal_of("tls_ticket_renewal on;\n", 0), 1);
    ASSERT_EQ(renewal_of("tls_ticket_renewal off;\n", 1), 1);
    ASSERT_EQ(renewal_of("", -1), 0);
    expect_error("tls_ticket_renewal maybe;\nserver { listen 1.2.3.4:80; }\n",
                 "t.conf:1: \"tls_ticket_renewal\" takes \"on\" or \"off\", not \"maybe\"");
}

static void test_conf_include_glob(void)
{
    char dir[] = "/tmp/eddy-conf-XXXXXX";
    ASSERT(mkdtemp(dir) != NULL);
    char p[1024];
    snprintf(p, sizeof p,
             "mkdir %s/sites && printf 'server { listen 127.0.0.1:1; "
             "server_name one; }\n' >%s/sites/1.conf && printf 'server { listen "
             "127.0.0.1:1; server_name two; }\n' >%s/sites/2.conf && printf "
             "'# main\ninclude sites/*.conf;\ninclude none/*.conf;\n' >%s/main.conf",
             dir, dir, dir, dir);
    ASSERT_EQ(system(p), 0);
    snprintf(p, sizeof p, "%s/main.conf", dir);
    struct httpd_conf_load_options o = {0};
    struct httpd_conf *c = NULL;
    int rc = httpd_conf_load(p, &o, &c, err, sizeof err);
    if (rc != 0)
        eddy_test_fail_str(__FILE__, __LINE__, "load", err, "");
    ASSERT_EQ(rc, 0);
    ASSERT_EQ(c->nservers, 2);
    ASSERT_STR_EQ(c->servers[1]->names[0], "two");
    httpd_conf_unref(c);
    /* an error inside an included file names that file and line; a missing plain file */
    snprintf(p, sizeof p, "printf '\n\nbad;\n' >%s/sites/3.conf", dir);
    ASSERT_EQ(system(p), 0);
    snprintf(p, sizeof p, "%s/main.conf", dir);
    ASSERT_EQ(httpd_conf_load(p, &o, &c, err, sizeof err), -1);
    char want[200];
    snprintf(want, sizeof want, "%s/sites/3.conf:3: unknown directive \"bad\"", dir);
    ASSERT_STR_EQ(err, want);
    snprintf(p, sizeof p, "printf 'include self.conf;\n' >%s/self.conf", dir);
    ASSERT_EQ(system(p), 0);
    snprintf(p, sizeof p, "%s/self.conf", dir);
    ASSERT_EQ(httpd_conf_load(p, &o, &c, err, sizeof err), -1);
    ASSERT(strstr(err, "includes nested too deeply") != NULL);
    snprintf(p, sizeof p, "%s/absent.conf", dir);
    ASSERT_EQ(httpd_conf_load(p, &o, &c, err, sizeof err), -1);
    ASSERT(strstr(err, "No such file") != NULL);
    snprintf(p, sizeof p, "rm -rf %s", dir);
    ASSERT_EQ(system(p), 0);
}

int main(void)
{
    RUN(test_conf_syntax);
    RUN(test_conf_errors_have_lines);
    RUN(test_conf_deep_nesting_bounded);
    RUN(test_conf_globals);
    RUN(test_conf_vhosts_by_host);
    RUN(test_conf_locations_and_inheritance);
    RUN(test_conf_values);
    RUN(test_conf_include_glob);
    RUN(test_conf_tls);
    RUN(test_conf_tls_ticket_renewal);
    return eddy_test_done();
}
