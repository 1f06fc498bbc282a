/*
 * The static-file handler: maps a request to a file below the root through the
 * per-thread open-file cache, then answers with validators, conditionals and ranges.
 *
 * Per-thread caches: each loop thread finds its cache in a thread-local slot keyed by
 * the handler's unique id (not its address, which a later handler could reuse), so the
 * hot path takes no lock and shares no cache line with other threads.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "eddy/event_loop.h"
#include "eddy/http_static.h"
#include "http_internal.h"

#define TLS_SLOTS    4
#define PATH_MAX_LEN 4096

struct eddy_http_static {
    uint64_t id;
    struct eddy_http_root root;
    int dir_listing;
    char *mount; /* URL prefix stripped before lookup, without trailing '/'; NULL: none */
    size_t mount_len;
    struct eddy_http_fcache_options cache;
    pthread_mutex_t lock; /* guards caches: one is added per thread, rarely */
    struct eddy_http_fcache **caches;
    pthread_t *owners; /* the thread of each cache */
    size_t ncaches;
};

struct tls_slot {
    uint64_t id;
    struct eddy_http_fcache *cache;
};

static _Thread_local struct tls_slot tls[TLS_SLOTS];
static _Thread_local unsigned tls_next;
static atomic_uint_fast64_t next_id = 1;

void eddy_http_static_options_init(struct eddy_http_static_options *o)
{
    memset(o, 0, sizeof *o);
    o->root = "./www";
}

int eddy_http_static_new(struct eddy_http_static **out, const struct eddy_http_static_options *o)
{
    size_t ml = o->mount ? strlen(o->mount) : 0;
    while (ml > 0 && o->mount[ml - 1] == '/')
        ml--;
    if (o->mount && o->mount[0] && o->mount[0] != '/')
        return -EINVAL;
    struct eddy_http_static *s = calloc(1, sizeof *s);
    if (s == NULL || (ml && (s->mount = strndup(o->mount, ml)) == NULL)) {
        free(s);
        return -ENOMEM;
    }
    s->mount_len = ml;
    int rc = eddy_http_root_open(&s->root, o->root, o->resolve_flags);
    if (rc < 0) {
        free(s->mount);
        free(s);
        return rc;
    }
    s->id = atomic_fetch_add(&next_id, 1);
    s->dir_listing = o->dir_listing;
    s->cache = o->cache;
    pthread_mutex_init(&s->lock, NULL);
    *out = s;
    return 0;
}

void eddy_http_static_free(struct eddy_http_static *s)
{
    if (s == NULL)
        return;
    for (size_t i = 0; i < s->ncaches; i++)
        eddy_http_fcache_free(s->caches[i]);
    free(s->caches);
    free(s->owners);
    pthread_mutex_destroy(&s->lock);
    eddy_http_root_close(&s->root);
    free(s->mount);
    free(s);
}

/* The cache this thread made before (a thread using more handlers than TLS_SLOTS loses
 * their slots in turn), else a new one. */
static struct eddy_http_fcache *find_or_add_cache(struct eddy_http_static *s)
{
    pthread_t self = pthread_self();
    struct eddy_http_fcache *c = NULL;
    pthread_mutex_lock(&s->lock);
    for (size_t i = 0; i < s->ncaches && c == NULL; i++)
        if (pthread_equal(s->owners[i], self))
            c = s->caches[i];
    if (c == NULL && eddy_http_fcache_new(&c, &s->root, &s->cache) == 0) {
        struct eddy_http_fcache **v = realloc(s->caches, (s->ncaches + 1) * sizeof *v);
        pthread_t *o = v ? realloc(s->owners, (s->ncaches + 1) * sizeof *o) : NULL;
        if (v)
            s->caches = v;
        if (o) {
            s->owners = o;
            v[s->ncaches] = c;
            o[s->ncaches++] = self;
        } else {
            eddy_http_fcache_free(c);
            c = NULL;
        }
    }
    pthread_mutex_unlock(&s->lock);
    return c;
}

static struct eddy_http_fcache *new_thread_cache(struct eddy_http_static *s)
{
    struct eddy_http_fcache *c = find_or_add_cache(s);
    if (c == NULL)
        return NULL;
    struct tls_slot *slot = &tls[tls_next++ % TLS_SLOTS];
    slot->id = s->id;
    slot->cache = c;
    return c;
}

