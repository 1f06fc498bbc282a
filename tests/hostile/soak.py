#!/usr/bin/env python3
"""Soak: mixed load with connection churn against one eddy-httpd for a long time.

    python3 tests/hostile/soak.py [--seconds 1200] [--server eddy|nginx] [--threads N]

Load (all at once, each worker in its own thread): keep-alive clients fetching files,
ranges and conditionals and checking every body; churners opening a connection per
request (HTTP/1.1 and 1.0); a pipeliner (50 requests per write, all read); a resetter
(SO_LINGER 0 in the middle of responses); a slowloris client cut by the header timeout;
a large-file downloader. RSS, fd count and CPU are sampled every --interval seconds.

Passes when no well-behaved request failed, RSS after the warm-up grew by less than
--rss-growth MiB, and the fd count is back to its baseline once the load stops.
"""
import argparse
import hashlib
import os
import random
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hostile import (HttpError, Report, Server, finish, make_docroot, raise_own_nofile,  # noqa
                     read_response, request_bytes, rst_close, settle_fds, wait_fds)


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.ok = 0
        self.errors = []
        self.resets = 0

    def good(self, n=1):
        with self.lock:
            self.ok += n

    def bad(self, what):
        with self.lock:
            self.errors.append(what)


def files_of(root):
    out = {}
    for name in ("index.html", "small.txt", "mid.bin"):
        with open(os.path.join(root, name), "rb") as f:
            out["/" + name] = f.read()
    return out


def keepalive_worker(port, files, stop, st, rnd):
    s, carry = None, [b""]
    while not stop.is_set():
        try:
            if s is None:
                s, carry = socket.create_connection(("127.0.0.1", port), timeout=10), [b""]
            path = rnd.choice(list(files))
            body = files[path]
            kind = rnd.randrange(4)
            extra = ""
            if kind == 1:
                a = rnd.randrange(len(body))
                b = rnd.randrange(a, len(body))
                extra = f"Range: bytes={a}-{b}\r\n"
            s.sendall(request_bytes(path, extra=extra))
            status, headers, got = read_response(s, deadline=time.monotonic() + 10, carry=carry)
            if kind == 1:
                ok = status == 206 and got == body[a:b + 1]
            else:
                ok = status == 200 and got == body
            if ok and kind == 2 and "etag" in headers:  # revalidate: 304 expected
                s.sendall(request_bytes(path, extra=f"If-None-Match: {headers['etag']}\r\n"))
                status, _, _ = read_response(s, deadline=time.monotonic() + 10, carry=carry)
                ok = status == 304
            if ok:
                st.good()
            else:
                st.bad(f"keepalive {path} {extra.strip()}: status {status}, {len(got)} bytes")
            if rnd.random() < 0.01:  # churn the keep-alive connection now and then
                s.close()
                s = None
        except (OSError, HttpError) as e:
            st.bad(f"keepalive: {type(e).__name__}: {e}")
            if s:
                s.close()
            s = None
    if s:
        s.close()


def churn_worker(port, files, stop, st, rnd):
    while not stop.is_set():
        path = rnd.choice(list(files) + ["/nope"])
        v10 = rnd.random() < 0.3
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=10)
            req = (f"GET {path} HTTP/1.0\r\n\r\n".encode() if v10
                   else request_bytes(path, keepalive=False))
            s.sendall(req)
            status, _, got = read_response(s, deadline=time.monotonic() + 10)
            s.close()
            want = (404, b"") if path == "/nope" else (200, files[path])
            if status == want[0] and (path == "/nope" or got == want[1]):
                st.good()
            else:
                st.bad(f"churn {path}: status {status}")
        except (OSError, HttpError) as e:
            st.bad(f"churn: {type(e).__name__}: {e}")


def pipeline_worker(port, files, stop, st, rnd):
    while not stop.is_set():
        paths = [rnd.choice(list(files)) for _ in range(50)]
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=10)
            s.sendall(b"".join(request_bytes(p) for p in paths))
            carry = [b""]
            for p in paths:
                status, _, got = read_response(s, deadline=time.monotonic() + 20, carry=carry)
                if status != 200 or got != files[p]:
                    st.bad(f"pipeline {p}: status {status}")
                    break
            else:
                st.good(len(paths))
            s.close()
        except (OSError, HttpError) as e:
            st.bad(f"pipeline: {type(e).__name__}: {e}")


