/*
 * The configuration model of eddy-httpd: globals, servers (virtual hosts) and their
 * locations, built from the parsed tree (conf_parse.h) and checked as a whole.
 *
 * Levels: main (the file's top level and the optional `http { }` block), server and
 * location. Per-request settings (struct httpd_rules) are inherited downwards: a
 * server starts from main's, a location from its server's (whatever order they are
 * written in); a list directive (add_header, error_page, index, types, try_files,
 * gzip_types) written at a level replaces the inherited list, as in nginx.
 *
 * A loaded config is immutable and reference-counted: requests take it at their
 * start, so a reload swaps in a new one while requests in flight finish under the
 * old one, which is freed with its last reference.
 */
#ifndef EDDY_HTTPD_CONF_H
#define EDDY_HTTPD_CONF_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "conf_parse.h"
#include "eddy/inet.h"
#include "errlog.h"

struct eddy_http_static;

#define HTTPD_EXPIRES_OFF   INT64_MIN
#define HTTPD_EXPIRES_EPOCH (INT64_MIN + 1)
#define HTTPD_EXPIRES_MAX   (INT64_MIN + 2)
#define HTTPD_UNSET         (-1LL)

struct httpd_header {
    const char *name, *value;
    int always;
};

struct httpd_type {
    const char *ext, *type;
};

struct httpd_errpage {
    int code;
    const char *uri;
};

/* A document root opened once per config, shared by the levels naming the same one. */
struct httpd_docroot {
    const char *path;
    struct eddy_http_static *files; /* root fd and per-thread open-file caches */
    struct httpd_docroot *next;
};

struct httpd_rules {
    const char *root; /* directory; with alias, it replaces the location's prefix */
    int alias;
    struct httpd_docroot *docroot;
    const char *root_file; /* where root/alias was set, for errors when opening it */
    int root_line;
    const char **index;
    int nindex;
    int autoindex;
    const char *charset; /* NULL: off */
    const struct httpd_type *types;
    int ntypes;
    const struct httpd_errpage *errpages;
    int nerrpages;
    const struct httpd_header *headers;
    int nheaders;
    int64_t expires; /* seconds, or HTTPD_EXPIRES_* */
    int ret_code;    /* `return`; 0: none */
    const char *ret_text;
    const char **try_files;
    int ntry;
    int gzip_static, gzip, gzip_comp_level;
    const char **gzip_types;
    int ngzip_types;
    int64_t gzip_min_length;
    int allow_dotfiles;
    int deny;
};

struct httpd_location {
    const char *prefix;
    size_t len;
    int exact;
    struct httpd_rules r;
};

struct httpd_listen {
    const char *addr; /* as written */
    union eddy_sockaddr sa;
    int tls;
    int default_server;
    const char *file; /* where it was written, for errors */
    int line;
};

struct httpd_server {
    struct httpd_listen *listens;
    int nlistens;
    const char **names; /* lowercase; "*.example.com" for a wildcard */
    int nnames;
    const char *tls_certificate, *tls_certificate_key; /* NULL: none */
    const char *tls_file;                              /* where tls_certificate was written */
    int tls_line;
    struct httpd_rules r;
    struct httpd_location *locs; /* exact ones first, then prefixes longest first */
    int nlocs;
    const char *file;
    int line;
};

struct eddy_tls_options;

/* One distinct listening address and the servers on it (the default one first). */
struct httpd_addr {
    const char *addr;
    union eddy_sockaddr sa;
    int tls;
    struct httpd_server **servers;
    int nservers;
    /* TLS: the servers' certificate/key pairs, the default server's first, each with
     * the server_names SNI picks it for (conf_tls.c); NULL on a plain address. */
    struct eddy_tls_options *tls_options;
    int via_wildcard; /* not bound: served by the wildcard address of its port */
};

/* The ssl_* directives of the main level (HTTPD_UNSET / NULL when not written). */
struct httpd_tls_globals {
    int min_version, max_version; /* 12 or 13 */
    const char *ciphers;
    long long session_tickets, session_timeout_ms, handshake_timeout_ms;
    long long ticket_renewal; /* tls_ticket_renewal (eddy's own): 0 or 1 */
};

