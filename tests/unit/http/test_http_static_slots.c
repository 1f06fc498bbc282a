/*
 * A thread using more static handlers than it has thread-local slots for finds its own
 * open-file cache of each again instead of making a new one at every slot miss (which
 * grew without bound: eddy-httpd uses one handler per document root of its config).
 */
#include <stdlib.h>

#include "../../lib/test.h"
#include "eddy/http_static.h"

#define N 9

static void test_static_cache_found_again_after_slot_eviction(void)
{
    struct eddy_http_static *s[N];
    struct eddy_http_fcache *first[N];
    struct eddy_http_static_options o;
    eddy_http_static_options_init(&o);
    o.root = "/tmp";
    for (int i = 0; i < N; i++)
        ASSERT_EQ(eddy_http_static_new(&s[i], &o), 0);
    for (int i = 0; i < N; i++) {
        first[i] = eddy_http_static_thread_cache(s[i]);
        ASSERT(first[i] != NULL);
    }
    for (int round = 0; round < 3; round++)
        for (int i = 0; i < N; i++)
            ASSERT(eddy_http_static_thread_cache(s[i]) == first[i]);
    for (int i = 0; i < N; i++)
        eddy_http_static_free(s[i]);
}

int main(void)
{
    RUN(test_static_cache_found_again_after_slot_eviction);
    return eddy_test_done();
}
