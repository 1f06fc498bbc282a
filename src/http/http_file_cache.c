/*
 * Per-thread open-file cache, in the spirit of nginx's open_file_cache with valid=1s.
 *
 * An entry keeps the open fd, its stat, the validators (ETag, Last-Modified), the MIME
 * type and, for small files, the whole content. A lookup younger than valid_ms costs no
 * syscall at all; an older one re-resolves the path (so a renamed or replaced file, or
 * a symlink changed to point elsewhere, is noticed) and keeps the entry if the inode,
 * size and mtime are unchanged. Entries form an LRU list; the least recently used one
 * is evicted when the table is full.
 *
 * The fd is shared by every response served from the entry: sendfile and pread take
 * explicit offsets, so sharing is safe. A response that outlives this call takes a
 * reference (eddy_http_file_fd_ref): for a file served by sendfile the entry holds the
 * fd through a counted holder, and the fd is closed when the entry (eviction,
 * revalidation, the cache's end) and the last in-flight response have let go, in
 * whichever thread that happens. Other entries' fds (directories, files in memory) are
 * the entry's alone: dup them.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "eddy/http_static.h"

#define NIL (-1)

struct entry {
    char *path;
    uint64_t hash;
    uint64_t checked_ms;
    uint64_t used_ms; /* last lookup, for closing entries nobody asks for any more */
    int hnext;        /* next in the hash chain */
    int prev, next;   /* LRU list: head is the most recent */
    char *body;
    char *fields;
    struct eddy_http_file f;
};

struct eddy_http_fcache {
    const struct eddy_http_root *root;
    struct eddy_http_fcache_options o;
    struct entry *e;
    int *buckets;
    unsigned nbuckets; /* power of two */
    unsigned used;     /* entries ever filled (the first `used` slots) */
    unsigned count;    /* entries live */
    int head, tail, free_list;
    uint64_t hits;
};

struct eddy_http_fd_ref {
    atomic_uint refs;
    int fd;
};

struct eddy_http_fd_ref *eddy_http_file_fd_ref(const struct eddy_http_file *f)
{
    if (f->fd_ref != NULL)
        atomic_fetch_add_explicit(&f->fd_ref->refs, 1, memory_order_relaxed);
    return f->fd_ref;
}

void eddy_http_fd_unref(void *ref)
{
    struct eddy_http_fd_ref *r = ref;

    /* acq_rel: the last one sees every other user's sendfile done before it closes. */
    if (r != NULL && atomic_fetch_sub_explicit(&r->refs, 1, memory_order_acq_rel) == 1) {
        close(r->fd);
        free(r);
    }
}

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    while (*s)
        h = (h ^ (unsigned char)*s++) * 1099511628211ull;
    return h;
}

int eddy_http_fcache_new(struct eddy_http_fcache **out, const struct eddy_http_root *root,
                         const struct eddy_http_fcache_options *o)
{
    struct eddy_http_fcache *c = calloc(1, sizeof *c);
    if (c == NULL)
        return -ENOMEM;
    c->root = root;
    if (o)
        c->o = *o;
    if (c->o.max_entries == 0)
        c->o.max_entries = EDDY_HTTP_FCACHE_DEFAULT_ENTRIES;
    if (c->o.small_max == 0)
        c->o.small_max = EDDY_HTTP_FCACHE_DEFAULT_SMALL;
    if (c->o.valid_ms == 0)
        c->o.valid_ms = EDDY_HTTP_FCACHE_DEFAULT_VALID_MS;
    if (c->o.inactive_ms == 0)
        c->o.inactive_ms = EDDY_HTTP_FCACHE_DEFAULT_INACTIVE_MS;
    c->nbuckets = 16;
    while (c->nbuckets < c->o.max_entries * 2)
        c->nbuckets *= 2;
    c->e = calloc(c->o.max_entries, sizeof *c->e);
    c->buckets = malloc(c->nbuckets * sizeof *c->buckets);
    if (c->e == NULL || c->buckets == NULL) {
        free(c->e), free(c->buckets), free(c);
        return -ENOMEM;
    }
    for (unsigned i = 0; i < c->nbuckets; i++)
        c->buckets[i] = NIL;
    c->head = c->tail = c->free_list = NIL;
    *out = c;
    return 0;
}

