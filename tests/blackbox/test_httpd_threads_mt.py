"""eddy-httpd with several sub-reactors under concurrent load (also run against the TSan
build): per-thread file caches and log buffers, SIGHUP log reopen while loaded, every
request logged exactly once across the rotated files, clean exit."""
import os
import signal
import threading
import time

from httpd_blackbox import Reader, Server, connect, done, make_site, ok, rmtree, time_limit

time_limit(240)
base, root, files = make_site()
CLIENTS, PER_CLIENT = 12, 60


def client(port, errors, count):
    try:
        s = connect(port, timeout=30)
        rd = Reader(s)
        for i in range(PER_CLIENT):
            k = i % 4
            if k == 0:
                s.sendall(b"GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n")
                good = rd.read_response().body == files["hello.txt"]
            elif k == 1:
                s.sendall(b"GET /blob.bin HTTP/1.1\r\nHost: x\r\nRange: bytes=1000-1999\r\n\r\n")
                r = rd.read_response()
                good = r.status == 206 and r.body == files["blob.bin"][1000:2000]
            elif k == 2:
                s.sendall(b"GET /blob.bin HTTP/1.1\r\nHost: x\r\n\r\n")
                good = rd.read_response().body == files["blob.bin"]
            else:
                s.sendall(b"GET /sub/ HTTP/1.1\r\nHost: x\r\n\r\n")
                good = rd.read_response().body == files["sub/index.html"]
            count[0] += 1
            if not good:
                errors.append("bad response %d" % i)
                break
        s.close()
    except (OSError, EOFError) as e:
        errors.append(repr(e))


log = os.path.join(base, "access.log")
try:
    srv = Server(root, "-t", "3", "--access-log", log)
    errors, counts = [], [[0] for _ in range(CLIENTS)]
    threads = [threading.Thread(target=client, args=(srv.port, errors, counts[i]))
               for i in range(CLIENTS)]
    for t in threads:
        t.start()
    rotated = []
    for n in range(3):  # rotate while the load runs
        time.sleep(0.3)
        name = "%s.%d" % (log, n)
        if os.path.exists(log):
            os.rename(log, name)
            rotated.append(name)
        srv.signal(signal.SIGHUP)
    for t in threads:
        t.join(120)
    ok(not errors, "%d clients x %d mixed requests on 3 sub-reactors" % (CLIENTS, PER_CLIENT),
       str(errors[:3]))
    ok(srv.stop(30) == 0, "exit 0 after the load")
    total = sum(c[0] for c in counts)
    lines = 0
    for name in rotated + [log]:
        if os.path.exists(name):
            with open(name) as f:
                lines += sum(1 for x in f if x.endswith("\n") and '" 20' in x)
    ok(total == CLIENTS * PER_CLIENT and lines == total,
       "every request logged exactly once across rotated logs", "%d lines, %d requests" % (lines, total))
    ok(len(rotated) == 3, "log rotated three times under load")
finally:
    Server.kill_all()
    rmtree(base)
done()
