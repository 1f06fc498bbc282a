#!/usr/bin/env python3
"""eddy-httpd and echo_server on Unix domain sockets (--listen unix:PATH / unix:@NAME):
requests served over the socket file and the abstract namespace, the file removed on a
clean exit, a stale file left by a killed server reclaimed on the next start, a live
server's socket not stolen, and a regular file at the path never deleted."""
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

BUILD = os.environ.get("EDDY_BUILD", os.path.join(os.path.dirname(__file__), "..", "..", "build"))
ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
failures = 0


def ok(cond, name, detail=""):
    global failures
    print("%s - %s%s" % ("ok" if cond else "not ok", name, "" if cond else "  # " + str(detail)))
    failures += 0 if cond else 1


def start(argv, expect):
    p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        line = p.stderr.readline()
        if expect in line:
            return p
        if line == "" and p.poll() is not None:
            break
    return p


def httpd(addr):
    return start([os.path.join(BUILD, "eddy-httpd"), "--root", os.path.join(ROOT, "www"),
                  "--listen", addr], "listening on")


def unix_addr(addr):
    name = addr[len("unix:"):]
    return "\0" + name[1:] if name.startswith("@") else name


def http_get(addr, path="/"):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(5)
    try:
        s.connect(unix_addr(addr))
    except OSError as e:
        s.close()
        return repr(e).encode()
    s.sendall(b"GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" % path.encode())
    data = b""
    while True:
        b = s.recv(65536)
        if not b:
            break
        data += b
    s.close()
    return data


def stop(p, sig=signal.SIGTERM):
    p.send_signal(sig)
    try:
        return p.wait(timeout=10)
    except subprocess.TimeoutExpired:
        p.kill()
        return p.wait()


def main():
    tmp = tempfile.mkdtemp(prefix="eddy_unix_")
    path = os.path.join(tmp, "httpd.sock")
    addr = "unix:" + path
    try:
        p = httpd(addr)
        r = http_get(addr)
        ok(r.startswith(b"HTTP/1.1 200") and b"<html" in r, "eddy-httpd serves over unix:PATH",
           r[:80])
        q = httpd(addr)
        ok(q.wait(timeout=10) != 0, "a second server on the same live socket refuses to start")
        ok(http_get(addr).startswith(b"HTTP/1.1 200"), "the first server still owns the socket")
        ok(stop(p) == 0 and not os.path.exists(path), "a clean exit removes the socket file")

        p = httpd(addr)
        stop(p, signal.SIGKILL)
        ok(os.path.exists(path), "a killed server leaves a stale socket file")
        p = httpd(addr)
        ok(http_get(addr).startswith(b"HTTP/1.1 200"), "the stale file is reclaimed on start")
        stop(p)

        with open(path, "w") as f:
            f.write("precious")
        q = httpd(addr)
        ok(q.wait(timeout=10) != 0 and open(path).read() == "precious",
           "a regular file at the path is not deleted, the server refuses")
        os.unlink(path)

        abstract = "unix:@eddy-httpd-test-%d" % os.getpid()
        p = httpd(abstract)
        r = http_get(abstract, "/")
        ok(r.startswith(b"HTTP/1.1 200"), "eddy-httpd serves over unix:@NAME", r[:80])
        ok(stop(p) == 0, "and exits cleanly")

        e = start([os.path.join(BUILD, "echo_server"), "-l", abstract, "-t", "2"], "listening on")
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(5)
        s.connect(unix_addr(abstract))
        s.sendall(b"ping over unix")
        got = b""
        while len(got) < 14:
            got += s.recv(64)
        s.close()
        ok(got == b"ping over unix", "echo_server echoes over unix:@NAME", got)
        ok(stop(e) == 0, "echo_server exits cleanly")
    finally:
        for f in os.listdir(tmp):
            os.unlink(os.path.join(tmp, f))
        os.rmdir(tmp)
    print("# %d failed" % failures)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
