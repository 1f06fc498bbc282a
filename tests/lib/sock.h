/* Blocking socket helpers shared by the unit tests of several modules. */
#ifndef EDDY_TEST_SOCK_H
#define EDDY_TEST_SOCK_H

#include <stddef.h>

/* Sends all n bytes on a blocking socket (MSG_NOSIGNAL, EINTR retried): 0, or -1 on error or
 * timeout. */
int eddy_test_send_all(int fd, const void *p, size_t n);

#endif
