/*
 * Open files and the descriptor table (fs/file.c, fs/file_table.c, fs/open.c).
 *
 * The table maps small numbers to open files. A file carries a reference count: one per
 * descriptor plus one per call in progress on it, so dup works, close of one descriptor
 * leaves the file to the others, and a file is released (epoll hooks first, then its own
 * release method, as __fput does) only when the last reference goes. Numbers are handed
 * out lowest-free-first, helped by a bitmap and a hint, like the kernel's next_fd.
 *
 * Lock: fdt_lock protects the table and is a leaf: nothing else is taken under it and
 * a file is never released while it is held.
 */
#include "ue_internal.h"

#include <stdlib.h>
#include <string.h>

static pthread_mutex_t fdt_lock = PTHREAD_MUTEX_INITIALIZER;
static struct ue_file **fdt; /* fdt[fd]: NULL free, &reserved_slot reserved */
static uint64_t *fdt_bits;   /* bit set: number in use (open or reserved) */
static size_t fdt_cap;       /* slots allocated, a multiple of 64 */
static size_t fdt_next;      /* no free number below this */
static struct ue_file reserved_slot;
static atomic_long live_files; /* for leak checks */

long eddy__ue_live_files(void)
{
    return atomic_load(&live_files);
}

struct ue_file *eddy__ue_file_alloc(const struct ue_file_ops *ops, void *priv, unsigned mode,
                                    int flags)
{
    struct ue_file *f = calloc(1, sizeof(*f));
    if (!f)
        return NULL;
    atomic_init(&f->refs, 1);
    f->ops = ops;
    f->priv = priv;
    f->mode = mode;
    f->flags = flags;
    pthread_mutex_init(&f->f_lock, NULL);
    ue_list_init(&f->f_ep);
    atomic_fetch_add(&live_files, 1);
    return f;
}

void eddy__ue_file_discard(struct ue_file *f)
{
    if (!f)
        return;
    pthread_mutex_destroy(&f->f_lock);
    free(f);
    atomic_fetch_sub(&live_files, 1);
}

void eddy__ue_file_get(struct ue_file *f)
{
    atomic_fetch_add_explicit(&f->refs, 1, memory_order_relaxed);
}

void eddy__ue_fput(struct ue_file *f)
{
    if (atomic_fetch_sub_explicit(&f->refs, 1, memory_order_acq_rel) != 1)
        return;
    eddy__ue_eventpoll_release_file(f);
    if (f->ops->release)
        f->ops->release(f);
    pthread_mutex_destroy(&f->f_lock);
    free(f);
    atomic_fetch_sub(&live_files, 1);
}

static int fdt_grow(size_t need)
{
    size_t cap = fdt_cap ? fdt_cap : 64;
    while (cap <= need)
        cap *= 2;
    if (cap > UE_NR_OPEN)
        cap = UE_NR_OPEN;
    struct ue_file **t = realloc(fdt, cap * sizeof(*t));
    if (!t)
        return -1;
    fdt = t;
    uint64_t *b = realloc(fdt_bits, cap / 64 * sizeof(*b));
    if (!b)
        return -1;
    fdt_bits = b;
    memset(fdt + fdt_cap, 0, (cap - fdt_cap) * sizeof(*t));
    memset(fdt_bits + fdt_cap / 64, 0, (cap - fdt_cap) / 64 * sizeof(*b));
    fdt_cap = cap;
    return 0;
}

static size_t lowest_free(size_t from)
{
    size_t w = from / 64;
    if (w >= fdt_cap / 64)
        return fdt_cap;
    uint64_t bits = fdt_bits[w] | ((UINT64_C(1) << (from % 64)) - 1);
    while (bits == UINT64_MAX) {
        if (++w >= fdt_cap / 64)
            return fdt_cap;
        bits = fdt_bits[w];
    }
    return w * 64 + (size_t)__builtin_ctzll(~bits);
}

int eddy__ue_fd_reserve(void)
{
    pthread_mutex_lock(&fdt_lock);
    size_t fd = lowest_free(fdt_next);
    if (fd >= UE_NR_OPEN || (fd >= fdt_cap && fdt_grow(fd) < 0)) {
        pthread_mutex_unlock(&fdt_lock);
        return fd >= UE_NR_OPEN ? -EMFILE : -ENOMEM;
    }
    fdt[fd] = &reserved_slot;
    fdt_bits[fd / 64] |= UINT64_C(1) << (fd % 64);
    fdt_next = fd + 1;
    pthread_mutex_unlock(&fdt_lock);
    return (int)fd;
}

