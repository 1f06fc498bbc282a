/*
 * Access log in combined log format through per-thread buffers, and the error log.
 *
 * Reopening (SIGHUP) opens the path again and dup2()s the new file onto the log's
 * descriptor number, so every thread keeps writing to the same number. Each buffer has a
 * lock, taken by its own thread for every line and flush (never contended but during a
 * reopen); the reopen takes them all, flushes every buffer into the old file, switches
 * the descriptor, and lets go. So every line appended before the switch is in the old
 * file, each thread's lines in their order, and every line after it in the new file.
 * Locking order: reg_lock, then the tlog locks in list order.
 */
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "eddy/event_loop.h"
#include "eddy/inet.h"
#include "eddy/timer.h"

#define BUF_SIZE  (64 * 1024)
#define FIELD_MAX 2048 /* longest logged string; escaping makes it at most 4x */
#define FLUSH_MS  1000

struct tlog {
    pthread_mutex_t lock; /* guards buf and len */
    char *buf;
    size_t len;
    struct eddy_timer timer;
    time_t sec;    /* second of the cached time string */
    char when[32]; /* "10/Oct/2000:13:55:36 +0000" */
    struct tlog *next;
};

static int log_fd = -1;
static int log_is_file;
static int log_tls;
static char *log_path;
static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static struct tlog *all_logs;
static _Thread_local struct tlog *me;

static int open_file(const char *path)
{
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    return fd < 0 ? -errno : fd;
}

int httpd_log_open(const char *spec)
{
    if (strcmp(spec, "off") == 0)
        return 0;
    if (strcmp(spec, "-") == 0) {
        log_fd = STDOUT_FILENO;
        return 0;
    }
    int fd = open_file(spec);
    if (fd < 0)
        return fd;
    log_path = strdup(spec);
    if (log_path == NULL) {
        close(fd);
        return -ENOMEM;
    }
    log_fd = fd;
    log_is_file = 1;
    return 0;
}

int httpd_log_enabled(void)
{
    return log_fd >= 0;
}

void httpd_log_set_tls(int on)
{
    log_tls = on;
}

static void flush(struct tlog *t);

int httpd_log_reopen(void)
{
    if (!log_is_file)
        return 0;
    pthread_mutex_lock(&reg_lock);
    for (struct tlog *t = all_logs; t; t = t->next) {
        pthread_mutex_lock(&t->lock);
        flush(t);
    }
    int fd = open_file(log_path), rc = fd;
    if (fd >= 0) {
        rc = dup2(fd, log_fd) < 0 ? -errno : 0;
        close(fd);
    }
    for (struct tlog *t = all_logs; t; t = t->next)
        pthread_mutex_unlock(&t->lock);
    pthread_mutex_unlock(&reg_lock);
    return rc;
}

int httpd_log_switch(const char *spec)
{
    if (!log_is_file || strcmp(spec, "off") == 0 || strcmp(spec, "-") == 0)
        return 0; /* the hook is set at start; a path can change, off or stdout cannot */
    if (strcmp(spec, log_path) == 0)
        return httpd_log_reopen();
    char *copy = strdup(spec);
    int fd = copy ? open_file(spec) : -ENOMEM;
    if (fd < 0) {
        free(copy);
        return fd;
    }
    int rc = dup2(fd, log_fd) < 0 ? -errno : 0;
    close(fd);
    if (rc == 0) {
        free(log_path);
        log_path = copy;
    } else {
        free(copy);
    }
    return rc;
}

static void write_all(const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(log_fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return; /* a full disk must not stop the server; the lines are lost */
        p += w, n -= (size_t)w;
    }
}

/* With t->lock held (or no other thread left). */
static void flush(struct tlog *t)
{
    if (t->len > 0)
        write_all(t->buf, t->len);
    t->len = 0;
}

static void flush_locked(struct tlog *t)
{
    pthread_mutex_lock(&t->lock);
    flush(t);
    pthread_mutex_unlock(&t->lock);
}

