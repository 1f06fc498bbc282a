/*
 * Files and directories under the rules of a location: root or alias, index,
 * autoindex, types and charset, precompressed siblings (gzip_static), on-the-fly gzip,
 * validators, conditionals and ranges.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "eddy/event_loop.h"
#include "eddy/inet.h"
#include "site.h"

/* The path below the docroot: the uri itself, or with alias the part after the
 * location's prefix. Length or -ENAMETOOLONG. */
static long fs_path(const struct httpd_rq *q, const char *uri, size_t len, char *out, size_t cap)
{
    if (q->r->alias && q->loc) {
        uri += q->loc->len, len -= q->loc->len;
        if (len + 2 > cap)
            return -ENAMETOOLONG;
        out[0] = '/';
        size_t skip = len && uri[0] == '/';
        memcpy(out + 1, uri + skip, len - skip);
        out[1 + len - skip] = '\0';
        return (long)(1 + len - skip);
    }
    if (len + 1 > cap)
        return -ENAMETOOLONG;
    memcpy(out, uri, len);
    out[len] = '\0';
    return (long)len;
}

int httpd_site_lookup(struct httpd_rq *q, const char *uri, size_t len,
                      const struct eddy_http_file **f)
{
    char p[HTTPD_URI_MAX + 8];
    long n = fs_path(q, uri, len, p, sizeof p);
    if (n < 0)
        return (int)n;
    struct eddy_http_fcache *c = eddy_http_static_thread_cache(q->r->docroot->files);
    if (c == NULL)
        return -ENOMEM;
    uint64_t now = eddy_event_loop_now(eddy_http_request_loop(q->req));
    return eddy_http_fcache_get(c, p, now, f);
}

static void log_failure(struct httpd_rq *q, const char *uri, int rc, int status)
{
    int level = status == 404 ? HTTPD_LOG_INFO : HTTPD_LOG_ERROR;
    if (!httpd_errlog_wants(level))
        return;
    char ip[64] = "-";
    eddy_sockaddr_format_ip(eddy_http_request_peer(q->req), ip, sizeof ip);
    httpd_log_error(level, "open \"%s\" under \"%s\" failed (%s): %d, client %s", uri, q->r->root,
                    strerror(-rc), status, ip);
}

/* Media type by the name's extension: the rules' types first, then the built-in table,
 * with the charset added to text/html and text/plain when one is set. */
static void content_type(const struct httpd_rules *r, const char *name, size_t len, char *out,
                         size_t cap)
{
    const char *slash = memrchr(name, '/', len);
    const char *base = slash ? slash + 1 : name;
    const char *dot = memrchr(base, '.', len - (size_t)(base - name));
    const char *type = NULL;
    size_t tlen = 0;
    for (int i = 0; dot && i < r->ntypes; i++)
        if (strlen(r->types[i].ext) == len - (size_t)(dot + 1 - name) &&
            strncasecmp(r->types[i].ext, dot + 1, len - (size_t)(dot + 1 - name)) == 0)
            type = r->types[i].type;
    if (type == NULL)
        type = eddy_http_mime_type(name, len);
    tlen = strcspn(type, ";");
    int text = (tlen == 9 && strncmp(type, "text/html", 9) == 0) ||
               (tlen == 10 && strncmp(type, "text/plain", 10) == 0);
    if (r->charset && text)
        snprintf(out, cap, "%.*s; charset=%s", (int)tlen, type, r->charset);
    else
        snprintf(out, cap, "%.*s", (int)tlen, type);
}

static struct eddy_http_str field(struct eddy_http_request *req, const char *name)
{
    const struct eddy_http_str *v = eddy_http_request_header(req, name);
    return v ? *v : (struct eddy_http_str){NULL, 0};
}

static int conditions(struct httpd_rq *q, const struct eddy_http_file *f)
{
    struct eddy_http_cond_fields c = {0};
    struct eddy_http_str v[4] = {field(q->req, "If-Match"), field(q->req, "If-None-Match"),
                                 field(q->req, "If-Modified-Since"),
                                 field(q->req, "If-Unmodified-Since")};
    if (!v[0].p && !v[1].p && !v[2].p && !v[3].p)
        return 0;
    c.if_match = v[0].p, c.if_match_len = v[0].len;
    c.if_none_match = v[1].p, c.if_none_match_len = v[1].len;
    c.if_modified_since = v[2].p, c.if_modified_since_len = v[2].len;
    c.if_unmodified_since = v[3].p, c.if_unmodified_since_len = v[3].len;
    return eddy_http_cond_evaluate(&c, f->etag, f->st.st_mtime);
}

static int gzip_type(const struct httpd_rules *r, const char *type)
{
    size_t tlen = strcspn(type, ";");
    for (int i = 0; i < r->ngzip_types; i++)
        if (strcmp(r->gzip_types[i], "*") == 0 ||
            (strlen(r->gzip_types[i]) == tlen && strncasecmp(r->gzip_types[i], type, tlen) == 0))
            return 1;
    return 0;
}

