/*
 * For the parser tests: inputs copied to end right before a PROT_NONE page, so that any read
 * past their end faults (ASan does not see over-reads inside a larger mapping).
 */
#ifndef EDDY_GUARD_PAGE_H
#define EDDY_GUARD_PAGE_H

#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

struct guard_page {
    char *map;   /* one read-write page, then the guard */
    size_t size; /* the page size: the longest input put() takes */
};

/* 0, or -1 if the pages could not be mapped. */
static inline int guard_page_open(struct guard_page *g)
{
    g->size = (size_t)sysconf(_SC_PAGESIZE);
    g->map = mmap(NULL, g->size * 2, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (g->map == MAP_FAILED)
        return -1;
    if (mprotect(g->map + g->size, g->size, PROT_NONE) != 0) {
        munmap(g->map, g->size * 2);
        return -1;
    }
    return 0;
}

/* The copy of in[0..n) ending at the guard; n <= g->size. */
static inline char *guard_page_put(struct guard_page *g, const char *in, size_t n)
{
    char *b = g->map + g->size - n;
    memcpy(b, in, n);
    return b;
}

static inline void guard_page_close(struct guard_page *g)
{
    munmap(g->map, g->size * 2);
}

#endif