def reset_worker(port, files, stop, st, rnd):
    while not stop.is_set():
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=10)
            s.sendall(request_bytes(rnd.choice(["/big.bin", "/mid.bin"])))
            want = rnd.randrange(1, 1 << 20)
            got = 0
            while got < want:
                d = s.recv(65536)
                if not d:
                    break
                got += len(d)
            rst_close(s)
            with st.lock:
                st.resets += 1
        except OSError:
            pass
        time.sleep(0.01)


def slowloris_worker(port, files, stop, st, rnd):
    while not stop.is_set():
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=10)
            s.sendall(b"GET / HTTP/1.1\r\n")
            while not stop.is_set():
                s.sendall(b"X")
                time.sleep(0.5)
        except OSError:
            pass  # cut by the header timeout: expected
        finally:
            s.close()


def big_worker(port, files, stop, st, rnd, digest=None):
    while not stop.is_set():
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=20)
            s.sendall(request_bytes("/big.bin", keepalive=False))
            status, _, got = read_response(s, deadline=time.monotonic() + 60)
            s.close()
            if status == 200 and hashlib.sha256(got).hexdigest() == digest:
                st.good()
            else:
                st.bad(f"big: status {status}, {len(got)} bytes")
        except (OSError, HttpError) as e:
            st.bad(f"big: {type(e).__name__}: {e}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=float(os.environ.get("SOAK_SECONDS", 1200)))
    ap.add_argument("--interval", type=float, default=10.0)
    ap.add_argument("--warmup", type=float, default=60.0)
    ap.add_argument("--rss-growth", type=float, default=16.0, help="MiB allowed after warm-up")
    ap.add_argument("--server", default=os.environ.get("HOSTILE_SERVER", "eddy"))
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args()
    raise_own_nofile(20000)
    report = Report()
    root = make_docroot(big_mib=16)
    with open(os.path.join(root, "big.bin"), "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    files = files_of(root)
    server = Server(root, kind=args.server, threads=args.threads, header_timeout=2,
                    body_timeout=5, send_timeout=10, keepalive_timeout=15)
    server.start()
    from attacks import _warm
    base_fds = _warm(server)
    stop, st = threading.Event(), Stats()
    plan = ([keepalive_worker] * 4 + [churn_worker] * 2 + [pipeline_worker, reset_worker,
                                                            slowloris_worker])
    threads = [threading.Thread(target=fn, args=(server.port, files, stop, st, random.Random(i)),
                                daemon=True) for i, fn in enumerate(plan)]
    threads.append(threading.Thread(target=big_worker, daemon=True,
                                    args=(server.port, files, stop, st, random.Random(99), digest)))
    for t in threads:
        t.start()
    t0 = time.monotonic()
    samples = []
    report.note(f"{'t(s)':>6} {'RSS MiB':>8} {'fds':>5} {'CPU s':>7} {'ok':>9} {'errors':>6} "
                f"{'resets':>7}")
    while time.monotonic() - t0 < args.seconds and server.alive():
        time.sleep(min(args.interval, max(0.0, args.seconds - (time.monotonic() - t0))))
        if not server.alive():
            break
        smp = (time.monotonic() - t0, server.rss_kib() / 1024, server.fds(), server.cpu(),
               st.ok, len(st.errors), st.resets)
        samples.append(smp)
        report.note("%6.0f %8.1f %5d %7.1f %9d %6d %7d" % smp)
    stop.set()
    for t in threads:
        t.join(30)
    after = samples[-1] if samples else None
    warm = [s for s in samples if s[0] >= args.warmup] or samples
    report.check("soak: well-behaved requests all succeed", st.ok > 0 and not st.errors,
                 f"{st.ok} ok, {len(st.errors)} failed" + (f": {st.errors[:3]}" if st.errors else ""))
    if warm:
        growth = max(s[1] for s in warm) - warm[0][1]
        report.check(f"soak: RSS stable after warm-up (growth < {args.rss_growth} MiB)",
                     growth < args.rss_growth,
                     f"RSS at {warm[0][0]:.0f}s {warm[0][1]:.1f} MiB, max {max(s[1] for s in warm):.1f}"
                     f" MiB, end {after[1]:.1f} MiB")
        fd_hi = max(s[2] for s in warm)
        report.note(f"fds during load: {min(s[2] for s in warm)}..{fd_hi}")
    n = wait_fds(server, base_fds, 20)
    report.check("soak: fd count back to baseline after the load", 0 <= n <= base_fds,
                 f"baseline {base_fds}, now {n}")
    finish(report, server, "soak")
    import shutil
    shutil.rmtree(root, ignore_errors=True)
    report.exit()


if __name__ == "__main__":
    main()
