"""eddy-httpd large files sent by pread + send (--file-copy-min) with TCP_NOTSENT_LOWAT
(--file-lowat): whole files, ranges across the 64 KiB copy chunks, ranges below the
threshold (sendfile) of the same file, multipart ranges, HEAD, keep-alive pipelining and
slow concurrent readers, every body byte for byte; then the defaults (copy from 8 MiB)
with a 9 MiB file."""
import os
import socket

from httpd_blackbox import (HOST, Reader, Server, check_multipart, connect, done, get,
                            make_site, ok, rmtree, thread_counts, time_limit)

time_limit(90)
base, root, files = make_site()
BIG = os.urandom((3 << 20) + 123)  # random: a chunk sent twice or skipped shows
HUGE = os.urandom((9 << 20) + 5)
with open(os.path.join(root, "big.bin"), "wb") as f:
    f.write(BIG)
with open(os.path.join(root, "huge.bin"), "wb") as f:
    f.write(HUGE)
OCTET = b"application/octet-stream"


def single_ranges(port):
    n = len(BIG)
    r = get(port, "/big.bin")
    ok(r.status == 200 and r.body == BIG, "whole 3 MiB file by copy intact", str(r.status))
    for spec, a, b in (("65530-400000", 65530, 400000), ("1000003-", 1000003, n - 1),
                       ("-200001", n - 200001, n - 1), ("131060-131100", 131060, 131100),
                       ("0-65536", 0, 65536)):
        r = get(port, "/big.bin", {"Range": "bytes=" + spec})
        ok(r.status == 206 and r.body == BIG[a:b + 1] and
           r.header("Content-Range") == "bytes %d-%d/%d" % (a, b, n),
           "range %s (%s) intact" % (spec, "copied" if b - a + 1 >= 100000 else "sendfile"),
           "%d %r" % (r.status, r.headers))
    r = get(port, "/big.bin", {"Range": "bytes=0-9,65535-300000,-150000"})
    check_multipart(r, "three ranges, two of them copied, across 64 KiB chunks", BIG,
                    [(0, 9), (65535, 300000), (n - 150000, n - 1)], OCTET)
    r = get(port, "/big.bin", method="HEAD")
    ok(r.status == 200 and r.header("Content-Length") == str(n), "HEAD: the GET's length")


def pipelined(port):
    """GET, HEAD, a copied range and a small file in one write on one connection."""
    s = connect(port, 10)
    reqs = [("GET", "/big.bin", ""), ("HEAD", "/big.bin", ""),
            ("GET", "/big.bin", "Range: bytes=65530-200000\r\n"), ("GET", "/hello.txt", "")]
    s.sendall(b"".join(("%s %s HTTP/1.1\r\nHost: %s\r\n%s\r\n" % (m, p, HOST, h)).encode()
                       for m, p, h in reqs))
    rd = Reader(s)
    got = [rd.read_response(head_only=(m == "HEAD")) for m, _, _ in reqs]
    s.close()
    ok(got[0].status == 200 and got[0].body == BIG, "pipelined: whole file first")
    ok(got[1].status == 200 and got[1].body == b"" and
       got[1].header("Content-Length") == str(len(BIG)), "pipelined: HEAD, no body")
    ok(got[2].status == 206 and got[2].body == BIG[65530:200001], "pipelined: a copied range")
    ok(got[3].status == 200 and got[3].body == files["hello.txt"], "pipelined: then hello.txt")


def slow_readers(port):
    """Four connections, two whole files each, read round-robin 16 KiB at a time: the
    server meets full sockets in the middle of its 64 KiB chunks."""
    conns = []
    for _ in range(4):
        c = socket.create_connection((HOST, port), timeout=10)
        c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32768)
        c.sendall(("GET /big.bin HTTP/1.1\r\nHost: %s\r\n\r\n" % HOST).encode() * 2)
        conns.append([c, bytearray()])
    want = 2 * len(BIG) + 2 * 300
    live = list(conns)
    while live:
        for item in list(live):
            chunk = item[0].recv(16384)
            item[1] += chunk
            if not chunk or item[1].count(b"HTTP/1.1 200") == 2 and item[1].endswith(BIG):
                live.remove(item)
            elif len(item[1]) > want:
                live.remove(item)
    whole = True
    for c, data in conns:
        c.close()
        i = data.find(b"\r\n\r\n")
        j = data.find(b"HTTP/1.1 200", i)
        k = data.find(b"\r\n\r\n", j)
        whole = whole and i > 0 and data[i + 4:j] == BIG and data[k + 4:] == BIG
    ok(whole, "4 slow connections x 2 pipelined whole files, intact")


try:
    for threads in thread_counts():
        srv = Server(root, "-t", threads, "--file-copy-min", "100000", "--file-lowat", "16384")
        single_ranges(srv.port)
        pipelined(srv.port)
        slow_readers(srv.port)
        ok(srv.stop() == 0, "copy server (-t %s) exits 0" % threads)
    srv = Server(root, "-t", "0")  # defaults: copied from 8 MiB, lowat 128 KiB
    r = get(srv.port, "/huge.bin", timeout=20)
    ok(r.status == 200 and r.body == HUGE, "defaults: 9 MiB file (copied) intact")
    r = get(srv.port, "/huge.bin", {"Range": "bytes=4194300-8388700"}, timeout=20)
    ok(r.status == 206 and r.body == HUGE[4194300:8388701], "defaults: 4 MiB range (sendfile)")
    ok(srv.stop() == 0, "default server exits 0")
finally:
    Server.kill_all()
    rmtree(base)
done()
