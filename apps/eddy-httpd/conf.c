/*
 * Building the configuration model from the parsed tree: globals, servers, locations,
 * the listening addresses and the document roots; lookups of server and location.
 *
 * Each level is read in two passes: its own directives first, then its blocks
 * (servers, locations), so a block inherits its parent's settings whatever their order
 * in the file.
 */
#include "conf.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "eddy/event_dispatcher.h"
#include "eddy/http_static.h"

struct httpd_arena {
    struct httpd_arena *next;
    size_t used, cap;
    _Alignas(16) char data[];
};

void *httpd_conf_alloc(struct httpd_conf *c, size_t n)
{
    n = (n + 15) & ~(size_t)15;
    struct httpd_arena *a = c->arena;
    if (a == NULL || a->cap - a->used < n) {
        size_t cap = n > 16384 ? n : 16384;
        if ((a = malloc(sizeof *a + cap)) == NULL)
            return NULL;
        a->next = c->arena, a->used = 0, a->cap = cap;
        c->arena = a;
    }
    void *p = a->data + a->used;
    a->used += n;
    memset(p, 0, n);
    return p;
}

char *httpd_conf_strdup(struct httpd_conf *c, const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = httpd_conf_alloc(c, n);
    return p ? memcpy(p, s, n) : NULL;
}

int httpd_conf_fail(struct httpd_conf_ctx *x, const struct httpd_conf_dir *d, const char *fmt, ...)
{
    char msg[HTTPD_CONF_ERR_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(x->err, x->cap, "%s:%d: %s", d->file, d->line, msg);
    return -1;
}

int httpd_conf_on_off(struct httpd_conf_ctx *x, const struct httpd_conf_dir *d, int *out)
{
    if (strcmp(d->args[1], "on") == 0 || strcmp(d->args[1], "off") == 0) {
        *out = d->args[1][1] == 'n';
        return 0;
    }
    return httpd_conf_fail(x, d, "\"%s\" takes \"on\" or \"off\", not \"%s\"", d->args[0],
                           d->args[1]);
}

static int parse_scaled(const char *s, const char *const *units, const long long *scale,
                        long long *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || errno || v < 0 || !(v <= 9.0e15) || s[0] == '-' || s[0] == '+')
        return -1;
    for (int i = 0; units[i]; i++)
        if (strcmp(end, units[i]) == 0) {
            double r = v * (double)scale[i];
            if (r > 9.0e15)
                return -1;
            *out = (long long)(r + 0.5);
            return 0;
        }
    return -1;
}

int httpd_conf_parse_time_ms(const char *s, long long *ms)
{
    static const char *const units[] = {"", "ms", "s", "m", "h", "d", "w", "M", "y", NULL};
    static const long long scale[] = {1000,     1,         1000,       60000,      3600000,
                                      86400000, 604800000, 2592000000, 31536000000};
    return parse_scaled(s, units, scale, ms);
}

int httpd_conf_parse_size(const char *s, long long *bytes)
{
    static const char *const units[] = {"", "k", "K", "m", "M", "g", "G", NULL};
    static const long long scale[] = {1, 1024, 1024, 1 << 20, 1 << 20, 1 << 30, 1 << 30};
    if (strchr(s, '.'))
        return -1;
    return parse_scaled(s, units, scale, bytes);
}

static int number(struct httpd_conf_ctx *x, const struct httpd_conf_dir *d, long long max,
                  long long *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(d->args[1], &end, 10);
    if (*end || end == d->args[1] || errno || v < 0 || v > max)
        return httpd_conf_fail(x, d, "\"%s\": invalid number \"%s\" (0 to %lld)", d->args[0],
                               d->args[1], max);
    *out = v;
    return 0;
}

static int timeout(struct httpd_conf_ctx *x, const struct httpd_conf_dir *d, long long *out)
{
    if (httpd_conf_parse_time_ms(d->args[1], out) < 0 || *out > 86400000LL * 365)
        return httpd_conf_fail(x, d, "\"%s\": invalid time \"%s\"", d->args[0], d->args[1]);
    return 0;
}