/* Caller holds fdt_lock. */
static void slot_free(size_t fd)
{
    fdt[fd] = NULL;
    fdt_bits[fd / 64] &= ~(UINT64_C(1) << (fd % 64));
    if (fd < fdt_next)
        fdt_next = fd;
}

void eddy__ue_fd_unreserve(int fd)
{
    pthread_mutex_lock(&fdt_lock);
    slot_free((size_t)fd);
    pthread_mutex_unlock(&fdt_lock);
}

void eddy__ue_fd_install(int fd, struct ue_file *f)
{
    pthread_mutex_lock(&fdt_lock);
    fdt[fd] = f;
    pthread_mutex_unlock(&fdt_lock);
}

struct ue_file *eddy__ue_fget(int fd)
{
    struct ue_file *f = NULL;
    if (fd < 0)
        return NULL;
    pthread_mutex_lock(&fdt_lock);
    if ((size_t)fd < fdt_cap && fdt[fd] && fdt[fd] != &reserved_slot) {
        f = fdt[fd];
        eddy__ue_file_get(f);
    }
    pthread_mutex_unlock(&fdt_lock);
    return f;
}

int eddy__ue_fd_for_each(int (*fn)(int fd, struct ue_file *f, void *arg), void *arg)
{
    for (size_t fd = 0;; fd++) {
        pthread_mutex_lock(&fdt_lock);
        size_t cap = fdt_cap;
        pthread_mutex_unlock(&fdt_lock);
        if (fd >= cap)
            return 0;
        struct ue_file *f = eddy__ue_fget((int)fd);
        if (!f)
            continue;
        int r = fn((int)fd, f, arg);
        eddy__ue_fput(f);
        if (r)
            return r;
    }
}

int ue_dup(int fd)
{
    struct ue_file *f = eddy__ue_fget(fd);
    if (!f)
        return eddy__ue_fail(EBADF);
    int nfd = eddy__ue_fd_reserve();
    if (nfd < 0) {
        eddy__ue_fput(f);
        return eddy__ue_fail(-nfd);
    }
    eddy__ue_fd_install(nfd, f); /* our reference becomes the descriptor's */
    return nfd;
}

/* dup2/dup3 (do_dup2): replaces whatever newfd held, as one step, and drops the
 * replaced file's reference after the table lock is released. */
static int dup_to(int oldfd, int newfd)
{
    struct ue_file *f = eddy__ue_fget(oldfd), *old = NULL;
    int r = newfd;
    if (!f)
        return -EBADF;
    if (newfd < 0 || newfd >= UE_NR_OPEN) {
        eddy__ue_fput(f);
        return -EBADF;
    }
    pthread_mutex_lock(&fdt_lock);
    if ((size_t)newfd >= fdt_cap && fdt_grow((size_t)newfd) < 0) {
        r = -ENOMEM;
    } else if (fdt[newfd] == &reserved_slot) {
        r = -EBUSY; /* being installed by another thread, as Linux answers */
    } else {
        old = fdt[newfd];
        fdt[newfd] = f; /* our reference becomes the descriptor's */
        fdt_bits[newfd / 64] |= UINT64_C(1) << (newfd % 64);
        f = NULL;
    }
    pthread_mutex_unlock(&fdt_lock);
    if (f)
        eddy__ue_fput(f);
    if (old)
        eddy__ue_fput(old);
    return r;
}

int ue_dup2(int oldfd, int newfd)
{
    if (oldfd == newfd) { /* only checks that oldfd is open */
        struct ue_file *f = eddy__ue_fget(oldfd);
        if (!f)
            return eddy__ue_fail(EBADF);
        eddy__ue_fput(f);
        return newfd;
    }
    int r = dup_to(oldfd, newfd);
    eddy__ue_wake_flush();
    return r < 0 ? eddy__ue_fail(-r) : r;
}

int ue_dup3(int oldfd, int newfd, int flags)
{
    if (flags & ~O_CLOEXEC)
        return eddy__ue_fail(EINVAL);
    if (oldfd == newfd)
        return eddy__ue_fail(EINVAL);
    int r = dup_to(oldfd, newfd);
    eddy__ue_wake_flush();
    return r < 0 ? eddy__ue_fail(-r) : r;
}

int ue_close(int fd)
{
    struct ue_file *f = NULL;
    if (fd < 0)
        return eddy__ue_fail(EBADF);
    pthread_mutex_lock(&fdt_lock);
    if ((size_t)fd < fdt_cap && fdt[fd] && fdt[fd] != &reserved_slot) {
        f = fdt[fd];
        slot_free((size_t)fd);
    }
    pthread_mutex_unlock(&fdt_lock);
    if (!f)
        return eddy__ue_fail(EBADF);
    eddy__ue_fput(f);
    eddy__ue_wake_flush();
    return 0;
}
