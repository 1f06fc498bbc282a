/* The tests of test_http_half_close.c with two sub-reactors (also run under TSan). */
#define HTTP_TEST_THREADS 2
#include "test_http_half_close.c"
