/*
 * channel_map: fd -> channel as a flat array indexed by fd. File descriptors
 * are small dense integers, so this beats any hash on the dispatch path.
 */
#include "eddy/channel_map.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#define MAP_MIN_ENTRIES 64

void eddy_channel_map_init(struct eddy_channel_map *m)
{
    m->entries = NULL;
    m->nentries = 0;
}

void eddy_channel_map_free(struct eddy_channel_map *m)
{
    free(m->entries);
    eddy_channel_map_init(m);
}

static int map_grow(struct eddy_channel_map *m, int fd)
{
    size_t n = m->nentries > 0 ? (size_t)m->nentries : MAP_MIN_ENTRIES;
    struct eddy_channel **p;

    while (n <= (size_t)fd)
        n *= 2;
    if (n > INT_MAX)
        n = (size_t)fd + 1;
    p = realloc(m->entries, n * sizeof(*p));
    if (p == NULL)
        return -ENOMEM;
    memset(p + m->nentries, 0, (n - (size_t)m->nentries) * sizeof(*p));
    m->entries = p;
    m->nentries = (int)n;
    return 0;
}

int eddy_channel_map_put(struct eddy_channel_map *m, int fd, struct eddy_channel *ch)
{
    if (fd < 0)
        return -EINVAL;
    if (fd >= m->nentries) {
        int r = map_grow(m, fd);
        if (r < 0)
            return r;
    }
    m->entries[fd] = ch;
    return 0;
}

struct eddy_channel *eddy_channel_map_get(const struct eddy_channel_map *m, int fd)
{
    if (fd < 0 || fd >= m->nentries)
        return NULL;
    return m->entries[fd];
}

void eddy_channel_map_remove(struct eddy_channel_map *m, int fd)
{
    if (fd >= 0 && fd < m->nentries)
        m->entries[fd] = NULL;
}