static struct tlog *thread_log(void)
{
    if (me)
        return me;
    struct tlog *t = calloc(1, sizeof *t);
    if (t == NULL || (t->buf = malloc(BUF_SIZE)) == NULL) {
        free(t);
        return NULL;
    }
    t->timer.heap_index = EDDY_TIMER_INACTIVE;
    pthread_mutex_init(&t->lock, NULL);
    pthread_mutex_lock(&reg_lock);
    t->next = all_logs;
    all_logs = t;
    pthread_mutex_unlock(&reg_lock);
    me = t;
    return t;
}

static void on_flush_timer(struct eddy_timer *tm)
{
    flush_locked(tm->data);
}

void httpd_log_start_flusher(struct eddy_event_loop *loop)
{
    struct tlog *t = log_fd >= 0 ? thread_log() : NULL;
    if (t == NULL)
        return;
    eddy_timer_init(&t->timer, loop, on_flush_timer, t);
    eddy_timer_start(&t->timer, FLUSH_MS, FLUSH_MS);
}

void httpd_log_stop_flusher(void)
{
    if (me == NULL)
        return;
    eddy_timer_stop(&me->timer);
    flush_locked(me);
}

void httpd_log_close(void)
{
    pthread_mutex_lock(&reg_lock);
    while (all_logs) {
        struct tlog *t = all_logs;
        all_logs = t->next;
        if (log_fd >= 0)
            flush(t);
        pthread_mutex_destroy(&t->lock);
        free(t->buf);
        free(t);
    }
    pthread_mutex_unlock(&reg_lock);
    me = NULL;
    if (log_is_file && log_fd >= 0)
        close(log_fd);
    log_fd = -1;
    log_is_file = 0;
    free(log_path);
    log_path = NULL;
}

/* Copies s, escaping '"', '\\' and non-printable bytes as \xHH; "-" when empty. */
static size_t put_escaped(char *out, struct eddy_http_str s)
{
    static const char hex[] = "0123456789ABCDEF";
    if (s.len == 0) {
        out[0] = '-';
        return 1;
    }
    size_t o = 0, n = s.len < FIELD_MAX ? s.len : FIELD_MAX;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s.p[i];
        if (ch < 0x20 || ch >= 0x7f || ch == '"' || ch == '\\') {
            out[o++] = '\\', out[o++] = 'x';
            out[o++] = hex[ch >> 4], out[o++] = hex[ch & 15];
        } else {
            out[o++] = (char)ch;
        }
    }
    return o;
}

static void update_time(struct tlog *t, time_t now)
{
    static const char mon[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                    "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    struct tm tm;
    if (t->sec == now && t->when[0])
        return;
    gmtime_r(&now, &tm);
    snprintf(t->when, sizeof t->when, "%02d/%s/%04d:%02d:%02d:%02d +0000", tm.tm_mday,
             mon[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
    t->sec = now;
}

void httpd_access_log(const struct eddy_http_log_entry *e, void *data)
{
    (void)data;
    struct tlog *t = log_fd >= 0 ? thread_log() : NULL;
    if (t == NULL)
        return;
    pthread_mutex_lock(&t->lock);
    if (BUF_SIZE - t->len < 4 * 4 * FIELD_MAX + 256)
        flush(t);
    update_time(t, e->time);
    char ip[64] = "-";
    if (e->peer)
        eddy_sockaddr_format_ip(e->peer, ip, sizeof ip);
    char *p = t->buf + t->len;
    p += sprintf(p, "%s - - [%s] \"", ip, t->when);
    if (e->method.len) {
        p += put_escaped(p, e->method);
        *p++ = ' ';
        p += put_escaped(p, e->target);
        p += sprintf(p, " HTTP/1.%d\"", e->minor_version);
    } else {
        p += sprintf(p, "-\"");
    }
    p += sprintf(p, " %d %llu \"", e->status, (unsigned long long)e->body_bytes);
    p += put_escaped(p, e->referer);
    p += sprintf(p, "\" \"");
    p += put_escaped(p, e->user_agent);
    if (log_tls) /* OpenSSL's names: short, no spaces */
        p += sprintf(p, "\" %.32s %.64s\n", e->tls_version ? e->tls_version : "-",
                     e->tls_version && e->tls_cipher ? e->tls_cipher : "-");
    else
        p += sprintf(p, "\"\n");
    t->len = (size_t)(p - t->buf);
    pthread_mutex_unlock(&t->lock);
}