static inline struct eddy_http_fcache *thread_cache(struct eddy_http_static *s)
{
    for (int i = 0; i < TLS_SLOTS; i++)
        if (tls[i].id == s->id)
            return tls[i].cache;
    return new_thread_cache(s);
}

struct eddy_http_fcache *eddy_http_static_thread_cache(struct eddy_http_static *s)
{
    return thread_cache(s);
}

int eddy_http_status_for_errno(int err)
{
    switch (err) {
    case -ENOENT:
    case -EXDEV: /* a symlink leaving the root: do not reveal that it exists */
    case -ENOTDIR:
    case -ENAMETOOLONG:
        return 404;
    case -EACCES:
    case -EPERM:
        return 403;
    case -EMFILE:
    case -ENFILE:
    case -ENOMEM:
        return 503;
    default:
        return 500;
    }
}

static void redirect_to_slash(struct eddy_http_request *req, struct eddy_http_response *res,
                              const char *path)
{
    char loc[PATH_MAX_LEN * 3 + 2];
    long n = eddy_http_url_escape(path, strlen(path), loc, sizeof loc - 1);
    if (n < 0) {
        eddy_http_response_send_error(res, 414);
        return;
    }
    loc[n++] = '/';
    loc[n] = '\0';
    struct eddy_http_str q = eddy_http_request_query(req);
    size_t cap = (size_t)n + 2 + (q.p ? q.len : 0);
    char *full = malloc(cap);
    if (full == NULL) {
        eddy_http_response_send_error(res, 503);
        return;
    }
    memcpy(full, loc, (size_t)n + 1);
    if (q.p) {
        size_t k = (size_t)n;
        full[k++] = '?';
        for (size_t i = 0; i < q.len; i++) /* the parser already refused CTLs; be sure */
            if ((unsigned char)q.p[i] > 0x20 && q.p[i] != 0x7f)
                full[k++] = q.p[i];
        full[k] = '\0';
    }
    eddy_http_response_add_header(res, "Location", full);
    free(full);
    eddy_http_response_send_error(res, 301);
}

/* The request fields the handler looks at, found in one pass over the head. */
struct req_fields {
    struct eddy_http_cond_fields cond;
    struct eddy_http_str range, if_range;
    int any_cond;
};

static int name_is(const struct eddy_http_str *n, const char *want, size_t len)
{
    return n->len == len && strncasecmp(n->p, want, len) == 0;
}

static void scan_fields(struct eddy_http_request *req, struct req_fields *f)
{
    memset(f, 0, sizeof *f);
    size_t n = eddy_http_request_header_count(req);
    for (size_t i = 0; i < n; i++) {
        const struct eddy_http_header *h = eddy_http_request_header_at(req, i);
        const struct eddy_http_str *nm = &h->name;
        char c0 = nm->len ? (char)(nm->p[0] | 0x20) : 0;
        if (c0 != 'i' && c0 != 'r')
            continue; /* the common case: none of ours */
        const char **dst = NULL;
        size_t *dst_len = NULL;
        if (name_is(nm, "Range", 5) && !f->range.p)
            f->range = h->value;
        else if (name_is(nm, "If-Range", 8) && !f->if_range.p)
            f->if_range = h->value;
        else if (name_is(nm, "If-Match", 8))
            dst = &f->cond.if_match, dst_len = &f->cond.if_match_len;
        else if (name_is(nm, "If-None-Match", 13))
            dst = &f->cond.if_none_match, dst_len = &f->cond.if_none_match_len;
        else if (name_is(nm, "If-Modified-Since", 17))
            dst = &f->cond.if_modified_since, dst_len = &f->cond.if_modified_since_len;
        else if (name_is(nm, "If-Unmodified-Since", 19))
            dst = &f->cond.if_unmodified_since, dst_len = &f->cond.if_unmodified_since_len;
        if (dst && !*dst) { /* the first field line of each counts */
            *dst = h->value.p ? h->value.p : "";
            *dst_len = h->value.len;
            f->any_cond = 1;
        }
    }
}