static int set_str(struct httpd_conf_ctx *x, const char **dst, const char *v)
{
    return (*dst = httpd_conf_strdup(x->conf, v)) ? 0 : -1;
}

static int global_directive(struct httpd_conf_ctx *x, const struct httpd_conf_dir *d)
{
    struct httpd_globals *g = &x->conf->g;
    const char *n = d->args[0];
    if (strcmp(n, "user") == 0) { /* checked here, so -t finds a typo as nginx's does */
        if (getpwnam(d->args[1]) == NULL)
            return httpd_conf_fail(x, d, "user: no such user \"%s\"", d->args[1]);
        if (d->nargs > 2 && getgrnam(d->args[2]) == NULL)
            return httpd_conf_fail(x, d, "user: no such group \"%s\"", d->args[2]);
        return set_str(x, &g->user, d->args[1]) ||
               (d->nargs > 2 && set_str(x, &g->group, d->args[2]));
    }
    if (strcmp(n, "pid") == 0)
        return set_str(x, &g->pid, d->args[1]);
    if (strcmp(n, "error_log") == 0) {
        if (d->nargs > 2 && (g->error_level = httpd_errlog_level(d->args[2])) < 0)
            return httpd_conf_fail(x, d, "unknown log level \"%s\"", d->args[2]);
        return set_str(x, &g->error_log, d->args[1]);
    }
    if (strcmp(n, "access_log") == 0) {
        if (d->nargs > 2 && strcmp(d->args[2], "combined") != 0 &&
            strcmp(d->args[2], "combined_tls") != 0)
            return httpd_conf_fail(x, d,
                                   "access_log: unknown format \"%s\" (combined or "
                                   "combined_tls)",
                                   d->args[2]);
        g->access_log_tls = d->nargs > 2 && strcmp(d->args[2], "combined_tls") == 0;
        return set_str(x, &g->access_log, d->args[1]);
    }
    if (strcmp(n, "backend") == 0) {
        for (const char *const *b = eddy_event_dispatcher_names(); *b; b++)
            if (strcmp(d->args[1], *b) == 0) {
                g->backend = *b;
                return 0;
            }
        return httpd_conf_fail(x, d, "unknown backend \"%s\" (see eddy-httpd --help)", d->args[1]);
    }
    if (strcmp(n, "worker_threads") == 0)
        return number(x, d, 1024, &g->worker_threads);
    if (strcmp(n, "keepalive_requests") == 0)
        return number(x, d, 1LL << 31, &g->keepalive_requests);
    if (strcmp(n, "max_connections") == 0)
        return number(x, d, 10000000, &g->max_connections);
    if (strcmp(n, "client_max_body_size") == 0) {
        if (httpd_conf_parse_size(d->args[1], &g->client_max_body_size) < 0)
            return httpd_conf_fail(x, d, "invalid size \"%s\"", d->args[1]);
        return 0;
    }
    if (strcmp(n, "keepalive_timeout") == 0)
        return timeout(x, d, &g->keepalive_timeout_ms);
    if (strcmp(n, "client_header_timeout") == 0)
        return timeout(x, d, &g->client_header_timeout_ms);
    if (strcmp(n, "client_body_timeout") == 0)
        return timeout(x, d, &g->client_body_timeout_ms);
    return timeout(x, d, &g->send_timeout_ms); /* the last name of the table */
}

struct dir_spec {
    const char *name;
    int levels, min, max; /* arguments after the name */
};

