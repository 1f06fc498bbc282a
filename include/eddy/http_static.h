/*
 * http_static: the pieces of a static-file server, usable on their own.
 *
 *  - MIME types by file extension (built-in table).
 *  - Entity tags.
 *  - Conditional requests (RFC 9110 13) and byte ranges (RFC 9110 14).
 *  - Safe resolution of a normalised request path under a document root.
 *  - A per-thread open-file cache (fd, stat, validators, small bodies in memory).
 *
 * All functions here are pure or work on caller-owned objects; none keeps global state.
 * Choices where the RFC leaves room:
 *  - Range: one range gives 206 with Content-Range; several give 206
 *    multipart/byteranges, after ranges that overlap or touch were merged (parts in the
 *    order of their first range-spec). More than EDDY_HTTP_MAX_RANGES range-specs, a
 *    malformed Range or another unit is ignored (200), as RFC 9110 14.2 allows.
 *  - If-Range: an entity-tag must match strongly; a date must equal Last-Modified exactly.
 *  - ETag: strong, "MTIME-SIZE" in lowercase hex (mtime in seconds), nginx's form: copies
 *    of a file on several servers (same mtime and size, other inodes) share their tag. A
 *    file replaced within the same second by one of the same size keeps its tag (nginx
 *    has the same limit); deploy tools that preserve mtimes change it anyway.
 */
#ifndef EDDY_HTTP_STATIC_H
#define EDDY_HTTP_STATIC_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <time.h>

#include "eddy/http.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- MIME ---------------------------------------------------------------------------- */

/* The media type for the file name path[0..len) by its extension (after the last '.' of
 * the last segment, ASCII case-insensitive). Text types carry "; charset=utf-8". Unknown
 * or no extension: "application/octet-stream". Never NULL; a static string. */
const char *eddy_http_mime_type(const char *path, size_t len);
/* Number of extensions in the built-in table. */
size_t eddy_http_mime_count(void);

/* ---- Dates and validators --------------------------------------------------------------- */

/* HTTP dates: eddy_http_date_format / eddy_http_date_parse in eddy/http.h. */
#define EDDY_HTTP_ETAG_MAX 40 /* quotes, two 64-bit hex numbers, a dash, NUL */

/* Writes the strong ETag of st (with quotes) plus NUL into out; returns its length. */
size_t eddy_http_etag_format(const struct stat *st, char *out, size_t cap);

/* ---- Conditional requests ---------------------------------------------------------------- */

/* The request fields that make a request conditional; a NULL pointer means absent. */
struct eddy_http_cond_fields {
    const char *if_match, *if_none_match, *if_modified_since, *if_unmodified_since;
    size_t if_match_len, if_none_match_len, if_modified_since_len, if_unmodified_since_len;
};

/* Evaluates the preconditions of a GET or HEAD (RFC 9110 13.2.2) against the
 * representation's strong etag and mtime. Returns 0 (serve), 304 or 412.
 * If-None-Match takes precedence over If-Modified-Since; a malformed date is ignored. */
int eddy_http_cond_evaluate(const struct eddy_http_cond_fields *f, const char *etag, time_t mtime);
/* Nonzero if the list in v matches etag: "*" matches anything; weak compares opaque tags
 * only (W/ ignored), strong requires both tags strong. */
int eddy_http_etag_list_match(const char *v, size_t len, const char *etag, int weak);

/* ---- Ranges --------------------------------------------------------------------------- */

enum eddy_http_range_result {
    EDDY_HTTP_RANGE_NONE = 0,          /* serve the whole representation (200) */
    EDDY_HTTP_RANGE_OK = 1,            /* serve bytes [first, last] (206) */
    EDDY_HTTP_RANGE_UNSATISFIABLE = 2, /* 416 with "Content-Range: bytes * /size" */
};

struct eddy_http_range {
    uint64_t first, last; /* inclusive, first <= last < size */
};

/* Range-specs in one Range field beyond which the field is ignored (RFC 9110 14.2). */
#define EDDY_HTTP_MAX_RANGES 32

/* Parses a Range field value for a representation of `size` bytes into out[0..*n),
 * *n <= max: the satisfiable ranges, those that overlap or touch merged into one that
 * takes the place of the earliest. NONE for another unit, a malformed value, or more
 * than max range-specs; UNSATISFIABLE when no range-spec is; else OK. */
enum eddy_http_range_result eddy_http_ranges_parse(const char *v, size_t len, uint64_t size,
                                                   struct eddy_http_range *out, size_t max,
                                                   size_t *n);
/* The same, for callers that serve one range only: OK only when the set is one range
 * after merging (several: NONE). */
enum eddy_http_range_result eddy_http_range_parse(const char *v, size_t len, uint64_t size,
                                                  struct eddy_http_range *out);
/* Sends a 206 multipart/byteranges response of the ranges r[0..n) of f (after the
 * fields set so far), the parts from memory or with sendfile. For the static handler. */
