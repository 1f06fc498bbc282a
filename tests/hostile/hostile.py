"""Hostile-client harness for eddy-httpd (python3 stdlib only).

Starts a server on 127.0.0.1 (eddy-httpd, or nginx for comparison), watches it
through /proc (CPU time, RSS, open fds) and runs attacks against it while a
normal client keeps probing. Every attack is bounded in time and stops by itself.

Used by the quick tests in tests/blackbox/test_hostile_*.py (run by make test)
and by tests/hostile/run.py (the long versions).
"""
import os
import random
import re
import resource
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "blackbox"))
from ustack_ns import HOST, USTACK_TAP, httpd_args, tap_up  # noqa: E402,F401 (attacks.py)

CLK_TCK = os.sysconf("SC_CLK_TCK")
SANITIZER_RE = re.compile(r"ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:|"
                          r"WARNING: ThreadSanitizer")


# ---------------------------------------------------------------- reporting

class Report:
    """Prints "ok - NAME" / "not ok - NAME" lines, as tests/run.sh counts them."""

    def __init__(self):
        self.failed = 0
        self.passed = 0

    def check(self, name, cond, detail=""):
        if cond:
            self.passed += 1
            print(f"ok - {name}" + (f"  # {detail}" if detail else ""), flush=True)
        else:
            self.failed += 1
            print(f"not ok - {name}" + (f"  # {detail}" if detail else ""), flush=True)
        return cond

    def note(self, msg):
        print(f"# {msg}", flush=True)

    def exit(self):
        sys.exit(1 if self.failed else 0)


# ---------------------------------------------------------------- /proc

def proc_cpu_seconds(pid):
    """utime + stime of the whole process (every thread), in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def proc_rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def proc_fd_count(pid):
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return -1


def raise_own_nofile(want=8192):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = want if hard == resource.RLIM_INFINITY else min(want, hard)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


# ---------------------------------------------------------------- docroot

def make_docroot(big_mib=32):
    """A temporary docroot: index.html, small.txt (4 KiB), mid.bin (1 MiB), big.bin."""
    root = tempfile.mkdtemp(prefix="eddy-hostile-")
    with open(os.path.join(root, "index.html"), "w") as f:
        f.write("<!doctype html><title>eddy</title><p>hostile test docroot</p>\n")
    with open(os.path.join(root, "small.txt"), "wb") as f:
        f.write(b"0123456789abcdef" * 256)
    rnd = random.Random(5)
    with open(os.path.join(root, "mid.bin"), "wb") as f:
        f.write(rnd.randbytes(1 << 20))
    with open(os.path.join(root, "big.bin"), "wb") as f:
        block = rnd.randbytes(1 << 20)
        for _ in range(big_mib):
            f.write(block)
    return root


# ---------------------------------------------------------------- servers

def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def eddy_binary():
    build = os.environ.get("EDDY_BUILD")
    if not build:
        root = os.environ.get("EDDY_ROOT") or os.path.join(os.path.dirname(__file__), "..", "..")
        build = os.path.join(root, "build")
    return os.path.join(build, "eddy-httpd")


def eddy_flags():
    """The long options eddy-httpd's --help lists (so a test can tell a missing flag)."""
    try:
        out = subprocess.run([eddy_binary(), "--help"], capture_output=True, text=True,
                             timeout=10)
        return set(re.findall(r"--[a-z][a-z0-9-]+", out.stdout + out.stderr))
    except (OSError, subprocess.TimeoutExpired):
        return set()


NGINX_CONF = """daemon off;
master_process off;
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections {conns}; }}
http {{
    access_log off;
    sendfile on;
    client_header_timeout {header}s;
    client_body_timeout {body}s;
    send_timeout {send}s;
    keepalive_timeout {keepalive}s;
    client_max_body_size {max_body};
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    server {{
        listen 127.0.0.1:{port};
        root {root};
        location / {{ }}
    }}
}}
"""


