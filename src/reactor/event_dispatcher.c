/*
 * event_dispatcher: the registry of backends, chosen by name at run time.
 */
#include "eddy/event_dispatcher.h"

#include <stddef.h>
#include <string.h>

static const struct eddy_event_dispatcher *const backends[] = {
    &eddy_dispatcher_epoll,
    &eddy_dispatcher_epoll_et,
    &eddy_dispatcher_poll,
    &eddy_dispatcher_select,
};

static const char *const names[] = {"epoll", "epoll-et", "poll", "select", NULL};

const struct eddy_event_dispatcher *eddy_event_dispatcher_find(const char *name)
{
    size_t i;
    if (name == NULL || name[0] == '\0')
        return &eddy_dispatcher_epoll;
    for (i = 0; i < sizeof(backends) / sizeof(backends[0]); i++)
        if (strcmp(backends[i]->name, name) == 0)
            return backends[i];
    return NULL;
}

const char *const *eddy_event_dispatcher_names(void)
{
    return names;
}
