#!/usr/bin/env python3
"""Black-box test of build/echo_server on every backend, single- and multi-reactor.

Per configuration: 200 concurrent clients each send 1,000 messages of random
sizes (mostly small, a handful of 1 MiB ones per configuration) and check that
the echoed stream is byte-exact. Then, with a few idle clients still connected,
SIGTERM must stop the server cleanly (exit status 0; under ASan that includes
the leak check; SIGINT in multi-reactor mode). Bad options are refused. Prints
"ok - NAME" / "not ok - NAME" per case.
"""
import os
import random
import re
import selectors
import signal
import socket
import subprocess
import sys
import time

from httpd_blackbox import backends

BUILD = os.environ.get("EDDY_BUILD", os.path.join(os.path.dirname(__file__), "..", "..", "build"))
SERVER = os.path.join(BUILD, "echo_server")
BACKENDS = backends(SERVER)
THREADS = [0, 2]
CLIENTS = 200
MESSAGES = 1000
BIG = 1 << 20
BIG_PER_CONFIG = 4
WINDOW = 256 * 1024  # bytes a client keeps in flight
CONFIG_TIMEOUT = 90.0


def start_server(backend, threads):
    proc = subprocess.Popen(
        [SERVER, "-l", "127.0.0.1:0", "-t", str(threads), "-b", backend],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 15
    line = ""
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        m = re.match(r"echo_server listening on 127\.0\.0\.1:(\d+)$", line.strip())
        if m:
            return proc, int(m.group(1))
        if line == "" and proc.poll() is not None:
            break
    proc.kill()
    proc.wait()
    raise RuntimeError("server did not start: %r" % line)


def message_sizes(rng):
    """Mostly small: 70% <= 256 B, 29% <= 4 KiB, 1% <= 64 KiB."""
    sizes = []
    for _ in range(MESSAGES):
        r = rng.random()
        if r < 0.70:
            sizes.append(rng.randint(1, 256))
        elif r < 0.99:
            sizes.append(rng.randint(257, 4096))
        else:
            sizes.append(rng.randint(4097, 65536))
    return sizes


class Client:
    def __init__(self, port, sizes, pool, rng):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.sock.setblocking(False)
        self.msgs = []
        for n in sizes:
            off = rng.randrange(0, len(pool) - n)
            self.msgs.append(pool[off:off + n])
        self.next_msg = 0
        self.pending = None  # memoryview of the message being sent
        self.unverified = []  # sent memoryviews, oldest first
        self.unverified_off = 0
        self.in_flight = 0
        self.sent = 0
        self.verified = 0
        self.total = sum(len(m) for m in self.msgs)
        self.error = None

    def want_write(self):
        return self.pending is not None or (self.next_msg < len(self.msgs) and self.in_flight < WINDOW)

    def take_batch(self):
        """The next messages, joined up to 64 KiB: fewer system calls per byte."""
        parts, size = [], 0
        while self.next_msg < len(self.msgs) and self.in_flight + size < WINDOW and size < 65536:
            m = self.msgs[self.next_msg]
            self.next_msg += 1
            self.unverified.append(m)
            parts.append(m)
            size += len(m)
        return memoryview(b"".join(parts)) if len(parts) > 1 else parts[0]

    def on_writable(self):
        while self.want_write():
            if self.pending is None:
                self.pending = self.take_batch()
            try:
                n = self.sock.send(self.pending)
            except BlockingIOError:
                return
            self.sent += n
            self.in_flight += n
            self.pending = self.pending[n:] if n < len(self.pending) else None

    def on_readable(self):
        try:
            data = self.sock.recv(262144)
        except BlockingIOError:
            return
        if not data:
            self.error = "EOF after %d of %d bytes" % (self.verified, self.total)
            return
        self.check(memoryview(data))

    def check(self, data):
        while len(data) > 0:
            if not self.unverified:
                self.error = "echo has %d bytes more than was sent" % len(data)
                return
            head = self.unverified[0]
            n = min(len(head) - self.unverified_off, len(data))
            if head[self.unverified_off:self.unverified_off + n] != data[:n]:
                self.error = "mismatch at byte %d" % self.verified
                return
            data = data[n:]
            self.verified += n
            self.in_flight -= n
            self.unverified_off += n
            if self.unverified_off == len(head):
                self.unverified.pop(0)
                self.unverified_off = 0

    def done(self):
        return self.verified == self.total


def run_load(port, rng):
    pool = memoryview(os.urandom(3 * BIG))
    clients = [Client(port, message_sizes(rng), pool, rng) for _ in range(CLIENTS)]
    for _ in range(BIG_PER_CONFIG):  # a few 1 MiB messages at random places
        c = rng.choice(clients)
        i = rng.randrange(len(c.msgs))
        c.total += BIG - len(c.msgs[i])
        off = rng.randrange(0, len(pool) - BIG)
        c.msgs[i] = pool[off:off + BIG]
    sel = selectors.DefaultSelector()
    for c in clients:
        sel.register(c.sock, selectors.EVENT_READ | selectors.EVENT_WRITE, c)
    active = len(clients)
    deadline = time.monotonic() + CONFIG_TIMEOUT
    while active > 0:
        if time.monotonic() > deadline:
            left = [c for c in clients if not c.done()]
            return "timeout: %d clients unfinished, e.g. %d/%d bytes" % (
                len(left), left[0].verified, left[0].total)
        for key, ev in sel.select(timeout=1.0):
            c = key.data
            if ev & selectors.EVENT_WRITE:
                c.on_writable()
            if ev & selectors.EVENT_READ:
                c.on_readable()
            if c.error:
                return c.error
            if c.done():
                sel.unregister(c.sock)
                c.sock.close()
                active -= 1
            else:
                want = selectors.EVENT_READ | (selectors.EVENT_WRITE if c.want_write() else 0)
                if want != key.events:
                    sel.modify(c.sock, want, c)
    sel.close()
    return None


def stop_server(proc, idle, sig):
    proc.send_signal(sig)
    try:
        rc = proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return "did not exit within 20 s of SIGTERM"
    err = proc.stderr.read()
    proc.stderr.close()
    for s in idle:  # the server closed them on the way out
        s.settimeout(5)
        try:
            if s.recv(1) != b"":
                return "idle client got data"
        except ConnectionResetError:
            pass
        s.close()
    if rc != 0:
        return "exit status %d; stderr: %s" % (rc, err[-2000:])
    return None


def run_config(backend, threads, seed):
    rng = random.Random(seed)
    proc, port = start_server(backend, threads)
    try:
        t0 = time.monotonic()
        err = run_load(port, rng)
        elapsed = time.monotonic() - t0
        idle = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(5)]
        for s in idle:  # make sure the server has them before the signal
            s.sendall(b"x")
            if s.recv(1) != b"x":
                err = err or "idle client echo failed"
    except Exception as e:  # noqa: BLE001 - reported as a failed case
        err = "%s: %s" % (type(e).__name__, e)
        idle = []
        elapsed = 0.0
    stop_err = stop_server(proc, idle, signal.SIGTERM if threads == 0 else signal.SIGINT)
    return err or stop_err, elapsed