/* Globals and server-only directives; the per-request ones are in conf_rules.c. */
static const struct dir_spec globals[] = {
    {"user", HTTPD_C_MAIN, 1, 2},
    {"pid", HTTPD_C_MAIN, 1, 1},
    {"error_log", HTTPD_C_MAIN, 1, 2},
    {"access_log", HTTPD_C_MAIN, 1, 2},
    {"backend", HTTPD_C_MAIN, 1, 1},
    {"worker_threads", HTTPD_C_MAIN, 1, 1},
    {"keepalive_requests", HTTPD_C_MAIN, 1, 1},
    {"max_connections", HTTPD_C_MAIN, 1, 1},
    {"client_max_body_size", HTTPD_C_MAIN, 1, 1},
    {"keepalive_timeout", HTTPD_C_MAIN, 1, 1},
    {"client_header_timeout", HTTPD_C_MAIN, 1, 1},
    {"client_body_timeout", HTTPD_C_MAIN, 1, 1},
    {"send_timeout", HTTPD_C_MAIN, 1, 1},
};

static int listen_directive(struct httpd_conf_ctx *x, const struct httpd_conf_dir *d)
{
    struct httpd_server *s = x->srv;
    struct httpd_listen *v = httpd_conf_alloc(x->conf, (size_t)(s->nlistens + 1) * sizeof *v);
    if (v == NULL)
        return -1;
    if (s->nlistens)
        memcpy(v, s->listens, (size_t)s->nlistens * sizeof *v);
    struct httpd_listen *l = &v[s->nlistens];
    const char *a = d->args[1];
    char buf[300];
    if (strspn(a, "0123456789") == strlen(a)) { /* `listen 80;` as in nginx */
        snprintf(buf, sizeof buf, "0.0.0.0:%s", a);
        a = buf;
    } else if (strncmp(a, "*:", 2) == 0) {
        snprintf(buf, sizeof buf, "0.0.0.0:%s", a + 2);
        a = buf;
    }
    socklen_t len;
    if (eddy_sockaddr_parse(a, &l->sa, &len) < 0)
        return httpd_conf_fail(x, d, "invalid listen address \"%s\" (ADDR:PORT or [V6]:PORT)",
                               d->args[1]);
    l->addr = httpd_conf_strdup(x->conf, a);
    l->file = d->file, l->line = d->line;
    for (int i = 2; i < d->nargs; i++) {
        if (strcmp(d->args[i], "default_server") == 0)
            l->default_server = 1;
        else if (strcmp(d->args[i], "tls") == 0 || strcmp(d->args[i], "ssl") == 0)
            l->tls = 1;
        else
            return httpd_conf_fail(x, d, "unknown listen parameter \"%s\"", d->args[i]);
    }
    s->listens = v;
    s->nlistens++;
    return l->addr ? 0 : -1;
}

static int server_name_directive(struct httpd_conf_ctx *x, const struct httpd_conf_dir *d)
{
    struct httpd_server *s = x->srv;
    const char **v = httpd_conf_alloc(x->conf, (size_t)(s->nnames + d->nargs) * sizeof *v);
    if (v == NULL)
        return -1;
    if (s->nnames)
        memcpy(v, s->names, (size_t)s->nnames * sizeof *v);
    for (int i = 1; i < d->nargs; i++) {
        char *n = httpd_conf_strdup(x->conf, d->args[i]);
        if (n == NULL)
            return -1;
        for (char *p = n; *p; p++)
            *p = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
        if (strchr(n + (n[0] == '*' ? 1 : 0), '*') || (n[0] == '*' && n[1] != '.') || n[0] == '~')
            return httpd_conf_fail(x, d,
                                   "server name \"%s\": only exact names and a leading "
                                   "\"*.\" are supported",
                                   d->args[i]);
        v[s->nnames++] = n;
    }
    s->names = v;
    return 0;
}

static int server_directive(struct httpd_conf_ctx *x, const struct httpd_conf_dir *d)
{
    const char *n = d->args[0];
    if (strcmp(n, "listen") == 0)
        return listen_directive(x, d);
    return server_name_directive(x, d);
}

static const struct dir_spec server_only[] = {
    {"listen", HTTPD_C_SRV, 1, 3},
    {"server_name", HTTPD_C_SRV, 1, 64},
};

static const struct dir_spec *find_spec(const struct dir_spec *t, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(t[i].name, name) == 0)
            return &t[i];
    return NULL;
}