/* Bytes [off, off+len) of f not held in memory: sendfile on the cached descriptor under a
 * reference (a dup only when the entry has no holder). */
static void file_send_fd(struct eddy_http_response *res, const struct eddy_http_file *f,
                         uint64_t off, uint64_t len)
{
    struct eddy_http_fd_ref *ref = eddy_http_file_fd_ref(f);
    if (ref != NULL) {
        eddy_http_response_send_file_ref(res, f->fd, (off_t)off, (size_t)len, eddy_http_fd_unref,
                                         ref);
        return;
    }
    /* The cache may close its fd (eviction, revalidation) before the queued range is
     * sent; the response gets its own descriptor. */
    int fd = fcntl(f->fd, F_DUPFD_CLOEXEC, 0);
    if (fd < 0) {
        eddy_http_response_send_error(res, 503);
        return;
    }
    eddy_http_response_send_file(res, fd, (off_t)off, (size_t)len, 1);
}

/* Sends bytes [off, off+len) of f, from memory when cached. Inline in serve_file: a small
 * cached file is the common request. */
static inline void file_send(struct eddy_http_response *res, const struct eddy_http_file *f,
                             uint64_t off, uint64_t len)
{
    if (f->body)
        eddy_http_response_send(res, f->body + off, (size_t)len);
    else
        file_send_fd(res, f, off, len);
}

void eddy_http_file_send(struct eddy_http_response *res, const struct eddy_http_file *f,
                         uint64_t off, uint64_t len)
{
    file_send(res, f, off, len);
}

/* ETag and Last-Modified (validators only), or those then Accept-Ranges and Content-Type. */
static void add_file_fields(struct eddy_http_response *res, const struct eddy_http_file *f,
                            int validators_only)
{
    if (f->fields) {
        eddy__http_response_add_fields(res, f->fields,
                                       validators_only ? f->validators_len : f->fields_len);
        return;
    }
    eddy_http_response_add_header_n(res, "ETag", 4, f->etag, f->etag_len);
    eddy_http_response_add_header_n(res, "Last-Modified", 13, f->last_modified, EDDY_HTTP_DATE_LEN);
    if (!validators_only) {
        eddy_http_response_add_header(res, "Accept-Ranges", "bytes");
        eddy_http_response_add_header(res, "Content-Type", f->mime);
    }
}

static void serve_file(struct eddy_http_request *req, struct eddy_http_response *res,
                       const struct eddy_http_file *f)
{
    struct req_fields rf;
    scan_fields(req, &rf);
    if (!rf.any_cond && !rf.range.p) { /* the common case: one copy of prebuilt fields */
        add_file_fields(res, f, 0);
        file_send(res, f, 0, (uint64_t)f->st.st_size);
        return;
    }
    add_file_fields(res, f, 1);
    int cond = rf.any_cond ? eddy_http_cond_evaluate(&rf.cond, f->etag, f->st.st_mtime) : 0;
    if (cond == 304) {
        eddy_http_response_set_status(res, 304);
        eddy_http_response_send(res, NULL, 0);
        return;
    }
    if (cond) {
        eddy_http_response_send_error(res, cond);
        return;
    }
    uint64_t size = (uint64_t)f->st.st_size;
    eddy_http_response_add_header(res, "Accept-Ranges", "bytes");
    struct eddy_http_str range = rf.range, if_range = rf.if_range;
    if (range.p &&
        (!if_range.p || eddy_http_if_range_ok(if_range.p, if_range.len, f->etag, f->st.st_mtime))) {
        struct eddy_http_range rs[EDDY_HTTP_MAX_RANGES], r;
        size_t n;
        char cr[96];
        switch (eddy_http_ranges_parse(range.p, range.len, size, rs, EDDY_HTTP_MAX_RANGES, &n)) {
        case EDDY_HTTP_RANGE_UNSATISFIABLE:
            snprintf(cr, sizeof cr, "bytes */%" PRIu64, size);
            eddy_http_response_add_header(res, "Content-Range", cr);
            eddy_http_response_send_error(res, 416);
            return;
        case EDDY_HTTP_RANGE_OK:
            if (n > 1) {
                eddy_http_send_byteranges(res, f, rs, n);
                return;
            }
            r = rs[0];
            snprintf(cr, sizeof cr, "bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64, r.first, r.last,
                     size);
            eddy_http_response_add_header(res, "Content-Range", cr);
            eddy_http_response_add_header(res, "Content-Type", f->mime);
            eddy_http_response_set_status(res, 206);
            eddy_http_file_send(res, f, r.first, r.last - r.first + 1);
            return;
        default:
            break;
        }
    }
    eddy_http_response_add_header(res, "Content-Type", f->mime);
    eddy_http_file_send(res, f, 0, size);
}

