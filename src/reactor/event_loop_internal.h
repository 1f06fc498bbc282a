/*
 * Private to libeddy: the event_loop structure (shared by event_loop.c,
 * channel.c and timer.c). The hooks the net layer may use are in loop_hooks.h.
 */
#ifndef EDDY_EVENT_LOOP_INTERNAL_H
#define EDDY_EVENT_LOOP_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "eddy/buffer.h"
#include "eddy/channel.h"
#include "eddy/channel_map.h"
#include "eddy/event_dispatcher.h"
#include "eddy/event_loop.h"
#include "eddy/timer.h"
#include "reactor/loop_hooks.h"

/* ch->flags: the interest the dispatcher currently has (bits 0-1, EDDY_EV_READ
 * | EDDY_EV_WRITE) and whether the fd is registered at all. */
#define EDDY__CH_REG_EVENTS 0x03u
#define EDDY__CH_REGISTERED 0x04u
/* The fd is a kernel descriptor (eddy_channel_init_kernel); kept across removal. */
#define EDDY__CH_KERNEL 0x08u

struct eddy__task {
    eddy_task_fn fn;
    void *arg;
};

struct eddy__prepare {
    eddy_prepare_fn fn;
    void *arg;
};

struct eddy_event_loop {
    const struct eddy_event_dispatcher *disp;
    void *disp_state;
    struct eddy_channel_map map;
    /* Kernel descriptors on a backend of another kind (EDDY_DISP_KERNEL_FDS). */
    struct eddy_channel_map kmap;

    struct eddy__prepare *prep; /* prepare hooks, owner thread only */
    int nprep;
    struct eddy__prepare *after; /* after-batch hooks (loop_hooks.h), owner thread only */
    int nafter;

    /* The batch being dispatched; removed channels get their entries' fd set to -1. */
    struct eddy_fired_event *fired;
    int fired_cap;
    int nfired;
    int fired_pos;

    uint64_t now;
    uint64_t iterations;

    struct eddy_timer **heap;
    uint32_t heap_len;
    uint32_t heap_cap;
    uint64_t timer_seq;

    int wake_fd;
    struct eddy_channel wake_ch;
    atomic_int quit;
    atomic_int wake_pending; /* an eventfd write not yet consumed */
    atomic_int has_tasks;
    atomic_uintptr_t owner; /* address of a thread-local: identifies the owner thread */

    pthread_mutex_t lock; /* guards tasks/ntasks/tasks_cap */
    struct eddy__task *tasks;
    size_t ntasks;
    size_t tasks_cap;
    struct eddy__task *run_tasks; /* owner thread: the swapped-out vector */
    size_t run_cap;

    struct eddy_buffer scratch;
    void *data;
};

/* Registers, modifies or drops ch's dispatcher registration to match ch->events. */
int eddy__loop_update_channel(struct eddy_event_loop *loop, struct eddy_channel *ch);
/* Unregisters ch. skip_del: the caller closes the fd right after and the backend
 * drops the registration by itself on close (epoll), so no syscall is made. */
void eddy__loop_remove_channel(struct eddy_event_loop *loop, struct eddy_channel *ch, int skip_del);

/* A per-loop scratch buffer for the owner thread (e.g. reads of connections
 * that hold no input buffer). Freed with the loop. */
struct eddy_buffer *eddy__event_loop_scratch(struct eddy_event_loop *loop);

/* Timers (timer.c): ms until the nearest timer (-1: none, 0: due) and firing. */
int eddy__timers_timeout(const struct eddy_event_loop *loop);
void eddy__timers_run(struct eddy_event_loop *loop);
void eddy__timers_free(struct eddy_event_loop *loop);

uint64_t eddy__monotonic_ms(void);

#endif
