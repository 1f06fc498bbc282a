/*
 * Logs of eddy-httpd. The access log (combined format) is written through one buffer
 * per loop thread, flushed when it fills or by a once-a-second timer of that loop, so
 * a request costs no write(2). The error log goes to stderr with a level.
 */
#ifndef EDDY_HTTPD_LOG_H
#define EDDY_HTTPD_LOG_H

#include "eddy/http.h"

struct eddy_event_loop;

/* "off", "-" (stdout) or a file path (appended to, created 0644). 0 or -errno. */
int httpd_log_open(const char *spec);
int httpd_log_enabled(void);
/* 1: each line ends with the TLS version and cipher ("- -" without TLS), as nginx's
 * combined format followed by $ssl_protocol $ssl_cipher. Set before serving. */
void httpd_log_set_tls(int on);
/* The eddy_http_log_fn hook. */
void httpd_access_log(const struct eddy_http_log_entry *e, void *data);
/* SIGHUP: flushes every thread's buffer into the current file, then reopens the path, in
 * one step for every thread: lines logged before it are in the old file, those after it
 * in the new one. 0 or -errno (the old file is kept then). */
int httpd_log_reopen(void);
/* Reload: the access log goes to the file spec from now on (when it was a file). */
int httpd_log_switch(const char *spec);
/* In the loop's own thread: starts (or stops, flushing first) its flush timer. */
void httpd_log_start_flusher(struct eddy_event_loop *loop);
void httpd_log_stop_flusher(void);
/* Once no thread logs any more: flushes every buffer and closes the file. */
void httpd_log_close(void);

/* Error log by level name ("info", "error", ...): see errlog.h. */
void httpd_err(const char *level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
