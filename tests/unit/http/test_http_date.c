/* HTTP-date formatting and parsing. */
#include "eddy/http.h"
#include "../../lib/test.h"

#include <errno.h>
#include <stdlib.h>

static void test_format_known_dates(void)
{
    char b[EDDY_HTTP_DATE_LEN + 1];
    eddy_http_date_format(784111777, b);
    ASSERT_STR_EQ(b, "Sun, 06 Nov 1994 08:49:37 GMT");
    eddy_http_date_format(0, b);
    ASSERT_STR_EQ(b, "Thu, 01 Jan 1970 00:00:00 GMT");
    eddy_http_date_format(951782400, b); /* leap day of a century leap year */
    ASSERT_STR_EQ(b, "Tue, 29 Feb 2000 00:00:00 GMT");
    eddy_http_date_format(4102444799, b);
    ASSERT_STR_EQ(b, "Thu, 31 Dec 2099 23:59:59 GMT");
}

static void test_parse_three_forms(void)
{
    const char *forms[] = {"Sun, 06 Nov 1994 08:49:37 GMT", "Sunday, 06-Nov-94 08:49:37 GMT",
                           "Sun Nov  6 08:49:37 1994"};
    for (size_t i = 0; i < 3; i++) {
        time_t t = 0;
        ASSERT_EQ(eddy_http_date_parse(forms[i], strlen(forms[i]), &t), 0);
        ASSERT_EQ(t, 784111777);
    }
}

static void test_parse_rejects_garbage(void)
{
    const char *bad[] = {"",
                         "Sun, 06 Nov 1994 08:49:37 GMT ",
                         "Sun, 6 Nov 1994 08:49:37 GMT",
                         "Sun, 06 Nov 1994 08:49:37 UTC",
                         "Sun, 06 Foo 1994 08:49:37 GMT",
                         "Sun, 32 Nov 1994 08:49:37 GMT",
                         "Sun, 06 Nov 1994 24:49:37 GMT",
                         "Xyz, 06 Nov 1994 08:49:37 GMT",
                         "Sun, 06 Nov 1994 08:49 GMT",
                         "Sun Nov  6 08:49:37 94"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        time_t t = 0;
        ASSERT_EQ(eddy_http_date_parse(bad[i], strlen(bad[i]), &t), -EINVAL);
    }
}

static void test_round_trip(void)
{
    char b[EDDY_HTTP_DATE_LEN + 1];
    srand(7);
    for (int i = 0; i < 100000; i++) {
        time_t t = (time_t)(((unsigned long long)rand() << 16) % 253402300800ULL), u = 0;
        eddy_http_date_format(t, b);
        ASSERT_EQ(eddy_http_date_parse(b, strlen(b), &u), 0);
        ASSERT_EQ(u, t);
    }
}

int main(void)
{
    RUN(test_format_known_dates);
    RUN(test_parse_three_forms);
    RUN(test_parse_rejects_garbage);
    RUN(test_round_trip);
    return eddy_test_done();
}
