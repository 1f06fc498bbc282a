#!/usr/bin/env python3
"""Linux's own tools as the peer of ustack (eddy-httpd --stack user) over a TAP in a
network namespace (tests/blackbox/ustack_ns.py): ping, curl and wget downloads of small
files and a big one (100 MB in the plain build, 20 MB under the sanitizers), sha256
byte-exact, ab -n 20000 -c 100 with no failed request, and 100 pipelined requests mixing
small and 1 MB bodies. Each step prints its time. Needs root; says so without it."""
import hashlib
import os
import re
import socket
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ustack_ns  # noqa: E402
from httpd_blackbox import Reader  # noqa: E402
from ustack_ns import FAILED, US_IP, Netns, ok  # noqa: E402

TAP = "eddyusp"
PORT = 8080
URL = "http://%s:%d" % (US_IP, PORT)
BIG_MB = 20 if ustack_ns.sanitized() else 100


def timed(name, fn):
    t0 = time.monotonic()
    fn()
    print("# %s: %.1f s" % (name, time.monotonic() - t0), flush=True)


def make_root(root):
    files = {"index.html": b"hello from ustack\n", "small.txt": os.urandom(3000),
             "one.bin": os.urandom(1 << 20)}
    for name, data in files.items():
        with open(os.path.join(root, name), "wb") as f:
            f.write(data)
    with open(os.path.join(root, "big.bin"), "wb") as f:
        for _ in range(BIG_MB):
            f.write(os.urandom(1 << 20))
    return {n: hashlib.sha256(d).hexdigest() for n, d in files.items()}


def ping(ns):
    r = ns.run(["ping", "-c", "5", "-i", "0.2", "-W", "2", US_IP], 20, capture_output=True,
               text=True)
    ok(r.returncode == 0 and " 5 received" in r.stdout, "ping_5_of_5", r.stdout[-200:])
    r = ns.run(["ping", "-c", "2", "-i", "0.2", "-W", "2", "-s", "1472", "-M", "do", US_IP], 20,
               capture_output=True, text=True)
    ok(r.returncode == 0 and " 2 received" in r.stdout, "ping_full_mtu", r.stdout[-200:])


def download(ns, tool, name, want, out):
    argv = {"curl": ["curl", "-sS", "--max-time", "120", "-o", out, "%s/%s" % (URL, name)],
            "wget": ["wget", "-q", "-T", "60", "-t", "1", "-O", out, "%s/%s" % (URL, name)]}[tool]
    t0 = time.monotonic()
    r = ns.run(argv, 180, capture_output=True, text=True)
    got = ustack_ns.sha256_file(out) if os.path.exists(out) else ""
    os.path.exists(out) and os.unlink(out)
    ok(r.returncode == 0 and got == want, "%s_%s_sha256" % (tool, name),
       "status %d %s" % (r.returncode, r.stderr[-200:]))
    return time.monotonic() - t0


def downloads(ns, sums, root, tmp):
    big = ustack_ns.sha256_file(os.path.join(root, "big.bin"))
    for tool in ("curl", "wget"):
        for name in ("index.html", "small.txt", "one.bin"):
            download(ns, tool, name, sums[name], os.path.join(tmp, "out"))
        s = download(ns, tool, "big.bin", big, os.path.join(tmp, "out"))
        print("# %s %d MB: %.1f s (%.0f Mbit/s)" % (tool, BIG_MB, s, BIG_MB * 8.389 / s),
              flush=True)


def ab(ns):
    n = 20000
    r = ns.run(["ab", "-q", "-n", str(n), "-c", "100", "-s", "30", URL + "/index.html"], 240,
               capture_output=True, text=True)
    done = re.search(r"Complete requests:\s+(\d+)", r.stdout)
    failed = re.search(r"Failed requests:\s+(\d+)", r.stdout)
    non2xx = re.search(r"Non-2xx responses:\s+(\d+)", r.stdout)
    rps = re.search(r"Requests per second:\s+([\d.]+)", r.stdout)
    good = r.returncode == 0 and done and int(done.group(1)) == n and failed and \
        int(failed.group(1)) == 0 and not non2xx
    ok(good, "ab_20000_c100_no_failures", (r.stdout + r.stderr)[-400:].replace("\n", " "))
    if rps:
        print("# ab: %s requests/s" % rps.group(1), flush=True)


def pipeline_client(sums):
    """Runs inside the namespace: 100 requests in one write, the answers in order."""
    names = ["index.html", "one.bin", "small.txt", "missing"] * 25
    s = socket.create_connection((US_IP, PORT), timeout=30)
    s.sendall(b"".join(b"GET /%s HTTP/1.1\r\nHost: x\r\n\r\n" % n.encode() for n in names))
    rd = Reader(s)
    good = 0
    for n in names:
        r = rd.read_response()
        if n == "missing":
            good += r.status == 404
        else:
            good += r.status == 200 and hashlib.sha256(r.body).hexdigest() == sums[n]
    s.close()
    ok(good == len(names), "pipelined_100_mixed_in_order", "%d of %d" % (good, len(names)))
    return 0 if good == len(names) else 1


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--pipeline":
        return pipeline_client(dict(a.split("=") for a in sys.argv[2:]))
    ustack_ns.skip_without_root("ustack_linux_peer")
    with tempfile.TemporaryDirectory() as root, tempfile.TemporaryDirectory() as tmp, \
            tempfile.TemporaryFile() as log, Netns("lpeer") as ns:
        sums = make_root(root)
        srv = ns.start_on_tap([os.path.join(ustack_ns.BUILD, "eddy-httpd"), "--stack", "user",
                               "--tap", TAP, "--ip", US_IP + "/24", "-l", ":%d" % PORT,
                               "--root", root], TAP, log)
        if not ok(srv is not None, "server_started"):
            log.seek(0)
            print("# " + log.read().decode(errors="replace")[-300:])
            return 1
        timed("ping", lambda: ping(ns))
        timed("downloads", lambda: downloads(ns, sums, root, tmp))
        timed("ab", lambda: ab(ns))
        timed("pipeline", lambda: ok(ns.run([sys.executable, __file__, "--pipeline"] +
                                            ["%s=%s" % kv for kv in sums.items()], 60)
                                     .returncode == 0, "pipeline_client_ran"))
        rc = ustack_ns.stop(srv)
        log.seek(0)
        ok(rc == 0, "sigterm_exit_0", "status %s: %s" % (rc, log.read()[-300:]))
    return 1 if FAILED else 0


if __name__ == "__main__":
    sys.exit(main())
