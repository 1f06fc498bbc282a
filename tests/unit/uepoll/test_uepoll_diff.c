/*
 * Differential test: every scenario of tests/uepoll_diff/scenarios_*.inc runs twice, in
 * forked children, once on the kernel's epoll/pipe/eventfd and once on uepoll; the two
 * traces must be byte-identical. One "ok"/"not ok" line per scenario; on a mismatch
 * both traces are printed.
 *
 *   build/tests/test_uepoll_diff                 run and compare all
 *   build/tests/test_uepoll_diff --dump k|u [N]  print the traces of one side
 *
 * Scenario files: scenarios_core.inc, scenarios_more.inc, scenarios_suites.inc (which
 * includes scenarios_calls.inc and holds the table).
 */
#include "../../lib/test.h"

#include <eddy/uepoll.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct diff_scenario {
    const char *name;
    void (*fn)(void);
};

static int diff_fd_base; /* first free descriptor number of the side being traced */
/* Numbers from 1000 up are deliberately bogus descriptors: printed as they are. */
#define FD(x) ((x) < 0 || (x) >= 1000 ? (x) : (x)-diff_fd_base)

static void diff_line(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void diff_line(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
}

static void diff_show(long r, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void diff_show(long r, int err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    if (r < 0)
        printf(" -> -1 %s\n", strerrorname_np(err) ? strerrorname_np(err) : "?");
    else
        printf(" -> %ld\n", r);
}

static const char *diff_ev(char *b, uint32_t ev)
{
    static const struct {
        uint32_t bit;
        const char *name;
    } names[] = {{EPOLLIN, "IN"},         {EPOLLPRI, "PRI"},         {EPOLLOUT, "OUT"},
                 {EPOLLERR, "ERR"},       {EPOLLHUP, "HUP"},         {EPOLLRDNORM, "RDNORM"},
                 {EPOLLRDBAND, "RDBAND"}, {EPOLLWRNORM, "WRNORM"},   {EPOLLWRBAND, "WRBAND"},
                 {EPOLLMSG, "MSG"},       {EPOLLRDHUP, "RDHUP"},     {EPOLLEXCLUSIVE, "EXCL"},
                 {EPOLLWAKEUP, "WAKEUP"}, {EPOLLONESHOT, "ONESHOT"}, {EPOLLET, "ET"}};
    b[0] = 0;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (ev & names[i].bit) {
            strcat(b, b[0] ? "|" : "");
            strcat(b, names[i].name);
            ev &= ~names[i].bit;
        }
    }
    if (ev)
        sprintf(b + strlen(b), "%s%#x", b[0] ? "|" : "", ev);
    if (!b[0])
        strcpy(b, "0");
    return b;
}

static const char *diff_op(int op)
{
    static char b[16];
    switch (op) {
    case EPOLL_CTL_ADD:
        return "ADD";
    case EPOLL_CTL_DEL:
        return "DEL";
    case EPOLL_CTL_MOD:
        return "MOD";
    }
    snprintf(b, sizeof b, "op%d", op);
    return b;
}

static void diff_wait_show(int ep, int max, int timeout, int r, int err,
                           const struct epoll_event *evs)
{
    char b[160];
    printf("wait(%d, max %d, %d ms)", ep, max, timeout);
    if (r < 0) {
        printf(" -> -1 %s\n", strerrorname_np(err));
        return;
    }
    printf(" -> %d", r);
    for (int i = 0; i < r; i++)
        printf(" [%llu %s]", (unsigned long long)evs[i].data.u64, diff_ev(b, evs[i].events));
    putchar('\n');
}

static double diff_now(void)
{
    return eddy_test_now();
}

static void diff_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* Waits (up to 3 s) until the thread whose id *tid will hold is asleep in the kernel,
 * in epoll_wait or on uepoll's futex alike, so that multi-waiter scenarios do not
 * depend on how loaded the machine is. */
static void diff_until_asleep(atomic_int *tid)
{
    char path[64], stat[512];
    for (int i = 0; i < 3000; i++) {
        int t = atomic_load(tid);
        FILE *f = NULL;
        if (t) {
            snprintf(path, sizeof path, "/proc/self/task/%d/stat", t);
            f = fopen(path, "r");
        }
        size_t n = f ? fread(stat, 1, sizeof stat - 1, f) : 0;
        if (f)
            fclose(f);
        stat[n] = 0;
        const char *close_paren = strrchr(stat, ')');
        if (close_paren && close_paren[1] == ' ' && close_paren[2] == 'S') {
            diff_sleep_ms(10);
            return;
        }
        diff_sleep_ms(1);
    }
}

/* The kernel's calls, reached through a volatile table (see diff_api.h). */
static struct {
    int (*create1)(int);
    int (*ctl)(int, int, int, struct epoll_event *);
    int (*wait)(int, struct epoll_event *, int, int);
    int (*pipe2)(int *, int);
    int (*eventfd)(unsigned, int);
    ssize_t (*read)(int, void *, size_t);
    ssize_t (*write)(int, const void *, size_t);
    int (*dup)(int);
    int (*close)(int);
    int (*dup2)(int, int);
    int (*dup3)(int, int, int);
    int (*pwait)(int, struct epoll_event *, int, int, const sigset_t *);
    int (*pwait2)(int, struct epoll_event *, int, const struct timespec *, const sigset_t *);
    ssize_t (*readv)(int, const struct iovec *, int);
    ssize_t (*writev)(int, const struct iovec *, int);
    int (*fcntl)(int, int, ...);
} volatile diff_k = {epoll_create1, epoll_ctl, epoll_wait, pipe2, eventfd, read,
                     write,         dup,       close,      dup2,  dup3,    epoll_pwait,
                     epoll_pwait2,  readv,     writev,     fcntl};

#define DIFF_KERNEL
#include "../../uepoll_diff/diff_api.h"
#include "../../uepoll_diff/scenarios_core.inc"
#include "../../uepoll_diff/scenarios_more.inc"
#include "../../uepoll_diff/scenarios_suites.inc"
#undef DIFF_KERNEL
#include "../../uepoll_diff/diff_api.h"
#include "../../uepoll_diff/scenarios_core.inc"
#include "../../uepoll_diff/scenarios_more.inc"
#include "../../uepoll_diff/scenarios_suites.inc"

#define NSCEN (sizeof table_k / sizeof table_k[0])

/* Runs fn in a child with a clean descriptor table; returns its trace (malloc'd). */
static char *trace_of(void (*fn)(void), int kernel)
{
    int pp[2];
    if (pipe(pp) < 0)
        return NULL;
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(pp[1], 1);
        for (int fd = 0; fd < 3; fd++)
            if (fcntl(fd, F_GETFD) < 0)
                open("/dev/null", O_RDWR);
        closefrom(3);
        diff_fd_base = kernel ? 3 : 0;
        signal(SIGPIPE, SIG_IGN);
        alarm(30);
        fn();
        fflush(stdout);
        exit(0);
    }
    close(pp[1]);
    size_t cap = 4096, len = 0;
    char *out = malloc(cap);
    ssize_t n;
    while (out && (n = read(pp[0], out + len, cap - len - 1)) != 0) {
        if (n < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        len += (size_t)n;
        if (cap - len < 1024)
            out = realloc(out, cap *= 2);
    }
    close(pp[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    if (out) {
        out[len] = 0;
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            char tail[64];
            snprintf(tail, sizeof tail, "[child status %#x]\n", status);
            out = realloc(out, len + sizeof tail);
            strcat(out, tail);
        }
    }
    return out;
}

static void print_prefixed(const char *label, const char *s)
{
    printf("# --- %s\n", label);
    while (s && *s) {
        const char *nl = strchr(s, '\n');
        int n = nl ? (int)(nl - s) : (int)strlen(s);
        printf("#   %.*s\n", n, s);
        s += n + (nl != NULL);
    }
}

static size_t current;

static void compare_current(void)
{
    char *k = trace_of(table_k[current].fn, 1), *u = trace_of(table_u[current].fn, 0);
    int same = k && u && strcmp(k, u) == 0;
    if (!same) {
        print_prefixed("kernel", k);
        print_prefixed("uepoll", u);
    }
    free(k);
    free(u);
    ASSERT(same);
}

static void test_scenario_count(void)
{
    ASSERT_EQ(sizeof table_k / sizeof table_k[0], sizeof table_u / sizeof table_u[0]);
    ASSERT_GE(NSCEN, 40);
}

int main(int argc, char **argv)
{
    if (argc >= 3 && strcmp(argv[1], "--dump") == 0) {
        int kernel = argv[2][0] == 'k';
        for (size_t i = 0; i < NSCEN; i++) {
            if (argc >= 4 && strcmp(argv[3], table_k[i].name) != 0)
                continue;
            char *t = trace_of(kernel ? table_k[i].fn : table_u[i].fn, kernel);
            printf("== %s\n%s", table_k[i].name, t ? t : "(no trace)\n");
            free(t);
        }
        return 0;
    }
    RUN(test_scenario_count);
    for (current = 0; current < NSCEN; current++)
        eddy_test_run(table_k[current].name, compare_current);
    return eddy_test_done();
}
