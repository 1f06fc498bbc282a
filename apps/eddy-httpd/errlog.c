/*
 * The error log. Like the access log, reopening dup2()s the new file onto the same
 * descriptor number, so threads writing at that moment need no lock: each line is one
 * write(2) with O_APPEND and lands whole in the old file or the new one.
 */
#include "errlog.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

static const char *const names[] = {"debug", "info", "notice", "warn",
                                    "error", "crit", "alert",  "emerg"};

static int err_fd = STDERR_FILENO;
static atomic_int min_level = HTTPD_LOG_INFO;
static char *err_path; /* NULL: stderr */

int httpd_errlog_level(const char *name)
{
    if (strcasecmp(name, "warning") == 0)
        return HTTPD_LOG_WARN;
    for (int i = 0; i < (int)(sizeof names / sizeof names[0]); i++)
        if (strcasecmp(name, names[i]) == 0)
            return i;
    return -1;
}

static int open_log(const char *path)
{
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    return fd < 0 ? -errno : fd;
}

int httpd_errlog_open(const char *path, int level)
{
    if (path == NULL || strcmp(path, "stderr") == 0) {
        if (err_fd != STDERR_FILENO)
            close(err_fd);
        err_fd = STDERR_FILENO;
        free(err_path);
        err_path = NULL;
    } else if (err_path == NULL || strcmp(err_path, path) != 0) {
        char *copy = strdup(path);
        int fd = copy ? open_log(path) : -ENOMEM;
        if (fd < 0) {
            free(copy);
            return fd;
        }
        if (err_fd == STDERR_FILENO) {
            err_fd = fd;
        } else { /* same descriptor number: a thread logging now is not disturbed */
            dup2(fd, err_fd);
            close(fd);
        }
        free(err_path);
        err_path = copy;
    }
    atomic_store(&min_level, level);
    return 0;
}

int httpd_errlog_reopen(void)
{
    if (err_path == NULL)
        return 0;
    int fd = open_log(err_path);
    if (fd < 0)
        return fd;
    int rc = dup2(fd, err_fd) < 0 ? -errno : 0;
    close(fd);
    return rc;
}

int httpd_errlog_wants(int level)
{
    return level >= atomic_load_explicit(&min_level, memory_order_relaxed);
}

void httpd_errlog_close(void)
{
    if (err_fd != STDERR_FILENO)
        close(err_fd);
    err_fd = STDERR_FILENO;
    free(err_path);
    err_path = NULL;
}

static void vlog(int level, const char *fmt, va_list ap)
{
    if (!httpd_errlog_wants(level))
        return;
    char line[1200];
    int n;
    if (err_fd == STDERR_FILENO) {
        n = snprintf(line, sizeof line, "eddy-httpd: [%s] ", names[level]);
    } else {
        struct tm tm;
        time_t now = time(NULL);
        localtime_r(&now, &tm);
        n = (int)strftime(line, sizeof line, "%Y/%m/%d %H:%M:%S ", &tm);
        n += snprintf(line + n, sizeof line - (size_t)n, "[%s] %d: ", names[level], getpid());
    }
    int m0 = n; /* the message starts here */
    int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
    n = m < 0 ? n : n + m;
    if (n > (int)sizeof line - 2)
        n = (int)sizeof line - 2;
    line[n++] = '\n';
    while (write(err_fd, line, (size_t)n) < 0 && errno == EINTR)
        ;
    if (level == HTTPD_LOG_EMERG && err_fd != STDERR_FILENO) /* the operator starting it */
        fprintf(stderr, "eddy-httpd: [emerg] %.*s", n - m0, line + m0);
}

void httpd_log_error(int level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vlog(level, fmt, ap);
    va_end(ap);
}

/* The older entry point, by level name. */
void httpd_err(const char *level, const char *fmt, ...)
{
    int l = httpd_errlog_level(level);
    va_list ap;
    va_start(ap, fmt);
    vlog(l < 0 ? HTTPD_LOG_ERROR : l, fmt, ap);
    va_end(ap);
}
