/*
 * channel_map: fd -> channel, a flat array indexed by fd that grows (doubling)
 * to fit the largest fd seen. O(1) lookups on the dispatch path.
 */
#ifndef EDDY_CHANNEL_MAP_H
#define EDDY_CHANNEL_MAP_H

#ifdef __cplusplus
extern "C" {
#endif

struct eddy_channel;

struct eddy_channel_map {
    struct eddy_channel **entries;
    int nentries;
};

void eddy_channel_map_init(struct eddy_channel_map *m);
void eddy_channel_map_free(struct eddy_channel_map *m);
/* 0, -EINVAL for fd < 0, -ENOMEM. Replaces any previous entry. */
int eddy_channel_map_put(struct eddy_channel_map *m, int fd, struct eddy_channel *ch);
/* NULL if fd has no channel. */
struct eddy_channel *eddy_channel_map_get(const struct eddy_channel_map *m, int fd);
void eddy_channel_map_remove(struct eddy_channel_map *m, int fd);

#ifdef __cplusplus
}
#endif

#endif
