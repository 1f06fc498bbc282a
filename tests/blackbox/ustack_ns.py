"""A network namespace with a ustack program on a TAP device, for the tests where Linux
is ustack's peer (python3 stdlib only).

The namespace is created by the test and deleted when it ends, failure and SIGTERM
(run.sh's timeout) included. Inside it, the kernel side of the TAP has K_IP/24 and the
program under test (eddy-httpd or echo_server with --stack user) US_IP; addresses are
from 198.18.0.0/15 and never leave the namespace. Needs root: without it, skip() prints
why and one ok line.
"""
import hashlib
import os
import signal
import subprocess
import sys
import time

BUILD = os.path.abspath(os.environ.get("EDDY_BUILD") or os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..", "build"))
K_IP = "198.18.0.1"
US_IP = "198.18.0.2"


FAILED = []


def ok(cond, name, detail=""):
    """One "ok - NAME" or "not ok - NAME # detail" line; failures are kept in FAILED."""
    print(("ok - " if cond else "not ok - ") + name + ("" if cond else " # " + detail), flush=True)
    if not cond:
        FAILED.append(name)
    return cond


def have_root():
    return os.geteuid() == 0 and os.access("/dev/net/tun", os.W_OK) and \
        subprocess.run(["ip", "netns", "list"], capture_output=True).returncode == 0


def skip_without_root(name):
    """Exits with one ok line and a SKIP reason when namespaces cannot be made."""
    if have_root():
        return
    print("# SKIP: needs root, /dev/net/tun and ip netns")
    print("ok - %s_skipped_without_root" % name, flush=True)
    sys.exit(0)


def sanitized():
    """True when BUILD is a sanitizer build (slower: big transfers are cut there)."""
    return os.path.basename(BUILD.rstrip("/")) in ("build-san", "build-tsan")


class Netns:
    """with Netns("tag") as ns: ... ; everything started through it dies with it."""

    def __init__(self, tag):
        self.name = "eddy-%s-%d" % (tag, os.getpid())
        self.tag = tag
        self.procs = []

    def __enter__(self):
        signal.signal(signal.SIGTERM, lambda *a: sys.exit(1))
        subprocess.run(["ip", "netns", "del", self.name], capture_output=True)
        subprocess.run(["ip", "netns", "add", self.name], check=True)
        self.ip("link", "set", "lo", "up")
        return self

    def __exit__(self, *exc):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        subprocess.run(["ip", "netns", "del", self.name], capture_output=True)
        return False

    def ip(self, *args, check=True):
        return subprocess.run(["ip", "-n", self.name] + list(args), check=check,
                              capture_output=True)

    def cmd(self, argv):
        return ["ip", "netns", "exec", self.name] + list(argv)

    def run(self, argv, timeout, **kw):
        return subprocess.run(self.cmd(argv), timeout=timeout, **kw)

    def popen(self, argv, **kw):
        p = subprocess.Popen(self.cmd(argv), **kw)
        self.procs.append(p)
        return p

    def start_on_tap(self, argv, tap, log, timeout=10):
        """Starts argv (which creates tap) in the namespace, then gives the kernel side
        of the TAP K_IP/24 and brings it up. Returns the process, or None if the TAP
        never appeared."""
        p = self.popen(argv, stdout=log, stderr=log)
        deadline = time.time() + timeout
        while self.ip("link", "show", tap, check=False).returncode != 0:
            if p.poll() is not None or time.time() > deadline:
                return None
            time.sleep(0.05)
        self.ip("addr", "add", K_IP + "/24", "dev", tap)
        self.ip("link", "set", tap, "up")
        return p


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def stop(p, timeout=30):
    """SIGTERM, then the exit status (None if it had to be killed)."""
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
    try:
        return p.wait(timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
        return None


# ustack mode of the eddy-httpd suites (test_ustack_suites.py runs a suite inside a
# namespace with EDDY_USTACK_TAP set): the server under test runs with --stack user on
# that TAP at US_IP, the client connects to HOST, and the harness brings the kernel side
# of the TAP up once the server created it.
USTACK_TAP = os.environ.get("EDDY_USTACK_TAP") or None
HOST = US_IP if USTACK_TAP else "127.0.0.1"


def httpd_args(port, args):
    """eddy-httpd's --listen for port followed by args. In ustack mode: --stack user on
    the TAP, and what --stack user cannot take is dropped: --threads (one loop runs the
    stack) and a --backend that is not a uepoll one."""
    if not USTACK_TAP:
        return ["--listen", "127.0.0.1:%d" % port] + list(args)
    out, it = [], iter(args)
    for a in it:
        if a in ("-t", "--threads", "-b", "--backend"):
            v = str(next(it))
            if a in ("-b", "--backend") and v.startswith("uepoll"):
                out += [a, v]
            continue
        out.append(a)
    return ["--listen", ":%d" % port, "--stack", "user", "--tap", USTACK_TAP, "--ip",
            US_IP + "/24"] + out


def tap_up():
    """ustack mode: after the server's listening line (its TAP exists), the kernel side
    of the TAP gets K_IP/24 and comes up. Idempotent; nothing outside ustack mode."""
    if not USTACK_TAP:
        return
    subprocess.run(["ip", "addr", "replace", K_IP + "/24", "dev", USTACK_TAP], check=True,
                   capture_output=True)
    subprocess.run(["ip", "link", "set", USTACK_TAP, "up"], check=True, capture_output=True)