struct eddy_http_file;
void eddy_http_send_byteranges(struct eddy_http_response *res, const struct eddy_http_file *f,
                               const struct eddy_http_range *r, size_t n);
/* Nonzero if an If-Range value v allows the range: a strong etag equal to etag, or an
 * HTTP-date equal to mtime. */
int eddy_http_if_range_ok(const char *v, size_t len, const char *etag, time_t mtime);

/* ---- Escaping ------------------------------------------------------------------------- */

/* Percent-encodes a decoded path for a URL (keeps unreserved, sub-delims, ':', '@', '/').
 * Writes at most cap bytes incl. NUL; returns the length or -ENOBUFS. */
long eddy_http_url_escape(const char *s, size_t len, char *out, size_t cap);
/* Escapes &, <, >, ", ' for HTML text and attributes. Length or -ENOBUFS. */
long eddy_http_html_escape(const char *s, size_t len, char *out, size_t cap);

/* ---- Resolution under a root ---------------------------------------------------------- */

enum {
    EDDY_HTTP_RESOLVE_FOLLOW_SYMLINKS = 1 << 0, /* follow any symlink, even out of the root */
    EDDY_HTTP_RESOLVE_DOTFILES = 1 << 1,        /* serve path segments starting with '.' */
    EDDY_HTTP_RESOLVE_NO_OPENAT2 = 1 << 2,      /* use the fallback check (tests, old kernels) */
};

/* A document root opened once: the fd of the directory and its real path. */
struct eddy_http_root {
    int fd;
    int flags;
    char *real; /* realpath of the root, for the fallback check */
    size_t real_len;
};

/* Opens dir as a root. 0, or -errno (-ENOENT, -ENOTDIR, ...). */
int eddy_http_root_open(struct eddy_http_root *r, const char *dir, int flags);
void eddy_http_root_close(struct eddy_http_root *r);

/*
 * Opens the normalised path (as from eddy_http_normalize_path: starts with '/', no "."
 * or ".." segments) below the root, read-only, close-on-exec, non-blocking. Returns the
 * fd with *st filled, or:
 *   -ENOENT  missing, a dotfile segment (without EDDY_HTTP_RESOLVE_DOTFILES), or an
 *            invalid path (NUL, backslash, "..")
 *   -EXDEV   it would leave the root (a symlink pointing outside, without
 *            EDDY_HTTP_RESOLVE_FOLLOW_SYMLINKS)
 *   -EACCES  permission denied, or not a regular file or directory
 *   -errno   anything else
 */
int eddy_http_root_openat(const struct eddy_http_root *r, const char *path, struct stat *st);

/*
 * Writes an HTML listing of the directory open as dirfd (the fd is not consumed), for
 * the URL path `path` (decoded, ending in '/'), into a malloc'ed buffer: names sorted
 * bytewise, HTML- and URL-escaped, subdirectories with a trailing '/', dotfiles hidden
 * unless show_dot. 0 with *out and *out_len set, or -errno.
 */
int eddy_http_dir_listing(int dirfd, const char *path, int show_dot, char **out, size_t *out_len);

/* ---- Open-file cache ------------------------------------------------------------------ */

#define EDDY_HTTP_FCACHE_DEFAULT_ENTRIES     1024
#define EDDY_HTTP_FCACHE_DEFAULT_SMALL       (16 * 1024)
#define EDDY_HTTP_FCACHE_DEFAULT_VALID_MS    1000
#define EDDY_HTTP_FCACHE_DEFAULT_INACTIVE_MS 60000

/* What the cache knows about one path. Valid until the next call on the same cache. */
struct eddy_http_fd_ref;

struct eddy_http_file {
    int fd;     /* shared: never close; take eddy_http_file_fd_ref (or dup) to keep it */
    int is_dir; /* a directory (the handler decides: index, listing, 301) */
    struct stat st;
    const char *mime;
    const char *body; /* whole content for small regular files, else NULL */
    size_t etag_len;
    char etag[EDDY_HTTP_ETAG_MAX];
    char last_modified[EDDY_HTTP_DATE_LEN + 1];
    /* The response fields "ETag", "Last-Modified" (validators_len bytes), then
     * "Accept-Ranges" and "Content-Type" (fields_len in all), built once per entry so a
     * response copies them in one piece; NULL for a directory or if memory ran out. */
    const char *fields;
    size_t fields_len, validators_len;
    struct eddy_http_fd_ref *fd_ref; /* fd's holder for files served by sendfile; else NULL */
};

/* A reference that keeps f->fd open past the cache entry (eviction, revalidation,
 * eddy_http_fcache_free): the descriptor is closed when the entry and every reference
 * let go of it. Any thread (the count is atomic). NULL when f has no such holder (a
 * directory, a file held in memory): dup f->fd instead. */
