#include "test.h"

#include <stdlib.h>
#include <time.h>

static int current_failed;
static int total_failed;
static int total_run;

void eddy_test_fail(const char *file, int line, const char *expr, const char *detail)
{
    fprintf(stdout, "#   %s:%d: %s %s\n", file, line, expr, detail);
    current_failed = 1;
}

void eddy_test_fail_ll(const char *file, int line, const char *expr, long long a, long long b)
{
    fprintf(stdout, "#   %s:%d: %s failed: left %lld, right %lld\n", file, line, expr, a, b);
    current_failed = 1;
}

void eddy_test_fail_dbl(const char *file, int line, const char *expr, double a, double b)
{
    fprintf(stdout, "#   %s:%d: %s failed: left %.17g, right %.17g\n", file, line, expr, a, b);
    current_failed = 1;
}

void eddy_test_fail_str(const char *file, int line, const char *expr, const char *a, const char *b)
{
    fprintf(stdout, "#   %s:%d: %s failed: left \"%s\", right \"%s\"\n", file, line, expr,
            a ? a : "(null)", b ? b : "(null)");
    current_failed = 1;
}

int eddy_test_failed(void)
{
    return current_failed;
}

void eddy_test_run(const char *name, void (*fn)(void))
{
    current_failed = 0;
    fn();
    total_run++;
    if (current_failed)
        total_failed++;
    fprintf(stdout, "%s - %s\n", current_failed ? "not ok" : "ok", name);
    fflush(stdout);
}

int eddy_test_done(void)
{
    fprintf(stdout, "# %d run, %d failed\n", total_run, total_failed);
    return total_failed ? 1 : 0;
}

double eddy_test_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}
