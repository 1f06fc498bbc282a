#!/usr/bin/env python3
"""build/chat_server: lines broadcast across sub-reactors. 12 clients (threads 0 and 2,
TCP and a Unix socket) each send a line; every client gets the 11 lines of the others
and never its own; a client that leaves is announced; SIGTERM exits 0."""
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time

BUILD = os.environ.get("EDDY_BUILD", os.path.join(os.path.dirname(__file__), "..", "..", "build"))
N = 12
failures = 0


def ok(cond, name, detail=""):
    global failures
    print("%s - %s%s" % ("ok" if cond else "not ok", name, "" if cond else "  # " + str(detail)))
    failures += 0 if cond else 1


def connect(addr):
    if addr.startswith("unix:"):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(addr[5:])
    else:
        host, port = addr.rsplit(":", 1)
        s = socket.create_connection((host, int(port)))
    s.settimeout(0.2)
    return s


def read_until(s, pred, seconds=10):
    data = b""
    end = time.monotonic() + seconds
    while time.monotonic() < end and not pred(data):
        try:
            b = s.recv(65536)
            if not b:
                break
            data += b
        except socket.timeout:
            pass
    return data


def run(listen, threads):
    p = subprocess.Popen([os.path.join(BUILD, "chat_server"), "-l", listen, "-t", str(threads)],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    m = re.search(r"listening on (\S+)", p.stderr.readline())
    addr = m.group(1) if m else listen
    label = "threads=%d %s" % (threads, "unix" if listen.startswith("unix:") else "tcp")
    cs = [connect(addr) for _ in range(N)]
    names = []
    for c in cs:
        d = read_until(c, lambda d: b"\n" in d)
        names.append(re.match(rb"\* you are (user\d+)", d).group(1) if d else b"?")
    ok(len(set(names)) == N, "%s: %d clients joined with distinct names" % (label, N), names)
    time.sleep(0.3)
    for i, c in enumerate(cs):
        c.sendall(b"line from %d\n" % i)
    good = True
    for i, c in enumerate(cs):
        want = [b"%s: line from %d\n" % (names[j], j) for j in range(N) if j != i]
        d = read_until(c, lambda d: all(w in d for w in want))
        if not all(w in d for w in want) or (b": line from %d\n" % i) in d:
            good = False
            print("# client %d got %r" % (i, d[-400:]))
    ok(good, "%s: every client got the %d other lines, not its own" % (label, N - 1))
    cs[0].close()
    d = read_until(cs[1], lambda d: b"* %s left" % names[0] in d)
    ok(b"* %s left" % names[0] in d, "%s: a leaving client is announced" % label)
    p.send_signal(signal.SIGTERM)
    ok(p.wait(timeout=10) == 0, "%s: SIGTERM exits 0" % label)
    for c in cs[1:]:
        c.close()


def main():
    with tempfile.TemporaryDirectory(prefix="eddy_chat_") as tmp:
        for threads in (0, 2):
            run("127.0.0.1:0", threads)
            run("unix:%s/chat.sock" % tmp, threads)
    print("# %d failed" % failures)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
