/*
 * Routes: registration (pattern check, conflict check, ranking) and matching.
 *
 * A pattern is a decoded path: "/users/:id/posts". A segment that starts with ':' is a
 * parameter matching one non-empty path segment; every other byte matches itself. An
 * exact route matches the whole path; a prefix route matches whole leading segments
 * ("/api" takes "/api" and "/api/x", not "/apix"; "/" takes everything).
 *
 * The routes are kept sorted by rank once, at registration, so a lookup takes the first
 * route that matches path and method. Rank, most specific first: more segments; exact
 * before prefix; at the first segment where one has a literal and the other a parameter,
 * the literal; the longer pattern ("/api/" before "/api"); then a named method before GET
 * (which also takes HEAD) before EDDY_HTTP_ANY. Two routes equal in all of that are the
 * same route twice, reported at registration as -EEXIST.
 */
#include "http_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static int is_param(const char *pattern, const char *p)
{
    return *p == ':' && p > pattern && p[-1] == '/';
}

static int name_char(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           ch == '_' || ch == '-';
}

/* Checks the pattern; fills segs, kinds (bit i: segment i is a parameter, first 32) and
 * key (the pattern with parameter names dropped, for the conflict check). 0 or -EINVAL. */
static int compile(struct http_route *r)
{
    const char *p = r->prefix, *end = p + r->len;
    char *k = r->key;
    unsigned seg = 0;
    if (r->len == 0 || p[0] != '/')
        return -EINVAL;
    while (p < end) {
        if (*p == '/' && p + 1 < end)
            seg++;
        if (!is_param(r->prefix, p)) {
            *k++ = *p++;
            continue;
        }
        const char *name = ++p;
        while (p < end && name_char(*p))
            p++;
        if (p == name || (p < end && *p != '/'))
            return -EINVAL;                                /* ":" alone, or "/:id.json" */
        for (const char *q = r->prefix; q < name - 1; q++) /* a name used twice */
            if (is_param(r->prefix, q) && strncmp(q + 1, name, (size_t)(p - name)) == 0 &&
                !name_char(q[1 + (p - name)]))
                return -EINVAL;
        if (seg <= 32)
            r->kinds |= 1u << (seg - 1);
        r->params = 1;
        *k++ = ':';
    }
    *k = '\0';
    r->segs = seg;
    return 0;
}

static int method_rank(enum eddy_http_method m)
{
    return m == EDDY_HTTP_ANY ? 2 : m == EDDY_HTTP_GET ? 1 : 0;
}

/* Negative when a ranks before b, 0 for the same pattern, mode and method. */
static int compare(const struct http_route *a, const struct http_route *b)
{
    int ea = (a->flags & EDDY_HTTP_ROUTE_EXACT) != 0, eb = (b->flags & EDDY_HTTP_ROUTE_EXACT) != 0;
    if (a->segs != b->segs)
        return a->segs > b->segs ? -1 : 1;
    if (ea != eb)
        return ea ? -1 : 1;
    if (a->kinds != b->kinds) /* the lowest differing bit is the first differing segment */
        return ((a->kinds ^ b->kinds) & a->kinds & -(a->kinds ^ b->kinds)) ? 1 : -1;
    size_t la = strlen(a->key), lb = strlen(b->key);
    if (la != lb)
        return la > lb ? -1 : 1;
    int c = strcmp(a->key, b->key);
    if (c != 0)
        return c;
    if (method_rank(a->method) != method_rank(b->method))
        return method_rank(a->method) - method_rank(b->method);
    return (int)a->method - (int)b->method;
}

static void route_free(struct http_route *r)
{
    free(r->prefix);
    free(r->key);
}

/* Inserts r (owning its strings) at its rank. 0, -EEXIST, -ENOMEM. */
static int insert(struct eddy_http_server *s, struct http_route *nr)
{
    size_t i = 0;
    for (; i < s->nroutes; i++) {
        int c = compare(nr, &s->routes[i]);
        if (c == 0)
            return -EEXIST;
        if (c < 0)
            break;
    }
    struct http_route *r = realloc(s->routes, (s->nroutes + 1) * sizeof(*r));
    if (!r)
        return -ENOMEM;
    s->routes = r;
    memmove(&r[i + 1], &r[i], (s->nroutes - i) * sizeof(*r));
    r[i] = *nr;
    s->nroutes++;
    return 0;
}

