/*
 * ustack: eddy's own TCP/IP stack (IPv4, ARP, ICMP, TCP) whose sockets are uepoll files.
 *
 * A stack owns one interface: a device (memlink, TAP, or any ops table), an Ethernet
 * address and an IPv4 address with prefix and optional gateway. It runs when its owner
 * calls ue_stack_poll(): input from the device, then the timers that are due. Nothing
 * runs by itself in the background; an event loop drives it (see docs/USTACK.md).
 *
 * Sockets are numbers in uepoll's descriptor table: ue_read, ue_write, ue_close, ue_dup
 * and ue_epoll_ctl work on them as on pipes. The socket calls mirror the Linux system
 * calls (return -1 with errno as Linux would). ue_socket creates its socket in the
 * calling thread's current stack (ue_stack_set_current); every other call finds the
 * stack through the socket. Every call is thread-safe (one lock per stack).
 *
 * Time: a stack reads its clock through a function; the default is CLOCK_MONOTONIC.
 * Tests pass a virtual clock (struct ue_vclock) shared by stacks and memlinks.
 */
#ifndef EDDY_USTACK_H
#define EDDY_USTACK_H

#include <eddy/uepoll.h>

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/uio.h>

#ifdef __cplusplus
extern "C" {
#endif

struct ue_stack;
struct ue_dev;

/* ---- time ---- */
typedef uint64_t (*ue_clock_fn)(void *arg); /* microseconds, monotonic */
struct ue_vclock {
    uint64_t now_us;
};
uint64_t ue_vclock_now(void *vclock); /* a ue_clock_fn over struct ue_vclock */

/* ---- devices ---- */
#define UE_FRAME_MAX 1536 /* largest Ethernet frame a device hands over (MTU 1500 + 14) */
struct ue_frame {
    uint16_t len;
    unsigned char data[UE_FRAME_MAX];
};
struct ue_dev_ops {
    /* Moves up to n received frames into f[]; returns how many (0: none). */
    int (*rx_burst)(struct ue_dev *d, struct ue_frame *f, int n);
    /* Sends one frame; 0, or a negative errno (the frame is dropped). */
    int (*tx)(struct ue_dev *d, const void *frame, size_t len);
    /* A kernel descriptor that becomes readable when frames wait, or -1. */
    int (*fd)(struct ue_dev *d);
    /* Earliest time (us) a frame will be ready, UINT64_MAX if none (virtual links). */
    uint64_t (*next_rx)(struct ue_dev *d);
    void (*destroy)(struct ue_dev *d);
    /* Optional (gso_max > 0): sends one IPv4 TCP frame of up to gso_max bytes that the
     * device, or the kernel behind it, cuts into segments of `mss` payload bytes. Its
     * TCP checksum field holds the pseudo-header sum only; the cutter completes it. */
    int (*tx_gso)(struct ue_dev *d, const void *frame, size_t len, unsigned mss);
};
struct ue_dev {
    const struct ue_dev_ops *ops;
    unsigned mtu; /* IP MTU, at most 1500 */
    unsigned char mac[6];
    void *pcap; /* set by ue_dev_pcap_open */
    uint64_t rx_frames, tx_frames, tx_errors;
    unsigned gso_max; /* 0: no tx_gso; else the largest frame it takes */
};

/* Impairments of one direction of a memlink. Probabilities are per frame, in
 * millionths (10000 = 1 %). rate_bps 0: unlimited; queue_max frames in flight. */
struct ue_link_params {
    uint32_t loss_ppm, dup_ppm, reorder_ppm, corrupt_ppm;
    uint32_t delay_us;         /* one-way latency */
    uint32_t reorder_extra_us; /* extra delay of a reordered frame */
    uint64_t rate_bps;
    uint32_t queue_max; /* 0: 1024 */
};
struct ue_link_stats {
    uint64_t sent, delivered, lost, duplicated, reordered, corrupted, queue_drops;
    uint64_t lost_payload; /* TCP payload bytes in frames lost or corrupted */
};
/* Two devices joined by in-memory queues; frames sent on one are received on the other
 * after the impairments of that direction (a->b uses ab). clock may be NULL (real time).
 * seed makes every random choice reproducible. */
int ue_memlink_create(struct ue_dev **a, struct ue_dev **b, ue_clock_fn clock, void *clock_arg,
                      uint64_t seed);
void ue_memlink_set_params(struct ue_dev *from, const struct ue_link_params *p);
void ue_memlink_get_stats(struct ue_dev *from, struct ue_link_stats *s);

/* A TAP device (/dev/net/tun, IFF_TAP|IFF_NO_PI), created or attached by name. */
int ue_tap_open(struct ue_dev **out, const char *name);
/* The same with IFF_MULTI_QUEUE: out[0..nqueues-1] are the device's queues, one per stack
 * (the kernel spreads flows over them by hash). All of them get the same MAC address.
 * A device made without IFF_MULTI_QUEUE cannot be attached this way (and vice versa). */
int ue_tap_open_mq(struct ue_dev **out, const char *name, int nqueues);

/* Records every frame received and sent by d to a pcap file (tcpdump -r reads it). */
int ue_dev_pcap_open(struct ue_dev *d, const char *path);
void ue_dev_destroy(struct ue_dev *d);

/* ---- stacks ---- */
struct ue_stack_config {
    struct ue_dev *dev;     /* owned by the stack from now on */
    struct in_addr addr;    /* our address */
    unsigned prefix;        /* 0-32 */
    struct in_addr gateway; /* 0: none (only the local network is reachable) */
    ue_clock_fn clock;      /* NULL: CLOCK_MONOTONIC */
    void *clock_arg;
    uint64_t seed;         /* 0: secrets from getrandom (ISNs, ports); else reproducible */
    unsigned syn_backlog;  /* 0: 256 half-open connections before SYN cookies */
    unsigned time_wait_ms; /* 0: 60000 */
    int arp_glean;         /* also learn next hops from received IPv4 frames: for stacks sharing the
                            * queues of one TAP, where an ARP reply may reach a sibling stack */
};
struct ue_stack *ue_stack_create(const struct ue_stack_config *cfg);
/* Frees the stack, its device, and what closed sockets left behind (connections still
 * closing, TIME_WAIT records). Close every socket of the stack first: a socket still
 * open is a broken invariant (abort). */
void ue_stack_destroy(struct ue_stack *st);
/* The stack ue_socket uses in the calling thread. */
void ue_stack_set_current(struct ue_stack *st);
struct ue_stack *ue_stack_current(void);
/* Runs receive processing for up to `budget` frames and every timer that is due.
 * Returns the number of frames processed. */
int ue_stack_poll(struct ue_stack *st, int budget);
/* Earliest time (us, on the stack's clock) something is due: a timer or a frame on a
 * virtual link. UINT64_MAX: nothing. */
uint64_t ue_stack_next_deadline(struct ue_stack *st);
int ue_stack_dev_fd(struct ue_stack *st);
uint64_t ue_stack_now(struct ue_stack *st);

struct ue_stack_stats {
    uint64_t ip_in, ip_out, ip_bad_header, ip_bad_checksum, ip_frag_dropped, ip_not_ours;
    uint64_t arp_requests, arp_replies, arp_queue_drops, icmp_echo, icmp_unreach_sent;
    uint64_t tcp_in, tcp_out, tcp_bad_checksum, tcp_rst_sent, tcp_retrans_segs, tcp_retrans_bytes,
        tcp_fast_retrans, tcp_rto_fired, tcp_challenge_acks, tcp_paws_drops, tcp_syn_cookies_sent,
        tcp_syn_cookies_ok, tcp_tw_reused, tcp_ooo_dropped, tcp_conns, tcp_time_wait, tcp_bufs;
};
void ue_stack_get_stats(struct ue_stack *st, struct ue_stack_stats *s);

/* ---- sockets (AF_INET, SOCK_STREAM only; AF_UNIX for ue_socketpair) ---- */
int ue_socket(int domain, int type, int protocol); /* SOCK_NONBLOCK accepted in type */
int ue_bind(int fd, const struct sockaddr *addr, socklen_t len);
int ue_listen(int fd, int backlog);
int ue_accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags);
int ue_connect(int fd, const struct sockaddr *addr, socklen_t len);
int ue_shutdown(int fd, int how);
int ue_getsockopt(int fd, int level, int name, void *val, socklen_t *len);
int ue_setsockopt(int fd, int level, int name, const void *val, socklen_t len);
int ue_getsockname(int fd, struct sockaddr *addr, socklen_t *len);
int ue_getpeername(int fd, struct sockaddr *addr, socklen_t *len);
/* ue_read, ue_write, ue_readv, ue_writev, ue_fcntl, ue_close: see uepoll.h */
int ue_socketpair(int domain, int type, int protocol, int sv[2]);

#ifdef __cplusplus
}
#endif

#endif