struct httpd_globals {
    const char *user, *group, *pid, *error_log, *access_log, *backend;
    int error_level;    /* HTTPD_LOG_* */
    int access_log_tls; /* access_log FILE combined_tls */
    long long worker_threads, keepalive_requests, max_connections, client_max_body_size;
    long long keepalive_timeout_ms, client_header_timeout_ms, client_body_timeout_ms,
        send_timeout_ms;
    struct httpd_tls_globals tls;
};

struct httpd_arena;

struct httpd_conf {
    atomic_int refs;
    struct httpd_arena *arena;
    const char *path;
    struct httpd_globals g; /* numbers HTTPD_UNSET, strings NULL when not in the file */
    struct httpd_rules main_rules;
    struct httpd_server **servers;
    int nservers;
    struct httpd_addr *addrs;
    int naddrs;
    struct httpd_docroot *docroots;
    int follow_symlinks;
};

/* Options that come from the command line into the loading. */
struct httpd_conf_load_options {
    int follow_symlinks;    /* --follow-symlinks */
    const char *root;       /* -r, overrides the main-level root; NULL: the file's */
    int open_roots;         /* open the document roots (not for a parse-only check) */
    int tls_ticket_renewal; /* --tls-ticket-renewal: 1 on, -1 off, 0 the file's */
};

/* Reads and checks the file. 0 with *out (one reference), or -1 with
 * "FILE:LINE: message" in err. */
int httpd_conf_load(const char *path, const struct httpd_conf_load_options *o,
                    struct httpd_conf **out, char *err, size_t cap);
/* The same from a parsed tree (tests, fuzzing). */
int httpd_conf_build(struct httpd_conf_tree *t, const struct httpd_conf_load_options *o,
                     struct httpd_conf **out, char *err, size_t cap);
struct httpd_conf *httpd_conf_ref(struct httpd_conf *c);
void httpd_conf_unref(struct httpd_conf *c);

/* Allocations that live as long as the config (zeroed). NULL on ENOMEM. */
void *httpd_conf_alloc(struct httpd_conf *c, size_t n);
char *httpd_conf_strdup(struct httpd_conf *c, const char *s);

/* Values as nginx writes them: "30s", "5m", "500ms", "1h", "2d", "1w", "1M", "1y"; a bare
 * number is seconds. Into ms. 0 or -1. */
int httpd_conf_parse_time_ms(const char *s, long long *ms);
/* "1024", "64k", "8m", "1g". 0 or -1. */
int httpd_conf_parse_size(const char *s, long long *bytes);

/* The location of srv whose rules apply to path (exact match first, then the longest
 * prefix), or NULL for the server's own rules. */
const struct httpd_location *httpd_conf_location(const struct httpd_server *srv, const char *path,
                                                 size_t len);
/* The server for a request that arrived on addr (index into c->addrs) with Host host. */
const struct httpd_server *httpd_conf_server(const struct httpd_conf *c, int addr, const char *host,
                                             size_t len);

/* While building: the level being read. */
enum { HTTPD_C_MAIN = 1, HTTPD_C_SRV = 2, HTTPD_C_LOC = 4 };
struct httpd_conf_ctx {
    struct httpd_conf *conf;
    struct httpd_server *srv;
    struct httpd_rules *r;
    int level;
    unsigned fresh; /* list directives already written at this level (bit per list) */
    char *err;
    size_t cap;
};

/* The TLS directives (conf_tls.c), server certificates and main-level ssl_*: 0, -1 with
 * the error set, or 1 when d is not one of them. */
int httpd_conf_tls_directive(struct httpd_conf_ctx *x, const struct httpd_conf_dir *d);
/* After the addresses are built: every server on a TLS address has a certificate; the
 * addresses' tls_options; with load, each context is loaded once to check the files. */
int httpd_conf_tls_build(struct httpd_conf_ctx *x, int load);
void httpd_conf_tls_init(struct httpd_tls_globals *t);

/* Directive handlers of the per-request level (conf_rules.c): 0, -1 with the error set,
 * or 1 when d is not one of them. */
int httpd_conf_rules_directive(struct httpd_conf_ctx *x, const struct httpd_conf_dir *d);
int httpd_conf_fail(struct httpd_conf_ctx *x, const struct httpd_conf_dir *d, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* d's one argument "on" (1) or "off" (0) into *out; anything else is an error naming d. */
int httpd_conf_on_off(struct httpd_conf_ctx *x, const struct httpd_conf_dir *d, int *out);

#endif
