/*
 * shmlink: a memlink between two processes. The rings that carry the frames live in a
 * shared memory file (memfd) that one process creates before fork (or hands to another
 * process with its descriptors); each process then opens its own end as a ustack device.
 *
 * Each direction is a single-producer single-consumer ring of fixed frame slots. A full
 * ring drops the frame (the wire is congested; TCP retransmits). Each end has a kernel
 * eventfd doorbell that the ustack driver watches like a TAP descriptor; the sender rings
 * it only when the receiver said it was about to sleep (its next_rx found the ring
 * empty), so a busy link costs no system call per frame.
 */
#ifndef EDDY_USTACK_SHM_H
#define EDDY_USTACK_SHM_H

#include <eddy/ustack.h>

#ifdef __cplusplus
extern "C" {
#endif

/* What the creator holds and the child inherits: the memory file and the two doorbells. */
struct ue_shmlink {
    int memfd;
    int bell[2]; /* bell[i] is rung for end i (frames waiting for it) */
    unsigned slots;
};

/* Creates the shared rings (slots per direction, a power of two; 0: 4096). Not
 * close-on-exec-free: inherited across fork. 0 or -errno. */
int ue_shmlink_create(struct ue_shmlink *l, unsigned slots);
/* Opens end `side` (0 or 1) in this process: maps the rings and duplicates the
 * descriptors, so ue_shmlink_close may follow. MACs 02:00:00:00:01:0{side+1}. 0 or -errno. */
int ue_shmlink_open(struct ue_dev **out, const struct ue_shmlink *l, int side);
/* Closes the creator's (or inheritor's) descriptors; opened ends stay usable. */
void ue_shmlink_close(struct ue_shmlink *l);
/* Frames dropped by end `side`'s sender because the ring was full. */
uint64_t ue_shmlink_drops(struct ue_dev *d);

#ifdef __cplusplus
}
#endif

#endif
