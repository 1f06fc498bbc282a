/*
 * event_dispatcher: the registry of backends, chosen by name at run time. The
 * list below is the only place that names them all.
 */
#include "eddy/event_dispatcher.h"

#include <pthread.h>
#include <stddef.h>
#include <string.h>

static const struct eddy_event_dispatcher *const backends[] = {
    &eddy_dispatcher_epoll,
    &eddy_dispatcher_epoll_et,
    &eddy_dispatcher_poll,
    &eddy_dispatcher_select,
    NULL,
};

#define NBACKENDS (sizeof(backends) / sizeof(backends[0]) - 1)

static const char *kernel_names[NBACKENDS + 1];

const struct eddy_event_dispatcher *const *eddy_event_dispatcher_list(void)
{
    return backends;
}

const struct eddy_event_dispatcher *eddy_event_dispatcher_find(const char *name)
{
    size_t i;
    if (name == NULL || name[0] == '\0')
        return backends[0];
    for (i = 0; i < NBACKENDS; i++)
        if (strcmp(backends[i]->name, name) == 0)
            return backends[i];
    return NULL;
}

static pthread_once_t names_once = PTHREAD_ONCE_INIT;

static void fill_names(void)
{
    size_t i, n = 0;
    for (i = 0; i < NBACKENDS; i++)
        if (backends[i]->kind == EDDY_FD_KERNEL)
            kernel_names[n++] = backends[i]->name;
    kernel_names[n] = NULL;
}

const char *const *eddy_event_dispatcher_names(void)
{
    pthread_once(&names_once, fill_names);
    return kernel_names;
}
