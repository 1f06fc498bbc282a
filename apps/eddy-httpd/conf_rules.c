/*
 * Directives of the per-request level (main, server, location): where files come
 * from and what is added to the answers. Each sets a field of the current level's
 * struct httpd_rules; a list directive's first use at a level drops the inherited list.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"

enum { L_INDEX, L_TYPES, L_ERRPAGE, L_HEADERS, L_TRY, L_GZIP_TYPES };

struct rule_spec {
    const char *name;
    int levels, min, max;
    int (*fn)(struct httpd_conf_ctx *x, const struct httpd_conf_dir *d);
};

#define ALL (HTTPD_C_MAIN | HTTPD_C_SRV | HTTPD_C_LOC)

/* Appends n items of size sz to the list *arr (count *cnt), dropping the inherited list
 * at the first use of this level. Items live in the config's arena. */
static int push(struct httpd_conf_ctx *x, int list, const void **arr, int *cnt, size_t sz,
                const void *items, int n)
{
    if (!(x->fresh & (1u << list))) {
        x->fresh |= 1u << list;
        *cnt = 0;
    }
    char *v = httpd_conf_alloc(x->conf, (size_t)(*cnt + n) * sz);
    if (v == NULL)
        return -1;
    if (*cnt)
        memcpy(v, *arr, (size_t)*cnt * sz);
    memcpy(v + (size_t)*cnt * sz, items, (size_t)n * sz);
    *arr = v;
    *cnt += n;
    return 0;
}

static const char *keep(struct httpd_conf_ctx *x, const char *s)
{
    return httpd_conf_strdup(x->conf, s);
}

/* Copies args[from..nargs) into the arena as a list. */
static int push_args(struct httpd_conf_ctx *x, const struct httpd_conf_dir *d, int from, int list,
                     const char ***arr, int *cnt)
{
    const char *v[64];
    int n = 0;
    for (int i = from; i < d->nargs && n < 64; i++)
        if ((v[n++] = keep(x, d->args[i])) == NULL)
            return -1;
    return push(x, list, (const void **)arr, cnt, sizeof *v, v, n);
}

static int root_fn(struct httpd_conf_ctx *x, const struct httpd_conf_dir *d)
{
    struct httpd_rules *r = x->r;
    r->alias = d->args[0][0] == 'a';
    r->root_file = d->file, r->root_line = d->line;
    return (r->root = keep(x, d->args[1])) ? 0 : -1;
}

static int index_fn(struct httpd_conf_ctx *x, const struct httpd_conf_dir *d)
{
    for (int i = 1; i < d->nargs; i++)
        if (strchr(d->args[i], '/') || d->args[i][0] == '\0' || d->args[i][0] == '.')
            return httpd_conf_fail(x, d, "index \"%s\": a plain file name is expected", d->args[i]);
    return push_args(x, d, 1, L_INDEX, &x->r->index, &x->r->nindex);
}

static int autoindex_fn(struct httpd_conf_ctx *x, const struct httpd_conf_dir *d)
{
    return httpd_conf_on_off(x, d, &x->r->autoindex);
}

static int charset_fn(struct httpd_conf_ctx *x, const struct httpd_conf_dir *d)
{
    if (strcmp(d->args[1], "off") == 0) {
        x->r->charset = NULL;
        return 0;
    }
    if (strpbrk(d->args[1], " ;\"\t\r\n"))
        return httpd_conf_fail(x, d, "invalid charset \"%s\"", d->args[1]);
    return (x->r->charset = keep(x, d->args[1])) ? 0 : -1;
}

static int types_fn(struct httpd_conf_ctx *x, const struct httpd_conf_dir *d)
{
    if (!d->block || d->nargs != 1)
        return httpd_conf_fail(x, d, "\"types\" takes a block: types { TYPE EXT...; }");
    const struct httpd_conf_block *b = d->block;
    for (int i = 0; i < b->n; i++) {
        const struct httpd_conf_dir *t = &b->dirs[i];
        if (t->block || t->nargs < 2 || !strchr(t->args[0], '/'))
            return httpd_conf_fail(x, t, "expected \"TYPE/SUBTYPE EXT...;\" in \"types\"");
        for (int j = 1; j < t->nargs; j++) {
            struct httpd_type ty = {keep(x, t->args[j]), keep(x, t->args[0])};
            if (!ty.ext || !ty.type ||
                push(x, L_TYPES, (const void **)&x->r->types, &x->r->ntypes, sizeof ty, &ty, 1))
                return -1;
        }
    }
    return 0;
}

