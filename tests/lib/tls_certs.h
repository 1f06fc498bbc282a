/* Test certificates made at run time by tests/lib/gen_certs.sh (the openssl CLI). */
#ifndef EDDY_TEST_TLS_CERTS_H
#define EDDY_TEST_TLS_CERTS_H

/* The directory holding ca.pem and the leaves (see gen_certs.sh), made once per
 * process in a fresh temporary directory that is removed at exit. NULL on failure. */
const char *eddy_test_certs(void);
/* dir/name in a static buffer of the caller's choice: path(buf, "a.test.key"). */
const char *eddy_test_cert_path(char *buf, unsigned size, const char *name);

#endif
