/*
 * channel: one file descriptor watched by one event_loop. It holds the fd,
 * the interest (read and/or write), one callback told which events fired, and
 * user data. A channel does not own its fd: whoever created the fd closes it,
 * after eddy_channel_remove.
 *
 * A struct eddy_channel is embedded by value in its owner (tcp_connection,
 * acceptor, ...), so a watched fd costs no extra allocation.
 *
 * Threading: the channel belongs to its loop's thread. eddy_channel_set_events
 * and eddy_channel_remove called from another thread are queued to the owner
 * thread (the channel must then stay alive until the owner thread ran them).
 *
 * Removal while dispatching: a callback may remove (and free) any channel, its
 * own included, while the loop still holds fired events for it in the current
 * batch; those events are dropped, so no callback runs on a removed channel,
 * even if the fd number is reused by a new channel within the same batch.
 */
#ifndef EDDY_CHANNEL_H
#define EDDY_CHANNEL_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct eddy_event_loop;
struct eddy_channel;

enum {
    EDDY_EV_NONE = 0,
    EDDY_EV_READ = 1 << 0,
    EDDY_EV_WRITE = 1 << 1,
    EDDY_EV_ERROR = 1 << 2, /* reported whatever the interest */
    EDDY_EV_HUP = 1 << 3,   /* reported whatever the interest */
};

/* revents: the EDDY_EV_* bits that fired. */
typedef void (*eddy_channel_cb)(struct eddy_channel *ch, int revents);

struct eddy_channel {
    int fd;
    uint8_t events; /* interest: EDDY_EV_READ | EDDY_EV_WRITE */
    uint8_t flags;  /* internal: registered with the dispatcher, ... */
    uint8_t pad_[2];
    struct eddy_event_loop *loop;
    eddy_channel_cb cb;
    void *data;
};

/* fd is a descriptor of the kind the loop's backend watches: a kernel fd, or a
 * uepoll descriptor on the uepoll backends. */
void eddy_channel_init(struct eddy_channel *ch, struct eddy_event_loop *loop, int fd,
                       eddy_channel_cb cb, void *data);
/* fd is a kernel descriptor whatever the backend: on the uepoll backends, the way
 * to watch a TAP device, a signalfd or a kernel socket next to uepoll descriptors
 * (registering it fails with -EOPNOTSUPP on a backend that cannot). */
void eddy_channel_init_kernel(struct eddy_channel *ch, struct eddy_event_loop *loop, int fd,
                              eddy_channel_cb cb, void *data);

/* Sets the interest and tells the dispatcher (registering on first use).
 * 0 or -errno (e.g. -ERANGE from select for fd >= FD_SETSIZE, -ENOMEM). */
int eddy_channel_set_events(struct eddy_channel *ch, int events);
int eddy_channel_enable_reading(struct eddy_channel *ch);
int eddy_channel_disable_reading(struct eddy_channel *ch);
/* Enabling/disabling write interest is cheap: no syscall when nothing changes. */
int eddy_channel_enable_writing(struct eddy_channel *ch);
int eddy_channel_disable_writing(struct eddy_channel *ch);
static inline int eddy_channel_is_writing(const struct eddy_channel *ch)
{
    return (ch->events & EDDY_EV_WRITE) != 0;
}
static inline int eddy_channel_is_reading(const struct eddy_channel *ch)
{
    return (ch->events & EDDY_EV_READ) != 0;
}
/* Unregisters the channel from its loop; no callback runs for it afterwards.
 * Safe from any callback of the same loop. Idempotent. */
void eddy_channel_remove(struct eddy_channel *ch);

#ifdef __cplusplus
}
#endif

#endif