#define ROUTE_FLAGS (EDDY_HTTP_ROUTE_NO_BODY | EDDY_HTTP_ROUTE_EXACT | EDDY_HTTP_ROUTE_PREFIX)

int eddy_http_server_route_flags(struct eddy_http_server *s, enum eddy_http_method method,
                                 const char *pattern, unsigned flags, eddy_http_handler_fn handler,
                                 void *data)
{
    if (!pattern || !handler || s->started ||
        (method != EDDY_HTTP_ANY && !eddy_http_method_name(method)) || (flags & ~ROUTE_FLAGS) ||
        ((flags & EDDY_HTTP_ROUTE_EXACT) && (flags & EDDY_HTTP_ROUTE_PREFIX)))
        return -EINVAL;
    struct http_route r = {.len = strlen(pattern), .method = method, .fn = handler, .data = data};
    r.flags = flags & EDDY_HTTP_ROUTE_EXACT ? flags : flags | EDDY_HTTP_ROUTE_PREFIX;
    r.prefix = strdup(pattern);
    r.key = malloc(r.len + 1);
    int rc = r.prefix && r.key ? compile(&r) : -ENOMEM;
    if (rc == 0)
        rc = insert(s, &r);
    if (rc < 0)
        route_free(&r);
    return rc;
}

int eddy_http_server_route(struct eddy_http_server *s, enum eddy_http_method method,
                           const char *prefix, eddy_http_handler_fn handler, void *data)
{
    return eddy_http_server_route_flags(s, method, prefix, 0, handler, data);
}

void eddy__http_routes_free(struct eddy_http_server *s)
{
    for (size_t i = 0; i < s->nroutes; i++)
        route_free(&s->routes[i]);
    free(s->routes);
    s->routes = NULL;
    s->nroutes = 0;
}

/* match() for a route without parameters (params 0), small enough to inline in the
 * lookup every request makes. */
static inline int match_literal(const struct http_route *r, const char *path, size_t len)
{
    if (len < r->len || memcmp(path, r->prefix, r->len) != 0)
        return 0;
    return len == r->len || (!(r->flags & EDDY_HTTP_ROUTE_EXACT) &&
                             (r->prefix[r->len - 1] == '/' || path[r->len] == '/'));
}

/* Whether r takes path; if want is set, *val gets the parameter of that name. */
static int match(const struct http_route *r, const char *path, size_t len, const char *want,
                 size_t wlen, struct eddy_http_str *val)
{
    const char *p = r->prefix, *pe = p + r->len;
    size_t i = 0;
    while (p < pe) {
        if (!is_param(r->prefix, p)) {
            if (i >= len || path[i] != *p)
                return 0;
            p++, i++;
            continue;
        }
        const char *ne = memchr(p, '/', (size_t)(pe - p));
        ne = ne ? ne : pe;
        size_t j = i;
        while (j < len && path[j] != '/')
            j++;
        if (j == i)
            return 0;
        if (want && (size_t)(ne - p - 1) == wlen && memcmp(p + 1, want, wlen) == 0)
            *val = (struct eddy_http_str){path + i, j - i};
        p = ne;
        i = j;
    }
    if (i == len)
        return 1;
    return !(r->flags & EDDY_HTTP_ROUTE_EXACT) && (pe[-1] == '/' || path[i] == '/');
}

const struct http_route *eddy__http_route_find(const struct eddy_http_server *s,
                                               enum eddy_http_method m, const char *path,
                                               size_t len, unsigned *allow)
{
    *allow = 0;
    for (size_t i = 0; i < s->nroutes; i++) {
        const struct http_route *r = &s->routes[i];
        if (!(r->params ? match(r, path, len, NULL, 0, NULL) : match_literal(r, path, len)))
            continue;
        if (r->method == EDDY_HTTP_ANY || r->method == m ||
            (r->method == EDDY_HTTP_GET && m == EDDY_HTTP_HEAD))
            return r;
        *allow |= 1u << r->method;
        if (r->method == EDDY_HTTP_GET)
            *allow |= 1u << EDDY_HTTP_HEAD;
    }
    return NULL;
}

struct eddy_http_str eddy_http_request_param(const struct eddy_http_request *req, const char *name)
{
    struct eddy_http_str v = {NULL, 0};
    if (req->route && name)
        match(req->route, req->path, req->path_len, name, strlen(name), &v);
    return v;
}

const char *eddy_http_request_route(const struct eddy_http_request *req)
{
    return req->route ? req->route->prefix : NULL;
}
