/*
 * Devices: the pcap recorder that works on any device, and the TAP device.
 *
 * The pcap file is the classic format (magic a1b2c3d4, version 2.4, LINKTYPE_ETHERNET),
 * which tcpdump and tshark read. The stack records every frame it receives from a
 * device and every frame it hands to one, stamped with the stack's clock (virtual time
 * in tests, so a capture of a simulated run shows simulated timing).
 */
#include "us_internal.h"

#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <linux/virtio_net.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <unistd.h>

void eddy__us_pcap_record(struct ue_dev *d, const void *frame, size_t len, uint64_t now_us);

static void put_le32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

int ue_dev_pcap_open(struct ue_dev *d, const char *path)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return -errno;
    unsigned char h[24] = {0};
    put_le32(h, 0xa1b2c3d4u);
    h[4] = 2; /* version 2.4 */
    h[6] = 4;
    put_le32(h + 16, 65535);
    put_le32(h + 20, 1); /* LINKTYPE_ETHERNET */
    if (fwrite(h, sizeof(h), 1, f) != 1) {
        fclose(f);
        return -EIO;
    }
    if (d->pcap)
        fclose(d->pcap);
    d->pcap = f;
    return 0;
}

void eddy__us_pcap_record(struct ue_dev *d, const void *frame, size_t len, uint64_t now_us)
{
    if (!d->pcap)
        return;
    unsigned char h[16];
    put_le32(h, (uint32_t)(now_us / 1000000u));
    put_le32(h + 4, (uint32_t)(now_us % 1000000u));
    put_le32(h + 8, (uint32_t)len);
    put_le32(h + 12, (uint32_t)len);
    fwrite(h, sizeof(h), 1, d->pcap);
    fwrite(frame, len, 1, d->pcap);
    fflush(d->pcap);
}

void ue_dev_destroy(struct ue_dev *d)
{
    if (!d)
        return;
    if (d->pcap)
        fclose(d->pcap);
    d->pcap = NULL;
    d->ops->destroy(d);
}

/* ---- TAP ----
 * Opened with IFF_VNET_HDR: every frame read or written starts with a virtio-net header.
 * We ask for no offload on what we read (TUNSETOFFLOAD 0: the kernel cuts and checksums
 * its segments for us), and write plain frames with an empty header, but a TCP frame of
 * up to 64 KiB with a GSO header (tx_gso): one write and one pass through the kernel's
 * receive path for up to 44 segments, the cost that bounds a TAP's bulk rate. */
struct tap_dev {
    struct ue_dev dev;
    int fd;
};

static int tap_rx_burst(struct ue_dev *d, struct ue_frame *f, int n)
{
    struct tap_dev *t = (struct tap_dev *)d;
    struct virtio_net_hdr h;
    int got = 0;
    while (got < n) {
        struct iovec v[2] = {{&h, sizeof(h)}, {f[got].data, sizeof(f[got].data)}};
        ssize_t r = readv(t->fd, v, 2);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        if (r > (ssize_t)sizeof(h))
            f[got++].len = (uint16_t)(r - (ssize_t)sizeof(h));
    }
    return got;
}

static int tap_write(struct tap_dev *t, const struct virtio_net_hdr *h, const void *frame,
                     size_t len)
{
    struct iovec v[2] = {{(void *)h, sizeof(*h)}, {(void *)frame, len}};
    for (;;) {
        ssize_t r = writev(t->fd, v, 2);
        if (r >= 0)
            return 0;
        if (errno != EINTR)
            return -errno;
    }
}

static int tap_tx(struct ue_dev *d, const void *frame, size_t len)
{
    static const struct virtio_net_hdr none = {.gso_type = VIRTIO_NET_HDR_GSO_NONE};
    return tap_write((struct tap_dev *)d, &none, frame, len);
}

static int tap_tx_gso(struct ue_dev *d, const void *frame, size_t len, unsigned mss)
{
    const unsigned char *th = (const unsigned char *)frame + 14 + 20;
    struct virtio_net_hdr h = {.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM,
                               .gso_type = VIRTIO_NET_HDR_GSO_TCPV4,
                               .hdr_len = (uint16_t)(14 + 20 + (th[12] >> 4) * 4),
                               .gso_size = (uint16_t)mss,
                               .csum_start = 14 + 20,
                               .csum_offset = 16};
    return tap_write((struct tap_dev *)d, &h, frame, len);
}

static int tap_fd(struct ue_dev *d)
{
    return ((struct tap_dev *)d)->fd;
}

static uint64_t tap_next_rx(struct ue_dev *d)
{
    (void)d;
    return UINT64_MAX;
}

static void tap_destroy(struct ue_dev *d)
{
    struct tap_dev *t = (struct tap_dev *)d;
    close(t->fd);
    free(t);
}

static const struct ue_dev_ops tap_ops = {.rx_burst = tap_rx_burst,
                                          .tx = tap_tx,
                                          .fd = tap_fd,
                                          .next_rx = tap_next_rx,
                                          .destroy = tap_destroy,
                                          .tx_gso = tap_tx_gso};

/* One descriptor on the device `name`; flags adds IFF_MULTI_QUEUE for a queue. */
static int tap_attach(struct ue_dev **out, const char *name, short flags)
{
    int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    struct ifreq ifr;
    memset(&ifr, 0, sizeof(ifr));
    ifr.ifr_flags = (short)(IFF_TAP | IFF_NO_PI | IFF_VNET_HDR | flags);
    memcpy(ifr.ifr_name, name, strlen(name));
    struct tap_dev *t = calloc(1, sizeof(*t));
    int hdr = (int)sizeof(struct virtio_net_hdr);
    if (!t || ioctl(fd, TUNSETIFF, &ifr) < 0 || ioctl(fd, TUNSETVNETHDRSZ, &hdr) < 0 ||
        ioctl(fd, TUNSETOFFLOAD, 0) < 0) {
        int err = t ? errno : ENOMEM;
        free(t);
        close(fd);
        return -err;
    }
    t->fd = fd;
    t->dev.ops = &tap_ops;
    t->dev.mtu = 1500;
    /* EDDY_USTACK_GSO=off: one frame per segment, as a capture on the kernel side needs
     * to see the segments themselves (a GSO frame is cut only past that point). */
    const char *gso = getenv("EDDY_USTACK_GSO");
    t->dev.gso_max = gso && strcmp(gso, "off") == 0 ? 0 : 65535;
    /* Our own address, not the kernel's TAP address: locally administered, from the name,
     * so every queue of a multi-queue device (every stack behind it) has the same one. */
    uint64_t h = eddy__us_siphash((const uint8_t *)"eddy-ustack-tap!", name, strlen(name));
    for (int i = 0; i < 6; i++)
        t->dev.mac[i] = (unsigned char)(h >> (8 * i));
    t->dev.mac[0] = (unsigned char)((t->dev.mac[0] & 0xfe) | 0x02);
    *out = &t->dev;
    return 0;
}

int ue_tap_open(struct ue_dev **out, const char *name)
{
    if (!name || strlen(name) >= IFNAMSIZ)
        return -EINVAL;
    return tap_attach(out, name, 0);
}

int ue_tap_open_mq(struct ue_dev **out, const char *name, int nqueues)
{
    if (!name || strlen(name) >= IFNAMSIZ || nqueues < 1 || nqueues > 256)
        return -EINVAL;
    for (int i = 0; i < nqueues; i++) {
        int rc = tap_attach(&out[i], name, IFF_MULTI_QUEUE);
        if (rc < 0) {
            while (i > 0)
                ue_dev_destroy(out[--i]);
            return rc;
        }
    }
    return 0;
}