static int code(const char *s, int lo, int hi)
{
    char *end;
    long v = strtol(s, &end, 10);
    return *end || end == s || v < lo || v > hi ? -1 : (int)v;
}

static int error_page_fn(struct httpd_conf_ctx *x, const struct httpd_conf_dir *d)
{
    const char *uri = d->args[d->nargs - 1];
    if (uri[0] != '/' && strncmp(uri, "http://", 7) && strncmp(uri, "https://", 8))
        return httpd_conf_fail(x, d, "error_page URI \"%s\" must start with \"/\" or be a URL",
                               uri);
    for (int i = 1; i < d->nargs - 1; i++) {
        struct httpd_errpage e = {code(d->args[i], 300, 599), keep(x, uri)};
        if (e.code < 0)
            return httpd_conf_fail(x, d, "error_page: invalid code \"%s\"%s", d->args[i],
                                   d->args[i][0] == '=' ? " (\"=CODE\" is not supported)" : "");
        if (!e.uri ||
            push(x, L_ERRPAGE, (const void **)&x->r->errpages, &x->r->nerrpages, sizeof e, &e, 1))
            return -1;
    }
    return 0;
}

static int add_header_fn(struct httpd_conf_ctx *x, const struct httpd_conf_dir *d)
{
    const char *n = d->args[1], *v = d->args[2];
    if (n[0] == '\0' || strpbrk(n, " \t\r\n:()<>@,;\\\"/[]?={}"))
        return httpd_conf_fail(x, d, "add_header: invalid field name \"%s\"", n);
    for (const char *p = v; *p; p++)
        if ((unsigned char)*p < 0x20 && *p != '\t')
            return httpd_conf_fail(x, d, "add_header: control character in the value");
    if (d->nargs == 4 && strcmp(d->args[3], "always") != 0)
        return httpd_conf_fail(x, d, "add_header: expected \"always\", not \"%s\"", d->args[3]);
    struct httpd_header h = {keep(x, n), keep(x, v), d->nargs == 4};
    if (!h.name || !h.value)
        return -1;
    return push(x, L_HEADERS, (const void **)&x->r->headers, &x->r->nheaders, sizeof h, &h, 1);
}

static int expires_fn(struct httpd_conf_ctx *x, const struct httpd_conf_dir *d)
{
    const char *v = d->args[1];
    long long ms;
    if (strcmp(v, "off") == 0)
        x->r->expires = HTTPD_EXPIRES_OFF;
    else if (strcmp(v, "epoch") == 0)
        x->r->expires = HTTPD_EXPIRES_EPOCH;
    else if (strcmp(v, "max") == 0)
        x->r->expires = HTTPD_EXPIRES_MAX;
    else if (httpd_conf_parse_time_ms(v + (v[0] == '-'), &ms) == 0)
        x->r->expires = (v[0] == '-' ? -1 : 1) * (ms / 1000);
    else
        return httpd_conf_fail(x, d, "expires: invalid time \"%s\"", v);
    return 0;
}

static int return_fn(struct httpd_conf_ctx *x, const struct httpd_conf_dir *d)
{
    const char *a = d->args[1];
    if (d->nargs == 2 && (strncmp(a, "http://", 7) == 0 || strncmp(a, "https://", 8) == 0 ||
                          strncmp(a, "$scheme://", 10) == 0)) {
        x->r->ret_code = 302;
        return (x->r->ret_text = keep(x, a)) ? 0 : -1;
    }
    if ((x->r->ret_code = code(a, 200, 599)) < 0 || x->r->ret_code == 0)
        return httpd_conf_fail(x, d, "return: invalid code \"%s\"", a);
    x->r->ret_text = NULL;
    if (d->nargs == 3 && (x->r->ret_text = keep(x, d->args[2])) == NULL)
        return -1;
    return 0;
}

static int try_files_fn(struct httpd_conf_ctx *x, const struct httpd_conf_dir *d)
{
    const char *last = d->args[d->nargs - 1];
    if (last[0] != '/' && !(last[0] == '=' && code(last + 1, 200, 599) > 0))
        return httpd_conf_fail(x, d, "try_files: the last item \"%s\" must be a URI or =CODE",
                               last);
    x->fresh &= ~(1u << L_TRY); /* each try_files replaces the previous one */
    return push_args(x, d, 1, L_TRY, &x->r->try_files, &x->r->ntry);
}

