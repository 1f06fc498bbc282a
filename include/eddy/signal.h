/*
 * signal: POSIX signals delivered to an event loop, read from a signalfd, so the
 * callback runs in the loop's thread like any other event and may do anything (nothing
 * runs in a signal handler).
 *
 *   static void on_term(struct eddy_event_loop *loop, int signo, void *data)
 *   {
 *       eddy_event_loop_stop(loop);
 *   }
 *   eddy_signal_watch(loop, SIGTERM, on_term, NULL);
 *
 * One owner loop per signal in the process: watching a signal another loop already
 * watches is -EBUSY (the same loop again just replaces the callback). A signal that
 * arrives several times before the loop reads it may be reported once (standard
 * signals do not queue).
 *
 * Blocking: a signalfd only sees signals that no thread takes through its handler or
 * default action, so eddy_signal_watch blocks the signal in the calling thread, and
 * threads created afterwards inherit the mask. Watch the signals in the main thread
 * before creating other threads (eddy_tcp_server_start, thread pools), or block them in
 * every thread yourself. Unwatching leaves the signal blocked (unblocking could let a
 * pending one kill the process); unblock it yourself if you want the default back.
 *
 * Threading: watch and unwatch in the loop's thread (the thread that runs it, or any
 * thread before it first runs), as for its channels; unwatch every signal of a loop
 * before freeing it.
 */
#ifndef EDDY_SIGNAL_H
#define EDDY_SIGNAL_H

#ifdef __cplusplus
extern "C" {
#endif

struct eddy_event_loop;

/* Runs in the loop's thread, once per signal read. */
typedef void (*eddy_signal_cb)(struct eddy_event_loop *loop, int signo, void *data);

/* 0, -EINVAL (not a signal, or SIGKILL/SIGSTOP), -EBUSY (another loop watches it),
 * -ENOMEM, -errno from signalfd or the dispatcher. */
int eddy_signal_watch(struct eddy_event_loop *loop, int signo, eddy_signal_cb cb, void *data);
/* Stops watching; 0 or -ENOENT if this loop does not watch signo. */
int eddy_signal_unwatch(struct eddy_event_loop *loop, int signo);

#ifdef __cplusplus
}
#endif

#endif