static void release(struct entry *x)
{
    if (x->f.fd_ref != NULL)
        eddy_http_fd_unref(x->f.fd_ref);
    else if (x->f.fd >= 0)
        close(x->f.fd);
    x->f.fd_ref = NULL;
    free(x->body);
    free(x->fields);
    x->body = x->fields = NULL;
    x->f.fields = NULL;
    x->f.fd = -1;
}

void eddy_http_fcache_free(struct eddy_http_fcache *c)
{
    if (c == NULL)
        return;
    for (int i = c->head; i != NIL; i = c->e[i].next) {
        release(&c->e[i]);
        free(c->e[i].path);
    }
    free(c->e);
    free(c->buckets);
    free(c);
}

size_t eddy_http_fcache_size(const struct eddy_http_fcache *c)
{
    return c->count;
}

uint64_t eddy_http_fcache_hits(const struct eddy_http_fcache *c)
{
    return c->hits;
}

static void lru_unlink(struct eddy_http_fcache *c, int i)
{
    struct entry *x = &c->e[i];
    if (x->prev != NIL)
        c->e[x->prev].next = x->next;
    else
        c->head = x->next;
    if (x->next != NIL)
        c->e[x->next].prev = x->prev;
    else
        c->tail = x->prev;
}

static void lru_push_front(struct eddy_http_fcache *c, int i)
{
    struct entry *x = &c->e[i];
    x->prev = NIL;
    x->next = c->head;
    if (c->head != NIL)
        c->e[c->head].prev = i;
    c->head = i;
    if (c->tail == NIL)
        c->tail = i;
}

static int find(const struct eddy_http_fcache *c, const char *path, uint64_t h)
{
    for (int i = c->buckets[h & (c->nbuckets - 1)]; i != NIL; i = c->e[i].hnext)
        if (c->e[i].hash == h && strcmp(c->e[i].path, path) == 0)
            return i;
    return NIL;
}

static void remove_entry(struct eddy_http_fcache *c, int i)
{
    struct entry *x = &c->e[i];
    int *pp = &c->buckets[x->hash & (c->nbuckets - 1)];
    while (*pp != i)
        pp = &c->e[*pp].hnext;
    *pp = x->hnext;
    lru_unlink(c, i);
    release(x);
    free(x->path);
    x->path = NULL;
    x->hnext = c->free_list;
    c->free_list = i;
    c->count--;
}

