/*
 * Signals on a loop (see eddy/signal.h). Each loop that watches signals has one
 * signalfd whose mask is the set of signals it owns; a process-wide table says which
 * loop owns each signal.
 *
 * Locking: one mutex, `lock`, guards the owner table and the list of per-loop sources.
 * It is held around the owner thread's own channel calls (which run no callback), never
 * while a user callback runs, so a callback may watch or unwatch freely.
 */
#include "eddy/signal.h"

#include "eddy/channel.h"
#include "eddy/event_loop.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/signalfd.h>
#include <unistd.h>

struct sig_source {
    struct sig_source *next;
    struct eddy_event_loop *loop;
    struct eddy_channel ch;
    sigset_t mask;
    int count; /* signals in mask */
};

static struct {
    struct eddy_event_loop *loop;
    eddy_signal_cb cb;
    void *data;
} owners[_NSIG];
static struct sig_source *sources;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static struct sig_source *source_of(struct eddy_event_loop *loop)
{
    for (struct sig_source *s = sources; s; s = s->next)
        if (s->loop == loop)
            return s;
    return NULL;
}

static void on_readable(struct eddy_channel *ch, int revents)
{
    (void)revents;
    struct signalfd_siginfo si[8];
    ssize_t n;
    while ((n = read(ch->fd, si, sizeof si)) > 0 || (n < 0 && errno == EINTR)) {
        for (ssize_t i = 0; i < n / (ssize_t)sizeof si[0]; i++) {
            int signo = (int)si[i].ssi_signo;
            if (signo <= 0 || signo >= _NSIG)
                continue;
            pthread_mutex_lock(&lock);
            eddy_signal_cb cb = owners[signo].loop == ch->loop ? owners[signo].cb : NULL;
            void *data = owners[signo].data;
            pthread_mutex_unlock(&lock);
            if (cb)
                cb(ch->loop, signo, data);
        }
    }
}

/* Makes s's signalfd follow s->mask, creating it on first use. 0 or -errno. */
static int apply_mask(struct sig_source *s)
{
    int fd = signalfd(s->ch.fd, &s->mask, SFD_NONBLOCK | SFD_CLOEXEC);
    if (fd < 0)
        return -errno;
    if (s->ch.fd < 0) {
        eddy_channel_init_kernel(&s->ch, s->loop, fd, on_readable, s); /* also on uepoll */
        int rc = eddy_channel_enable_reading(&s->ch);
        if (rc < 0) {
            close(fd);
            s->ch.fd = -1;
            return rc;
        }
    }
    return 0;
}

static void drop_source(struct sig_source *s)
{
    for (struct sig_source **p = &sources; *p; p = &(*p)->next)
        if (*p == s) {
            *p = s->next;
            break;
        }
    if (s->ch.fd >= 0) {
        eddy_channel_remove(&s->ch);
        close(s->ch.fd);
    }
    free(s);
}

/* The loop's source, created empty if needed; NULL when out of memory. Lock held. */
static struct sig_source *get_source(struct eddy_event_loop *loop)
{
    struct sig_source *s = source_of(loop);
    if (s || (s = calloc(1, sizeof *s)) == NULL)
        return s;
    s->loop = loop;
    s->ch.fd = -1;
    sigemptyset(&s->mask);
    s->next = sources;
    sources = s;
    return s;
}

int eddy_signal_watch(struct eddy_event_loop *loop, int signo, eddy_signal_cb cb, void *data)
{
    if (signo <= 0 || signo >= _NSIG || signo == SIGKILL || signo == SIGSTOP || !cb || !loop)
        return -EINVAL;
    sigset_t one;
    sigemptyset(&one);
    sigaddset(&one, signo);
    int rc = -pthread_sigmask(SIG_BLOCK, &one, NULL);
    pthread_mutex_lock(&lock);
    struct sig_source *s = rc == 0 ? get_source(loop) : NULL;
    if (rc == 0 && !s)
        rc = -ENOMEM;
    else if (rc == 0 && owners[signo].loop && owners[signo].loop != loop)
        rc = -EBUSY;
    else if (rc == 0 && !owners[signo].loop) {
        sigaddset(&s->mask, signo);
        rc = apply_mask(s);
        if (rc < 0)
            sigdelset(&s->mask, signo);
        else
            s->count++;
    }
    if (rc == 0) {
        owners[signo].loop = loop;
        owners[signo].cb = cb;
        owners[signo].data = data;
    }
    if (s && s->count == 0)
        drop_source(s);
    pthread_mutex_unlock(&lock);
    return rc;
}

int eddy_signal_unwatch(struct eddy_event_loop *loop, int signo)
{
    if (signo <= 0 || signo >= _NSIG)
        return -EINVAL;
    pthread_mutex_lock(&lock);
    struct sig_source *s = source_of(loop);
    int rc = s && owners[signo].loop == loop ? 0 : -ENOENT;
    if (rc == 0) {
        owners[signo].loop = NULL;
        owners[signo].cb = NULL;
        sigdelset(&s->mask, signo);
        if (--s->count == 0)
            drop_source(s);
        else
            apply_mask(s); /* shrinking an existing signalfd's mask cannot fail */
    }
    pthread_mutex_unlock(&lock);
    return rc;
}
