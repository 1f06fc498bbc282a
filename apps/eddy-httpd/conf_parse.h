/*
 * The config file syntax of eddy-httpd, nginx's: directives are words ending in ';' or
 * followed by a block in '{' '}'; '#' starts a comment where a word could start; words
 * may be quoted with '"' or '\'' (a backslash escapes the next character, "\n" and "\t"
 * as in nginx); `include GLOB;` (a path relative to the including file's directory)
 * splices the matching files, in sorted order, in place of the directive.
 *
 * This layer knows no directive names: it gives a tree, and conf.c gives it meaning.
 */
#ifndef EDDY_HTTPD_CONF_PARSE_H
#define EDDY_HTTPD_CONF_PARSE_H

#include <stddef.h>

struct httpd_conf_block;

struct httpd_conf_dir {
    char **args; /* args[0] is the name; NUL-terminated copies */
    int nargs;
    const char *file; /* owned by the tree */
    int line;
    struct httpd_conf_block *block; /* NULL for a simple directive */
};

struct httpd_conf_block {
    struct httpd_conf_dir *dirs;
    int n, cap;
};

struct httpd_conf_tree {
    struct httpd_conf_block top;
    char **files; /* every file read, for the directives' file names */
    int nfiles;
};

#define HTTPD_CONF_ERR_MAX 512

/* Parses the file at path (includes expanded). 0 with *out set, or -1 with
 * "FILE:LINE: message" (or "FILE: message") in err. */
int httpd_conf_parse_file(const char *path, struct httpd_conf_tree **out, char *err, size_t cap);
/* Parses text of len bytes named name. allow_include 0 turns `include` into an error
 * (fuzzing). Same results as httpd_conf_parse_file. */
int httpd_conf_parse_text(const char *name, const char *text, size_t len, int allow_include,
                          struct httpd_conf_tree **out, char *err, size_t cap);
void httpd_conf_tree_free(struct httpd_conf_tree *t);

#endif
