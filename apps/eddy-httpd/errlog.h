/*
 * The error log of eddy-httpd: lines at or above a level (nginx's levels) go to stderr
 * or to a file, which SIGHUP reopens (or replaces, when a reload names another one).
 */
#ifndef EDDY_HTTPD_ERRLOG_H
#define EDDY_HTTPD_ERRLOG_H

enum {
    HTTPD_LOG_DEBUG,
    HTTPD_LOG_INFO,
    HTTPD_LOG_NOTICE,
    HTTPD_LOG_WARN,
    HTTPD_LOG_ERROR,
    HTTPD_LOG_CRIT,
    HTTPD_LOG_ALERT,
    HTTPD_LOG_EMERG,
};

/* "debug", "info", ... "emerg" (and "warning"): the level, or -1. */
int httpd_errlog_level(const char *name);
/* Sends the log to path ("stderr" or NULL: stderr) from this level up. The file is
 * opened (appended, created 0644) before the old one is closed. 0 or -errno. */
int httpd_errlog_open(const char *path, int level);
/* Opens the same path again (rotation). 0 or -errno. */
int httpd_errlog_reopen(void);
/* Whether a line at level would be written. */
int httpd_errlog_wants(int level);
void httpd_errlog_close(void);
/* One line: "eddy-httpd: [level] message" on stderr, "DATE [level] message" in a file. */
void httpd_log_error(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
