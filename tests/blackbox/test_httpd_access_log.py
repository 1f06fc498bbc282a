"""eddy-httpd access log figures are taken when the response completes or is cut off
(issue 11.2): a download the client abandons logs the body bytes actually sent, not the
file's size, and a slow download logs the time it ended, as nginx does."""
import calendar
import os
import re
import socket
import time

from httpd_blackbox import Reader, Server, connect, done, make_site, ok, rmtree, time_limit

time_limit(90)
base, root, files = make_site()
BIG = 64 * 1024 * 1024
SLOW = 24 * 1024 * 1024
for name, size in (("big.bin", BIG), ("slow.bin", SLOW)):
    with open(os.path.join(root, name), "wb") as f:
        f.write(b"z" * size)
LINE = re.compile(r'^\S+ - - \[([^\]]+)\] "GET (\S+) HTTP/1\.1" (\d+) (\d+) ')


def log_lines(out):
    """{target: (status, bytes, unix time)} of the log lines."""
    got = {}
    for line in out.splitlines():
        m = LINE.match(line)
        if m:
            when = calendar.timegm(time.strptime(m.group(1), "%d/%b/%Y:%H:%M:%S +0000"))
            got[m.group(2)] = (int(m.group(3)), int(m.group(4)), when)
    return got


def abandoned(port):
    """Reads 1 MiB of a 64 MiB file, then closes with the rest unread (a reset)."""
    s = connect(port)
    s.sendall(b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
    got = 0
    while got < 1024 * 1024:
        chunk = s.recv(65536)
        if not chunk:
            break
        got += len(chunk)
    s.close()


def slow_download(port):
    """Reads a 24 MiB file over about 3 s; returns when it started."""
    s = connect(port)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 256 * 1024)
    t0 = time.time()
    s.sendall(b"GET /slow.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    rd = Reader(s)
    per_step = SLOW // 30
    while True:
        chunk = s.recv(per_step)
        if not chunk:
            break
        rd.buf += chunk
        time.sleep(0.1)
    s.close()
    return t0


try:
    for threads in ("0", "2"):
        srv = Server(root, "-t", threads, "--access-log", "-")
        abandoned(srv.port)
        t0 = slow_download(srv.port)
        s = connect(srv.port)
        s.sendall(b"GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n" * 2)
        rd = Reader(s)
        rd.read_response()
        rd.read_response()
        s.close()
        time.sleep(0.3)
        rc = srv.stop()
        out = srv.proc.stdout.read().decode()
        got = log_lines(out)
        big = got.get("/big.bin")
        ok(big is not None and big[0] == 200 and 1024 * 1024 <= big[1] < BIG // 2,
           "-t %s: a download cut off after 1 MiB logs the bytes sent, not the file's %d"
           % (threads, BIG), str(big))
        slow = got.get("/slow.bin")
        ok(slow is not None and slow[1] == SLOW and slow[2] - int(t0) >= 2,
           "-t %s: a 3 s download is logged whole, with the time it ended" % threads,
           "%s, started at %d" % (slow, int(t0)))
        ok(rc == 0 and out.count('"GET /hello.txt HTTP/1.1" 200 %d ' % len(files["hello.txt"])) == 2,
           "-t %s: pipelined small responses logged once each, whole" % threads, out[-400:])
finally:
    Server.kill_all()
    rmtree(base)
done()
