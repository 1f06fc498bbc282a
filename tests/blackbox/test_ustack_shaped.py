#!/usr/bin/env python3
"""ustack against Linux peers that drop segments: two network namespaces
(tests/blackbox/ustack_ns.py). In "router", the kernel side of the TAP (K_IP/24) and a
veth to "client" (198.18.1.1/24 and 198.18.1.2/24), forwarding on; ustack (US_IP) reaches
the client through --gateway K_IP. tbf qdiscs with small queue limits on the router's
TAP (toward ustack) and veth (toward the client) make the kernel drop segments both ways:

- echo_server --stack user (the same TAP options as eddy-httpd, --gateway included): a
  small echo, then MB bytes sent and echoed back through both shapers, sha256 exact;
- eddy-httpd --stack user: curl downloads an MB-byte file through the shaper that drops
  ustack's own segments, sha256 exact.

Both assert that tbf did drop packets. MB is 100 in the plain build, 20 under the
sanitizers. Needs root; says so without it."""
import hashlib
import os
import random
import re
import socket
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ustack_ns  # noqa: E402
from ustack_ns import FAILED, K_IP, US_IP, Netns, ok  # noqa: E402

TAP = "eddyuss"
PORT = 7007
MB = 20 if ustack_ns.sanitized() else 100
# Below what ustack sends at (about 300 Mbit/s plain, 100 under ASan), so that its own
# segments queue and drop too, not only Linux's.
TBF = ["tbf", "rate", "50mbit" if ustack_ns.sanitized() else "200mbit", "burst", "64kb",
       "limit", "40kb"]


def echo_client(total, seed):
    """Runs in the client namespace: sends total bytes of a seeded stream while reading
    the echo; prints the byte count and the sha256 of both directions."""
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


def echo(client, total, name):
    t0 = time.monotonic()
    r = client.run([sys.executable, __file__, "--echo-client", str(total), "7"], 240,
                   capture_output=True, text=True)
    f = r.stdout.split()
    good = r.returncode == 0 and len(f) == 3 and int(f[0]) == total and f[1] == f[2]
    ok(good, name, "status %d: %s %s" % (r.returncode, r.stdout[-200:], r.stderr[-300:]))
    return time.monotonic() - t0


def dropped(router, dev):
    out = router.run(["tc", "-s", "qdisc", "show", "dev", dev], 10, capture_output=True,
                     text=True).stdout
    return sum(int(x) for x in re.findall(r"dropped (\d+)", out)), out


def shape(router):
    for dev in (TAP, "v0"):
        router.run(["tc", "qdisc", "replace", "dev", dev, "root"] + TBF, 10, check=True)


def server(router, argv, log):
    return router.start_on_tap(argv + ["--stack", "user", "--tap", TAP, "--ip", US_IP + "/24",
                                       "--gateway", K_IP, "-l", ":%d" % PORT], TAP, log)


def echo_part(router, client, log):
    srv = server(router, [os.path.join(ustack_ns.BUILD, "echo_server")], log)
    if not ok(srv is not None, "echo_server_started"):
        return
    echo(client, 256 * 1024, "echo_server_user_stack_via_gateway_256k")
    shape(router)
    s = echo(client, MB << 20, "echo_%dmb_through_tbf_both_ways_byte_exact" % MB)
    to_us, out1 = dropped(router, TAP)
    to_client, out2 = dropped(router, "v0")
    ok(to_us > 0, "tbf_dropped_segments_to_ustack", out1.replace("\n", " ")[:300])
    ok(to_client > 0, "tbf_dropped_segments_from_ustack", out2.replace("\n", " ")[:300])
    print("# echo %d MB each way through tbf: %.1f s; dropped %d to ustack, %d from it" %
          (MB, s, to_us, to_client), flush=True)
    rc = ustack_ns.stop(srv)
    ok(rc == 0, "echo_server_sigterm_exit_0", "status %s" % rc)


def http_part(router, client, log, root):
    big = os.path.join(root, "big.bin")
    with open(big, "wb") as f:
        for _ in range(MB):
            f.write(os.urandom(1 << 20))
    want = ustack_ns.sha256_file(big)
    srv = server(router, [os.path.join(ustack_ns.BUILD, "eddy-httpd"), "--root", root], log)
    if not ok(srv is not None, "httpd_started"):
        return
    router.run(["tc", "qdisc", "del", "dev", "v0", "root"], 10)  # counts this transfer only
    shape(router)
    out = os.path.join(root, "out.bin")
    t0 = time.monotonic()
    r = client.run(["curl", "-sS", "--max-time", "200", "-o", out,
                    "http://%s:%d/big.bin" % (US_IP, PORT)], 220, capture_output=True, text=True)
    s = time.monotonic() - t0
    got = ustack_ns.sha256_file(out) if os.path.exists(out) else ""
    ok(r.returncode == 0 and got == want, "curl_%dmb_through_tbf_byte_exact" % MB,
       "status %d %s" % (r.returncode, r.stderr[-200:]))
    n, txt = dropped(router, "v0")
    ok(n > 0, "tbf_dropped_ustack_data_segments", txt.replace("\n", " ")[:300])
    print("# curl %d MB through tbf: %.1f s, %d of ustack's segments dropped" % (MB, s, n),
          flush=True)
    rc = ustack_ns.stop(srv)
    ok(rc == 0, "httpd_sigterm_exit_0", "status %s" % rc)


def wire(router, client):
    """The veth between the namespaces, addresses, routes, forwarding."""
    router.ip("link", "add", "v0", "type", "veth", "peer", "name", "v1", "netns", client.name)
    router.ip("addr", "add", "198.18.1.1/24", "dev", "v0")
    router.ip("link", "set", "v0", "up")
    client.ip("addr", "add", "198.18.1.2/24", "dev", "v1")
    client.ip("link", "set", "v1", "up")
    client.ip("route", "add", "198.18.0.0/24", "via", "198.18.1.1")
    router.run(["sysctl", "-qw", "net.ipv4.ip_forward=1"], 10, check=True)


def main():
    if len(sys.argv) > 3 and sys.argv[1] == "--echo-client":
        return echo_client(int(sys.argv[2]), int(sys.argv[3]))
    ustack_ns.skip_without_root("ustack_shaped")
    with tempfile.TemporaryDirectory() as root, tempfile.TemporaryFile() as log, \
            Netns("router") as router, Netns("client") as client:
        try:
            wire(router, client)
            echo_part(router, client, log)
            http_part(router, client, log, root)
        finally:
            if FAILED:
                log.seek(0)
                print("# server log: " + log.read().decode(errors="replace")[-600:]
                      .replace("\n", " | "))
    return 1 if FAILED else 0


if __name__ == "__main__":
    sys.exit(main())
