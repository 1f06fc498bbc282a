#!/usr/bin/env python3
"""Slow-client attacks driven by Debian's slowhttptest (installed when missing).

    python3 tests/hostile/slowhttptest.py [--seconds 60] [--conns 1000] [--server eddy|nginx]

Modes: slowloris (-H), slow body (-B), slow read (-X, tiny receive window, pipelined
requests for a large file), and the range attack (-R, many overlapping ranges). Each
runs against a fresh server on 127.0.0.1 with short timeouts (5 s). Checks: the service
stays available through the attack (slowhttptest's own probe, every second, and ours:
every request must succeed), the server closes the attacking connections (slowhttptest
counts them as closed) and the server survives and stops cleanly.
"""
import argparse
import csv
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hostile import Prober, Report, Server, finish, make_docroot, raise_own_nofile  # noqa

TIMEOUT = 5
# Follow-up data comes every 2 x TIMEOUT seconds, so each attacking connection must be
# cut by a timeout (a trickle faster than a per-read timeout is bounded by
# --max-connections instead; see docs/SECURITY.md).
GAP = str(2 * TIMEOUT)
MODES = {
    "slowloris": ["-H", "-i", GAP, "-x", "24"],
    "slow_body": ["-B", "-i", GAP, "-s", "100000", "-x", "10"],
    "slow_read": ["-X", "-k", "4", "-n", GAP, "-w", "1", "-y", "4", "-z", "32"],
    "range": ["-R", "-a", "5", "-b", "2000"],
}


def ensure_tool():
    if shutil.which("slowhttptest"):
        return True
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "update", "-qq"], env=env, capture_output=True)
    subprocess.run(["apt-get", "install", "-y", "-qq", "slowhttptest"], env=env,
                   capture_output=True)
    return shutil.which("slowhttptest") is not None


def run_mode(report, mode, args, root):
    server = Server(root, kind=args.server, header_timeout=TIMEOUT, body_timeout=TIMEOUT,
                    send_timeout=TIMEOUT, threads=args.threads)
    out = tempfile.mkdtemp(prefix="eddy-sht-")
    try:
        server.start()
        prober = Prober(server.port, interval=0.5, timeout=5)
        prober.start()
        path = "/big.bin" if mode in ("slow_read", "range") else "/index.html"
        verb = ["-t", "POST"] if mode == "slow_body" else []
        cmd = (["slowhttptest", "-c", str(args.conns), "-r", str(max(1, args.conns // 5)),
                "-l", str(args.seconds), "-p", "3", "-g", "-o", os.path.join(out, "r"),
                "-u", f"http://127.0.0.1:{server.port}{path}"] + MODES[mode] + verb)
        base = server.fds()
        fds = []  # the server's open fds, once a second
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            while p.poll() is None and len(fds) < args.seconds + 60:
                fds.append(server.fds())
                time.sleep(1)
        finally:
            if p.poll() is None:
                p.kill()
            log = p.communicate()[0]
        prober.stop()
        rows = []
        try:
            with open(os.path.join(out, "r.csv")) as f:
                rows = list(csv.DictReader(f))
        except OSError:
            pass
        # "Service Available" is 0 when slowhttptest's probe failed (else a plot value).
        down = [r["Seconds"] for r in rows[1:] if r["Service Available"].strip() == "0"]
        peak = max((int(r["Connected"]) for r in rows), default=0)
        closed = int(rows[-1]["Closed"]) if rows else 0
        report.check(f"slowhttptest {mode}: ran", bool(rows), log[-500:] if not rows else
                     f"{len(rows)} s, peak {peak} attacking connections held, {closed} closed")
        report.check(f"slowhttptest {mode}: service available every second", rows and not down,
                     f"unavailable at seconds {down[:10]}")
        report.check(f"slowhttptest {mode}: our probes all succeed", prober.passed(),
                     prober.summary())
        if mode in ("slowloris", "slow_body", "slow_read"):
            # slowhttptest only sees a close once it has read up to the FIN, which for the
            # slow reader sits behind unsent data: the server's fd count tells instead.
            tail = min(fds[-3:]) if fds else -1
            report.check(f"slowhttptest {mode}: the server lets go of attacking connections",
                         0 <= tail <= base + args.conns // 10,
                         f"server fds: baseline {base}, peak {max(fds or [0])}, at the end "
                         f"{tail}; slowhttptest saw {closed} closed")
        finish(report, server, f"slowhttptest {mode}")
    finally:
        server.cleanup()
        if os.environ.get("SHT_KEEP"):
            print(f"# kept {out}")
        else:
            shutil.rmtree(out, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("modes", nargs="*", help=f"among {', '.join(MODES)} (default all)")
    ap.add_argument("--seconds", type=int, default=60)
    ap.add_argument("--conns", type=int, default=1000)
    ap.add_argument("--server", default=os.environ.get("HOSTILE_SERVER", "eddy"))
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args()
    raise_own_nofile(20000)
    report = Report()
    if not report.check("slowhttptest installed", ensure_tool()):
        report.exit()
    root = make_docroot(big_mib=8)
    try:
        for mode in args.modes or MODES:
            run_mode(report, mode, args, root)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    report.note(f"{report.passed} passed, {report.failed} failed")
    report.exit()


if __name__ == "__main__":
    main()
