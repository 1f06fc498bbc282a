/*
 * loop_hooks: the narrow part of the event loop's internals that the net layer
 * may use. Everything else about the loop (its structure, the dispatcher, the
 * timer heap) stays in event_loop_internal.h, private to src/reactor.
 */
#ifndef EDDY_LOOP_HOOKS_H
#define EDDY_LOOP_HOOKS_H

#include "eddy/channel.h"
#include "eddy/event_loop.h"

/*
 * eddy_channel_remove for a descriptor that the caller closes right afterwards
 * (and that no other process or descriptor shares). On a backend whose close
 * drops the registration by itself (kernel epoll), no unregistering call is
 * made; other backends still unregister. Owner thread only.
 */
void eddy__channel_remove_before_close(struct eddy_channel *ch);

/* queue_in_loop without waking the loop: the caller batches several tasks and
 * calls eddy__event_loop_wake once (tcp_server hands off an accept burst so). */
int eddy__event_loop_queue_nowake(struct eddy_event_loop *loop, eddy_task_fn fn, void *arg);
/* Wakes the loop if its tasks may wait in the dispatcher (not from its own thread). */
void eddy__event_loop_wake(struct eddy_event_loop *loop);

/* Owner thread: fn(loop, arg) runs after each dispatched batch of events, before the
 * timers and tasks of that iteration (its return value is ignored), and in a batch of more
 * than 16 events also after every 16th callback, between two callbacks. The net layer's send
 * batch (src/net/send_batch.c) leaves there, so output written by on_message has left
 * before anything else runs, as when each connection wrote at once. */
int eddy__event_loop_add_after_batch(struct eddy_event_loop *loop, eddy_prepare_fn fn, void *arg);
void eddy__event_loop_remove_after_batch(struct eddy_event_loop *loop, eddy_prepare_fn fn,
                                         void *arg);

#endif