/* Whether this answer is compressed on the fly (never a range or an error page). */
static int gzip_now(struct httpd_rq *q, const struct eddy_http_file *f, const char *type,
                    const char *coding, int has_range)
{
    const struct httpd_rules *r = q->r;
    return r->gzip && !coding && !has_range && !q->error_status &&
           f->st.st_size >= r->gzip_min_length && gzip_type(r, type) &&
           httpd_accepts_encoding(q->req, "gzip");
}

/* 206 or 416 for a satisfiable or unsatisfiable Range; 0 to send the whole entity. */
static int send_range(struct httpd_rq *q, const struct eddy_http_file *f,
                      struct eddy_http_str range)
{
    struct eddy_http_str if_range = field(q->req, "If-Range");
    if (if_range.p && !eddy_http_if_range_ok(if_range.p, if_range.len, f->etag, f->st.st_mtime))
        return 0;
    uint64_t size = (uint64_t)f->st.st_size;
    struct eddy_http_range r;
    char cr[96];
    switch (eddy_http_range_parse(range.p, range.len, size, &r)) {
    case EDDY_HTTP_RANGE_UNSATISFIABLE:
        snprintf(cr, sizeof cr, "bytes */%" PRIu64, size);
        eddy_http_response_add_header(q->res, "Content-Range", cr);
        httpd_site_add_headers(q, 416);
        eddy_http_response_send_error(q->res, 416);
        return 416;
    case EDDY_HTTP_RANGE_OK:
        snprintf(cr, sizeof cr, "bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64, r.first, r.last, size);
        eddy_http_response_add_header(q->res, "Content-Range", cr);
        httpd_site_add_headers(q, 206);
        eddy_http_response_set_status(q->res, 206);
        eddy_http_file_send(q->res, f, r.first, r.last - r.first + 1);
        return 206;
    default:
        return 0;
    }
}

/* The entity f (the file, or its precompressed sibling with coding) for uri. */
static void send_entity(struct httpd_rq *q, const char *uri, size_t len,
                        const struct eddy_http_file *f, const char *coding)
{
    char type[256];
    content_type(q->r, uri, len, type, sizeof type);
    struct eddy_http_response *res = q->res;
    eddy_http_response_add_header(res, "Content-Type", type);
    if (coding)
        eddy_http_response_add_header(res, "Content-Encoding", coding);
    if (q->r->gzip_static || (q->r->gzip && gzip_type(q->r, type)))
        eddy_http_response_add_header(res, "Vary", "Accept-Encoding");
    if (q->error_status) { /* an error_page: its status, no validators */
        httpd_site_add_headers(q, q->error_status);
        eddy_http_response_set_status(res, q->error_status);
        eddy_http_file_send(res, f, 0, (uint64_t)f->st.st_size);
        return;
    }
    struct eddy_http_str range = field(q->req, "Range");
    int gz = gzip_now(q, f, type, coding, range.p != NULL);
    char weak[EDDY_HTTP_ETAG_MAX + 2];
    snprintf(weak, sizeof weak, "W/%s", f->etag); /* the gzip output is not byte-stable */
    eddy_http_response_add_header(res, "ETag", gz ? weak : f->etag);
    eddy_http_response_add_header(res, "Last-Modified", f->last_modified);
    int cond = conditions(q, f);
    if (cond) {
        httpd_site_add_headers(q, cond);
        if (cond == 304) {
            eddy_http_response_set_status(res, 304);
            eddy_http_response_send(res, NULL, 0);
        } else {
            eddy_http_response_send_error(res, cond);
        }
        return;
    }
    if (gz) {
        httpd_site_add_headers(q, 200);
        httpd_gzip_send(q, f, q->r->gzip_comp_level);
        return;
    }
    eddy_http_response_add_header(res, "Accept-Ranges", "bytes");
    if (range.p && send_range(q, f, range))
        return;
    httpd_site_add_headers(q, 200);
    eddy_http_file_send(res, f, 0, (uint64_t)f->st.st_size);
}

/* Siblings found missing, per thread, for a second (as the open-file cache's validity):
 * the cache keeps no negative entries, and without this every request for a file with
 * no .br/.gz would cost a failed openat2 per coding. Keyed by the rules (root or alias
 * and prefix) and the URI; a slot is overwritten by the next miss hashing to it. */
#define NEG_SLOTS 64
#define NEG_PATH  160
#define NEG_MS    1000

struct neg_entry {
    const void *rules;
    uint64_t until;
    char path[NEG_PATH];
};

static _Thread_local struct neg_entry neg[NEG_SLOTS];

static struct neg_entry *neg_slot(const char *p, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)p[i]) * 16777619u;
    return &neg[h % NEG_SLOTS];
}

static int known_missing(const struct httpd_rq *q, const char *p, size_t n, uint64_t now)
{
    const struct neg_entry *e = neg_slot(p, n);
    return n < NEG_PATH && e->rules == q->r && now < e->until && memcmp(e->path, p, n + 1) == 0;
}

