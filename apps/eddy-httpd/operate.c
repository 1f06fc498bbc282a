/*
 * Operating eddy-httpd with a config file: the file's globals under the command line's
 * flags, the pid file, the privilege drop after binding, and reload.
 */
#include "operate.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "eddy/inet.h"
#include "errlog.h"
#include "log.h"
#include "site.h"

static unsigned ms_or(long long v, unsigned dflt)
{
    return v == HTTPD_UNSET ? dflt : (unsigned)v;
}

void httpd_apply_globals(struct httpd_options *o, const struct httpd_conf *c)
{
    const struct httpd_globals *g = &c->g;
    if (!httpd_option_given(o, "threads") && g->worker_threads != HTTPD_UNSET)
        o->threads = (int)g->worker_threads;
    if (!httpd_option_given(o, "backend") && g->backend)
        o->backend = g->backend;
    if (!httpd_option_given(o, "access-log") && g->access_log)
        o->access_log = g->access_log;
    if (!httpd_option_given(o, "access-log-tls"))
        o->access_log_tls = g->access_log_tls;
    if (!httpd_option_given(o, "keepalive-timeout"))
        o->keepalive_timeout_ms = ms_or(g->keepalive_timeout_ms, o->keepalive_timeout_ms);
    if (!httpd_option_given(o, "header-timeout"))
        o->header_timeout_ms = ms_or(g->client_header_timeout_ms, o->header_timeout_ms);
    if (!httpd_option_given(o, "body-timeout"))
        o->body_timeout_ms = ms_or(g->client_body_timeout_ms, o->body_timeout_ms);
    if (!httpd_option_given(o, "send-timeout"))
        o->send_timeout_ms = ms_or(g->send_timeout_ms, o->send_timeout_ms);
    if (!httpd_option_given(o, "max-connections") && g->max_connections != HTTPD_UNSET)
        o->max_connections = (int)g->max_connections;
    if (!httpd_option_given(o, "keepalive-requests") && g->keepalive_requests != HTTPD_UNSET)
        o->keepalive_requests = (unsigned)g->keepalive_requests;
    if (!httpd_option_given(o, "max-body") && g->client_max_body_size != HTTPD_UNSET)
        o->max_body = (uint64_t)g->client_max_body_size;
    if (!httpd_option_given(o, "tls-handshake-timeout"))
        o->tls_handshake_timeout_ms =
            ms_or(g->tls.handshake_timeout_ms, o->tls_handshake_timeout_ms);
}

int httpd_open_error_log(const struct httpd_conf *c)
{
    if (c->g.error_log == NULL) /* stderr; not every 404 (info) by default */
        return httpd_errlog_open(NULL, HTTPD_LOG_NOTICE);
    int rc = httpd_errlog_open(c->g.error_log, c->g.error_level);
    if (rc < 0)
        httpd_log_error(HTTPD_LOG_EMERG, "error_log \"%s\": %s", c->g.error_log, strerror(-rc));
    return rc;
}

void httpd_log_hook(const struct eddy_http_log_entry *e, void *data)
{
    httpd_access_log(e, data);
    if (e->status != 408 && e->status != 400 && e->status < 500)
        return;
    int level = e->status >= 500 ? HTTPD_LOG_ERROR : HTTPD_LOG_INFO;
    if (!httpd_errlog_wants(level))
        return;
    char ip[64] = "-";
    if (e->peer)
        eddy_sockaddr_format_ip(e->peer, ip, sizeof ip);
    const char *what = e->status == 408   ? "client timed out"
                       : e->status == 400 ? "bad request"
                                          : "server error";
    httpd_log_error(level, "%s (%d), client %s, request \"%.*s %.*s\"", what, e->status, ip,
                    (int)(e->method.len < 16 ? e->method.len : 16), e->method.p ? e->method.p : "",
                    (int)(e->target.len < 512 ? e->target.len : 512),
                    e->target.p ? e->target.p : "");
}

void httpd_conn_error(const struct sockaddr *peer, int err, void *data)
{
    (void)data;
    if (!httpd_errlog_wants(HTTPD_LOG_INFO))
        return;
    char ip[64] = "-";
    if (peer)
        eddy_sockaddr_format_ip(peer, ip, sizeof ip);
    if (err == -ETIMEDOUT)
        httpd_log_error(HTTPD_LOG_INFO,
                        "client timed out (%d: %s) while sending the response, client %s",
                        ETIMEDOUT, strerror(ETIMEDOUT), ip);
    else
        httpd_log_error(HTTPD_LOG_INFO, "connection reset by peer (%d: %s), client %s", -err,
                        strerror(-err), ip);
}

int httpd_write_pid(const char *path)
{
    char tmp[4096], line[32];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp)
        return -ENAMETOOLONG;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return -errno;
    int n = snprintf(line, sizeof line, "%d\n", (int)getpid());
    int rc = write(fd, line, (size_t)n) == n ? 0 : -EIO;
    close(fd);
    if (rc == 0 && rename(tmp, path) < 0) /* never a half-written pid file */
        rc = -errno;
    if (rc < 0)
        unlink(tmp);
    return rc;
}

int httpd_drop_privileges(const char *user, const char *group)
{
    if (geteuid() != 0) {
        httpd_log_error(HTTPD_LOG_WARN, "\"user %s\" ignored: not started as root", user);
        return 0;
    }
    struct passwd *pw = getpwnam(user);
    if (pw == NULL) {
        httpd_log_error(HTTPD_LOG_EMERG, "user \"%s\": no such user", user);
        return -1;
    }
    gid_t gid = pw->pw_gid;
    if (group) {
        struct group *gr = getgrnam(group);
        if (gr == NULL) {
            httpd_log_error(HTTPD_LOG_EMERG, "group \"%s\": no such group", group);
            return -1;
        }
        gid = gr->gr_gid;
    }
    if (initgroups(pw->pw_name, gid) < 0 || setgid(gid) < 0 || setuid(pw->pw_uid) < 0) {
        httpd_log_error(HTTPD_LOG_EMERG, "dropping privileges to \"%s\": %s", user,
                        strerror(errno));
        return -1;
    }
    /* Refuse to serve as root: the drop must be complete and irreversible. */
    if (pw->pw_uid != 0 && (getuid() == 0 || geteuid() == 0 || setuid(0) == 0)) {
        httpd_log_error(HTTPD_LOG_EMERG, "still root after dropping to \"%s\"", user);
        return -1;
    }
    httpd_log_error(HTTPD_LOG_INFO, "running as user %s (uid %d, gid %d)", user, (int)pw->pw_uid,
                    (int)gid);
    return 0;
}

int httpd_reload(struct httpd_reload_ctx *r)
{
    char err[HTTPD_CONF_ERR_MAX];
    struct httpd_conf *c;
    if (httpd_conf_load(r->path, &r->load, &c, err, sizeof err) < 0) {
        httpd_log_error(HTTPD_LOG_ERROR, "reload failed, the old configuration stays: %s", err);
        return -1;
    }
    int rc = r->listen ? r->listen(c, r->arg) : 0;
    if (rc < 0) {
        httpd_conf_unref(c);
        return -1;
    }
    httpd_open_error_log(c);
    if (c->g.access_log && httpd_log_enabled()) {
        int e = httpd_log_switch(c->g.access_log);
        if (e < 0)
            httpd_log_error(HTTPD_LOG_ERROR, "access_log \"%s\": %s", c->g.access_log,
                            strerror(-e));
    }
    httpd_site_publish(c);
    httpd_conf_unref(c);
    httpd_log_error(HTTPD_LOG_NOTICE, "configuration reloaded from %s", r->path);
    return 0;
}