static int gzip_fn(struct httpd_conf_ctx *x, const struct httpd_conf_dir *d)
{
    return httpd_conf_on_off(x, d,
                             strcmp(d->args[0], "gzip") == 0 ? &x->r->gzip : &x->r->gzip_static);
}

static int gzip_types_fn(struct httpd_conf_ctx *x, const struct httpd_conf_dir *d)
{
    for (int i = 1; i < d->nargs; i++)
        if (!strchr(d->args[i], '/') && strcmp(d->args[i], "*") != 0)
            return httpd_conf_fail(x, d, "gzip_types: \"%s\" is not a media type", d->args[i]);
    return push_args(x, d, 1, L_GZIP_TYPES, &x->r->gzip_types, &x->r->ngzip_types);
}

static int gzip_min_length_fn(struct httpd_conf_ctx *x, const struct httpd_conf_dir *d)
{
    long long v;
    if (httpd_conf_parse_size(d->args[1], &v) < 0)
        return httpd_conf_fail(x, d, "gzip_min_length: invalid size \"%s\"", d->args[1]);
    x->r->gzip_min_length = v;
    return 0;
}

static int gzip_comp_level_fn(struct httpd_conf_ctx *x, const struct httpd_conf_dir *d)
{
    if ((x->r->gzip_comp_level = code(d->args[1], 1, 9)) < 0)
        return httpd_conf_fail(x, d, "gzip_comp_level: expected 1 to 9, not \"%s\"", d->args[1]);
    return 0;
}

static int allow_dotfiles_fn(struct httpd_conf_ctx *x, const struct httpd_conf_dir *d)
{
    return httpd_conf_on_off(x, d, &x->r->allow_dotfiles);
}

static int deny_fn(struct httpd_conf_ctx *x, const struct httpd_conf_dir *d)
{
    if (strcmp(d->args[1], "all") != 0)
        return httpd_conf_fail(x, d, "deny: only \"deny all;\" is supported");
    x->r->deny = 1;
    return 0;
}

static const struct rule_spec rules[] = {
    {"root", ALL, 1, 1, root_fn},
    {"alias", HTTPD_C_LOC, 1, 1, root_fn},
    {"index", ALL, 1, 16, index_fn},
    {"autoindex", ALL, 1, 1, autoindex_fn},
    {"charset", ALL, 1, 1, charset_fn},
    {"types", ALL, 0, 0, types_fn},
    {"error_page", ALL, 2, 32, error_page_fn},
    {"add_header", ALL, 2, 3, add_header_fn},
    {"expires", ALL, 1, 1, expires_fn},
    {"return", HTTPD_C_SRV | HTTPD_C_LOC, 1, 2, return_fn},
    {"try_files", HTTPD_C_SRV | HTTPD_C_LOC, 2, 16, try_files_fn},
    {"gzip", ALL, 1, 1, gzip_fn},
    {"gzip_static", ALL, 1, 1, gzip_fn},
    {"gzip_types", ALL, 1, 64, gzip_types_fn},
    {"gzip_min_length", ALL, 1, 1, gzip_min_length_fn},
    {"gzip_comp_level", ALL, 1, 1, gzip_comp_level_fn},
    {"allow_dotfiles", ALL, 1, 1, allow_dotfiles_fn},
    {"deny", HTTPD_C_SRV | HTTPD_C_LOC, 1, 1, deny_fn},
};

int httpd_conf_rules_directive(struct httpd_conf_ctx *x, const struct httpd_conf_dir *d)
{
    for (size_t i = 0; i < sizeof rules / sizeof rules[0]; i++) {
        const struct rule_spec *s = &rules[i];
        if (strcmp(s->name, d->args[0]) != 0)
            continue;
        if (!(s->levels & x->level))
            return httpd_conf_fail(x, d, "\"%s\" is not allowed here", d->args[0]);
        if (d->nargs - 1 < s->min || d->nargs - 1 > s->max)
            return httpd_conf_fail(x, d, "invalid number of arguments in \"%s\"", d->args[0]);
        if (d->block && s->fn != types_fn)
            return httpd_conf_fail(x, d, "\"%s\" takes no block", d->args[0]);
        return s->fn(x, d) < 0 ? -1 : 0;
    }
    return 1;
}
