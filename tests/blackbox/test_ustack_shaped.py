#!/usr/bin/env python3
"""ustack against a Linux peer that drops segments, over a TAP in a network namespace
(tests/blackbox/ustack_ns.py):

- echo_server --stack user (the same TAP options as eddy-httpd): a small echo, then with
  a tbf qdisc with a small queue limit on the kernel side of the TAP (the kernel drops
  the segments it sends to ustack), MB bytes sent and echoed back, sha256 byte-exact;
- eddy-httpd --stack user with an ingress policer on the kernel side (the kernel drops
  ustack's segments): curl downloads a file of the same size, sha256 byte-exact.

Both assert that the kernel did drop packets. MB is 100 in the plain build, 20 under the
sanitizers. Needs root; says so without it."""
import hashlib
import os
import random
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ustack_ns  # noqa: E402
from ustack_ns import US_IP, Netns  # noqa: E402

TAP = "eddyuss"
PORT = 7007
MB = 20 if ustack_ns.sanitized() else 100
FAILED = []


def ok(cond, name, detail=""):
    print(("ok - " if cond else "not ok - ") + name + ("" if cond else " # " + detail), flush=True)
    if not cond:
        FAILED.append(name)
    return cond


def echo_client(total, seed):
    """Runs inside the namespace: sends total bytes of a seeded stream while reading the
    echo; prints the sha256 of both."""
    s = socket.create_connection((US_IP, PORT), timeout=60)
    sent = hashlib.sha256()

    def writer():
        rnd = random.Random(seed)
        left = total
        while left:
            chunk = rnd.randbytes(min(left, 1 << 16))
            sent.update(chunk)
            s.sendall(chunk)
            left -= len(chunk)
        s.shutdown(socket.SHUT_WR)
    t = threading.Thread(target=writer)
    t.start()
    got, n = hashlib.sha256(), 0
    while True:
        b = s.recv(1 << 20)
        if not b:
            break
        got.update(b)
        n += len(b)
    t.join()
    s.close()
    print("%d %s %s" % (n, sent.hexdigest(), got.hexdigest()))
    return 0


def echo(ns, total, name):
    t0 = time.monotonic()
    r = ns.run([sys.executable, __file__, "--echo-client", str(total), "7"], 240,
               capture_output=True, text=True)
    f = r.stdout.split()
    good = r.returncode == 0 and len(f) == 3 and int(f[0]) == total and f[1] == f[2]
    ok(good, name, "status %d: %s %s" % (r.returncode, r.stdout[-200:], r.stderr[-300:]))
    return time.monotonic() - t0


def dropped(ns, *what):
    out = ns.run(["tc", "-s"] + list(what) + ["show", "dev", TAP], 10, capture_output=True,
                 text=True).stdout
    return sum(int(x) for x in re.findall(r"dropped (\d+)", out)), out


def echo_part(ns, log):
    srv = ns.start_on_tap([os.path.join(ustack_ns.BUILD, "echo_server"), "--stack", "user",
                           "--tap", TAP, "--ip", US_IP + "/24", "-l", ":%d" % PORT], TAP, log)
    if not ok(srv is not None, "echo_server_started"):
        return
    echo(ns, 256 * 1024, "echo_server_user_stack_256k")
    ns.run(["tc", "qdisc", "add", "dev", TAP, "root", "tbf", "rate", "200mbit", "burst", "32kb",
            "limit", "24kb"], 10, check=True)
    s = echo(ns, MB << 20, "echo_%dmb_through_tbf_byte_exact" % MB)
    n, out = dropped(ns, "qdisc")
    ok(n > 0, "tbf_dropped_segments", out.replace("\n", " ")[:300])
    print("# echo %d MB each way through tbf: %.1f s, %d segments dropped by tbf" % (MB, s, n),
          flush=True)
    rc = ustack_ns.stop(srv)
    ok(rc == 0, "echo_server_sigterm_exit_0", "status %s" % rc)


def http_part(ns, log, root):
    big = os.path.join(root, "big.bin")
    h = hashlib.sha256()
    with open(big, "wb") as f:
        for _ in range(MB):
            b = os.urandom(1 << 20)
            h.update(b)
            f.write(b)
    srv = ns.start_on_tap([os.path.join(ustack_ns.BUILD, "eddy-httpd"), "--stack", "user",
                           "--tap", TAP, "--ip", US_IP + "/24", "-l", ":%d" % PORT,
                           "--root", root], TAP, log)
    if not ok(srv is not None, "httpd_started"):
        return
    ns.run(["tc", "qdisc", "add", "dev", TAP, "handle", "ffff:", "ingress"], 10, check=True)
    ns.run(["tc", "filter", "add", "dev", TAP, "parent", "ffff:", "protocol", "ip", "u32",
            "match", "u32", "0", "0", "police", "rate", "200mbit", "burst", "32k", "drop",
            "flowid", ":1"], 10, check=True)
    out = os.path.join(root, "out.bin")
    t0 = time.monotonic()
    r = ns.run(["curl", "-sS", "--max-time", "200", "-o", out,
                "http://%s:%d/big.bin" % (US_IP, PORT)], 220, capture_output=True, text=True)
    s = time.monotonic() - t0
    got = ustack_ns_sha(out)
    ok(r.returncode == 0 and got == h.hexdigest(), "curl_%dmb_through_policer_byte_exact" % MB,
       "status %d %s" % (r.returncode, r.stderr[-200:]))
    n, txt = dropped(ns, "filter", "parent", "ffff:")
    ok(n > 0, "policer_dropped_segments", txt.replace("\n", " ")[:300])
    print("# curl %d MB through the policer: %.1f s, %d segments dropped" % (MB, s, n),
          flush=True)
    rc = ustack_ns.stop(srv)
    ok(rc == 0, "httpd_sigterm_exit_0", "status %s" % rc)


def ustack_ns_sha(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def main():
    if len(sys.argv) > 3 and sys.argv[1] == "--echo-client":
        return echo_client(int(sys.argv[2]), int(sys.argv[3]))
    ustack_ns.skip_without_root("ustack_shaped")
    with tempfile.TemporaryDirectory() as root, tempfile.TemporaryFile() as log, \
            Netns("shaped") as ns:
        try:
            echo_part(ns, log)
            http_part(ns, log, root)
        finally:
            if FAILED:
                log.seek(0)
                print("# server log: " + log.read().decode(errors="replace")[-600:]
                      .replace("\n", " | "))
    return 1 if FAILED else 0


if __name__ == "__main__":
    sys.exit(main())
