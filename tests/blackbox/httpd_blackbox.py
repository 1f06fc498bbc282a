"""Helpers for the eddy-httpd black-box tests (python3 stdlib only).

Every server listens on 127.0.0.1 on a free port (in ustack mode on ustack at HOST, see
ustack_ns.py), is started with a bounded wait for its "listening" line and is always
stopped (SIGTERM, then SIGKILL) by the test that started it.
"""
import os
import re
import select
import signal
import socket
import subprocess
import sys
import tempfile
import time

from ustack_ns import HOST, USTACK_TAP, httpd_args, tap_up

BUILD = os.environ.get("EDDY_BUILD") or os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..", "build")
BINARY = os.path.join(BUILD, "eddy-httpd")
RESULTS = {"ok": 0, "bad": 0}


def ok(cond, name, detail=""):
    if cond:
        RESULTS["ok"] += 1
        print("ok - " + name, flush=True)
    else:
        RESULTS["bad"] += 1
        print("not ok - " + name + (("  # " + detail) if detail else ""), flush=True)
    return cond


def backends(binary=BINARY):
    """The backends a server binary offers, read from its --help: the library's one list
    (in ustack mode, the uepoll ones: --stack user needs them)."""
    out = subprocess.run([binary, "--help"], capture_output=True, text=True, timeout=10).stdout
    m = re.search(r"--backend NAME\s+one of:([^(]*)\(default", out)
    if m is None or not m.group(1).split():
        raise RuntimeError("no backend list in %s --help" % binary)
    return [b for b in m.group(1).split() if not USTACK_TAP or b.startswith("uepoll")]


def thread_counts(counts=("0", "2")):
    """The --threads values to try: in ustack mode only 0 (one loop runs the stack)."""
    return ("0",) if USTACK_TAP else counts


def done():
    print("# %d passed, %d failed" % (RESULTS["ok"], RESULTS["bad"]))
    sys.exit(1 if RESULTS["bad"] else 0)


