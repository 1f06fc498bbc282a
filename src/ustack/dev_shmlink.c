/*
 * shmlink: memlink rings in shared memory, so two processes (a server and its load
 * generator) each run their own stack and each has its own RSS.
 *
 * Layout of the memory file: two ring headers, each on its own cache lines, then the
 * slots of direction 0 (end 0 sends, end 1 receives), then those of direction 1.
 *
 * Doorbell protocol (no lost wake-up without a system call per frame): the receiver's
 * next_rx, called by the driver just before it may sleep, sets `armed` and then looks at
 * the ring; the sender publishes a frame (tail) and then looks at `armed`, and rings the
 * eventfd if it was set. With sequentially consistent atomics one of the two sees the
 * other: either the receiver finds the frame and does not sleep, or the sender rings.
 * The sender counts its rings (`rings`, before the write) and the receiver what it has
 * read off the eventfd, so the receiver reads the eventfd only while a ring is owed: not
 * a read(2) per burst, each of which (with page-table isolation and no PCID, as on this
 * project's VMs) also empties the TLB that a million connections' memory leans on.
 *
 * Locking: none. One process sends on a direction and one receives; a stack calls its
 * device under its own lock.
 */
#include "us_internal.h"

#include <eddy/ustack_shm.h>

#include <fcntl.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

struct shm_slot {
    uint32_t len;
    unsigned char data[UE_FRAME_MAX];
};

struct shm_ring {
    _Alignas(64) _Atomic uint32_t tail; /* written by the sender */
    _Atomic uint64_t drops;
    _Atomic uint64_t rings;             /* eventfd writes the sender has made or is about to make */
    _Alignas(64) _Atomic uint32_t head; /* written by the receiver */
    _Atomic uint32_t armed;             /* the receiver may sleep: ring the bell */
    _Alignas(64) uint32_t slots;
};

struct shm_end {
    struct ue_dev dev;
    void *map;
    size_t size;
    struct shm_ring *tx, *rx;
    struct shm_slot *tx_slot, *rx_slot;
    int my_bell, peer_bell;
    uint64_t drained; /* the sum of what reads of my_bell returned */
};

static size_t map_size(unsigned slots)
{
    return 2 * sizeof(struct shm_ring) + 2 * (size_t)slots * sizeof(struct shm_slot);
}

static struct shm_slot *dir_slots(void *map, unsigned slots, int dir)
{
    unsigned char *base = (unsigned char *)map + 2 * sizeof(struct shm_ring);
    return (struct shm_slot *)(base + (size_t)dir * slots * sizeof(struct shm_slot));
}

static int shm_tx(struct ue_dev *d, const void *frame, size_t len)
{
    struct shm_end *e = (struct shm_end *)d;
    struct shm_ring *r = e->tx;
    if (len > UE_FRAME_MAX)
        return -EMSGSIZE;
    uint32_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
    if (tail - atomic_load(&r->head) >= r->slots) {
        atomic_fetch_add(&r->drops, 1);
        return -ENOBUFS;
    }
    struct shm_slot *s = &e->tx_slot[tail & (r->slots - 1)];
    s->len = (uint32_t)len;
    memcpy(s->data, frame, len);
    atomic_store(&r->tail, tail + 1);
    if (atomic_load(&r->armed) && atomic_exchange(&r->armed, 0)) {
        uint64_t one = 1;
        atomic_fetch_add(&r->rings, 1);
        if (write(e->peer_bell, &one, sizeof(one)) < 0) {
            atomic_fetch_sub(&r->rings, 1);
            return 0; /* the counter is already non-zero: the peer will wake */
        }
    }
    return 0;
}

static int shm_rx_burst(struct ue_dev *d, struct ue_frame *f, int n)
{
    struct shm_end *e = (struct shm_end *)d;
    struct shm_ring *r = e->rx;
    uint64_t got_rings;
    if (atomic_load(&r->rings) != e->drained) { /* else the eventfd is at 0: no read */
        if (read(e->my_bell, &got_rings, sizeof(got_rings)) == (ssize_t)sizeof(got_rings))
            e->drained += got_rings;
        else if (errno != EAGAIN)
            return 0; /* EAGAIN: the ring is counted, its write not made yet */
    }
    uint32_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
    uint32_t tail = atomic_load(&r->tail);
    int got = 0;
    while (got < n && head != tail) {
        struct shm_slot *s = &e->rx_slot[head & (r->slots - 1)];
        uint32_t len = s->len <= UE_FRAME_MAX ? s->len : UE_FRAME_MAX; /* a hostile peer */
        f[got].len = (uint16_t)len;
        memcpy(f[got].data, s->data, len);
        got++;
        head++;
    }
    atomic_store(&r->head, head);
    return got;
}

