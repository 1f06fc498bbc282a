"""Raw-socket HTTP/1.1 client helpers for the black-box tests (python3 stdlib only).

Not a test itself (the runner only picks up test_*.py)."""
import os
import re
import socket
import subprocess
import sys
import time


class Response:
    def __init__(self, version, status, reason, headers, body):
        self.version, self.status, self.reason = version, status, reason
        self.headers, self.body = headers, body

    def header(self, name):
        vals = [v for k, v in self.headers if k.lower() == name.lower()]
        return vals[0] if vals else None

    def __repr__(self):
        return "<%s %d %r %r>" % (self.version, self.status, self.headers, self.body[:60])


class Conn:
    """A buffered reader over one socket, parsing responses strictly."""

    def __init__(self, port, timeout=5.0, host="127.0.0.1"):
        self.s = socket.create_connection((host, port), timeout=timeout)
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        self.eof = False

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.s.sendall(data)

    def _fill(self):
        chunk = self.s.recv(65536)
        if not chunk:
            self.eof = True
            return False
        self.buf += chunk
        return True

    def read_until(self, sep):
        while sep not in self.buf:
            if not self._fill():
                raise EOFError("connection closed before %r (have %r)" % (sep, self.buf[:200]))
        i = self.buf.index(sep) + len(sep)
        out, self.buf = self.buf[:i], self.buf[i:]
        return out

    def read_exact(self, n):
        while len(self.buf) < n:
            if not self._fill():
                raise EOFError("connection closed with %d of %d bytes" % (len(self.buf), n))
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def read_to_eof(self):
        while self._fill():
            pass
        out, self.buf = self.buf, b""
        return out

    def read_head(self):
        head = self.read_until(b"\r\n\r\n").decode("latin-1")
        lines = head.split("\r\n")
        m = re.match(r"^(HTTP/1\.[01]) (\d{3}) ?(.*)$", lines[0])
        if not m:
            raise ValueError("bad status line %r" % lines[0])
        headers = []
        for line in lines[1:]:
            if not line:
                continue
            k, v = line.split(":", 1)
            headers.append((k, v.strip()))
        return m.group(1), int(m.group(2)), m.group(3), headers

    def read_response(self, head_request=False):
        version, status, reason, headers = self.read_head()
        r = Response(version, status, reason, headers, b"")
        te = r.header("Transfer-Encoding")
        cl = r.header("Content-Length")
        if head_request or status in (204, 304) or 100 <= status < 200:
            return r
        if te is not None:
            assert te.lower() == "chunked", te
            body = b""
            while True:
                size = int(self.read_until(b"\r\n").split(b";")[0], 16)
                if size == 0:
                    self.read_until(b"\r\n")  # no trailers from our server
                    break
                body += self.read_exact(size)
                assert self.read_exact(2) == b"\r\n"
            r.body = body
        elif cl is not None:
            r.body = self.read_exact(int(cl))
        else:
            r.body = self.read_to_eof()
        return r

    def closed_by_peer(self, timeout=3.0):
        """True if the server closes (EOF or reset) within timeout with no more data."""
        self.s.settimeout(timeout)
        try:
            data = self.s.recv(65536)
        except socket.timeout:
            return False
        except ConnectionResetError:
            return True
        self.buf += data
        return data == b""

    def close(self):
        try:
            self.s.close()
        except OSError:
            pass


class Server:
    """Starts a binary that prints 'listening on http://ADDR:PORT' on stderr."""

    def __init__(self, argv, env=None, timeout=10.0):
        e = dict(os.environ)
        e.update(env or {})
        self.p = subprocess.Popen(argv, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, env=e)
        self.ports = []
        deadline = time.time() + timeout
        want = sum(1 for a in argv if a in ("-l", "--listen")) or 1
        while len(self.ports) < want:
            if time.time() > deadline or self.p.poll() is not None:
                self.stop()
                raise RuntimeError("server did not start: %r" % (argv,))
            line = self.p.stderr.readline().decode(errors="replace")
            m = re.search(r"listening on http://[^ ]*:(\d+)", line)
            if m:
                self.ports.append(int(m.group(1)))
        self.port = self.ports[0]

    def rss_kib(self):
        with open("/proc/%d/status" % self.p.pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return -1

    def alive(self):
        return self.p.poll() is None

    def stop(self):
        """SIGTERM, then wait; returns the exit status."""
        if self.p.poll() is None:
            self.p.terminate()
            try:
                self.p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        if self.p.stderr:
            self.p.stderr.close()
        return self.p.returncode


class Tap:
    """Prints ok/not ok lines; exceptions count as failures."""

    def __init__(self):
        self.failed = 0
        self.count = 0

    def run(self, name, fn, *args):
        self.count += 1
        t0 = time.time()
        try:
            fn(*args)
            print("ok - %s (%.2fs)" % (name, time.time() - t0))
        except Exception as ex:  # noqa: BLE001 - every failure is reported
            self.failed += 1
            print("not ok - %s: %s: %s" % (name, type(ex).__name__, ex))
        sys.stdout.flush()

    def done(self):
        print("# %d run, %d failed" % (self.count, self.failed))
        return 1 if self.failed else 0


def check(cond, msg="check failed"):
    if not cond:
        raise AssertionError(msg)
