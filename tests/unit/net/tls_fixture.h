/*
 * What the TLS unit tests share: a server context on the test certificates
 * (tests/lib/gen_certs.sh, "localhost") and an OpenSSL client context that verifies
 * them against the test CA. Included only by test_tls*.c, which TLS=0 builds skip.
 */
#ifndef EDDY_TEST_TLS_FIXTURE_H
#define EDDY_TEST_TLS_FIXTURE_H

#include <openssl/ssl.h>
#include <stdio.h>

#include "../../lib/tls_certs.h"
#include "eddy/tls.h"

/* 0, or -1 after printing a "not ok" line saying why. */
static inline int tls_fixture_open(struct eddy_tls_context **ctx, SSL_CTX **cctx)
{
    struct eddy_tls_options o;
    char cert[512], key[512], ca[512], err[512];

    if (eddy_test_certs() == NULL) {
        printf("not ok - gen_certs.sh failed\n");
        return -1;
    }
    eddy_tls_options_init(&o);
    eddy_tls_options_add_cert(&o, eddy_test_cert_path(cert, sizeof cert, "localhost.chain.pem"),
                              eddy_test_cert_path(key, sizeof key, "localhost.key"));
    if (eddy_tls_context_new(ctx, &o, err, sizeof err) < 0) {
        printf("not ok - context: %s\n", err);
        return -1;
    }
    *cctx = SSL_CTX_new(TLS_client_method());
    SSL_CTX_load_verify_locations(*cctx, eddy_test_cert_path(ca, sizeof ca, "ca.pem"), NULL);
    SSL_CTX_set_verify(*cctx, SSL_VERIFY_PEER, NULL);
    return 0;
}

static inline void tls_fixture_close(struct eddy_tls_context *ctx, SSL_CTX *cctx)
{
    SSL_CTX_free(cctx);
    eddy_tls_context_free(ctx);
}

#endif