static int check_spec(struct httpd_conf_ctx *x, const struct httpd_conf_dir *d,
                      const struct dir_spec *sp)
{
    if (!(sp->levels & x->level))
        return httpd_conf_fail(x, d, "\"%s\" is not allowed here", d->args[0]);
    if (d->nargs - 1 < sp->min || d->nargs - 1 > sp->max)
        return httpd_conf_fail(x, d, "invalid number of arguments in \"%s\"", d->args[0]);
    if (d->block)
        return httpd_conf_fail(x, d, "\"%s\" takes no block", d->args[0]);
    return 0;
}

static int simple_directive(struct httpd_conf_ctx *x, const struct httpd_conf_dir *d)
{
    const struct dir_spec *sp = find_spec(globals, sizeof globals / sizeof globals[0], d->args[0]);
    if (sp)
        return check_spec(x, d, sp) ? -1 : global_directive(x, d) ? -1 : 0;
    sp = find_spec(server_only, sizeof server_only / sizeof server_only[0], d->args[0]);
    if (sp)
        return check_spec(x, d, sp) ? -1 : server_directive(x, d) ? -1 : 0;
    int rc = httpd_conf_tls_directive(x, d);
    if (rc == 1)
        rc = httpd_conf_rules_directive(x, d);
    if (rc == 1)
        return httpd_conf_fail(x, d, "unknown directive \"%s\"", d->args[0]);
    return rc;
}

static int is_block(const struct httpd_conf_dir *d, const char *name)
{
    return strcmp(d->args[0], name) == 0;
}

/* First pass over a level: everything but server and location blocks. */
static int read_level(struct httpd_conf_ctx *x, const struct httpd_conf_block *b)
{
    for (int i = 0; i < b->n; i++) {
        const struct httpd_conf_dir *d = &b->dirs[i];
        if (is_block(d, "location") && x->level == HTTPD_C_LOC)
            return httpd_conf_fail(x, d, "nested locations are not supported");
        if (is_block(d, "server") || is_block(d, "location"))
            continue;
        if (is_block(d, "http")) {
            if (x->level != HTTPD_C_MAIN || d->nargs != 1 || !d->block)
                return httpd_conf_fail(x, d, "\"http\" is a block at the top level");
            if (read_level(x, d->block) < 0)
                return -1;
            continue;
        }
        if (d->block && !is_block(d, "types"))
            return httpd_conf_fail(x, d, "unknown block \"%s\"", d->args[0]);
        if (simple_directive(x, d) < 0)
            return -1;
    }
    return 0;
}

/* Inserts loc keeping exact locations first, then prefixes longest first. */
static int add_location(struct httpd_conf_ctx *x, const struct httpd_conf_dir *d,
                        const struct httpd_location *loc)
{
    struct httpd_server *s = x->srv;
    for (int i = 0; i < s->nlocs; i++)
        if (s->locs[i].exact == loc->exact && strcmp(s->locs[i].prefix, loc->prefix) == 0)
            return httpd_conf_fail(x, d, "duplicate location \"%s\"", loc->prefix);
    struct httpd_location *v = httpd_conf_alloc(x->conf, (size_t)(s->nlocs + 1) * sizeof *v);
    if (v == NULL)
        return -1;
    int at = 0;
    while (at < s->nlocs && (s->locs[at].exact > loc->exact ||
                             (s->locs[at].exact == loc->exact && s->locs[at].len >= loc->len)))
        at++;
    if (at)
        memcpy(v, s->locs, (size_t)at * sizeof *v);
    v[at] = *loc;
    if (s->nlocs > at)
        memcpy(v + at + 1, s->locs + at, (size_t)(s->nlocs - at) * sizeof *v);
    s->locs = v;
    s->nlocs++;
    return 0;
}

