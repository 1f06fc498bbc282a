/* A build without TLS (make TLS=0): every way into TLS fails clearly. */
#include <errno.h>
#include <string.h>

#include "../../lib/test.h"
#include "eddy/tls.h"

static void test_tls_context_refused(void)
{
    struct eddy_tls_options o;
    struct eddy_tls_context *ctx = (struct eddy_tls_context *)&o;
    char err[256] = "";

    ASSERT_EQ(eddy_tls_available(), 0);
    eddy_tls_options_init(&o);
    ASSERT_EQ(eddy_tls_options_add_cert(&o, "cert.pem", "key.pem"), 0);
    ASSERT_EQ(eddy_tls_context_new(&ctx, &o, err, sizeof err), -ENOTSUP);
    ASSERT(ctx == NULL);
    ASSERT(strstr(err, "without TLS") != NULL);
}

int main(void)
{
    RUN(test_tls_context_refused);
    return eddy_test_done();
}
