/*
 * event_loop_thread: a thread that creates its own loop (so the loop is bound
 * to it from birth) and runs it. start() returns once a task queued to the
 * loop has run inside eddy_event_loop_run, i.e. once the loop really runs.
 */
#include "eddy/event_loop_thread.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

#include "eddy/event_loop.h"

struct eddy_event_loop_thread {
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct eddy_event_loop *loop;
    const char *backend; /* valid until started is set */
    int started;
    int err;
    int run_result;
};

static void announce(struct eddy_event_loop_thread *t, int err)
{
    pthread_mutex_lock(&t->lock);
    t->err = err;
    t->started = 1;
    pthread_cond_signal(&t->cond);
    pthread_mutex_unlock(&t->lock);
}

static void running_task(void *arg)
{
    announce(arg, 0);
}

static void *thread_main(void *arg)
{
    struct eddy_event_loop_thread *t = arg;
    struct eddy_event_loop *loop;
    int r = eddy_event_loop_new(&loop, t->backend);

    if (r < 0) {
        announce(t, r);
        return NULL;
    }
    t->loop = loop;
    r = eddy_event_loop_queue_in_loop(loop, running_task, t);
    if (r < 0) {
        t->loop = NULL;
        eddy_event_loop_free(loop);
        announce(t, r);
        return NULL;
    }
    t->run_result = eddy_event_loop_run(loop);
    return NULL;
}

int eddy_event_loop_thread_start(struct eddy_event_loop_thread **out, const char *backend)
{
    struct eddy_event_loop_thread *t = calloc(1, sizeof(*t));
    int r;

    *out = NULL;
    if (t == NULL)
        return -ENOMEM;
    pthread_mutex_init(&t->lock, NULL);
    pthread_cond_init(&t->cond, NULL);
    t->backend = backend;
    r = pthread_create(&t->thread, NULL, thread_main, t);
    if (r != 0) {
        pthread_cond_destroy(&t->cond);
        pthread_mutex_destroy(&t->lock);
        free(t);
        return -r;
    }
    pthread_mutex_lock(&t->lock);
    while (!t->started)
        pthread_cond_wait(&t->cond, &t->lock);
    r = t->err;
    pthread_mutex_unlock(&t->lock);
    if (r < 0) {
        pthread_join(t->thread, NULL);
        pthread_cond_destroy(&t->cond);
        pthread_mutex_destroy(&t->lock);
        free(t);
        return r;
    }
    *out = t;
    return 0;
}

struct eddy_event_loop *eddy_event_loop_thread_loop(const struct eddy_event_loop_thread *t)
{
    return t->loop;
}

void eddy_event_loop_thread_stop(struct eddy_event_loop_thread *t)
{
    if (t == NULL)
        return;
    eddy_event_loop_stop(t->loop);
    pthread_join(t->thread, NULL);
    eddy_event_loop_free(t->loop);
    pthread_cond_destroy(&t->cond);
    pthread_mutex_destroy(&t->lock);
    free(t);
}
