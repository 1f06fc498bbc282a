"""eddy-httpd -c for operators: globals and flags over them, the error log (levels, file,
reopen), pid file, privilege drop, and reload on SIGHUP under load."""
import http.client
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from httpd_blackbox import ok, done, time_limit, free_port  # noqa: E402
from httpd_config_util import ConfServer, refused, request, wait_for, write_tree  # noqa: E402


def read(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return b""


def test_globals(d):
    a, b = os.path.join(d, "a.log"), os.path.join(d, "b.log")
    s = ConfServer("""
access_log %s; client_max_body_size 10; worker_threads 1; keepalive_requests 2;
server { listen 127.0.0.1:PORT; root %s/www; }
""" % (a, d), "--access-log", b)
    c = http.client.HTTPConnection("127.0.0.1", s.port, timeout=5)
    heads = []
    for _ in range(2):
        c.request("GET", "/index.html")
        r = c.getresponse()
        r.read()
        heads.append(r.getheader("Connection"))
    c.close()
    ok(heads == [None, "close"], "keepalive_requests 2: the second answer closes", str(heads))
    st, _, _ = request(s.port, "/", method="POST", body=b"x" * 100)
    ok(st == 413, "client_max_body_size from the file -> 413", str(st))
    request(s.port, "/index.html")
    s.stop()
    ok(b"GET /index.html" in read(b) and not os.path.exists(a),
       "--access-log given with -c overrides the file's access_log")


def test_error_log(d):
    elog = os.path.join(d, "error.log")
    os.mkfifo(os.path.join(d, "www/fifo"))
    s = ConfServer("""
error_log %s info; client_header_timeout 300ms;
server { listen 127.0.0.1:PORT; root %s/www; location /nolist/ { alias %s/www/; index none; } }
""" % (elog, d, d))
    ok(request(s.port, "/fifo")[0] == 403, "a FIFO -> 403")
    ok(request(s.port, "/nolist/")[0] == 403, "directory without index -> 403")
    log = read(elog)
    ok(b"[error]" in log and b"/fifo" in log and b"Permission denied" in log,
       "error log: the 403's cause with [error]", log[-300:].decode("latin-1"))
    ok(b"directory index of \"/nolist/\"" in log, "error log: forbidden directory index")
    request(s.port, "/missing")
    ok(b"[info]" in read(elog) and b"/missing" in read(elog), "404 logged at info")
    c = socket.create_connection(("127.0.0.1", s.port), timeout=5)
    c.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
    got = c.recv(1000)
    c.close()
    ok(got.startswith(b"HTTP/1.1 408"), "client_header_timeout from the file -> 408")
    ok(wait_for(lambda: b"client timed out (408)" in read(elog)), "the timeout is logged at info")
    os.rename(elog, elog + ".1")
    s.signal(signal.SIGHUP)
    ok(wait_for(lambda: os.path.exists(elog)), "SIGHUP reopens the error log at its path")
    request(s.port, "/fifo")
    ok(wait_for(lambda: b"/fifo" in read(elog)), "new lines go to the new file")
    s.stop()
    os.unlink(os.path.join(d, "www/fifo"))
    s = ConfServer("""
error_log %s error;
server { listen 127.0.0.1:PORT; root %s/www; }
""" % (elog + ".2", d))
    request(s.port, "/missing")
    s.stop()
    ok(b"/missing" not in read(elog + ".2"), "level error: 404s (info) are not logged")


def test_pid_and_user(d):
    os.chmod(d, 0o755)
    for root, dirs, files in os.walk(d):
        for n in dirs:
            os.chmod(os.path.join(root, n), 0o755)
        for n in files:
            os.chmod(os.path.join(root, n), 0o644)
    pid = os.path.join(d, "eddy.pid")
    s = ConfServer("""
user nobody; pid %s;
server { listen 127.0.0.1:PORT; root %s/www; }
""" % (pid, d), "-t", "2")
    ok(read(pid).strip() == str(s.proc.pid).encode(), "pid file holds the pid")
    status = read("/proc/%d/status" % s.proc.pid).decode()
    uids = [ln.split()[1:] for ln in status.splitlines() if ln.startswith("Uid:")][0]
    gids = [ln.split()[1:] for ln in status.splitlines() if ln.startswith("Gid:")][0]
    if os.geteuid() == 0:
        ok(uids == ["65534"] * 4, "user nobody: every uid of the process is nobody's", str(uids))
        ok("0" not in gids, "no gid 0 left", str(gids))
        tasks = os.listdir("/proc/%d/task" % s.proc.pid)
        bad = [t for t in tasks if "\t0\t" in read("/proc/%d/task/%s/status" %
                                                    (s.proc.pid, t)).decode().split("Uid:")[1]
               .split("\n")[0]]
        ok(len(tasks) >= 3 and not bad, "every thread (%d) dropped too" % len(tasks))
    else:
        ok(True, "not root: privilege drop not checked (# SKIP-like note)")
    ok(request(s.port, "/index.html")[0] == 200, "serves after the drop")
    ok(s.stop() == 0, "exit 0")
    bad = ConfServer("user no-such-user-eddy;\nserver { listen 127.0.0.1:PORT; root %s/www; }\n"
                     % d, wait=False)
    rc = bad.wait(10)
    bad.stop()
    ok(rc == 1 and b"eddy.conf:1: user: no such user" in bad.err,
       "unknown user: an error with its line, never serves, exit 1", repr(bad.err[-200:]))


def test_resets_and_send_timeout(d):
    """Issue 14: resets and timeouts in the error log at info, with the client."""
    elog = os.path.join(d, "conn.log")
    write_tree(d, {"www/big.bin": b"x" * (16 << 20)})
    s = ConfServer("""
error_log %s info; send_timeout 300ms;
server { listen 127.0.0.1:PORT; root %s/www; }
""" % (elog, d))
    c = socket.create_connection(("127.0.0.1", s.port), timeout=5)
    c.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
    time.sleep(0.2)
    c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    c.close()  # an RST
    ok(wait_for(lambda: b"connection reset by peer" in read(elog)),
       "a reset is logged at info", read(elog)[-300:].decode("latin-1"))
    line = [ln for ln in read(elog).splitlines() if b"reset by peer" in ln]
    ok(line and b"[info]" in line[0] and b"client 127.0.0.1" in line[0],
       "... with [info] and the client address", repr(line))
    c = socket.socket()
    c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    c.settimeout(5)
    c.connect(("127.0.0.1", s.port))
    c.sendall(b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
    ok(wait_for(lambda: b"client timed out (110" in read(elog)),
       "a client that stops reading: the send timeout is logged at info",
       read(elog)[-300:].decode("latin-1"))
    c.close()
    line = [ln for ln in read(elog).splitlines() if b"while sending" in ln]
    ok(line and b"[info]" in line[0] and b"client 127.0.0.1" in line[0],
       "... with [info] and the client address", repr(line))
    request(s.port, "/index.html")
    ok(b"reset" not in read(elog).split(b"while sending")[-1], "a normal request logs no reset")
    s.stop()
    os.unlink(os.path.join(d, "www/big.bin"))


CONF = """
error_log %(d)s/reload.log info;
server { listen 127.0.0.1:PORT; root %(d)s/www; add_header X-Version %(v)s; }
%(extra)s
"""


def load(port, stop, counts):
    while not stop.is_set():
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            for _ in range(20):
                c.request("GET", "/index.html")
                r = c.getresponse()
                r.read()
                key = r.getheader("X-Version") if r.status == 200 else "fail%d" % r.status
                counts[key] = counts.get(key, 0) + 1
            c.close()
        except Exception as e:  # noqa: BLE001 - any failure counts
            counts["fail " + type(e).__name__] = counts.get("fail " + type(e).__name__, 0) + 1


def test_reload(d):
    s = ConfServer(CONF % {"d": d, "v": "1", "extra": ""}, "-t", "2")
    stop, counts = threading.Event(), [{} for _ in range(4)]
    ts = [threading.Thread(target=load, args=(s.port, stop, counts[i])) for i in range(4)]
    for t in ts:
        t.start()
    time.sleep(0.5)
    port2 = free_port()
    s.write(CONF % {"d": d, "v": "2", "extra": "server { listen 127.0.0.1:%d; root %s/www; "
                    "add_header X-Version two; }" % (port2, d)})
    s.signal(signal.SIGHUP)
    time.sleep(1.0)
    s.write("server { listen 127.0.0.1:PORT; root /nonexistent-eddy; }\n")
    s.signal(signal.SIGHUP)
    time.sleep(1.0)
    stop.set()
    for t in ts:
        t.join(20)
    total = {}
    for c in counts:
        for k, v in c.items():
            total[k] = total.get(k, 0) + v
    fails = sum(v for k, v in total.items() if k.startswith("fail"))
    ok(fails == 0 and total.get("1", 0) > 0 and total.get("2", 0) > 0,
       "reload under load: 0 failed requests, old then new config served", str(total))
    ok(request(s.port, "/index.html")[1].get("x-version") == "2",
       "invalid file on reload: the valid one stays")
    log = read(os.path.join(d, "reload.log"))
    ok(b"reload failed" in log and b"nonexistent-eddy" in log,
       "the reload error is in the error log", log[-300:].decode("latin-1"))
    ok(request(port2, "/index.html")[1].get("x-version") == "two",
       "a listen address added by the reload is open")
    v3 = CONF % {"d": d, "v": "3", "extra": ""}
    s.write(v3.replace("127.0.0.1:PORT", "127.0.0.1:%d" % port2))
    s.signal(signal.SIGHUP)
    ok(wait_for(lambda: refused(s.port)), "a listen address removed by a reload is closed")
    ok(request(port2, "/index.html")[1].get("x-version") == "3", "the remaining one serves v3")
    ok(s.stop() == 0, "exit 0 after reloads")


def test_reload_wrk(d):
    """The load generator operators use: wrk for 4 s with two reloads in the middle."""
    wrk = shutil.which("wrk")
    if wrk is None:
        ok(False, "reload under wrk: wrk is installed (scripts/deps.sh installs it)")
        return
    conf = CONF.replace("%(extra)s", "keepalive_requests 1000000000;")
    s = ConfServer(conf % {"d": d, "v": "1"}, "-t", "2")
    p = subprocess.Popen([wrk, "-t1", "-c16", "-d4s", "http://127.0.0.1:%d/index.html" % s.port],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    for v in ("2", "3"):
        time.sleep(1.2)
        s.write(conf % {"d": d, "v": v})
        s.signal(signal.SIGHUP)
    out = p.communicate(timeout=30)[0].decode("latin-1")
    m = re.search(r"(\d+) requests in", out)
    ok(m is not None and int(m.group(1)) > 0 and "Socket errors" not in out and
       "Non-2xx" not in out, "reload under wrk load (2 reloads in 4 s): 0 socket errors, "
       "0 non-2xx answers", out.strip().replace("\n", " | "))
    ok(request(s.port, "/index.html")[1].get("x-version") == "3",
       "after the load the last reload's config answers")
    ok(s.stop() == 0, "exit 0 after reloads under wrk")


def test_reload_logs(d):
    conf = "access_log %s; error_log %s info;\nserver { listen 127.0.0.1:PORT; root %s/www; }\n"
    a1, a2, e1, e2 = (os.path.join(d, n) for n in ("acc1", "acc2", "err1", "err2"))
    s = ConfServer(conf % (a1, e1, d), "-t", "1")
    request(s.port, "/index.html?one")
    ok(wait_for(lambda: b"?one" in read(a1)), "line flushed (once a second)")
    s.write(conf % (a2, e2, d))
    s.signal(signal.SIGHUP)
    ok(wait_for(lambda: b"configuration reloaded" in read(e2)),
       "reload: the error log follows the new file")
    request(s.port, "/index.html?two")
    s.stop()
    ok(b"?one" in read(a1) and b"?two" in read(a2) and b"?two" not in read(a1),
       "reload: the access log follows the new file")


def main():
    time_limit(120)
    d = tempfile.mkdtemp(prefix="eddy-ops-")
    write_tree(d, {"www/index.html": "hello\n"})
    test_globals(d)
    test_error_log(d)
    test_resets_and_send_timeout(d)
    test_reload(d)
    test_reload_wrk(d)
    test_reload_logs(d)
    test_pid_and_user(d)
    done()


if __name__ == "__main__":
    main()
