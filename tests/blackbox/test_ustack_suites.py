#!/usr/bin/env python3
"""eddy-httpd's own black-box suites against ustack: each suite below runs unchanged
inside a network namespace (tests/blackbox/ustack_ns.py) with EDDY_USTACK_TAP set, so
its harness (httpd_blackbox.py, tests/hostile/hostile.py) starts every server with
--stack user on that TAP at US_IP and its client, Linux's TCP, connects there. The
suites' lines are passed on with the suite's name in front. Needs root; says so without.

In ustack mode a suite's --threads is dropped (one loop runs the stack) and only the
uepoll backends run; the hostile suites' server fd counts do not see ustack sockets
(they are not kernel descriptors), so those checks hold trivially there."""
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ustack_ns  # noqa: E402
from ustack_ns import Netns  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
TAP = "eddyusu"
SUITES = ["test_httpd_static.py", "test_httpd_conn.py", "test_httpd_validation.py",
          "test_hostile_slow.py", "test_hostile_flood.py", "test_hostile_pipeline.py",
          "test_hostile_reset.py"]


def run_suite(ns, suite):
    env = dict(os.environ, EDDY_USTACK_TAP=TAP)
    t0 = time.monotonic()
    tag = suite[len("test_"):-len(".py")]
    try:
        r = ns.run([sys.executable, os.path.join(HERE, suite)], 240, env=env,
                   capture_output=True, text=True)
        out, rc = r.stdout + r.stderr, r.returncode
    except subprocess.TimeoutExpired as e:
        out, rc = (e.stdout or b"").decode(errors="replace"), "timeout"
    for line in out.splitlines():
        for head in ("ok - ", "not ok - "):
            if line.startswith(head):
                line = head + "[%s] " % tag + line[len(head):]
                break
        print(line if line.startswith(("ok", "not ok", "#")) else "# " + line)
    bad = sum(line.startswith("not ok") for line in out.splitlines())
    print(("ok - " if rc == 0 and bad == 0 else "not ok - ") + "suite %s passed on ustack" % tag +
          ("" if rc == 0 else " # exit status %s" % rc), flush=True)
    print("# %s on ustack: %.1f s" % (tag, time.monotonic() - t0), flush=True)


def main():
    ustack_ns.skip_without_root("ustack_suites")
    names = sys.argv[1:] or SUITES
    with Netns("suites") as ns:
        for suite in names:
            run_suite(ns, suite)
    return 0


if __name__ == "__main__":
    sys.exit(main())