def time_limit(seconds):
    """The whole script fails (exit status from SIGALRM) if it runs longer."""
    def on_alarm(_sig, _frm):
        print("not ok - time limit of %ds exceeded" % seconds, flush=True)
        Server.kill_all()
        os._exit(1)
    signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(seconds)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Server:
    running = []

    def __init__(self, root, *args, port=None, wait=True):
        self.root = root
        for attempt in range(5):
            self.port = port or free_port()
            self.args = httpd_args(self.port, ["-r", root] + list(args))
            try:
                self.spawn(wait)
                return
            except RuntimeError:
                # free_port() only found the port free: another test's client may take it
                # before the server binds it. Only a port chosen here is chosen again.
                if port is not None or attempt == 4 or self.busy_port() != self.port:
                    raise
                self.stop()

    def busy_port(self):
        """The port of a failed start's "cannot listen on ADDR:PORT: Address already in use"."""
        m = re.search(rb"cannot listen on [^ ]*:(\d+): Address already in use", self.err)
        return int(m.group(1)) if m else None

    def spawn(self, wait):
        """Starts BINARY with self.args (and waits for its listening line)."""
        self.proc = subprocess.Popen([BINARY] + self.args, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE)
        Server.running.append(self)
        self.err = b""
        if wait:
            self.wait_listening()

    def wait_listening(self, timeout=10):
        deadline = time.time() + timeout
        while b"listening on" not in self.err:
            left = deadline - time.time()
            if left <= 0 or self.proc.poll() is not None:
                raise RuntimeError("server did not start: %r" % self.err)
            r, _, _ = select.select([self.proc.stderr], [], [], left)
            if r:
                chunk = os.read(self.proc.stderr.fileno(), 4096)
                if not chunk:
                    continue
                self.err += chunk
        tap_up()

    def signal(self, sig):
        self.proc.send_signal(sig)

    def wait(self, timeout):
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, timeout=10):
        """SIGTERM and wait; returns the exit status (None if it had to be killed)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        rc = self.wait(timeout)
        if rc is None:
            self.proc.kill()
            self.proc.wait()
        if self in Server.running:
            Server.running.remove(self)
        try:
            self.err += self.proc.stderr.read()
        except (OSError, ValueError):
            pass
        return rc

    @classmethod
    def kill_all(cls):
        for s in list(cls.running):
            if s.proc.poll() is None:
                s.proc.kill()


def connect(port, timeout=5):
    s = socket.create_connection((HOST, port), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


class Response:
    def __init__(self, status, reason, headers, body, version):
        self.status, self.reason, self.headers, self.body = status, reason, headers, body
        self.version = version

    def header(self, name):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None


class Reader:
    """Reads HTTP responses off one socket, keeping bytes between responses."""

    def __init__(self, sock):
        self.sock, self.buf = sock, bytearray()  # bytearray: appending is not quadratic

    def _fill(self):
        chunk = self.sock.recv(1 << 20)
        if not chunk:
            raise EOFError("connection closed")
        self.buf += chunk

    def read_response(self, head_only=False):
        while b"\r\n\r\n" not in self.buf:
            self._fill()
        i = self.buf.index(b"\r\n\r\n")
        head = bytes(self.buf[:i])
        del self.buf[:i + 4]
        lines = head.decode("latin-1").split("\r\n")
        version, status, reason = (lines[0].split(" ", 2) + [""])[:3]
        headers = [tuple(x.split(":", 1)) for x in lines[1:]]
        headers = [(k.strip(), v.strip()) for k, v in headers]
        r = Response(int(status), reason, headers, b"", version)
        n = r.header("Content-Length")
        if head_only or r.status in (204, 304) or 100 <= r.status < 200:
            return r
        if n is not None:
            n = int(n)
            while len(self.buf) < n:
                self._fill()
            r.body = bytes(self.buf[:n])
            del self.buf[:n]
        elif (r.header("Transfer-Encoding") or "").lower() == "chunked":
            r.body = self._read_chunked()
        else:
            try:
                while True:
                    self._fill()
            except EOFError:
                pass
            r.body = bytes(self.buf)
            self.buf = bytearray()
        return r

    def _read_chunked(self):
        body = bytearray()
        while True:
            while b"\r\n" not in self.buf:
                self._fill()
            i = self.buf.index(b"\r\n")
            size = int(bytes(self.buf[:i]).split(b";")[0], 16)
            del self.buf[:i + 2]
            while len(self.buf) < size + 2:
                self._fill()
            body += self.buf[:size]
            del self.buf[:size + 2]
            if size == 0:
                return bytes(body)

    def closed(self, timeout=5):
        """True if the peer closes (EOF or reset) within timeout with no more bytes."""
        self.sock.settimeout(timeout)
        try:
            return self.sock.recv(1) == b"" and len(self.buf) == 0
        except ConnectionResetError:
            return True
        except socket.timeout:
            return False


def get(port, path, headers=None, method="GET", version="1.1", timeout=5):
    """One request on a fresh connection (Connection: close)."""
    s = connect(port, timeout)
    try:
        h = {"Host": HOST, "Connection": "close"}
        h.update(headers or {})
        req = "%s %s HTTP/%s\r\n" % (method, path, version)
        req += "".join("%s: %s\r\n" % kv for kv in h.items()) + "\r\n"
        s.sendall(req.encode("latin-1"))
        return Reader(s).read_response(head_only=(method == "HEAD"))
    finally:
        s.close()


def make_site():
    """A temporary document root with files, dirs, dotfiles and symlinks; returns paths."""
    base = tempfile.mkdtemp(prefix="eddy_httpd_")
    root = os.path.join(base, "root")
    outside = os.path.join(base, "outside")
    for d in (root, outside, os.path.join(root, "sub"), os.path.join(root, "empty"),
              os.path.join(root, ".git")):
        os.makedirs(d)
    files = {
        "index.html": b"<html>home</html>\n",
        "hello.txt": b"Hello, eddy!\n",
        "style.css": b"body{color:red}\n",
        "data.json": b'{"a":1}\n',
        "sub/index.html": b"<html>sub</html>\n",
        "sub/page.html": b"<p>page</p>\n",
        "empty/a b&c.txt": b"x",
        ".env": b"SECRET=1\n",
        ".git/config": b"[core]\n",
        "blob.bin": bytes(range(256)) * 1024,  # 256 KiB, served with sendfile
    }
    for rel, data in files.items():
        with open(os.path.join(root, rel), "wb") as f:
            f.write(data)
    with open(os.path.join(outside, "secret.txt"), "wb") as f:
        f.write(b"TOP SECRET\n")
    os.symlink("hello.txt", os.path.join(root, "link_in.txt"))
    os.symlink("../outside/secret.txt", os.path.join(root, "link_out.txt"))
    os.symlink("../outside", os.path.join(root, "dirlink_out"))
    return base, root, files


def rmtree(path):
    subprocess.call(["rm", "-rf", path])


def expected_multipart(boundary, mime, data, parts):
    """The exact body eddy sends: parts in order, CRLF before every delimiter but the first."""
    out = b""
    for i, (a, b) in enumerate(parts):
        out += b"%s--%s\r\nContent-Type: %s\r\nContent-Range: bytes %d-%d/%d\r\n\r\n" % (
            b"\r\n" if i else b"", boundary, mime, a, b, len(data))
        out += data[a:b + 1]
    return out + b"\r\n--%s--\r\n" % boundary


def check_multipart(r, name, data, parts, mime):
    ct = r.header("Content-Type") or ""
    pre = "multipart/byteranges; boundary="
    boundary = ct[len(pre):].encode() if ct.startswith(pre) else b""
    good = (r.status == 206 and boundary and r.header("Content-Range") is None and
            r.body == expected_multipart(boundary, mime, data, parts) and
            r.header("Content-Length") == str(len(r.body)))
    ok(good, name, "%d %r %r" % (r.status, r.headers, r.body[:300]))
    return boundary
