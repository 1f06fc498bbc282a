#!/usr/bin/python3
"""Crafted TCP segments against ustack over a TAP, one check per behaviour (RFC 9293 and
RFC 5961), run by test_ustack_scapy.py inside its network namespace with Debian's
python3-scapy:  /usr/bin/python3 ustack_scapy.py TAP US_IP PORT

The peer is echo_server --stack user on US_IP:PORT, so accepted data comes back. We
send from the namespace's side of the TAP through a packet socket with an address the
kernel does not own (ME_IP, ME_MAC): the kernel ignores ustack's frames to ME_MAC, so it
never answers our connections with a reset. ustack learns ME_MAC from our ARP request.
We offer no timestamps and no window scale, so sequence numbers and windows are plain.
"""
import os
import random
import select
import sys
import time

from scapy.all import ARP, IP, TCP, Ether, Raw, conf  # noqa: E402

TAP, US_IP, PORT = sys.argv[1], sys.argv[2], int(sys.argv[3])
ME_IP, ME_MAC = "198.18.0.3", "02:00:c6:12:00:03"
FAILED = []
sock = conf.L2socket(iface=TAP)
us_mac = None


def ok(cond, name, detail=""):
    print(("ok - " if cond else "not ok - ") + name + ("" if cond else " # " + detail), flush=True)
    if not cond:
        FAILED.append(name)


def frames(wait, until=None):
    """Frames read for wait seconds, or up to the first one until() accepts (the socket
    sees everything on the TAP)."""
    out, end = [], time.monotonic() + wait
    while True:
        left = end - time.monotonic()
        if left <= 0 or not select.select([sock], [], [], left)[0]:
            return out
        p = sock.recv()
        if p is not None:
            out.append(p)
            if until and until(p):
                return out


def arp():
    global us_mac
    sock.send(Ether(src=ME_MAC, dst="ff:ff:ff:ff:ff:ff") /
              ARP(op=1, hwsrc=ME_MAC, psrc=ME_IP, pdst=US_IP))
    for p in frames(1.0, lambda p: ARP in p and p[ARP].op == 2):
        if ARP in p and p[ARP].op == 2 and p[ARP].psrc == US_IP:
            us_mac = p[ARP].hwsrc
            return True
    return False


def replies(conn, wait=0.4, until=None):
    """ustack's TCP segments to conn's port within wait seconds (or up to the first that
    until() accepts)."""
    def ours(p):
        return TCP in p and p[IP].src == US_IP and p[IP].dst == ME_IP and \
            p[TCP].dport == conn.sport
    return [p[TCP] for p in frames(wait, until and (lambda p: ours(p) and until(p[TCP])))
            if ours(p)]


def flags(t):
    return str(t.flags)


class Conn:
    """Our side of one connection: snd_nxt is ours, rcv_nxt the next byte from ustack."""

    def __init__(self, mss=1460, window=65535, dport=None):
        self.sport = random.randint(20000, 60000)
        self.dport = dport or PORT
        self.snd_nxt = random.randint(1, 2**31)
        self.rcv_nxt = 0
        self.mss, self.window, self.wnd = mss, window, 0

    def send(self, fl, seq=None, ack=None, data=b"", window=None, opts=None, chksum=None,
             ipchk=None):
        t = TCP(sport=self.sport, dport=self.dport, flags=fl,
                seq=self.snd_nxt if seq is None else seq,
                ack=(self.rcv_nxt if ack is None else ack) if "A" in fl else 0,
                window=self.window if window is None else window, options=opts or [])
        if chksum is not None:
            t.chksum = chksum
        ip = IP(src=ME_IP, dst=US_IP)
        if ipchk is not None:
            ip.chksum = ipchk
        sock.send(Ether(src=ME_MAC, dst=us_mac) / ip / t / (Raw(data) if data else b""))

    def open(self):
        self.send("S", opts=[("MSS", self.mss)] if self.mss else [])
        for t in replies(self, 1.0, lambda t: flags(t) == "SA"):
            if flags(t) == "SA" and t.ack == self.snd_nxt + 1:
                self.snd_nxt += 1
                self.rcv_nxt = t.seq + 1
                self.wnd = t.window
                self.send("A")
                return t
        return None

    def data(self, payload, wait=0.4, until=None):
        """Sends payload in order; returns ustack's segments (echo and ACKs)."""
        self.send("PA", data=payload)
        self.snd_nxt += len(payload)
        return self.take(replies(self, wait, until))

    def take(self, segs):
        """Acknowledges what ustack sent in order; returns segs."""
        got = b""
        for t in segs:
            body = bytes(t.payload)
            if body and t.seq == self.rcv_nxt:
                self.rcv_nxt += len(body)
                got += body
        if got:
            self.send("A")
        self.echoed = got
        return segs

    def alive(self):
        """True if in-order data still comes back: the connection survived."""
        probe = os.urandom(8)
        self.data(probe, 1.0, lambda t: bytes(t.payload) == probe)
        return self.echoed == probe

    def close(self):
        self.send("RA")


def acks_only(segs, c):
    """Every segment is a bare ACK acknowledging exactly our snd_nxt."""
    return bool(segs) and all(flags(t) == "A" and t.ack == c.snd_nxt and not bytes(t.payload)
                              for t in segs)


def desc(segs):
    return " ".join("%s seq=%d ack=%d len=%d" % (flags(t), t.seq, t.ack, len(bytes(t.payload)))
                    for t in segs) or "silence"


def established(name, **kw):
    c = Conn(**kw)
    if c.open() is None:
        ok(False, name, "no SYN-ACK")
        return None
    return c


def check_handshake_and_echo():
    c = established("handshake")
    if c:
        ok(c.alive(), "handshake_and_echo")
        c.close()