/* location [=|^~] URI { ... } */
static int read_location(struct httpd_conf_ctx *srv_x, const struct httpd_conf_dir *d)
{
    struct httpd_location loc = {.r = *srv_x->r};
    const char *uri = d->nargs == 2 ? d->args[1] : d->nargs == 3 ? d->args[2] : NULL;
    if (d->nargs == 3) {
        if (strcmp(d->args[1], "=") == 0)
            loc.exact = 1;
        else if (strcmp(d->args[1], "^~") != 0)
            return httpd_conf_fail(srv_x, d,
                                   "location modifier \"%s\" is not supported "
                                   "(prefix, \"=\" or \"^~\"; no regexes)",
                                   d->args[1]);
    }
    if (uri == NULL || !d->block)
        return httpd_conf_fail(srv_x, d, "expected \"location [=] URI { ... }\"");
    if (uri[0] != '/')
        return httpd_conf_fail(srv_x, d, "location \"%s\" must start with \"/\"", uri);
    if ((loc.prefix = httpd_conf_strdup(srv_x->conf, uri)) == NULL)
        return -1;
    loc.len = strlen(uri);
    struct httpd_conf_ctx x = *srv_x;
    x.r = &loc.r, x.level = HTTPD_C_LOC, x.fresh = 0;
    if (read_level(&x, d->block) < 0)
        return -1;
    if (loc.r.alias && loc.exact == 0 && loc.prefix[loc.len - 1] == '/' &&
        loc.r.root[strlen(loc.r.root) - 1] != '/')
        return httpd_conf_fail(srv_x, d,
                               "alias \"%s\" of location \"%s\" should end in "
                               "\"/\" as the location does",
                               loc.r.root, loc.prefix);
    return add_location(srv_x, d, &loc);
}

static int read_server(struct httpd_conf_ctx *main_x, const struct httpd_conf_dir *d)
{
    struct httpd_conf *c = main_x->conf;
    if (d->nargs != 1 || !d->block)
        return httpd_conf_fail(main_x, d, "\"server\" takes no arguments and needs a block");
    struct httpd_server *s = httpd_conf_alloc(c, sizeof *s);
    struct httpd_server **v = httpd_conf_alloc(c, (size_t)(c->nservers + 1) * sizeof *v);
    if (s == NULL || v == NULL)
        return -1;
    if (c->nservers)
        memcpy(v, c->servers, (size_t)c->nservers * sizeof *v);
    v[c->nservers] = s;
    c->servers = v;
    c->nservers++;
    s->r = c->main_rules;
    s->file = d->file, s->line = d->line;
    struct httpd_conf_ctx x = {.conf = c,
                               .srv = s,
                               .r = &s->r,
                               .level = HTTPD_C_SRV,
                               .err = main_x->err,
                               .cap = main_x->cap};
    if (read_level(&x, d->block) < 0)
        return -1;
    for (int i = 0; i < d->block->n; i++) {
        const struct httpd_conf_dir *ld = &d->block->dirs[i];
        if (is_block(ld, "server"))
            return httpd_conf_fail(&x, ld, "\"server\" is not allowed here");
        if (is_block(ld, "location") && read_location(&x, ld) < 0)
            return -1;
    }
    if (s->nlistens == 0) {
        struct httpd_conf_dir dflt = {.args = (char *[]){"listen", "0.0.0.0:80"},
                                      .nargs = 2,
                                      .file = d->file,
                                      .line = d->line};
        return listen_directive(&x, &dflt);
    }
    return 0;
}

static int read_servers(struct httpd_conf_ctx *x, const struct httpd_conf_block *b)
{
    for (int i = 0; i < b->n; i++) {
        const struct httpd_conf_dir *d = &b->dirs[i];
        if (is_block(d, "http") && d->block && read_servers(x, d->block) < 0)
            return -1;
        if (is_block(d, "location"))
            return httpd_conf_fail(x, d, "\"location\" is not allowed here");
        if (is_block(d, "server") && read_server(x, d) < 0)
            return -1;
    }
    return 0;
}

