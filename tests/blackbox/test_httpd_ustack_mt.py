#!/usr/bin/env python3
"""eddy-httpd --stack user --threads 3: three sub-reactors, each with its own stack on one
queue of a multi-queue TAP (IFF_MULTI_QUEUE), inside a network namespace this test creates
and deletes (on failure too). Kernel side 198.18.0.1/24, ustack 198.18.0.2 with gateway
198.18.0.1; a second kernel address 198.19.0.1 is beyond ustack's prefix, so its
connections go out through the gateway. The client is Linux's TCP in the namespace (this
script re-run inside it with --client): 96 concurrent connections each fetching a 256 KiB
file byte-exact, 300 concurrent Connection: close requests, the same from the off-link
address, then ab -n 4000 -c 64 with 0 failures. The kernel must have spread the frames
over every queue (tc -s qdisc: each queue's share of the sent packets), and each queue is
read by one stack only, so each stack served. SIGTERM ends the server with status 0.
Needs root; says so without it."""
import concurrent.futures
import hashlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

from test_httpd_ustack import ok, skipped_without_root

BUILD = os.environ.get("EDDY_BUILD", os.path.join(os.path.dirname(__file__), "..", "..", "build"))
HTTPD = os.path.abspath(os.path.join(BUILD, "eddy-httpd"))
NS = "eddy-httpd-usmq-%d" % os.getpid()
TAP = "eddyusmq1"
ADDR = ("198.18.0.2", 8080)
THREADS = 3


def fetch(path, src=None):
    """One Connection: close request; (status, body)."""
    s = socket.create_connection(ADDR, timeout=30, source_address=(src, 0) if src else None)
    s.sendall(("GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" % path).encode())
    with s, s.makefile("rb") as f:
        data = f.read()
    head, _, body = data.partition(b"\r\n\r\n")
    m = re.search(rb"content-length: *(\d+)", head, re.I)
    if not head.startswith(b"HTTP/1.1 ") or not m or int(m.group(1)) != len(body):
        return 0, body
    return int(head.split()[1]), body


def in_parallel(n, fn):
    with concurrent.futures.ThreadPoolExecutor(max_workers=n) as ex:
        futs = [ex.submit(fn, i) for i in range(n)]
        res = []
        for f in futs:
            try:
                res.append(f.result())
            except OSError as e:
                res.append(e)
        return res


def client(root):
    mid = hashlib.sha256(open(os.path.join(root, "mid.bin"), "rb").read()).digest()
    res = in_parallel(96, lambda i: fetch("/mid.bin"))
    good = sum(1 for r in res if isinstance(r, tuple) and r[0] == 200 and
               hashlib.sha256(r[1]).digest() == mid)
    ok(good == 96, "concurrent_96_downloads_byte_exact", "%d good: %r" % (good, res[:3]))
    res = in_parallel(300, lambda i: fetch("/index.html"))
    good = sum(1 for r in res if isinstance(r, tuple) and r == (200, b"hello from ustack\n"))
    ok(good == 300, "concurrent_300_close_requests", "%d good" % good)
    res = in_parallel(100, lambda i: fetch("/index.html", src="198.19.0.1"))
    good = sum(1 for r in res if isinstance(r, tuple) and r == (200, b"hello from ustack\n"))
    ok(good == 100, "off_link_100_through_gateway", "%d good" % good)
    if shutil.which("ab") is None:
        ok(False, "ab_installed")
        return
    ab = subprocess.run(["ab", "-q", "-n", "4000", "-c", "64", "-s", "30",
                         "http://198.18.0.2:8080/index.html"], capture_output=True, text=True,
                        timeout=180)
    done = re.search(r"Complete requests:\s+(\d+)", ab.stdout)
    failed = re.search(r"Failed requests:\s+(\d+)", ab.stdout)
    ok(ab.returncode == 0 and done and int(done.group(1)) == 4000 and failed and
       int(failed.group(1)) == 0, "ab_4000_c64_no_failures", ab.stdout[-400:] + ab.stderr[-200:])


def queue_packets():
    """Packets the kernel handed to each TAP queue (the mq qdisc's children)."""
    out = subprocess.run(["ip", "netns", "exec", NS, "tc", "-s", "qdisc", "show", "dev", TAP],
                         capture_output=True, text=True).stdout
    per = {}
    for m in re.finditer(r"parent :(\w+)[^\n]*\n\s*Sent \d+ bytes (\d+) pkt", out):
        per[int(m.group(1), 16)] = int(m.group(2))
    return per, out


def run_server(root):
    log = tempfile.TemporaryFile()
    cmd = ["ip", "netns", "exec", NS, HTTPD, "--stack", "user", "--tap", TAP, "--ip",
           "198.18.0.2/24", "--gateway", "198.18.0.1", "-l", ":8080", "--root", root,
           "--threads", str(THREADS)]
    srv = subprocess.Popen(cmd, stderr=log)
    up = False
    for _ in range(200):
        log.seek(0)
        if b"ustack on TAP" in log.read():
            up = True
            break
        if srv.poll() is not None:
            break
        time.sleep(0.05)
    if not up:
        log.seek(0)
        ok(False, "server_started", log.read().decode(errors="replace")[-300:].replace("\n", " "))
        sys.exit(1)
    for args in (["addr", "add", "198.18.0.1/24", "dev", TAP], ["addr", "add", "198.19.0.1/32",
                                                                 "dev", "lo"],
                 ["link", "set", TAP, "up"]):
        subprocess.run(["ip", "-n", NS] + args, check=True)
    return srv, log


def server_side(root):
    srv, log = run_server(root)
    try:
        detail = subprocess.run(["ip", "-n", NS, "-d", "link", "show", TAP], capture_output=True,
                                text=True).stdout
        ok("numqueues %d" % THREADS in detail, "tap_has_%d_queues" % THREADS, detail[-300:])
        c = subprocess.run(["ip", "netns", "exec", NS, sys.executable, __file__, "--client",
                            root], timeout=400)
        ok(c.returncode == 0, "client_ran", "status %d" % c.returncode)
        per, out = queue_packets()
        total = sum(per.values())
        ok(len(per) == THREADS and total > 0 and min(per.values()) * THREADS * 5 >= total,
           "every_queue_carried_at_least_a_fifth_of_its_share", out)
        srv.send_signal(signal.SIGTERM)
        rc = srv.wait(timeout=60)
        log.seek(0)
        text = log.read().decode(errors="replace")
        ok(rc == 0, "sigterm_exit_0", "status %s: %s" % (rc, text[-500:]))
        ok("%d queues" % THREADS in text, "startup_line", text[-300:])
        ok("ThreadSanitizer" not in text and "AddressSanitizer" not in text, "no_sanitizer_report",
           text[-2000:])
    finally:
        if srv.poll() is None:
            srv.kill()
            srv.wait()


def main():
    if len(sys.argv) > 2 and sys.argv[1] == "--client":
        client(sys.argv[2])
        return 0
    if skipped_without_root("httpd_ustack_mt"):
        return 0
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(1))
    with tempfile.TemporaryDirectory() as root:
        with open(os.path.join(root, "index.html"), "w") as f:
            f.write("hello from ustack\n")
        with open(os.path.join(root, "mid.bin"), "wb") as f:
            f.write(os.urandom(256 * 1024))
        try:
            subprocess.run(["ip", "netns", "add", NS], check=True)
            subprocess.run(["ip", "-n", NS, "link", "set", "lo", "up"], check=True)
            server_side(root)
        finally:
            subprocess.run(["ip", "netns", "del", NS], capture_output=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