def check_rst_exact():
    c = established("rst_at_rcv_nxt_accepted")
    if not c:
        return
    c.send("R")
    quiet = replies(c, 0.3)
    c.send("A", data=b"x")  # a segment for a connection that is gone is answered by a reset
    after = replies(c, 0.4)
    ok(not quiet and any("R" in flags(t) for t in after), "rst_at_rcv_nxt_accepted",
       "after RST: %s; then: %s" % (desc(quiet), desc(after)))


def one_ack_and_alive(name, send):
    """On a fresh connection, send(c) draws exactly one bare ACK (of our SND.NXT: nothing
    it carried was taken), and the connection still echoes afterwards."""
    c = established(name)
    if not c:
        return
    send(c)
    segs = replies(c)
    ok(acks_only(segs, c) and len(segs) == 1, name, desc(segs))
    ok(c.alive(), name + "_connection_survives")
    c.close()


def check_rst_in_window():
    one_ack_and_alive("rst_in_window_challenge_ack", lambda c: c.send("R", seq=c.snd_nxt + 100))


def check_rst_out_of_window():
    c = established("rst_out_of_window_ignored")
    if not c:
        return
    c.send("R", seq=c.snd_nxt + c.wnd + 1000)
    c.send("R", seq=c.snd_nxt - 1000)
    segs = replies(c)
    ok(not segs, "rst_out_of_window_ignored", desc(segs))
    ok(c.alive(), "rst_out_of_window_connection_survives")
    c.close()


def check_syn(name, seq_off):
    one_ack_and_alive(name, lambda c: c.send("S", seq=c.snd_nxt + seq_off))


def check_old_duplicate():
    c = established("old_duplicate_acked")
    if not c:
        return
    c.data(b"A" * 100)
    c.send("PA", seq=c.snd_nxt - 100, data=b"A" * 100)
    segs = replies(c)
    ok(acks_only(segs, c), "old_duplicate_acked_not_delivered", desc(segs))
    c.close()


def check_beyond_window():
    c = established("data_beyond_window")
    if not c:
        return
    c.send("PA", seq=c.snd_nxt + c.wnd + 10, data=b"B" * 100)
    segs = replies(c)
    ok(acks_only(segs, c), "data_beyond_window_acked_not_delivered", desc(segs))
    ok(c.alive(), "data_beyond_window_connection_survives")
    c.close()


def check_bad_ack(name, off):
    """RFC 5961 5.2: an ACK of data never sent, or older than SND.UNA - MAX.SND.WND, is
    dropped (its data too) and answered by an ACK."""
    one_ack_and_alive(name, lambda c: c.send("PA", ack=c.rcv_nxt + off, data=b"C" * 10))


def check_bad_checksums():
    c = established("bad_checksums")
    if not c:
        return
    c.send("PA", data=b"D" * 50, chksum=0xdead)
    c.send("PA", data=b"D" * 50, ipchk=0xbeef)
    segs = replies(c)
    ok(not segs, "bad_tcp_and_ip_checksums_silently_dropped", desc(segs))
    ok(c.alive(), "bad_checksums_connection_survives")
    c.close()


def check_tiny_mss():
    c = established("tiny_mss", mss=88)
    if not c:
        return
    payload = os.urandom(800)
    segs = c.data(payload, 0.6)
    got = c.echoed
    for _ in range(5):
        if len(got) >= len(payload):
            break
        c.take(replies(c, 0.3))
        got += c.echoed
    big = [len(bytes(t.payload)) for t in segs if len(bytes(t.payload)) > 88]
    ok(got == payload and not big, "tiny_mss_88_respected",
       "echoed %d of %d, oversized %s" % (len(got), len(payload), big))
    c.close()


def check_zero_window():
    c = established("zero_window")
    if not c:
        return
    payload = os.urandom(1400)
    c.window = 0
    c.send("PA", data=payload)
    c.snd_nxt += len(payload)
    segs = replies(c, 1.5)
    data = [t for t in segs if bytes(t.payload) and t.seq != c.rcv_nxt - 1]
    probes = [t for t in segs if t.seq == c.rcv_nxt - 1 and len(bytes(t.payload)) <= 1]
    ok(not data, "zero_window_no_data_sent", desc(segs))
    ok(len(probes) >= 1, "zero_window_probes", desc(segs))
    c.window = 65535
    c.send("A")
    got = b""
    for _ in range(6):
        c.take(replies(c, 0.3, lambda t: len(bytes(t.payload)) > 0))
        got += c.echoed
        if len(got) >= len(payload):
            break
    ok(got == payload, "zero_window_then_opened_delivers", "echoed %d" % len(got))
    c.close()


def check_closed_port():
    c = Conn(dport=PORT + 1)
    c.send("S")
    segs = replies(c)
    ok(len(segs) == 1 and flags(segs[0]) == "RA" and segs[0].ack == c.snd_nxt + 1,
       "syn_to_closed_port_rst", desc(segs))


def main():
    if not arp():
        ok(False, "arp_reply_from_ustack", "no ARP reply from %s" % US_IP)
        return 1
    ok(True, "arp_reply_from_ustack")
    for check in (check_handshake_and_echo, check_rst_exact, check_rst_in_window,
                  check_rst_out_of_window, lambda: check_syn("syn_in_window_challenge_ack", 10),
                  lambda: check_syn("syn_out_of_window_challenge_ack", 2**30),
                  check_old_duplicate, check_beyond_window,
                  lambda: check_bad_ack("ack_of_unsent_data_acked", 100000),
                  lambda: check_bad_ack("ack_too_old_challenge_ack", -200000),
                  check_bad_checksums, check_tiny_mss, check_zero_window, check_closed_port):
        check()
    return 1 if FAILED else 0


if __name__ == "__main__":
    sys.exit(main())
