#!/usr/bin/env python3
"""build/echo_client (eddy_tcp_client) against build/echo_server: 1,000 concurrent
connections, each sending messages that must come back byte-exact, on every backend
(server and client alike), with 0 and 2 threads on both sides, over TCP and over a Unix
socket. Then the failures it must report: a closed port (exit 1, "could not connect") and
a server that corrupts one byte (exit 1)."""
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time

BUILD = os.environ.get("EDDY_BUILD", os.path.join(os.path.dirname(__file__), "..", "..", "build"))
SERVER = os.path.join(BUILD, "echo_server")
CLIENT = os.path.join(BUILD, "echo_client")
BACKENDS = ["epoll", "epoll-et", "poll", "select"]
CONNECTIONS = 1000
MESSAGES = 10
failures = 0


def ok(cond, name, detail=""):
    global failures
    print("%s - %s%s" % ("ok" if cond else "not ok", name, "" if cond else "  # " + str(detail)))
    failures += 0 if cond else 1


def start_server(listen, backend, threads):
    p = subprocess.Popen([SERVER, "-l", listen, "-t", str(threads), "-b", backend],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    line = p.stderr.readline()
    m = re.search(r"listening on (\S+)", line)
    if not m:
        p.kill()
        p.wait()
        raise RuntimeError("echo_server did not start: %r" % line)
    return p, m.group(1)


def client(addr, backend, threads, n=CONNECTIONS, messages=MESSAGES, size=512, timeout=120):
    argv = [CLIENT, "--connect", addr, "--connections", str(n), "--messages", str(messages),
            "--size", str(size), "--threads", str(threads), "--backend", backend,
            "--timeout", "90"]
    r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    return r.returncode, r.stdout + r.stderr


def stop(p):
    p.terminate()
    try:
        return p.wait(timeout=20)
    except subprocess.TimeoutExpired:
        p.kill()
        return p.wait()


def bad_echo_server():
    """Echoes, but flips the 100th byte of the stream."""
    ls = socket.socket()
    ls.bind(("127.0.0.1", 0))
    ls.listen(8)

    def serve():
        c, _ = ls.accept()
        seen = 0
        c.settimeout(10)
        try:
            while True:
                b = bytearray(c.recv(65536))
                if not b:
                    break
                if seen <= 99 < seen + len(b):
                    b[99 - seen] ^= 0xFF
                seen += len(b)
                c.sendall(bytes(b))
        except OSError:
            pass
        c.close()
        ls.close()
    t = threading.Thread(target=serve, daemon=True)
    t.start()
    return ls.getsockname()[1], t


def main():
    with tempfile.TemporaryDirectory(prefix="eddy_echo_client_") as tmp:
        for backend in BACKENDS:
            for threads in (0, 2):
                for kind in ("tcp", "unix"):
                    listen = "127.0.0.1:0" if kind == "tcp" else "unix:%s/e.sock" % tmp
                    p, addr = start_server(listen, backend, threads)
                    rc, out = client(addr, backend, threads)
                    want = "%d of %d messages came back byte-exact" % (
                        CONNECTIONS * MESSAGES, CONNECTIONS * MESSAGES)
                    ok(rc == 0 and want in out and "0 connections failed" in out,
                       "%s threads=%d %s: %d clients x %d messages byte-exact" % (
                           backend, threads, kind, CONNECTIONS, MESSAGES), out[-300:])
                    ok(stop(p) == 0, "%s threads=%d %s: echo_server exits cleanly" % (
                        backend, threads, kind))

        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        rc, out = client("127.0.0.1:%d" % port, "epoll", 0, n=3, timeout=60)
        ok(rc == 1 and "3 connections failed (3 could not connect)" in out
           and out.count("Connection refused") == 3,
           "a closed port: exit 1, each connection reports ECONNREFUSED once", out[-300:])

        port, t = bad_echo_server()
        rc, out = client("127.0.0.1:%d" % port, "epoll", 0, n=1, messages=3, size=64)
        t.join(10)
        ok(rc == 1 and "byte 35 differs" in out and "1 connections failed" in out,
           "a corrupted byte: reported, exit 1", out[-300:])
        rc, out = client("no-port", "epoll", 0, n=1)
        ok(rc != 0, "a bad address is refused", out[-200:])
    print("# %d failed" % failures)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