static int same_addr(const union eddy_sockaddr *a, const union eddy_sockaddr *b)
{
    return eddy_sockaddr_len(&a->sa) == eddy_sockaddr_len(&b->sa) &&
           memcmp(a, b, eddy_sockaddr_len(&a->sa)) == 0;
}

static struct httpd_addr *addr_for(struct httpd_conf *c, const struct httpd_listen *l)
{
    for (int i = 0; i < c->naddrs; i++)
        if (same_addr(&c->addrs[i].sa, &l->sa))
            return &c->addrs[i];
    return NULL;
}

/* Adds srv to the address of l; the default server goes first. */
static int add_to_addr(struct httpd_conf_ctx *x, struct httpd_server *srv,
                       const struct httpd_listen *l, const struct httpd_conf_dir *where)
{
    struct httpd_conf *c = x->conf;
    struct httpd_addr *a = addr_for(c, l);
    if (a == NULL) {
        struct httpd_addr *v = httpd_conf_alloc(c, (size_t)(c->naddrs + 1) * sizeof *v);
        if (v == NULL)
            return -1;
        if (c->naddrs)
            memcpy(v, c->addrs, (size_t)c->naddrs * sizeof *v);
        c->addrs = v;
        a = &v[c->naddrs++];
        a->addr = l->addr, a->sa = l->sa, a->tls = l->tls;
    } else if (a->tls != l->tls) {
        return httpd_conf_fail(x, where, "\"%s\" is both a TLS and a plain listener", l->addr);
    }
    for (int i = 0; i < a->nservers; i++)
        if (a->servers[i] == srv)
            return 0;
    struct httpd_server **v = httpd_conf_alloc(c, (size_t)(a->nservers + 1) * sizeof *v);
    if (v == NULL)
        return -1;
    int at = a->nservers;
    if (l->default_server) {
        for (int i = 0; i < a->nservers; i++)
            for (int j = 0; j < a->servers[i]->nlistens; j++)
                if (a->servers[i]->listens[j].default_server &&
                    same_addr(&a->servers[i]->listens[j].sa, &l->sa))
                    return httpd_conf_fail(x, where, "a duplicate default server for %s", l->addr);
        at = 0;
    }
    if (a->nservers)
        memcpy(v + (at == 0), a->servers, (size_t)a->nservers * sizeof *v);
    v[at] = srv;
    a->servers = v;
    a->nservers++;
    return 0;
}

static int is_wildcard(const union eddy_sockaddr *a)
{
    static const struct in6_addr any6;
    return a->sa.sa_family == AF_INET ? a->in4.sin_addr.s_addr == 0
                                      : memcmp(&a->in6.sin6_addr, &any6, sizeof any6) == 0;
}

/* Linux refuses to bind 127.0.0.1:P next to 0.0.0.0:P, so, as nginx does, only the
 * wildcard is bound and the specific address is told apart by the accepted socket's
 * local address (site.c). Both must then be TLS or both plain. */
static int mark_wildcard_served(struct httpd_conf_ctx *x)
{
    struct httpd_conf *c = x->conf;
    for (int i = 0; i < c->naddrs; i++)
        for (int w = 0; w < c->naddrs; w++) {
            struct httpd_addr *a = &c->addrs[i], *wa = &c->addrs[w];
            if (w == i || is_wildcard(&a->sa) || !is_wildcard(&wa->sa) ||
                a->sa.sa.sa_family != wa->sa.sa.sa_family ||
                eddy_sockaddr_port(&a->sa.sa) != eddy_sockaddr_port(&wa->sa.sa))
                continue;
            if (a->tls != wa->tls) {
                const struct httpd_server *s = a->servers[0];
                struct httpd_conf_dir where = {.file = s->file, .line = s->line};
                return httpd_conf_fail(x, &where,
                                       "%s and %s share a port, one with TLS and one without",
                                       a->addr, wa->addr);
            }
            a->via_wildcard = 1;
        }
    return 0;
}

