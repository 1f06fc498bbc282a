#include "eddy/http_parser.h"
#include "../../lib/test.h"

static void test_method_names(void)
{
    ASSERT_STR_EQ(eddy_http_method_name(EDDY_HTTP_GET), "GET");
    ASSERT_STR_EQ(eddy_http_method_name(EDDY_HTTP_PATCH), "PATCH");
    ASSERT(eddy_http_method_name(EDDY_HTTP_METHOD_UNKNOWN) == NULL);
}

int main(void)
{
    RUN(test_method_names);
    return eddy_test_done();
}