def check_bad_usage():
    """Bad options are refused with a message, before anything listens (or a TAP is
    opened: --stack user)."""
    US = ["--stack", "user", "--tap", "eddyusx", "--ip", "198.18.0.2/24"]
    cases = [(["-b", "nope"], 2, "unknown backend"), (["-t", "x"], 2, "bad thread count"),
             (["-l", "bogus"], 1, "bogus"), (["extra"], 2, "usage"),
             (["--stack", "bogus"], 2, "expected kernel or user"),
             (["--stack", "user"], 2, "needs --tap NAME and --ip"),
             (US + ["-t", "2"], 2, "use -t 0"), (US + ["-b", "epoll"], 2, "uepoll"),
             (US[:-1] + ["198.18.0.2/33"], 2, "bad --ip"),
             (US + ["--gateway", "x"], 2, "bad --ip or --gateway")]
    for args, want_rc, want_msg in cases:
        p = subprocess.run([SERVER] + args, capture_output=True, text=True, timeout=10)
        if p.returncode != want_rc or want_msg not in p.stderr:
            return "%s: status %d, stderr %r" % (" ".join(args), p.returncode, p.stderr[:200])
    return None


def main():
    if not os.access(SERVER, os.X_OK):
        print("not ok - echo_server binary missing at %s" % SERVER)
        return 1
    err = check_bad_usage()
    print("%s - echo_server refuses bad options%s" % ("not ok" if err else "ok",
                                                       ": " + err if err else ""))
    failed = 1 if err else 0
    base_seed = int(os.environ.get("EDDY_SEED", str(int(time.time()))))
    print("# seed %d (EDDY_SEED to repeat)" % base_seed)
    for backend in BACKENDS:
        for threads in THREADS:
            name = "echo %s -t %d: %d clients x %d messages" % (backend, threads, CLIENTS, MESSAGES)
            err, elapsed = run_config(backend, threads, base_seed + 31 * threads + len(backend))
            if err:
                failed += 1
                print("not ok - %s: %s" % (name, err))
            else:
                print("ok - %s (%.1fs)" % (name, elapsed))
            sys.stdout.flush()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
