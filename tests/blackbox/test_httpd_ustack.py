#!/usr/bin/env python3
"""eddy-httpd --stack user: eddy-httpd serves over ustack on a TAP device inside a network
namespace this test creates and deletes (on failure too), with 198.18.0.1/24 on the
kernel side and 198.18.0.2 for ustack. The client is Linux's TCP in that namespace (this
script re-run inside it with --client): small files, a 20 MB file byte-exact, 300
keep-alive requests on one connection, 100 Connection: close requests, pipelining, a
404, then SIGTERM ends the server with status 0. Needs root; says so without it."""
import hashlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

BUILD = os.environ.get("EDDY_BUILD", os.path.join(os.path.dirname(__file__), "..", "..", "build"))
HTTPD = os.path.abspath(os.path.join(BUILD, "eddy-httpd"))
NS = "eddy-httpd-us-%d" % os.getpid()
TAP = "eddyus1"
ADDR = ("198.18.0.2", 8080)


def ok(cond, name, detail=""):
    print(("ok - " if cond else "not ok - ") + name + ("" if cond else " # " + detail), flush=True)
    return cond


def read_response(f):
    status = f.readline()
    if not status:
        raise EOFError("connection closed")
    length, close = 0, False
    while True:
        line = f.readline().strip()
        if not line:
            break
        k, _, v = line.decode().partition(":")
        if k.lower() == "content-length":
            length = int(v)
        if k.lower() == "connection" and v.strip().lower() == "close":
            close = True
    body = f.read(length)
    return int(status.split()[1]), body, close


def get(path, keep=None, sock=None):
    s = sock or socket.create_connection(ADDR, timeout=20)
    hdr = "Connection: close\r\n" if keep is False else ""
    s.sendall(("GET %s HTTP/1.1\r\nHost: x\r\n%s\r\n" % (path, hdr)).encode())
    f = s.makefile("rb")
    r = read_response(f)
    if sock is None:
        s.close()
    return r


def client(root):
    big = open(os.path.join(root, "big.bin"), "rb").read()
    st, body, _ = get("/index.html")
    ok(st == 200 and body == b"hello from ustack\n", "small_file", repr((st, body[:40])))
    st, body, _ = get("/big.bin")
    ok(st == 200 and hashlib.sha256(body).digest() == hashlib.sha256(big).digest(),
       "big_file_byte_exact", "status %d, %d bytes" % (st, len(body)))
    s = socket.create_connection(ADDR, timeout=20)
    good = sum(get("/index.html", sock=s)[0] == 200 for _ in range(300))
    s.close()
    ok(good == 300, "keepalive_300_requests", "%d good" % good)
    good = sum(get("/index.html", keep=False)[0] == 200 for _ in range(100))
    ok(good == 100, "connection_close_100_requests", "%d good" % good)
    s = socket.create_connection(ADDR, timeout=20)
    s.sendall(b"GET /index.html HTTP/1.1\r\nHost: x\r\n\r\n" * 20)
    f = s.makefile("rb")
    good = sum(read_response(f)[0] == 200 for _ in range(20))
    s.close()
    ok(good == 20, "pipelined_20", "%d good" % good)
    ok(get("/missing")[0] == 404, "not_found")


def run_server(root):
    log = tempfile.TemporaryFile()
    cmd = ["ip", "netns", "exec", NS, HTTPD, "--stack", "user", "--tap", TAP, "--ip",
           "198.18.0.2/24", "-l", ":8080", "--root", root]
    srv = subprocess.Popen(cmd, stderr=log)
    for _ in range(100):
        if subprocess.run(["ip", "-n", NS, "link", "show", TAP], capture_output=True).returncode == 0:
            break
        time.sleep(0.05)
    if subprocess.run(["ip", "-n", NS, "link", "show", TAP], capture_output=True).returncode:
        log.seek(0)
        ok(False, "server_started", log.read().decode(errors="replace")[-300:].replace("\n", " "))
        sys.exit(1)
    subprocess.run(["ip", "-n", NS, "addr", "add", "198.18.0.1/24", "dev", TAP], check=True)
    subprocess.run(["ip", "-n", NS, "link", "set", TAP, "up"], check=True)
    return srv, log


def skipped_without_root(name):
    """Says so (a SKIP line and one ok) when namespaces and TAP devices are out of reach."""
    if os.geteuid() == 0 and os.access("/dev/net/tun", os.W_OK) and \
            subprocess.run(["ip", "netns", "list"], capture_output=True).returncode == 0:
        return False
    print("# SKIP: needs root, /dev/net/tun and ip netns")
    print("ok - %s_skipped_without_root" % name)
    return True


def main():
    if len(sys.argv) > 2 and sys.argv[1] == "--client":
        client(sys.argv[2])
        return 0
    if skipped_without_root("httpd_ustack"):
        return 0
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(1))
    srv = None
    with tempfile.TemporaryDirectory() as root:
        with open(os.path.join(root, "index.html"), "w") as f:
            f.write("hello from ustack\n")
        with open(os.path.join(root, "big.bin"), "wb") as f:
            f.write(os.urandom(20 * 1024 * 1024))
        try:
            subprocess.run(["ip", "netns", "add", NS], check=True)
            subprocess.run(["ip", "-n", NS, "link", "set", "lo", "up"], check=True)
            srv, log = run_server(root)
            c = subprocess.run(["ip", "netns", "exec", NS, sys.executable, __file__, "--client",
                                root], timeout=240)
            ok(c.returncode == 0, "client_ran", "status %d" % c.returncode)
            srv.send_signal(signal.SIGTERM)
            rc = srv.wait(timeout=30)
            log.seek(0)
            out = log.read().decode(errors="replace")
            ok(rc == 0, "sigterm_exit_0", "status %s: %s" % (rc, out[-500:]))
            ok("ustack on TAP" in out, "startup_line", out[-300:])
        finally:
            if srv and srv.poll() is None:
                srv.kill()
                srv.wait()
            subprocess.run(["ip", "netns", "del", NS], capture_output=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
