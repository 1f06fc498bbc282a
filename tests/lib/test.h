/*
 * A small unit-test harness: one binary per module, one function per behaviour.
 *
 *   static void test_buffer_grows(void) { ... ASSERT_EQ(x, 3); ... }
 *   int main(void) { RUN(test_buffer_grows); return eddy_test_done(); }
 *
 * Each RUN prints "ok - NAME" or "not ok - NAME"; tests/run.sh counts those lines.
 * A failed ASSERT prints the expression and both values, then returns from the
 * test function, so asserts belong in the test function itself (or in helpers
 * returning void, followed by `if (eddy_test_failed()) return;`).
 */
#ifndef EDDY_TEST_H
#define EDDY_TEST_H

#include <stdio.h>
#include <string.h>

void eddy_test_fail(const char *file, int line, const char *expr, const char *detail);
void eddy_test_fail_ll(const char *file, int line, const char *expr, long long a, long long b);
void eddy_test_fail_dbl(const char *file, int line, const char *expr, double a, double b);
void eddy_test_fail_str(const char *file, int line, const char *expr, const char *a, const char *b);
void eddy_test_run(const char *name, void (*fn)(void));
int eddy_test_failed(void);
int eddy_test_done(void);
/* Seconds since an arbitrary point, monotonic: for timing bounds in tests. */
double eddy_test_now(void);

#define RUN(fn) eddy_test_run(#fn, fn)

#define ASSERT(cond)                                                                               \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            eddy_test_fail(__FILE__, __LINE__, #cond, "is false");                                 \
            return;                                                                                \
        }                                                                                          \
    } while (0)

/* Floating operands compare as double (a cast to long long would truncate: t >= 1.4 would
 * pass for t = 1.0); everything else, pointers included, as long long. */
#define EDDY_TEST_FLOATING_(x) _Generic((x), float : 1, double : 1, long double : 1, default : 0)
#define EDDY_TEST_DBL_(x)                                                                          \
    _Generic((x), float : (x), double : (x), long double : (x), default : (double)(long long)(x))

#define ASSERT_CMP_(a, op, b)                                                                      \
    do {                                                                                           \
        if (EDDY_TEST_FLOATING_(a) || EDDY_TEST_FLOATING_(b)) {                                    \
            double a_ = (double)EDDY_TEST_DBL_(a), b_ = (double)EDDY_TEST_DBL_(b);                 \
            if (!(a_ op b_)) {                                                                     \
                eddy_test_fail_dbl(__FILE__, __LINE__, #a " " #op " " #b, a_, b_);                 \
                return;                                                                            \
            }                                                                                      \
        } else {                                                                                   \
            long long a_ = (long long)(a), b_ = (long long)(b);                                    \
            if (!(a_ op b_)) {                                                                     \
                eddy_test_fail_ll(__FILE__, __LINE__, #a " " #op " " #b, a_, b_);                  \
                return;                                                                            \
            }                                                                                      \
        }                                                                                          \
    } while (0)

#define ASSERT_EQ(a, b) ASSERT_CMP_(a, ==, b)
#define ASSERT_NE(a, b) ASSERT_CMP_(a, !=, b)
#define ASSERT_LT(a, b) ASSERT_CMP_(a, <, b)
#define ASSERT_LE(a, b) ASSERT_CMP_(a, <=, b)
#define ASSERT_GT(a, b) ASSERT_CMP_(a, >, b)
#define ASSERT_GE(a, b) ASSERT_CMP_(a, >=, b)

#define ASSERT_STR_EQ(a, b)                                                                        \
    do {                                                                                           \
        const char *a_ = (a), *b_ = (b);                                                           \
        if (a_ == NULL || b_ == NULL || strcmp(a_, b_) != 0) {                                     \
            eddy_test_fail_str(__FILE__, __LINE__, #a " == " #b, a_, b_);                          \
            return;                                                                                \
        }                                                                                          \
    } while (0)

/* Compares n bytes; prints the first differing offset. */
#define ASSERT_MEM_EQ(a, b, n)                                                                     \
    do {                                                                                           \
        const unsigned char *a_ = (const unsigned char *)(a), *b_ = (const unsigned char *)(b);    \
        size_t n_ = (size_t)(n), i_ = 0;                                                           \
        while (i_ < n_ && a_[i_] == b_[i_])                                                        \
            i_++;                                                                                  \
        if (i_ != n_) {                                                                            \
            eddy_test_fail_ll(__FILE__, __LINE__, "first difference of " #a " and " #b " at",      \
                              (long long)i_, (long long)n_);                                       \
            return;                                                                                \
        }                                                                                          \
    } while (0)

#endif