static int build_addrs(struct httpd_conf_ctx *x)
{
    struct httpd_conf *c = x->conf;
    for (int i = 0; i < c->nservers; i++) {
        struct httpd_server *s = c->servers[i];
        struct httpd_conf_dir where = {.file = s->file, .line = s->line};
        for (int j = 0; j < s->nlistens; j++)
            if (add_to_addr(x, s, &s->listens[j], &where) < 0)
                return -1;
    }
    return mark_wildcard_served(x);
}

static int open_root(struct httpd_conf_ctx *x, struct httpd_rules *r, int open_it)
{
    struct httpd_conf *c = x->conf;
    for (struct httpd_docroot *d = c->docroots; d; d = d->next)
        if (strcmp(d->path, r->root) == 0) {
            r->docroot = d;
            return 0;
        }
    struct httpd_docroot *d = httpd_conf_alloc(c, sizeof *d);
    if (d == NULL)
        return -1;
    d->path = r->root;
    if (open_it) {
        struct eddy_http_static_options so;
        eddy_http_static_options_init(&so);
        so.root = r->root;
        /* dotfiles are decided per request (allow_dotfiles, /.well-known/) */
        so.resolve_flags = EDDY_HTTP_RESOLVE_DOTFILES;
        if (c->follow_symlinks)
            so.resolve_flags |= EDDY_HTTP_RESOLVE_FOLLOW_SYMLINKS;
        int rc = eddy_http_static_new(&d->files, &so);
        if (rc < 0) {
            struct httpd_conf_dir where = {.file = r->root_file, .line = r->root_line};
            return httpd_conf_fail(x, &where, "root \"%s\": %s", r->root, strerror(-rc));
        }
    }
    d->next = c->docroots;
    c->docroots = d;
    r->docroot = d;
    return 0;
}

static int open_roots(struct httpd_conf_ctx *x, int open_it)
{
    struct httpd_conf *c = x->conf;
    for (int i = 0; i < c->nservers; i++) {
        struct httpd_server *s = c->servers[i];
        if (open_root(x, &s->r, open_it) < 0)
            return -1;
        for (int j = 0; j < s->nlocs; j++)
            if (open_root(x, &s->locs[j].r, open_it) < 0)
                return -1;
    }
    return 0;
}

static void init_globals(struct httpd_globals *g)
{
    memset(g, 0, sizeof *g);
    g->error_level = HTTPD_LOG_ERROR;
    g->worker_threads = g->keepalive_requests = g->max_connections = HTTPD_UNSET;
    g->client_max_body_size = g->keepalive_timeout_ms = HTTPD_UNSET;
    g->client_header_timeout_ms = g->client_body_timeout_ms = g->send_timeout_ms = HTTPD_UNSET;
    httpd_conf_tls_init(&g->tls);
}

static void init_main_rules(struct httpd_rules *r, const char *root)
{
    static const char *const index[] = {"index.html"};
    static const char *const gzip_types[] = {"text/html"};
    r->root = root;
    r->root_file = "(command line)";
    r->index = (const char **)index;
    r->nindex = 1;
    r->expires = HTTPD_EXPIRES_OFF;
    r->gzip_types = (const char **)gzip_types;
    r->ngzip_types = 1;
    r->gzip_min_length = 20;
    r->gzip_comp_level = 1;
}

