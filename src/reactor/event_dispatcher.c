/*
 * event_dispatcher: the registry of backends, chosen by name at run time. The
 * list below is the only place that names them all.
 */
#include "eddy/event_dispatcher.h"

#include <pthread.h>
#include <stddef.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "eddy/uepoll.h"

const struct eddy_fd_io eddy_fd_io_kernel = {
    .pipe2 = pipe2, .eventfd = eventfd, .read = read, .write = write, .close = close};

const struct eddy_fd_io eddy_fd_io_uepoll = {.pipe2 = ue_pipe2,
                                             .eventfd = ue_eventfd,
                                             .read = ue_read,
                                             .write = ue_write,
                                             .close = ue_close};

static const struct eddy_event_dispatcher *const backends[] = {
    &eddy_dispatcher_epoll,
    &eddy_dispatcher_epoll_et,
    &eddy_dispatcher_poll,
    &eddy_dispatcher_select,
    &eddy_dispatcher_uepoll,
    &eddy_dispatcher_uepoll_et,
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
        if (backends[i]->kind == EDDY_FD_KERNEL || (backends[i]->flags & EDDY_DISP_KERNEL_FDS))
            kernel_names[n++] = backends[i]->name;
    kernel_names[n] = NULL;
}

const char *const *eddy_event_dispatcher_names(void)
{
    pthread_once(&names_once, fill_names);
    return kernel_names;
}