static void remember_missing(const struct httpd_rq *q, const char *p, size_t n, uint64_t now)
{
    struct neg_entry *e = neg_slot(p, n);
    if (n >= NEG_PATH)
        return;
    e->rules = q->r;
    e->until = now + NEG_MS;
    memcpy(e->path, p, n + 1);
}

/* gzip_static: file.br, then file.gz, when the client takes that coding. */
static int send_precompressed(struct httpd_rq *q, const char *uri, size_t len)
{
    static const char *const codings[] = {"br", "gzip"};
    static const char *const ext[] = {".br", ".gz"};
    char p[HTTPD_URI_MAX + 8];
    if (len + 4 > sizeof p || q->error_status)
        return 0;
    uint64_t now = eddy_event_loop_now(eddy_http_request_loop(q->req));
    for (int i = 0; i < 2; i++) {
        if (!httpd_accepts_encoding(q->req, codings[i]))
            continue;
        memcpy(p, uri, len);
        memcpy(p + len, ext[i], 4);
        if (known_missing(q, p, len + 3, now))
            continue;
        const struct eddy_http_file *f;
        int rc = httpd_site_lookup(q, p, len + 3, &f);
        if (rc == 0 && !f->is_dir) {
            send_entity(q, uri, len, f, codings[i]);
            return 1;
        }
        if (rc == -ENOENT)
            remember_missing(q, p, len + 3, now);
    }
    return 0;
}

static void redirect_to_slash(struct httpd_rq *q, const char *uri, size_t len)
{
    char loc[HTTPD_URI_MAX * 3 + 8];
    long n = eddy_http_url_escape(uri, len, loc, sizeof loc - 2);
    if (n < 0) {
        httpd_site_error(q, 414);
        return;
    }
    loc[n++] = '/';
    loc[n] = '\0';
    struct eddy_http_str qs = eddy_http_request_query(q->req);
    char *full = malloc((size_t)n + 2 + (qs.p ? qs.len : 0));
    if (full == NULL) {
        httpd_site_error(q, 503);
        return;
    }
    memcpy(full, loc, (size_t)n + 1);
    if (qs.p) {
        full[n] = '?';
        memcpy(full + n + 1, qs.p, qs.len);
        full[n + 1 + (long)qs.len] = '\0';
    }
    eddy_http_response_add_header(q->res, "Location", full);
    free(full);
    httpd_site_add_headers(q, 301);
    eddy_http_response_send_error(q->res, 301);
}

static void serve_listing(struct httpd_rq *q, const char *uri, size_t len)
{
    const struct eddy_http_file *d;
    char *html = NULL;
    size_t n = 0;
    int rc = httpd_site_lookup(q, uri, len, &d);
    if (rc == 0)
        rc = eddy_http_dir_listing(d->fd, uri, q->r->allow_dotfiles, &html, &n);
    if (rc < 0) {
        log_failure(q, uri, rc, eddy_http_status_for_errno(rc));
        httpd_site_error(q, eddy_http_status_for_errno(rc));
        return;
    }
    char type[128];
    content_type(q->r, "index.html", 10, type, sizeof type);
    httpd_site_add_headers(q, 200);
    eddy_http_response_reply(q->res, 200, type, html, n);
    free(html);
}

static void serve_directory(struct httpd_rq *q, const char *uri, size_t len)
{
    if (uri[len - 1] != '/') {
        redirect_to_slash(q, uri, len);
        return;
    }
    char p[HTTPD_URI_MAX + 256];
    for (int i = 0; i < q->r->nindex; i++) {
        size_t n = strlen(q->r->index[i]);
        if (len + n + 1 > sizeof p)
            continue;
        memcpy(p, uri, len);
        memcpy(p + len, q->r->index[i], n + 1);
        const struct eddy_http_file *f;
        if (httpd_site_lookup(q, p, len + n, &f) == 0 && !f->is_dir) {
            if (!(q->r->gzip_static && send_precompressed(q, p, len + n)))
                send_entity(q, p, len + n, f, NULL);
            return;
        }
    }
    if (q->r->autoindex) {
        serve_listing(q, uri, len);
        return;
    }
    httpd_log_error(HTTPD_LOG_ERROR, "directory index of \"%s\" under \"%s\" is forbidden", uri,
                    q->r->root);
    httpd_site_error(q, 403);
}

void httpd_site_serve(struct httpd_rq *q, const char *uri, size_t len)
{
    if (q->r->gzip_static && uri[len - 1] != '/' && send_precompressed(q, uri, len))
        return;
    const struct eddy_http_file *f;
    int rc = httpd_site_lookup(q, uri, len, &f);
    if (rc < 0) {
        int status = eddy_http_status_for_errno(rc);
        log_failure(q, uri, rc, status);
        httpd_site_error(q, status);
    } else if (f->is_dir) {
        serve_directory(q, uri, len);
    } else if (uri[len - 1] == '/') {
        httpd_site_error(q, 404); /* "/file.txt/" */
    } else {
        send_entity(q, uri, len, f, NULL);
    }
}
