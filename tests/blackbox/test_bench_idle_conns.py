#!/usr/bin/env python3
"""Black-box test of bench/idle_conns against a tiny in-process HTTP/1.1 server (stdlib only)."""
import os
import selectors
import signal
import socket
import subprocess
import sys
import threading
import time

BUILD = os.environ.get("EDDY_BUILD", os.path.join(os.path.dirname(__file__), "../../build"))
TOOL = os.path.join(BUILD, "bench", "idle_conns")
BODY = b"Hello, world\n"
failures = 0


class Server:
    """Answers each request with 13 bytes; mode 'close' adds Connection: close and closes."""

    def __init__(self, mode="keepalive"):
        self.mode = mode
        self.requests = 0
        self.peers = set()
        self.open = 0
        self.lsock = socket.socket()
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(1024)
        self.lsock.setblocking(False)
        self.port = self.lsock.getsockname()[1]
        self.sel = selectors.DefaultSelector()
        self.sel.register(self.lsock, selectors.EVENT_READ)
        self.conns = []
        self.stop = False
        self.thread = threading.Thread(target=self.loop, daemon=True)
        self.thread.start()

    def loop(self):
        while not self.stop:
            for key, _ in self.sel.select(0.05):
                if key.fileobj is self.lsock:
                    self.accept()
                else:
                    self.serve(key.fileobj)

    def accept(self):
        try:
            c, addr = self.lsock.accept()
        except BlockingIOError:
            return
        c.setblocking(False)
        self.peers.add(addr[0])
        self.open += 1
        self.conns.append(c)
        self.sel.register(c, selectors.EVENT_READ, b"")

    def serve(self, c):
        try:
            data = c.recv(4096)
        except BlockingIOError:
            return
        except ConnectionError:
            data = b""
        if not data:
            self.drop(c)
            return
        if b"\r\n\r\n" in data:
            self.requests += 1
            extra = b"Connection: close\r\n" if self.mode == "close" else b""
            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 13\r\n" + extra + b"\r\n" + BODY)
            if self.mode == "close":
                self.drop(c)

    def drop(self, c):
        self.sel.unregister(c)
        c.close()
        self.open -= 1
        self.conns.remove(c)

    def close_all_clients(self):
        for c in list(self.conns):
            self.drop(c)

    def shutdown(self):
        self.stop = True
        self.thread.join(2)
        for c in list(self.conns):
            c.close()
        self.lsock.close()


def check(name, cond, detail=""):
    global failures
    print(("ok - " if cond else "not ok - ") + name + ("" if cond else f"  # {detail}"))
    if not cond:
        failures += 1


def run(args, timeout=20):
    p = subprocess.run([TOOL] + args, capture_output=True, text=True, timeout=timeout)
    return p.returncode, p.stdout, p.stderr


def test_holds_keepalive():
    s = Server()
    rc, out, err = run(["-p", str(s.port), "-n", "60", "-d", "1", "-a", "25"])
    check("holds 60 keep-alive connections", rc == 0 and "holding 60" in out and
          "final holding 60" in out, f"rc={rc} out={out!r} err={err!r}")
    check("one complete request per connection", s.requests == 60, f"requests={s.requests}")
    check("sources spread over 127.0.0.2..4", s.peers == {"127.0.0.2", "127.0.0.3", "127.0.0.4"},
          f"peers={sorted(s.peers)}")
    s.shutdown()


def test_no_request():
    s = Server()
    rc, out, _ = run(["-p", str(s.port), "-n", "20", "-d", "0.5", "-R"])
    check("-R connects without requests", rc == 0 and "holding 20" in out and s.requests == 0,
          f"rc={rc} out={out!r} requests={s.requests}")
    s.shutdown()


def test_sigterm():
    s = Server()
    p = subprocess.Popen([TOOL, "-p", str(s.port), "-n", "10", "-d", "0"], stdout=subprocess.PIPE,
                         text=True)
    line = p.stdout.readline()
    held_open = s.open
    p.send_signal(signal.SIGTERM)
    try:
        rc = p.wait(5)
    except subprocess.TimeoutExpired:
        p.kill()
        rc = -1
    rest = p.stdout.read()
    check("SIGTERM ends the hold cleanly", line.strip() == "holding 10" and rc == 0 and
          "final holding 10" in rest, f"line={line!r} rc={rc} rest={rest!r}")
    check("server saw 10 open connections while held", held_open == 10, f"open={held_open}")
    time.sleep(0.3)
    check("connections closed at exit", s.open == 0, f"open={s.open}")
    s.shutdown()


def test_refused_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    rc, out, err = run(["-p", str(port), "-n", "5", "-d", "0.2", "-T", "3"])
    check("nothing listening: exit 1, holding 0", rc == 1 and "holding 0" in out and "failed" in err,
          f"rc={rc} out={out!r} err={err!r}")


def test_connection_close_is_not_held():
    s = Server("close")
    rc, out, err = run(["-p", str(s.port), "-n", "5", "-d", "0.2", "-T", "3"])
    check("Connection: close responses are not counted as held", rc == 1 and "holding 0" in out,
          f"rc={rc} out={out!r} err={err!r}")
    s.shutdown()


def test_server_closes_idle():
    s = Server()
    p = subprocess.Popen([TOOL, "-p", str(s.port), "-n", "8", "-d", "2"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    line = p.stdout.readline()
    s.close_all_clients()
    out, err = p.communicate(timeout=10)
    check("idle connections closed by the server are reported",
          line.strip() == "holding 8" and p.returncode == 1 and "final holding 0" in out and
          "closed 8" in err, f"line={line!r} rc={p.returncode} out={out!r} err={err!r}")
    s.shutdown()


def test_bad_usage():
    rc, _, err = run(["-n", "5"])
    check("missing port is a usage error", rc == 2 and "usage" in err, f"rc={rc} err={err!r}")


if __name__ == "__main__":
    if not os.access(TOOL, os.X_OK):
        print(f"not ok - {TOOL} is not built")
        sys.exit(1)
    for t in [test_holds_keepalive, test_no_request, test_sigterm, test_refused_port,
              test_connection_close_is_not_held, test_server_closes_idle, test_bad_usage]:
        t()
    sys.exit(1 if failures else 0)