static void serve_listing(struct eddy_http_response *res, const struct eddy_http_file *dir,
                          const char *path, int show_dot)
{
    char *html;
    size_t len;
    int rc = eddy_http_dir_listing(dir->fd, path, show_dot, &html, &len);
    if (rc < 0) {
        eddy_http_response_send_error(res, eddy_http_status_for_errno(rc));
        return;
    }
    eddy_http_response_reply(res, 200, "text/html; charset=utf-8", html, len);
    free(html);
}

/* path: below the root (the mount stripped); the request's own path is the URL. */
static void serve_directory(struct eddy_http_static *s, struct eddy_http_fcache *c, uint64_t now,
                            struct eddy_http_request *req, struct eddy_http_response *res,
                            const char *path, size_t len)
{
    const char *url = eddy_http_request_path(req);
    if (len == 0 || path[len - 1] != '/') {
        redirect_to_slash(req, res, url);
        return;
    }
    char index[PATH_MAX_LEN + 16];
    if (len + sizeof "index.html" > sizeof index) {
        eddy_http_response_send_error(res, 414);
        return;
    }
    memcpy(index, path, len);
    memcpy(index + len, "index.html", sizeof "index.html");
    const struct eddy_http_file *f;
    int rc = eddy_http_fcache_get(c, index, now, &f);
    if (rc == 0 && !f->is_dir) {
        serve_file(req, res, f);
        return;
    }
    if ((rc == 0 || rc == -ENOENT) && s->dir_listing &&
        eddy_http_fcache_get(c, path, now, &f) == 0 && f->is_dir) {
        serve_listing(res, f, url, s->root.flags & EDDY_HTTP_RESOLVE_DOTFILES);
        return;
    }
    eddy_http_response_send_error(res,
                                  rc == 0 || rc == -ENOENT ? 403 : eddy_http_status_for_errno(rc));
}

void eddy_http_static_handler(struct eddy_http_request *req, struct eddy_http_response *res,
                              void *data)
{
    struct eddy_http_static *s = data;
    enum eddy_http_method m = eddy_http_request_method(req);
    if (m != EDDY_HTTP_GET && m != EDDY_HTTP_HEAD) {
        eddy_http_response_add_header(res, "Allow", "GET, HEAD");
        eddy_http_response_send_error(res, 405);
        return;
    }
    struct eddy_http_fcache *c = thread_cache(s);
    if (c == NULL) {
        eddy_http_response_send_error(res, 503);
        return;
    }
    const char *path = eddy_http_request_path(req);
    size_t len = eddy_http_request_path_len(req);
    if (s->mount_len) {
        if (len < s->mount_len || memcmp(path, s->mount, s->mount_len) != 0 ||
            (len > s->mount_len && path[s->mount_len] != '/')) {
            eddy_http_response_send_error(res, 404); /* routed outside its mount */
            return;
        }
        if (len == s->mount_len) {
            redirect_to_slash(req, res, path); /* "/static" is the directory "/static/" */
            return;
        }
        path += s->mount_len;
        len -= s->mount_len;
    }
    if (len > PATH_MAX_LEN) {
        eddy_http_response_send_error(res, 414);
        return;
    }
    uint64_t now = eddy_event_loop_now(eddy_http_request_loop(req));
    const struct eddy_http_file *f;
    int rc = eddy_http_fcache_get(c, path, now, &f);
    if (rc < 0)
        eddy_http_response_send_error(res, eddy_http_status_for_errno(rc));
    else if (f->is_dir)
        serve_directory(s, c, now, req, res, path, len);
    else if (path[len - 1] == '/')
        eddy_http_response_send_error(res, 404); /* "/file.txt/" */
    else
        serve_file(req, res, f);
}
