#include "eddy/channel_map.h"

#include <errno.h>

#include "eddy/channel.h"
#include "../../lib/test.h"

static void test_channel_map_put_get_remove(void)
{
    struct eddy_channel_map m;
    struct eddy_channel a, b;
    eddy_channel_map_init(&m);
    ASSERT(eddy_channel_map_get(&m, 3) == NULL);
    ASSERT_EQ(eddy_channel_map_put(&m, 3, &a), 0);
    ASSERT_EQ(eddy_channel_map_put(&m, 5, &b), 0);
    ASSERT(eddy_channel_map_get(&m, 3) == &a);
    ASSERT(eddy_channel_map_get(&m, 5) == &b);
    ASSERT(eddy_channel_map_get(&m, 4) == NULL);
    ASSERT_EQ(eddy_channel_map_put(&m, 3, &b), 0); /* replaces */
    ASSERT(eddy_channel_map_get(&m, 3) == &b);
    eddy_channel_map_remove(&m, 3);
    ASSERT(eddy_channel_map_get(&m, 3) == NULL);
    eddy_channel_map_remove(&m, 100000); /* beyond the array: no effect */
    eddy_channel_map_free(&m);
}

static void test_channel_map_grows_and_keeps_entries(void)
{
    struct eddy_channel_map m;
    struct eddy_channel chs[8];
    int i;
    eddy_channel_map_init(&m);
    for (i = 0; i < 8; i++)
        ASSERT_EQ(eddy_channel_map_put(&m, i * 1000, &chs[i]), 0);
    ASSERT_GT(m.nentries, 7000);
    for (i = 0; i < 8; i++)
        ASSERT(eddy_channel_map_get(&m, i * 1000) == &chs[i]);
    ASSERT(eddy_channel_map_get(&m, 1500) == NULL);
    ASSERT(eddy_channel_map_get(&m, m.nentries) == NULL);
    eddy_channel_map_free(&m);
    ASSERT_EQ(m.nentries, 0);
}

static void test_channel_map_rejects_negative(void)
{
    struct eddy_channel_map m;
    struct eddy_channel a;
    eddy_channel_map_init(&m);
    ASSERT_EQ(eddy_channel_map_put(&m, -1, &a), -EINVAL);
    ASSERT(eddy_channel_map_get(&m, -1) == NULL);
    eddy_channel_map_remove(&m, -1);
    eddy_channel_map_free(&m);
}

int main(void)
{
    RUN(test_channel_map_put_get_remove);
    RUN(test_channel_map_grows_and_keeps_entries);
    RUN(test_channel_map_rejects_negative);
    return eddy_test_done();
}