class Server:
    """One server process under test, on 127.0.0.1:port (in ustack mode on ustack at
    HOST, see tests/blackbox/ustack_ns.py).

    kind: "eddy" (default: $HOSTILE_SERVER or eddy) or "nginx" (master_process off, so the
    pid watched is the one serving). Timeouts in whole seconds; None keeps the default.
    """

    def __init__(self, root, kind=None, threads=None, max_connections=None,
                 header_timeout=None, body_timeout=None, keepalive_timeout=None,
                 send_timeout=None, max_body=None, nofile=None, backend=None, drain_timeout=None,
                 extra=()):
        self.kind = kind or os.environ.get("HOSTILE_SERVER", "eddy")
        self.root = root
        self.opts = dict(threads=threads, max_connections=max_connections,
                         header_timeout=header_timeout, body_timeout=body_timeout,
                         keepalive_timeout=keepalive_timeout, send_timeout=send_timeout,
                         max_body=max_body, backend=backend, drain_timeout=drain_timeout)
        self.nofile = nofile
        self.extra = list(extra)
        self.port = None
        self.proc = None
        self.dir = tempfile.mkdtemp(prefix="eddy-hostile-srv-")
        self.err_path = os.path.join(self.dir, "stderr.log")

    # -- command lines
    def _eddy_argv(self):
        o = self.opts
        argv = [eddy_binary(), "--root", self.root, "--access-log", "off"]
        names = {"threads": "--threads", "max_connections": "--max-connections",
                 "header_timeout": "--header-timeout", "body_timeout": "--body-timeout",
                 "keepalive_timeout": "--keepalive-timeout", "send_timeout": "--send-timeout",
                 "max_body": "--max-body", "backend": "--backend",
                 "drain_timeout": "--drain-timeout"}
        for key, flag in names.items():
            if o[key] is not None:
                argv += [flag, str(o[key])]
        return [argv[0]] + httpd_args(self.port, argv[1:] + self.extra)

    def _nginx_argv(self):
        o = self.opts
        conf = NGINX_CONF.format(
            dir=self.dir, port=self.port, root=self.root,
            conns=o["max_connections"] or 4096, header=o["header_timeout"] or 60,
            body=o["body_timeout"] or 60, send=o["send_timeout"] or 60,
            keepalive=o["keepalive_timeout"] or 75, max_body=o["max_body"] or "1m")
        path = os.path.join(self.dir, "nginx.conf")
        with open(path, "w") as f:
            f.write(conf)
        return ["nginx", "-c", path, "-p", self.dir, "-e", os.path.join(self.dir, "error.log")]

    def start(self, timeout=15):
        self.port = free_port()
        argv = self._eddy_argv() if self.kind == "eddy" else self._nginx_argv()
        nofile = self.nofile

        def limit():
            if nofile:
                resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))

        env = dict(os.environ)
        # ASan keeps freed memory in a quarantine (256 MiB by default), which would hide
        # or fake growth in the RSS checks; a small one still catches use-after-free.
        # ustack frees a connection's buffers each time they drain, so on ustack the
        # quarantine fills with them within one attack: a minimal one there.
        q = 1 if USTACK_TAP else 16
        env["ASAN_OPTIONS"] = env.get("ASAN_OPTIONS", "") + ":quarantine_size_mb=%d" % q
        self.err = open(self.err_path, "wb")
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=self.err,
                                     stdin=subprocess.DEVNULL, preexec_fn=limit, env=env)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{argv[0]} exited with {self.proc.returncode}: "
                                   + self.stderr_text()[-2000:])
            if self._listening():
                return self
            time.sleep(0.05)
        raise RuntimeError(f"{argv[0]} did not listen within {timeout}s: {self.stderr_text()}")

    def _listening(self):
        if self.kind == "eddy" and "listening on" not in self.stderr_text():
            return False
        tap_up()
        try:
            socket.create_connection((HOST, self.port), timeout=1).close()
            return True
        except OSError:
            return False

    @property
    def pid(self):
        return self.proc.pid

    def alive(self):
        return self.proc.poll() is None

    def stderr_text(self):
        try:
            with open(self.err_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def cpu(self):
        return proc_cpu_seconds(self.pid)

    def rss_kib(self):
        return proc_rss_kib(self.pid)

    def fds(self):
        """Open descriptors (in ustack mode its sockets are not among them)."""
        return proc_fd_count(self.pid)

    def graceful_signal(self):
        # nginx with master_process off: SIGQUIT is its graceful stop, SIGTERM the fast one.
        return signal.SIGTERM if self.kind == "eddy" else signal.SIGQUIT

    def stop(self, timeout=20):
        """Graceful stop; returns the exit status (None if it had to be killed)."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(self.graceful_signal())
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                self.err.close()
                return None
        self.err.close()
        return self.proc.returncode

    def sanitizer_errors(self):
        return [l for l in self.stderr_text().splitlines() if SANITIZER_RE.search(l)]

    def cleanup(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


def wait_fds(server, target, timeout):
    """Waits until the server holds at most target fds; returns the last count."""
    deadline = time.monotonic() + timeout
    n = server.fds()
    while n > target and time.monotonic() < deadline:
        time.sleep(0.05)
        n = server.fds()
    return n


def settle_fds(server, quiet=0.5, timeout=5):
    """The server's fd count once it has stopped changing for `quiet` seconds."""
    deadline = time.monotonic() + timeout
    last, since = server.fds(), time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.05)
        n = server.fds()
        if n != last:
            last, since = n, time.monotonic()
        elif time.monotonic() - since >= quiet:
            break
    return last


# ---------------------------------------------------------------- HTTP client

class HttpError(Exception):
    pass


