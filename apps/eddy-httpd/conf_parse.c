/*
 * Tokenizer and tree builder for the nginx-style config syntax (see conf_parse.h).
 *
 * One recursive descent over blocks; a directive's words are gathered until ';' or '{'.
 * Nesting and include depth are bounded so that neither a hostile file nor an include
 * cycle can exhaust the stack.
 */
#include "conf_parse.h"

#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_DEPTH         16
#define MAX_INCLUDE_DEPTH 8
#define MAX_FILE_SIZE     (16 << 20)

enum tok { T_EOF, T_WORD, T_SEMI, T_OPEN, T_CLOSE, T_ERR };

struct parser {
    struct httpd_conf_tree *tree;
    const char *file; /* owned by tree */
    const char *p, *end;
    int line;
    int include_depth;
    int allow_include;
    char *word; /* the current word, NUL-terminated */
    size_t wlen, wcap;
    char *err;
    size_t errcap;
};

static int fail(struct parser *ps, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(struct parser *ps, int line, const char *fmt, ...)
{
    char msg[HTTPD_CONF_ERR_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (line > 0)
        snprintf(ps->err, ps->errcap, "%s:%d: %s", ps->file, line, msg);
    else
        snprintf(ps->err, ps->errcap, "%s: %s", ps->file, msg);
    return -1;
}

static int word_put(struct parser *ps, char c)
{
    if (ps->wlen + 2 > ps->wcap) {
        size_t cap = ps->wcap ? ps->wcap * 2 : 64;
        char *w = realloc(ps->word, cap);
        if (w == NULL)
            return fail(ps, ps->line, "out of memory");
        ps->word = w, ps->wcap = cap;
    }
    ps->word[ps->wlen++] = c;
    ps->word[ps->wlen] = '\0';
    return 0;
}

/* Ends an unquoted word. Not strchr: it would match the NUL byte too. */
static int is_delim(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == ';' || c == '{' || c == '}';
}

static void skip_space_and_comments(struct parser *ps)
{
    while (ps->p < ps->end) {
        char c = *ps->p;
        if (c == '\n') {
            ps->line++;
            ps->p++;
        } else if (c == ' ' || c == '\t' || c == '\r') {
            ps->p++;
        } else if (c == '#') {
            while (ps->p < ps->end && *ps->p != '\n')
                ps->p++;
        } else {
            return;
        }
    }
}

/* After a backslash: "\n", "\t", "\r" as nginx reads them, any other character itself. */
static char unescape(char c)
{
    return c == 'n' ? '\n' : c == 't' ? '\t' : c == 'r' ? '\r' : c;
}

static enum tok quoted_word(struct parser *ps)
{
    int start = ps->line;
    char q = *ps->p++;
    while (ps->p < ps->end && *ps->p != q) {
        char c = *ps->p++;
        if (c == '\n')
            ps->line++;
        if (c == '\\' && ps->p < ps->end) {
            c = *ps->p++;
            if (c == '\n')
                ps->line++;
            c = unescape(c);
        }
        if (c == '\0') {
            fail(ps, ps->line, "NUL byte in a string");
            return T_ERR;
        }
        if (word_put(ps, c) < 0)
            return T_ERR;
    }
    if (ps->p == ps->end) {
        fail(ps, start, "unterminated string");
        return T_ERR;
    }
    ps->p++;
    if (ps->p < ps->end && !is_delim(*ps->p)) {
        fail(ps, ps->line, "unexpected \"%c\" after a quoted string", *ps->p);
        return T_ERR;
    }
    return T_WORD;
}

static enum tok next_token(struct parser *ps)
{
    skip_space_and_comments(ps);
    ps->wlen = 0;
    if (ps->word)
        ps->word[0] = '\0';
    if (ps->p == ps->end)
        return T_EOF;
    char c = *ps->p;
    if (c == ';' || c == '{' || c == '}') {
        ps->p++;
        return c == ';' ? T_SEMI : c == '{' ? T_OPEN : T_CLOSE;
    }
    if (c == '"' || c == '\'')
        return quoted_word(ps);
    while (ps->p < ps->end && !is_delim(*ps->p)) {
        c = *ps->p++;
        if (c == '\\' && ps->p < ps->end && *ps->p != '\n')
            c = unescape(*ps->p++);
        if (c == '\0') {
            fail(ps, ps->line, "NUL byte in a word");
            return T_ERR;
        }
        if (word_put(ps, c) < 0)
            return T_ERR;
    }
    return T_WORD;
}

static void free_dir(struct httpd_conf_dir *d);

static void free_block(struct httpd_conf_block *b)
{
    for (int i = 0; i < b->n; i++)
        free_dir(&b->dirs[i]);
    free(b->dirs);
    b->dirs = NULL;
    b->n = b->cap = 0;
}

static void free_dir(struct httpd_conf_dir *d)
{
    for (int i = 0; i < d->nargs; i++)
        free(d->args[i]);
    free(d->args);
    if (d->block) {
        free_block(d->block);
        free(d->block);
    }
}

static int add_arg(struct parser *ps, struct httpd_conf_dir *d)
{
    char **v = realloc(d->args, (size_t)(d->nargs + 1) * sizeof *v);
    if (v == NULL)
        return fail(ps, ps->line, "out of memory");
    d->args = v;
    if ((v[d->nargs] = strdup(ps->word ? ps->word : "")) == NULL)
        return fail(ps, ps->line, "out of memory");
    d->nargs++;
    return 0;
}

static int push_dir(struct parser *ps, struct httpd_conf_block *b, struct httpd_conf_dir *d)
{
    if (b->n == b->cap) {
        int cap = b->cap ? b->cap * 2 : 8;
        struct httpd_conf_dir *v = realloc(b->dirs, (size_t)cap * sizeof *v);
        if (v == NULL)
            return fail(ps, d->line, "out of memory");
        b->dirs = v, b->cap = cap;
    }
    b->dirs[b->n++] = *d;
    return 0;
}

static int parse_block(struct parser *ps, struct httpd_conf_block *b, int depth);
static int include(struct parser *ps, struct httpd_conf_block *b, const struct httpd_conf_dir *d);

/* Reads the words of one directive whose first word was just read, and what ends it. */
static int parse_directive(struct parser *ps, struct httpd_conf_block *b, int depth)
{
    struct httpd_conf_dir d = {.file = ps->file, .line = ps->line};
    enum tok t = T_WORD;
    while (t == T_WORD) {
        if (add_arg(ps, &d) < 0)
            goto bad;
        t = next_token(ps);
    }
    if (t == T_ERR)
        goto bad;
    if (t == T_EOF || t == T_CLOSE) {
        if (t == T_EOF)
            fail(ps, ps->line, "unexpected end of file, expecting \";\" or \"{\"");
        else
            fail(ps, ps->line, "unexpected \"}\" (missing \";\" after \"%s\"?)", d.args[0]);
        goto bad;
    }
    if (t == T_SEMI) {
        if (strcmp(d.args[0], "include") == 0) {
            int rc = include(ps, b, &d);
            free_dir(&d);
            return rc;
        }
        if (push_dir(ps, b, &d) == 0)
            return 0;
        goto bad;
    }
    if (depth + 1 >= MAX_DEPTH) {
        fail(ps, d.line, "blocks nested too deeply");
        goto bad;
    }
    if ((d.block = calloc(1, sizeof *d.block)) == NULL) {
        fail(ps, d.line, "out of memory");
        goto bad;
    }
    if (parse_block(ps, d.block, depth + 1) < 0 || push_dir(ps, b, &d) < 0)
        goto bad;
    return 0;
bad:
    free_dir(&d);
    return -1;
}

/* Directives until '}' (depth > 0) or the end of the file (depth 0). */
static int parse_block(struct parser *ps, struct httpd_conf_block *b, int depth)
{
    int open_line = ps->line;
    for (;;) {
        enum tok t = next_token(ps);
        switch (t) {
        case T_ERR:
            return -1;
        case T_EOF:
            if (depth > 0)
                return fail(ps, ps->line,
                            "unexpected end of file, expecting \"}\" (block opened on line %d)",
                            open_line);
            return 0;
        case T_CLOSE:
            if (depth == 0)
                return fail(ps, ps->line, "unexpected \"}\"");
            return 0;
        case T_SEMI:
            return fail(ps, ps->line, "unexpected \";\"");
        case T_OPEN:
            return fail(ps, ps->line, "unexpected \"{\" (a block needs a directive name)");
        case T_WORD:
            if (parse_directive(ps, b, depth) < 0)
                return -1;
            break;
        }
    }
}

static const char *keep_file_name(struct parser *ps, const char *name)
{
    struct httpd_conf_tree *t = ps->tree;
    char **v = realloc(t->files, (size_t)(t->nfiles + 1) * sizeof *v);
    if (v == NULL)
        return NULL;
    t->files = v;
    if ((v[t->nfiles] = strdup(name)) == NULL)
        return NULL;
    return v[t->nfiles++];
}

/* Parses text as file `name` into b, sharing the tree and error buffer of outer. */
static int parse_into(struct parser *outer, const char *name, const char *text, size_t len,
                      struct httpd_conf_block *b, int include_depth)
{
    struct parser ps = {
        .tree = outer->tree,
        .p = text,
        .end = text + len,
        .line = 1,
        .include_depth = include_depth,
        .allow_include = outer->allow_include,
        .err = outer->err,
        .errcap = outer->errcap,
    };
    ps.file = keep_file_name(&ps, name);
    if (ps.file == NULL) {
        snprintf(outer->err, outer->errcap, "%s: out of memory", name);
        return -1;
    }
    int rc = parse_block(&ps, b, 0);
    free(ps.word);
    return rc;
}

/* Reads a whole file (bounded) into a malloc'ed buffer. 0 or -errno. */
static int read_file(const char *path, char **out, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    struct stat st;
    if (fstat(fd, &st) < 0)
        st.st_mode = 0;
    if (!S_ISREG(st.st_mode) || st.st_size > MAX_FILE_SIZE) {
        int e = S_ISDIR(st.st_mode) ? -EISDIR : S_ISREG(st.st_mode) ? -EFBIG : -EINVAL;
        close(fd);
        return e;
    }
    char *buf = malloc((size_t)st.st_size + 1);
    size_t got = 0;
    while (buf && got < (size_t)st.st_size) {
        ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    if (buf == NULL)
        return -ENOMEM;
    *out = buf, *len = got;
    return 0;
}

static int parse_path(struct parser *outer, const char *path, struct httpd_conf_block *b,
                      int include_depth, int line)
{
    char *text = NULL;
    size_t len = 0;
    int rc = read_file(path, &text, &len);
    if (rc < 0)
        return fail(outer, line, "cannot read \"%s\": %s", path, strerror(-rc));
    rc = parse_into(outer, path, text, len, b, include_depth);
    free(text);
    return rc;
}

static int include(struct parser *ps, struct httpd_conf_block *b, const struct httpd_conf_dir *d)
{
    if (!ps->allow_include)
        return fail(ps, d->line, "\"include\" is not allowed here");
    if (d->nargs != 2)
        return fail(ps, d->line, "invalid number of arguments in \"include\"");
    if (ps->include_depth + 1 >= MAX_INCLUDE_DEPTH)
        return fail(ps, d->line, "includes nested too deeply (a cycle?)");
    const char *pat = d->args[1];
    char full[4096];
    if (pat[0] != '/') {
        const char *slash = strrchr(ps->file, '/');
        int dlen = slash ? (int)(slash - ps->file) : 1;
        snprintf(full, sizeof full, "%.*s/%s", dlen, slash ? ps->file : ".", pat);
        pat = full;
    }
    if (strpbrk(d->args[1], "*?[") == NULL) /* a plain path must exist */
        return parse_path(ps, pat, b, ps->include_depth + 1, d->line);
    glob_t g;
    int rc = glob(pat, 0, NULL, &g);
    if (rc == GLOB_NOMATCH)
        return 0; /* as nginx: a pattern may match nothing */
    if (rc != 0)
        return fail(ps, d->line, "include \"%s\": cannot read the directory", pat);
    for (size_t i = 0; i < g.gl_pathc && rc == 0; i++)
        rc = parse_path(ps, g.gl_pathv[i], b, ps->include_depth + 1, d->line);
    globfree(&g);
    return rc;
}

void httpd_conf_tree_free(struct httpd_conf_tree *t)
{
    if (t == NULL)
        return;
    free_block(&t->top);
    for (int i = 0; i < t->nfiles; i++)
        free(t->files[i]);
    free(t->files);
    free(t);
}

static int parse_root(const char *name, const char *text, size_t len, int allow_include,
                      int from_file, struct httpd_conf_tree **out, char *err, size_t cap)
{
    struct httpd_conf_tree *t = calloc(1, sizeof *t);
    if (t == NULL) {
        snprintf(err, cap, "%s: out of memory", name);
        return -1;
    }
    struct parser ps = {
        .tree = t, .file = name, .allow_include = allow_include, .err = err, .errcap = cap};
    int rc = from_file ? parse_path(&ps, name, &t->top, 0, 0)
                       : parse_into(&ps, name, text, len, &t->top, 0);
    if (rc < 0) {
        httpd_conf_tree_free(t);
        return -1;
    }
    *out = t;
    return 0;
}

int httpd_conf_parse_text(const char *name, const char *text, size_t len, int allow_include,
                          struct httpd_conf_tree **out, char *err, size_t cap)
{
    return parse_root(name, text, len, allow_include, 0, out, err, cap);
}

int httpd_conf_parse_file(const char *path, struct httpd_conf_tree **out, char *err, size_t cap)
{
    return parse_root(path, NULL, 0, 1, 1, out, err, cap);
}
