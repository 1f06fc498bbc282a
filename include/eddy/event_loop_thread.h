/*
 * event_loop_thread: a thread that creates an event_loop and runs it.
 */
#ifndef EDDY_EVENT_LOOP_THREAD_H
#define EDDY_EVENT_LOOP_THREAD_H

#ifdef __cplusplus
extern "C" {
#endif

struct eddy_event_loop;
struct eddy_event_loop_thread;

/* Starts the thread and returns once its loop is running. 0 or -errno. */
int eddy_event_loop_thread_start(struct eddy_event_loop_thread **out, const char *backend);
struct eddy_event_loop *eddy_event_loop_thread_loop(const struct eddy_event_loop_thread *t);
/* Stops the loop, joins the thread and frees the loop and t. Not from the thread itself. */
void eddy_event_loop_thread_stop(struct eddy_event_loop_thread *t);

#ifdef __cplusplus
}
#endif

#endif