def read_response(sock, head_only=False, deadline=None, carry=None):
    """Reads one response from a blocking socket: (status, headers dict, body bytes).

    carry: a one-element list holding bytes read past the previous response on this
    connection (pipelining); updated in place. Raises HttpError on a malformed response,
    EOF in the middle, or the deadline.
    """
    carry = carry if carry is not None else [b""]
    buf = carry[0]

    def fill():
        nonlocal buf
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise HttpError("deadline")
            sock.settimeout(left)
        chunk = sock.recv(65536)
        if not chunk:
            raise HttpError("EOF")
        buf += chunk

    while b"\r\n\r\n" not in buf:
        if len(buf) > 65536:
            raise HttpError("header block too long")
        fill()
    head, buf = buf.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    m = re.match(r"HTTP/1\.[01] (\d{3}) ", lines[0] + " ")
    if not m:
        raise HttpError(f"bad status line {lines[0]!r}")
    status = int(m.group(1))
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    if head_only or status in (204, 304) or 100 <= status < 200:
        length = 0
    elif "content-length" in headers:
        length = int(headers["content-length"])
    elif headers.get("transfer-encoding", "").lower() == "chunked":
        body = b""
        while True:
            while b"\r\n" not in buf:
                fill()
            line, buf = buf.split(b"\r\n", 1)
            n = int(line.split(b";")[0], 16)
            while len(buf) < n + 2:
                fill()
            body += buf[:n]
            buf = buf[n + 2:]
            if n == 0:
                break
        carry[0] = buf
        return status, headers, body
    else:
        while True:  # close-delimited
            try:
                fill()
            except HttpError:
                break
        carry[0] = b""
        return status, headers, buf
    while len(buf) < length:
        fill()
    body, buf = buf[:length], buf[length:]
    carry[0] = buf
    return status, headers, body


def request_bytes(path, method="GET", keepalive=True, extra=""):
    conn = "" if keepalive else "Connection: close\r\n"
    return f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{conn}{extra}\r\n".encode()


def get(port, path="/index.html", timeout=5.0):
    """One request on a new connection: (status, body)."""
    deadline = time.monotonic() + timeout
    s = socket.create_connection((HOST, port), timeout=timeout)
    try:
        s.sendall(request_bytes(path, keepalive=False))
        status, _, body = read_response(s, deadline=deadline)
        return status, body
    finally:
        s.close()


class KeepAliveClient:
    """A well-behaved client holding one keep-alive connection."""

    def __init__(self, port, timeout=5.0):
        self.port = port
        self.timeout = timeout
        self.reconnect()

    def reconnect(self):
        self.sock = socket.create_connection((HOST, self.port), timeout=self.timeout)
        self.carry = [b""]

    def get(self, path="/index.html"):
        self.sock.sendall(request_bytes(path))
        status, _, body = read_response(self.sock, deadline=time.monotonic() + self.timeout,
                                        carry=self.carry)
        return status, body

    def close(self):
        self.sock.close()


def rst_close(sock):
    """Closes with SO_LINGER 0: the peer gets a RST instead of a FIN."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    sock.close()


class Prober(threading.Thread):
    """A normal client: a GET on a new connection every `interval` seconds until stopped.

    With keepalive=True it reuses one connection (reconnecting only if it is closed),
    which is what an already-connected client sees during a connection flood.
    """

    def __init__(self, port, path="/index.html", interval=0.1, timeout=5.0, expect=None):
        super().__init__(daemon=True)
        self.port, self.path, self.interval, self.timeout = port, path, interval, timeout
        self.expect = expect
        self.ok = 0
        self.failures = []
        self.latencies = []
        self._stop_ev = threading.Event()

    def run(self):
        while not self._stop_ev.is_set():
            t0 = time.monotonic()
            try:
                status, body = get(self.port, self.path, self.timeout)
                if status != 200 or (self.expect is not None and body != self.expect):
                    self.failures.append(f"status {status}, {len(body)} bytes")
                else:
                    self.ok += 1
                    self.latencies.append(time.monotonic() - t0)
            except (OSError, HttpError, ValueError) as e:
                self.failures.append(f"{type(e).__name__}: {e}")
            self._stop_ev.wait(self.interval)

    def stop(self):
        self._stop_ev.set()
        self.join(self.timeout + 5)

    def summary(self):
        lat = sorted(self.latencies)
        p99 = lat[int(len(lat) * 0.99)] if lat else 0
        worst = lat[-1] if lat else 0
        return (f"probes ok {self.ok}, failed {len(self.failures)}, "
                f"p99 {p99 * 1000:.1f} ms, max {worst * 1000:.1f} ms"
                + (f", first failure: {self.failures[0]}" if self.failures else ""))

    def passed(self):
        return self.ok > 0 and not self.failures


def finish(report, server, name):
    """Stops the server gracefully and checks exit status 0 and a sanitizer-clean stderr."""
    alive = server.alive()
    report.check(f"{name}: server still running after the attacks", alive,
                 "" if alive else f"exit {server.proc.returncode}: {server.stderr_text()[-1500:]}")
    rc = server.stop()
    report.check(f"{name}: graceful stop exits 0", rc == 0, f"exit status {rc}")
    errs = server.sanitizer_errors()
    report.check(f"{name}: no sanitizer report", not errs,
                 "; ".join(errs[:3]) + ("\n" + server.stderr_text()[-4000:] if errs else ""))
    server.cleanup()
