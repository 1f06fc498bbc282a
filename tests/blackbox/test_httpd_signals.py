"""eddy-httpd signals: graceful shutdown under load (no truncated response, exit 0, no new
connections), the drain deadline, SIGINT, SIGHUP log reopen, access log format."""
import hashlib
import os
import re
import signal
import socket
import threading
import time

from httpd_blackbox import (Reader, Server, connect, done, get, make_site, ok, rmtree,
                            time_limit)

time_limit(120)
base, root, files = make_site()
BIG = 20 * 1024 * 1024
big = os.urandom(BIG)
with open(os.path.join(root, "big.bin"), "wb") as f:
    f.write(big)
big_sha = hashlib.sha256(big).hexdigest()


def graceful_under_load(threads):
    srv = Server(root, "-t", threads, "--drain-timeout", "30")
    clients, results = [], []
    for _ in range(8):
        s = connect(srv.port, timeout=30)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        s.sendall(b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
        clients.append(s)
    idle = connect(srv.port)
    idle.sendall(b"GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n")
    idle_rd = Reader(idle)
    idle_rd.read_response()
    starts = []
    for s in clients:  # every response has started before the signal
        rd = Reader(s)
        while b"\r\n\r\n" not in rd.buf or len(rd.buf) < 65536:
            rd._fill()
        starts.append(rd)

    def finish(rd):
        try:
            s = rd.sock
            time.sleep(0.2)  # slow readers: the drain must wait for them
            r = rd.read_response()
            results.append(r.status == 200 and hashlib.sha256(r.body).hexdigest() == big_sha)
        except (OSError, EOFError) as e:
            results.append(repr(e))
    srv.signal(signal.SIGTERM)
    workers = [threading.Thread(target=finish, args=(rd,)) for rd in starts]
    for w in workers:
        w.start()
    time.sleep(0.5)
    try:
        c = socket.create_connection(("127.0.0.1", srv.port), timeout=2)
        c.sendall(b"GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n")
        refused = c.recv(100) == b""
        c.close()
    except (ConnectionRefusedError, ConnectionResetError):
        refused = True
    ok(refused, "-t %s: no new connection served after SIGTERM" % threads)
    ok(idle_rd.closed(timeout=5), "-t %s: idle keep-alive connection closed on SIGTERM" % threads)
    for w in workers:
        w.join(60)
    ok(results == [True] * 8, "-t %s: all 8 started 20 MiB responses complete after SIGTERM"
       % threads, str(results))
    rc = srv.wait(30)
    ok(rc == 0, "-t %s: exit status 0 after draining" % threads, str(rc))
    srv.stop()
    for s in clients:
        s.close()
    idle.close()


def drain_deadline():
    srv = Server(root, "-t", "1", "--drain-timeout", "1", "--send-timeout", "60")
    s = connect(srv.port)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.sendall(b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
    time.sleep(0.3)
    t0 = time.time()
    srv.signal(signal.SIGTERM)
    rc = srv.wait(10)
    dt = time.time() - t0
    ok(rc == 0 and dt < 4, "a reader that never finishes is cut at the drain deadline",
       "rc=%s after %.2fs" % (rc, dt))
    srv.stop()
    s.close()


def sigint():
    srv = Server(root, "-t", "0")
    ok(get(srv.port, "/hello.txt").status == 200, "serving before SIGINT")
    srv.signal(signal.SIGINT)
    ok(srv.wait(10) == 0, "SIGINT -> exit 0")
    srv.stop()


LINE = re.compile(r'^127\.0\.0\.1 - - \[\d\d/\w\w\w/\d{4}:\d\d:\d\d:\d\d \+0000\] '
                  r'"GET (/\S*) HTTP/1\.1" (\d{3}) (\d+) "([^"]*)" "([^"]*)"$')


def keep_alive_gets(port, paths, headers=""):
    """GETs on one keep-alive connection (one loop thread), each response read in turn."""
    s = connect(port)
    rd = Reader(s)
    for p in paths:
        s.sendall(("GET %s HTTP/1.1\r\nHost: x\r\n%s\r\n" % (p, headers)).encode())
        rd.read_response()
    s.close()


def sighup_reopen():
    """Strict: no waiting for the once-a-second flush. Everything logged before the HUP must
    be in the renamed file, in order, the moment the new file exists (the reopen creates it
    only after it flushed every thread's buffer into the old one)."""
    log = os.path.join(base, "access.log")
    srv = Server(root, "-t", "2", "--access-log", log)
    before = ["/hello.txt?before-%d" % i for i in range(5)] + ["/missing-before"]
    # The sync request's answer proves the server finished (and logged) the ones before it
    # on that connection; its own line may land on either side of the HUP.
    keep_alive_gets(srv.port, before + ["/style.css?sync"],
                    'Referer: http://ref/\r\nUser-Agent: ua "q"\r\n')
    os.rename(log, log + ".1")
    srv.signal(signal.SIGHUP)
    deadline = time.time() + 5
    while not os.path.exists(log) and time.time() < deadline:
        time.sleep(0.005)
    old = open(log + ".1").read()  # read at once: the 1 s flush timer must not be needed
    lines = [x for x in old.split("\n") if x and "sync" not in x]
    paths = [LINE.match(x).group(1) if LINE.match(x) else x for x in lines]
    ok(paths == before, "every line logged before SIGHUP is in the renamed log, in order, "
       "without waiting for a flush", old)
    keep_alive_gets(srv.port, ["/hello.txt?after"])
    ok(srv.stop() == 0, "logging server exits 0")
    old = open(log + ".1").read()
    new = open(log).read() if os.path.exists(log) else ""
    ok("before" not in new and "after" in new and "after" not in old,
       "lines after SIGHUP go to the new log, none before it", new)
    ok((old + new).count("?sync") == 1, "the line logged around the HUP is in one file once")
    m = [LINE.match(x) for x in lines]
    ok(len(lines) == len(before) and all(m), "combined log format", old)
    if all(m) and m:
        first = m[0]
        ok(first.group(2) == "200" and first.group(3) == str(len(files["hello.txt"])) and
           first.group(4) == "http://ref/" and first.group(5) == 'ua \\x22q\\x22',
           "status, bytes, referer, escaped user agent logged", first.group(0))
        ok(m[-1].group(2) == "404", "404 logged")


def log_to_stdout():
    srv = Server(root, "-t", "0", "--access-log", "-")
    for _ in range(3):
        get(srv.port, "/style.css")
    rc = srv.stop()
    out = srv.proc.stdout.read().decode()
    ok(rc == 0 and out.count('"GET /style.css HTTP/1.1" 200') == 3,
       "--access-log - writes to stdout, flushed at exit", out)


try:
    graceful_under_load("2")
    graceful_under_load("0")
    drain_deadline()
    sigint()
    sighup_reopen()
    log_to_stdout()
finally:
    Server.kill_all()
    rmtree(base)
done()