/* Reads a small file whole; NULL (serve from the fd instead) if it changed meanwhile. */
static char *slurp(int fd, const struct stat *st)
{
    size_t size = (size_t)st->st_size, got = 0;
    char *buf = malloc(size ? size : 1);
    if (buf == NULL)
        return NULL;
    while (got < size) {
        ssize_t n = pread(fd, buf + got, size - got, (off_t)got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    struct stat now;
    if (got != size || fstat(fd, &now) < 0 || now.st_size != st->st_size ||
        now.st_mtim.tv_sec != st->st_mtim.tv_sec || now.st_mtim.tv_nsec != st->st_mtim.tv_nsec) {
        free(buf);
        return NULL;
    }
    return buf;
}

/* The fields every 200 for this file carries; our own values, so no check is needed. */
static void build_fields(struct entry *x)
{
    struct eddy_http_file *f = &x->f;
    size_t cap = 96 + f->etag_len + EDDY_HTTP_DATE_LEN + strlen(f->mime);
    char *p = malloc(cap);
    int a, b;

    x->fields = NULL;
    f->fields = NULL;
    if (p == NULL)
        return;
    a = snprintf(p, cap, "ETag: %.*s\r\nLast-Modified: %s\r\n", (int)f->etag_len, f->etag,
                 f->last_modified);
    b = a < 0 || (size_t)a >= cap
            ? -1
            : snprintf(p + a, cap - (size_t)a, "Accept-Ranges: bytes\r\nContent-Type: %s\r\n",
                       f->mime);
    if (b < 0 || (size_t)(a + b) >= cap) {
        free(p);
        return;
    }
    x->fields = p;
    f->fields = p;
    f->validators_len = (size_t)a;
    f->fields_len = (size_t)(a + b);
}

static void fill(struct eddy_http_fcache *c, struct entry *x, int fd, const struct stat *st)
{
    struct eddy_http_file *f = &x->f;
    f->fd = fd;
    f->st = *st;
    f->is_dir = S_ISDIR(st->st_mode);
    f->mime = eddy_http_mime_type(x->path, strlen(x->path));
    f->etag_len = eddy_http_etag_format(st, f->etag, sizeof f->etag);
    eddy_http_date_format(st->st_mtime, f->last_modified);
    x->body = NULL;
    if (!f->is_dir && (size_t)st->st_size <= c->o.small_max)
        x->body = slurp(fd, st);
    f->body = x->body;
    f->fd_ref = NULL;
    if (!f->is_dir && x->body == NULL && (f->fd_ref = malloc(sizeof *f->fd_ref)) != NULL) {
        atomic_init(&f->fd_ref->refs, 1); /* the entry's own */
        f->fd_ref->fd = fd;
    }
    x->fields = NULL;
    f->fields = NULL;
    if (!f->is_dir)
        build_fields(x);
}

static int same_file(const struct stat *a, const struct stat *b)
{
    return a->st_ino == b->st_ino && a->st_dev == b->st_dev && a->st_size == b->st_size &&
           a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
           a->st_mode == b->st_mode;
}

static int take_slot(struct eddy_http_fcache *c)
{
    if (c->count == c->o.max_entries)
        remove_entry(c, c->tail);
    if (c->free_list != NIL) {
        int i = c->free_list;
        c->free_list = c->e[i].hnext;
        return i;
    }
    return (int)c->used++;
}

static int insert(struct eddy_http_fcache *c, const char *path, uint64_t h, int fd,
                  const struct stat *st, uint64_t now_ms)
{
    char *key = strdup(path);
    if (key == NULL)
        return -ENOMEM;
    int i = take_slot(c);
    struct entry *x = &c->e[i];
    memset(x, 0, sizeof *x);
    x->path = key;
    x->hash = h;
    x->checked_ms = now_ms;
    x->used_ms = now_ms;
    int *b = &c->buckets[h & (c->nbuckets - 1)];
    x->hnext = *b;
    *b = i;
    lru_push_front(c, i);
    c->count++;
    fill(c, x, fd, st);
    return i;
}

/* The entry is stale: re-resolve; keep it if unchanged, refill it if not. */
static int revalidate(struct eddy_http_fcache *c, int i, uint64_t now_ms)
{
    struct entry *x = &c->e[i];
    struct stat st;
    int fd = eddy_http_root_openat(c->root, x->path, &st);
    if (fd < 0) {
        remove_entry(c, i);
        return fd;
    }
    x->checked_ms = now_ms;
    if (same_file(&st, &x->f.st)) {
        close(fd);
        return 0;
    }
    release(x);
    fill(c, x, fd, &st);
    return 0;
}

/* Closes a few least recently used entries idle for inactive_ms, so a deleted file's
 * space is not held forever by a descriptor nobody needs. O(1) per lookup. */
static void sweep(struct eddy_http_fcache *c, uint64_t now_ms)
{
    for (int k = 0; k < 2 && c->tail != NIL; k++) {
        struct entry *x = &c->e[c->tail];
        if (now_ms < x->used_ms || now_ms - x->used_ms < c->o.inactive_ms)
            return;
        remove_entry(c, c->tail);
    }
}

int eddy_http_fcache_get(struct eddy_http_fcache *c, const char *path, uint64_t now_ms,
                         const struct eddy_http_file **out)
{
    sweep(c, now_ms);
    uint64_t h = hash_str(path);
    int i = find(c, path, h);
    if (i != NIL) {
        if (now_ms - c->e[i].checked_ms < c->o.valid_ms) {
            c->hits++;
        } else {
            int rc = revalidate(c, i, now_ms);
            if (rc < 0)
                return rc;
        }
        if (c->head != i) {
            lru_unlink(c, i);
            lru_push_front(c, i);
        }
        c->e[i].used_ms = now_ms;
        *out = &c->e[i].f;
        return 0;
    }
    struct stat st;
    int fd = eddy_http_root_openat(c->root, path, &st);
    if (fd < 0)
        return fd;
    i = insert(c, path, h, fd, &st, now_ms);
    if (i < 0) {
        close(fd);
        return i;
    }
    *out = &c->e[i].f;
    return 0;
}