int httpd_conf_build(struct httpd_conf_tree *t, const struct httpd_conf_load_options *o,
                     struct httpd_conf **out, char *err, size_t cap)
{
    struct httpd_conf *c = calloc(1, sizeof *c);
    if (c == NULL) {
        snprintf(err, cap, "out of memory");
        return -1;
    }
    atomic_init(&c->refs, 1);
    init_globals(&c->g);
    init_main_rules(&c->main_rules, "./www");
    c->follow_symlinks = o->follow_symlinks;
    struct httpd_conf_ctx x = {
        .conf = c, .r = &c->main_rules, .level = HTTPD_C_MAIN, .err = err, .cap = cap};
    err[0] = '\0';
    int rc = read_level(&x, &t->top);
    if (rc == 0 && o->tls_ticket_renewal != 0)
        c->g.tls.ticket_renewal = o->tls_ticket_renewal > 0;
    if (rc == 0 && o->root) {
        c->main_rules.root = httpd_conf_strdup(c, o->root);
        c->main_rules.root_file = "(command line)", c->main_rules.root_line = 0;
    }
    if (rc == 0)
        rc = read_servers(&x, &t->top);
    if (rc == 0 && c->nservers == 0) {
        snprintf(err, cap, "%s: no \"server\" block", t->nfiles ? t->files[0] : "config");
        rc = -1;
    }
    if (rc == 0)
        rc = build_addrs(&x);
    if (rc == 0)
        rc = httpd_conf_tls_build(&x, o->open_roots);
    if (rc == 0)
        rc = open_roots(&x, o->open_roots);
    if (rc < 0) {
        if (err[0] == '\0')
            snprintf(err, cap, "out of memory");
        httpd_conf_unref(c);
        return -1;
    }
    *out = c;
    return 0;
}

int httpd_conf_load(const char *path, const struct httpd_conf_load_options *o,
                    struct httpd_conf **out, char *err, size_t cap)
{
    struct httpd_conf_tree *t;
    if (httpd_conf_parse_file(path, &t, err, cap) < 0)
        return -1;
    int rc = httpd_conf_build(t, o, out, err, cap);
    if (rc == 0 && ((*out)->path = httpd_conf_strdup(*out, path)) == NULL) {
        httpd_conf_unref(*out);
        snprintf(err, cap, "out of memory");
        rc = -1;
    }
    httpd_conf_tree_free(t);
    return rc;
}

struct httpd_conf *httpd_conf_ref(struct httpd_conf *c)
{
    atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
    return c;
}

void httpd_conf_unref(struct httpd_conf *c)
{
    if (c == NULL || atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) != 1)
        return;
    for (struct httpd_docroot *d = c->docroots; d; d = d->next)
        eddy_http_static_free(d->files);
    while (c->arena) {
        struct httpd_arena *a = c->arena;
        c->arena = a->next;
        free(a);
    }
    free(c);
}

const struct httpd_location *httpd_conf_location(const struct httpd_server *srv, const char *path,
                                                 size_t len)
{
    for (int i = 0; i < srv->nlocs; i++) {
        const struct httpd_location *l = &srv->locs[i];
        if (l->exact ? l->len == len && memcmp(l->prefix, path, len) == 0
                     : l->len <= len && memcmp(l->prefix, path, l->len) == 0)
            return l; /* sorted: exact ones, then longest prefix first */
    }
    return NULL;
}

/* Host without its port, compared to a name: exact, or "*.suffix" matching a longer
 * host ending in ".suffix". Returns the length of the match (0 none). */
static size_t name_match(const char *name, const char *host, size_t len)
{
    if (name[0] == '*') {
        size_t n = strlen(name + 1); /* ".suffix" */
        return len > n && strncasecmp(host + len - n, name + 1, n) == 0 ? n : 0;
    }
    return strlen(name) == len && strncasecmp(name, host, len) == 0 ? len + 1000000 : 0;
}

const struct httpd_server *httpd_conf_server(const struct httpd_conf *c, int addr, const char *host,
                                             size_t len)
{
    const struct httpd_addr *a = &c->addrs[addr];
    if (len > 0 && host[0] != '[') {
        const char *colon = memchr(host, ':', len);
        if (colon)
            len = (size_t)(colon - host);
    }
    while (len > 0 && host[len - 1] == '.')
        len--;
    const struct httpd_server *best = a->servers[0];
    size_t best_len = 0;
    for (int i = 0; i < a->nservers && len > 0; i++)
        for (int j = 0; j < a->servers[i]->nnames; j++) {
            size_t m = name_match(a->servers[i]->names[j], host, len);
            if (m > best_len)
                best = a->servers[i], best_len = m;
        }
    return best;
}
