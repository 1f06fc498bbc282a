/* Operating eddy-httpd with a config file: globals, pid file, privilege drop, reload. */
#ifndef EDDY_HTTPD_OPERATE_H
#define EDDY_HTTPD_OPERATE_H

#include "conf.h"
#include "eddy/http.h"
#include "options.h"

/* The file's globals into o, except where the command line gave the flag. */
void httpd_apply_globals(struct httpd_options *o, const struct httpd_conf *c);
/* error_log of c, or stderr at notice when it names none. 0 or -errno (logged). */
int httpd_open_error_log(const struct httpd_conf *c);
/* The library's per-response hook with a config: the access log, plus timeouts (408) and
 * bad requests (400) at info and 5xx at error in the error log. */
void httpd_log_hook(const struct eddy_http_log_entry *e, void *data);
/* The library's conn_error hook: a reset or a send timeout, at info with the client. */
void httpd_conn_error(const struct sockaddr *peer, int err, void *data);
/* Writes the pid to path (through a temporary file and a rename). 0 or -errno. */
int httpd_write_pid(const char *path);
/* Switches to user (and group, or the user's) with its supplementary groups; as
 * non-root only warns. 0, or -1 (logged) when the drop failed: do not serve. */
int httpd_drop_privileges(const char *user, const char *group);

struct httpd_reload_ctx {
    const char *path;
    struct httpd_conf_load_options load;
    /* Opens the listening addresses of c that are not open yet; 0 or -1 (logged). */
    int (*listen)(const struct httpd_conf *c, void *arg);
    void *arg;
};

/* SIGHUP with a config: re-reads and checks the file; when valid, new requests use it
 * (requests in flight finish under the old one) and the logs follow it; when not, the
 * old one stays and the error goes to the error log. 0 or -1. */
int httpd_reload(struct httpd_reload_ctx *r);

#endif
