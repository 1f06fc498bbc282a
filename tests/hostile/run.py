#!/usr/bin/env python3
"""Runs the hostile-client attacks against eddy-httpd (or nginx, for comparison).

    python3 tests/hostile/run.py                     # every attack, long versions, eddy-httpd
    python3 tests/hostile/run.py --quick slowloris   # one attack, the make-test size
    python3 tests/hostile/run.py --server nginx      # the same attacks against nginx

eddy-httpd is $EDDY_BUILD/eddy-httpd (default ./build). Each attack gets a fresh server
on 127.0.0.1 with short timeouts; every attack stops by itself. Prints ok/not ok lines
and exits non-zero when a check fails.
"""
import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import attacks  # noqa: E402
from hostile import Report, Server, finish, make_docroot, raise_own_nofile  # noqa: E402

TIMEOUT = 2  # seconds, for header, body, send
# name: (server options, quick params, long params)
PLAN = {
    "slowloris": (dict(header_timeout=TIMEOUT),
                  dict(conns=50), dict(conns=400)),
    "slow_body": (dict(body_timeout=TIMEOUT, header_timeout=TIMEOUT),
                  dict(conns=20), dict(conns=300)),
    "slow_read": (dict(send_timeout=TIMEOUT),
                  dict(conns=10), dict(conns=100)),
    "flood_maxconn": (dict(max_connections=100, header_timeout=TIMEOUT),
                      dict(n=600, hold=3.0), dict(n=4000, hold=20.0)),
    "flood_nofile": (dict(header_timeout=TIMEOUT, nofile=256),
                     dict(n=600, hold=3.0, strict_status=False),
                     dict(n=4000, hold=20.0, strict_status=False)),
    # The select backend cannot watch an fd >= FD_SETSIZE (1024): past it the server must
    # refuse connections, never write outside its fd_set.
    "flood_select": (dict(backend="select", header_timeout=TIMEOUT, nofile=4096),
                     dict(n=1500, hold=3.0), dict(n=4000, hold=20.0)),
    # Each connection may hold its output up to the high-water mark (256 KiB) plus one
    # read of requests and the buffers' slack: 1 MiB each (with the 4 MiB mark it was ~5).
    "pipeline_noread": (dict(send_timeout=30),
                        dict(clients=12, n=10000, hold=3.0, rss_limit_mib=12 + 16),
                        dict(clients=20, n=10000, hold=20.0, rss_limit_mib=20 + 16)),
    # Bodies the static handler never reads are dropped as they arrive: the connections
    # hold their heads only (it was ~1 MiB each while they were buffered).
    "body_hold": (dict(body_timeout=30),
                  dict(conns=50, hold=3.0, rss_limit_mib=16),
                  dict(conns=200, hold=10.0, rss_limit_mib=32)),
    "reset_storm": (dict(),
                    dict(duration=5.0, workers=8), dict(duration=60.0, workers=16)),
    "graceful_shutdown": (dict(drain_timeout=4),
                          dict(small=6, big=4, drain=4), dict(small=30, big=10, drain=4)),
}


def run_attack(report, name, long, kind, threads, backend=None):
    sopts, quick, longp = PLAN[name]
    sopts = dict(sopts)
    if backend and "backend" not in sopts:
        sopts["backend"] = backend
    nofile = sopts.pop("nofile", None)
    root = make_docroot()
    server = Server(root, kind=kind, nofile=nofile, threads=threads, **sopts)
    try:
        server.start()
        params = dict(longp if long else quick)
        t0 = time.monotonic()
        if name.startswith("flood"):
            res = attacks.flood(report, server, label=name.replace("_", " "), **params)
        else:
            res = getattr(attacks, name)(report, server, **params)
        report.note(f"{name}: {time.monotonic() - t0:.1f}s, {res}")
        if name == "graceful_shutdown":
            errs = server.sanitizer_errors()
            report.check(f"{name}: no sanitizer report", not errs, "; ".join(errs[:3]))
        else:
            finish(report, server, name)
    finally:
        server.cleanup()
        import shutil
        shutil.rmtree(root, ignore_errors=True)


def main_quick(names):
    """The make-test entry: the quick versions of `names` against eddy-httpd."""
    raise_own_nofile(20000)
    report = Report()
    for name in names:
        try:
            run_attack(report, name, False, None, None)
        except Exception as e:
            report.check(f"{name}: ran", False, f"{type(e).__name__}: {e}")
    report.exit()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("attacks", nargs="*", help=f"among {', '.join(PLAN)} (default all)")
    ap.add_argument("--server", default=os.environ.get("HOSTILE_SERVER", "eddy"),
                    choices=["eddy", "nginx"])
    ap.add_argument("--quick", action="store_true", help="the make-test sizes")
    ap.add_argument("--threads", type=int, default=None, help="eddy-httpd --threads")
    ap.add_argument("--backend", default=None, help="eddy-httpd --backend")
    args = ap.parse_args()
    raise_own_nofile(20000)
    report = Report()
    for name in args.attacks or PLAN:
        if name not in PLAN:
            ap.error(f"unknown attack {name}")
        try:
            run_attack(report, name, not args.quick, args.server, args.threads, args.backend)
        except Exception as e:  # a harness failure is a failed check, not a traceback
            report.check(f"{name}: ran", False, f"{type(e).__name__}: {e}")
    report.note(f"{report.passed} passed, {report.failed} failed")
    report.exit()


if __name__ == "__main__":
    main()