/* Called before the loop may sleep: arm the bell, then look again (see the top). */
static uint64_t shm_next_rx(struct ue_dev *d)
{
    struct shm_end *e = (struct shm_end *)d;
    struct shm_ring *r = e->rx;
    if (atomic_load(&r->tail) != atomic_load(&r->head))
        return 0;
    atomic_store(&r->armed, 1);
    return atomic_load(&r->tail) != atomic_load(&r->head) ? 0 : UINT64_MAX;
}

static int shm_fd(struct ue_dev *d)
{
    return ((struct shm_end *)d)->my_bell;
}

static void shm_destroy(struct ue_dev *d)
{
    struct shm_end *e = (struct shm_end *)d;
    munmap(e->map, e->size);
    close(e->my_bell);
    close(e->peer_bell);
    free(e);
}

static const struct ue_dev_ops shm_ops = {.rx_burst = shm_rx_burst,
                                          .tx = shm_tx,
                                          .fd = shm_fd,
                                          .next_rx = shm_next_rx,
                                          .destroy = shm_destroy};

int ue_shmlink_create(struct ue_shmlink *l, unsigned slots)
{
    if (!slots)
        slots = 4096;
    if (slots & (slots - 1))
        return -EINVAL;
    l->slots = slots;
    l->memfd = memfd_create("eddy-shmlink", 0);
    l->bell[0] = eventfd(0, EFD_NONBLOCK);
    l->bell[1] = eventfd(0, EFD_NONBLOCK);
    int err = 0;
    if (l->memfd < 0 || l->bell[0] < 0 || l->bell[1] < 0 ||
        ftruncate(l->memfd, (off_t)map_size(slots)) < 0)
        err = errno;
    void *map = err ? MAP_FAILED
                    : mmap(NULL, map_size(slots), PROT_READ | PROT_WRITE, MAP_SHARED, l->memfd, 0);
    if (!err && map == MAP_FAILED)
        err = errno;
    if (err) {
        ue_shmlink_close(l);
        return -err;
    }
    for (int i = 0; i < 2; i++)
        ((struct shm_ring *)map)[i].slots = slots;
    munmap(map, map_size(slots));
    return 0;
}

int ue_shmlink_open(struct ue_dev **out, const struct ue_shmlink *l, int side)
{
    if (side != 0 && side != 1)
        return -EINVAL;
    struct shm_end *e = calloc(1, sizeof(*e));
    if (!e)
        return -ENOMEM;
    e->size = map_size(l->slots);
    e->map = mmap(NULL, e->size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, l->memfd, 0);
    e->my_bell = fcntl(l->bell[side], F_DUPFD_CLOEXEC, 0);
    e->peer_bell = fcntl(l->bell[!side], F_DUPFD_CLOEXEC, 0);
    if (e->map == MAP_FAILED || e->my_bell < 0 || e->peer_bell < 0) {
        int err = errno;
        if (e->map != MAP_FAILED)
            munmap(e->map, e->size);
        close(e->my_bell);
        close(e->peer_bell);
        free(e);
        return -err;
    }
    struct shm_ring *rings = e->map;
    e->tx = &rings[side];
    e->rx = &rings[!side];
    e->tx_slot = dir_slots(e->map, l->slots, side);
    e->rx_slot = dir_slots(e->map, l->slots, !side);
    e->dev.ops = &shm_ops;
    e->dev.mtu = 1500;
    unsigned char mac[6] = {0x02, 0, 0, 0, 1, (unsigned char)(side + 1)};
    memcpy(e->dev.mac, mac, 6);
    *out = &e->dev;
    return 0;
}

void ue_shmlink_close(struct ue_shmlink *l)
{
    for (int i = 0; i < 2; i++)
        if (l->bell[i] >= 0)
            close(l->bell[i]);
    if (l->memfd >= 0)
        close(l->memfd);
    l->memfd = l->bell[0] = l->bell[1] = -1;
}

uint64_t ue_shmlink_drops(struct ue_dev *d)
{
    return atomic_load(&((struct shm_end *)d)->tx->drops);
}