struct eddy_http_fd_ref *eddy_http_file_fd_ref(const struct eddy_http_file *f);
/* Drops one reference (void * for eddy_http_response_send_file_ref's release). */
void eddy_http_fd_unref(void *ref);

struct eddy_http_fcache;

struct eddy_http_fcache_options {
    unsigned max_entries; /* 0: default */
    size_t small_max;     /* files up to this size are held in memory; 0: default */
    uint64_t valid_ms;    /* revalidate an entry by re-opening at most this often; 0: default */
    uint64_t inactive_ms; /* close entries not looked up for this long (checked on lookups,
                             a few at a time); 0: default */
};

/* A cache for one thread (not thread-safe). root must outlive it. 0 or -ENOMEM. */
int eddy_http_fcache_new(struct eddy_http_fcache **out, const struct eddy_http_root *root,
                         const struct eddy_http_fcache_options *o);
void eddy_http_fcache_free(struct eddy_http_fcache *c);
/*
 * Looks up the normalised path at loop time now_ms, opening (eddy_http_root_openat) and
 * caching it on a miss or when the entry is older than valid_ms and changed (different
 * inode, size or mtime). Returns 0 with *out pointing into the cache, or the negative
 * errno of eddy_http_root_openat (failures are not cached).
 */
int eddy_http_fcache_get(struct eddy_http_fcache *c, const char *path, uint64_t now_ms,
                         const struct eddy_http_file **out);
/* Entries now held; number of lookups that needed no syscall (statistics, tests). */
size_t eddy_http_fcache_size(const struct eddy_http_fcache *c);
uint64_t eddy_http_fcache_hits(const struct eddy_http_fcache *c);

/* ---- The static-file handler ---------------------------------------------------------- */

/*
 * A handler for eddy_http_server_route serving files below a root:
 *   eddy_http_static_new(&st, &o);
 *   eddy_http_server_route_flags(srv, EDDY_HTTP_ANY, "/", EDDY_HTTP_ROUTE_NO_BODY,
 *                                eddy_http_static_handler, st);
 * GET and HEAD (others: 405 with "Allow: GET, HEAD"); index.html for directories; a
 * directory without its trailing slash: 301 to the slashed path (query kept); a directory
 * without index: the listing if enabled, else 403; missing files, dotfiles and paths
 * leaving the root: 404; ETag, Last-Modified, 304/412, single ranges (206/416).
 * Each loop thread gets its own open-file cache, so a hot small file costs no syscall
 * besides the connection's write; large files go out with sendfile. It never reads a
 * request body: register it with EDDY_HTTP_ROUTE_NO_BODY, so bodies are dropped.
 * Mounted under a prefix: set options.mount and route the same prefix:
 *   o.mount = "/static";
 *   eddy_http_server_route_flags(srv, EDDY_HTTP_ANY, "/static", EDDY_HTTP_ROUTE_NO_BODY, ...);
 */
struct eddy_http_static;

struct eddy_http_static_options {
    const char *root;  /* document root directory */
    const char *mount; /* URL path prefix taken off before looking up the file (nginx's
                          alias): with mount "/static", "/static/a.css" is root/a.css and
                          "/static" redirects to "/static/"; a path outside it gets 404.
                          NULL or "/": none, the URL path is the path below root */
    int resolve_flags; /* EDDY_HTTP_RESOLVE_* */
    int dir_listing;   /* list directories without an index file */
    struct eddy_http_fcache_options cache;
};

void eddy_http_static_options_init(struct eddy_http_static_options *o);
/* Opens the root (copied options). 0, or -errno from opening the root, -ENOMEM. */
int eddy_http_static_new(struct eddy_http_static **out, const struct eddy_http_static_options *o);
/* After every thread that used it stopped serving (after eddy_http_server_free). */
void eddy_http_static_free(struct eddy_http_static *s);
/* The HTTP status for a negative errno of eddy_http_root_openat / eddy_http_fcache_get:
 * 404 (missing, dotfile, leaving the root), 403 (permission, not a regular file), 503 (out
 * of descriptors or memory), else 500. */
int eddy_http_status_for_errno(int err);
/* Finishes res with bytes [off, off+len) of f as its body: from memory when the cache holds
 * the content, else sendfile on a dup of the fd (the cache may close its own first). */
void eddy_http_file_send(struct eddy_http_response *res, const struct eddy_http_file *f,
                         uint64_t off, uint64_t len);
/* The calling thread's open-file cache of s (made on first use; freed with s), for
 * handlers of one's own built on these pieces. Loop threads only. NULL on -ENOMEM. */
struct eddy_http_fcache *eddy_http_static_thread_cache(struct eddy_http_static *s);
/* The handler; data is the struct eddy_http_static. */
void eddy_http_static_handler(struct eddy_http_request *req, struct eddy_http_response *res,
                              void *data);

#ifdef __cplusplus
}
#endif

#endif
