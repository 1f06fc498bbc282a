/* Response header validation (eddy_http_response_add_header_n): names are tchar only
 * (RFC 9110 5.6.2) and not the library's own fields; values have no CTL but HTAB. */
#include "http/http_internal.h"
#include "../../lib/test.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* A response object on its own: add_header_n only touches state and the hdrs buffer. */
static int add(const char *name, size_t nlen, const char *value, size_t vlen)
{
    struct eddy_http_response res;
    memset(&res, 0, sizeof(res));
    res.state = RES_NEW;
    int rc = eddy_http_response_add_header_n(&res, name, nlen, value, vlen);
    eddy_buffer_free(&res.hdrs);
    return rc;
}

static int old_token(unsigned char ch)
{
    return ch > 0x20 && ch < 0x7f && !strchr("\"(),/:;<=>?@[\\]{}", ch);
}

static void test_every_name_byte(void)
{
    for (int c = 0; c < 256; c++) {
        char name[3] = {'X', (char)c, 'Y'};
        int want = old_token((unsigned char)c) ? 0 : -EINVAL;
        ASSERT_EQ(add(name, 3, "v", 1), want);
    }
}

static void test_reserved_names(void)
{
    ASSERT_EQ(add("Date", 4, "x", 1), -EINVAL);
    ASSERT_EQ(add("date", 4, "x", 1), -EINVAL);
    ASSERT_EQ(add("CONNECTION", 10, "x", 1), -EINVAL);
    ASSERT_EQ(add("content-length", 14, "1", 1), -EINVAL);
    ASSERT_EQ(add("Transfer-Encoding", 17, "x", 1), -EINVAL);
    ASSERT_EQ(add("Dates", 5, "x", 1), 0);
    ASSERT_EQ(add("Content-Lengths", 15, "x", 1), 0);
    ASSERT_EQ(add("X-Date", 6, "x", 1), 0);
    ASSERT_EQ(add("", 0, "x", 1), -EINVAL);
}

static int value_byte_ok(int c)
{
    return c == '\t' || (c >= 0x20 && c != 0x7f);
}

/* A forbidden byte at every position of values of every length up to 40 bytes. */
static void test_value_bytes_everywhere(void)
{
    static const char bad[] = {'\r', '\n', '\0', 0x01, 0x7f};
    char v[40];
    for (size_t len = 0; len <= sizeof(v); len++) {
        memset(v, 'a', sizeof(v));
        ASSERT_EQ(add("X-V", 3, v, len), 0);
        for (size_t pos = 0; pos < len; pos++) {
            for (size_t k = 0; k < sizeof(bad); k++) {
                memset(v, 'a', sizeof(v));
                v[pos] = bad[k];
                ASSERT_EQ(add("X-V", 3, v, len), -EINVAL);
            }
        }
    }
}

static void test_every_value_byte(void)
{
    char v[24];
    for (int c = 0; c < 256; c++) {
        memset(v, 'a', sizeof(v));
        v[11] = (char)c;
        ASSERT_EQ(add("X-V", 3, v, sizeof(v)), value_byte_ok(c) ? 0 : -EINVAL);
    }
}

int main(void)
{
    RUN(test_every_name_byte);
    RUN(test_reserved_names);
    RUN(test_value_bytes_everywhere);
    RUN(test_every_value_byte);
    return eddy_test_done();
}
