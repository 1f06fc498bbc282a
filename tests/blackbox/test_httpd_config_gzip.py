"""eddy-httpd -c: gzip_static (precompressed .br/.gz siblings) and on-the-fly gzip; every
compressed body decompresses to the file byte for byte."""
import gzip
import os
import random
import socket
import sys
import time
import tempfile
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from httpd_blackbox import ok, done, time_limit, connect, Reader  # noqa: E402
from httpd_config_util import ConfServer, request, write_tree  # noqa: E402


def text_blob(n, seed):
    rnd = random.Random(seed)
    words = [b"reactor", b"epoll", b"channel", b"buffer", b"timer", b"eddy", b"loop"]
    out = bytearray()
    while len(out) < n:
        out += rnd.choice(words) + b" "
    return bytes(out[:n])


def test_static(d, p):
    css = open(os.path.join(d, "www/app.css"), "rb").read()
    st, h, b = request(p, "/app.css", headers={"Accept-Encoding": "gzip"})
    ok(st == 200 and h.get("content-encoding") == "gzip" and gzip.decompress(b) == css,
       "gzip_static: app.css.gz served, decompresses to the file")
    ok(h.get("vary") == "Accept-Encoding" and h.get("content-type") == "text/css",
       "Vary and the original's type", str(h))
    gz_etag = h.get("etag")
    gz_len = len(b)
    st, h, b = request(p, "/app.css", headers={"Accept-Encoding": "gzip, br"})
    ok(h.get("content-encoding") == "br" and b == b"BROTLI-BYTES", "br preferred when accepted")
    st, h, b = request(p, "/app.css", headers={"Accept-Encoding": "br;q=0, gzip"})
    ok(h.get("content-encoding") == "gzip", "br;q=0 refuses br")
    st, h, b = request(p, "/app.css")
    ok(st == 200 and "content-encoding" not in h and b == css, "no Accept-Encoding: identity")
    ok(h.get("etag") != gz_etag and gz_etag, "ETag differs per encoding")
    st, h, b = request(p, "/app.css", headers={"Accept-Encoding": "gzip",
                                               "If-None-Match": gz_etag})
    ok(st == 304, "If-None-Match on the encoded entity -> 304")
    late = os.path.join(d, "www/late.css")
    with open(late, "wb") as f:
        f.write(css)
    st, h, b = request(p, "/late.css", headers={"Accept-Encoding": "gzip"})
    ok(st == 200 and "content-encoding" not in h, "no sibling: identity")
    with open(late + ".gz", "wb") as f:
        f.write(gzip.compress(css))
    time.sleep(1.3)
    st, h, b = request(p, "/late.css", headers={"Accept-Encoding": "gzip"})
    ok(h.get("content-encoding") == "gzip" and gzip.decompress(b) == css,
       "a sibling created later is served within a second or so")
    st, h, b = request(p, "/app.css", headers={"Accept-Encoding": "gzip", "Range": "bytes=0-9"})
    ok(st == 206 and h.get("content-range") == "bytes 0-9/%d" % gz_len and len(b) == 10,
       "range on the encoded entity", str(h.get("content-range")))


def test_dynamic(d, p):
    big = open(os.path.join(d, "www/big.txt"), "rb").read()
    small = open(os.path.join(d, "www/small.txt"), "rb").read()
    st, h, b = request(p, "/big.txt", headers={"Accept-Encoding": "gzip"})
    ok(st == 200 and h.get("content-encoding") == "gzip" and
       h.get("transfer-encoding") == "chunked", "gzip on: 1.1 chunked", str(h))
    ok(gzip.decompress(b) == big, "3 MiB file: gzip output decompresses byte-exact")
    ok(len(b) < len(big) // 2, "and is smaller (%d < %d)" % (len(b), len(big)))
    ok(h.get("etag", "").startswith("W/"), "weak ETag on gzip output")
    st, h, b = request(p, "/small.txt", headers={"Accept-Encoding": "gzip"})
    ok(gzip.decompress(b) == small and h.get("content-encoding") == "gzip",
       "small cached file compressed too")
    st, h, b = request(p, "/big.txt", headers={"Accept-Encoding": "gzip"}, version=10)
    ok(st == 200 and "content-length" not in h and "transfer-encoding" not in h and
       gzip.decompress(b) == big, "HTTP/1.0: close-delimited gzip body")
    st, h, b = request(p, "/big.txt", headers={"Accept-Encoding": "gzip", "Range": "bytes=5-9"})
    ok(st == 206 and "content-encoding" not in h and b == big[5:10], "never gzip a range")
    st, h, b = request(p, "/tiny.txt", headers={"Accept-Encoding": "gzip"})
    ok("content-encoding" not in h and b == b"hi\n", "below gzip_min_length: identity")
    st, h, b = request(p, "/pic.png", headers={"Accept-Encoding": "gzip"})
    ok("content-encoding" not in h, "type not in gzip_types: identity")
    st, h, b = request(p, "/big.txt", headers={"Accept-Encoding": "gzip;q=0"})
    ok("content-encoding" not in h and b == big, "gzip;q=0: identity")
    st, h, b = request(p, "/big.txt", method="HEAD", headers={"Accept-Encoding": "gzip"})
    ok(st == 200 and b == b"" and h.get("content-encoding") == "gzip", "HEAD")
    # keep-alive carries on after a streamed body; a client leaving mid-stream is harmless
    s = connect(p)
    rd = Reader(s)
    req = b"GET /big.txt HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\n\r\n"
    s.sendall(req + req)
    r1, r2 = rd.read_response(), rd.read_response()
    ok(zlib.decompress(r1.body, 31) == big and zlib.decompress(r2.body, 31) == big,
       "two pipelined gzip responses on one connection")
    s.close()
    for _ in range(5):
        s = socket.create_connection(("127.0.0.1", p))
        s.sendall(req)
        s.recv(1000)
        s.close()
    ok(request(p, "/small.txt")[2] == small, "server fine after clients left mid-stream")


def main():
    time_limit(120)
    d = tempfile.mkdtemp(prefix="eddy-gz-")
    css = text_blob(5000, 1)
    write_tree(d, {"www/app.css": css, "www/app.css.gz": gzip.compress(css),
                   "www/app.css.br": b"BROTLI-BYTES", "www/big.txt": text_blob(3 << 20, 2),
                   "www/small.txt": text_blob(3000, 3), "www/tiny.txt": "hi\n",
                   "www/pic.png": text_blob(4000, 4)})
    s = ConfServer("""
server {
  listen 127.0.0.1:PORT; root %s/www;
  gzip_static on;
  gzip on; gzip_types text/plain; gzip_min_length 100; gzip_comp_level 6;
}
""" % d, "-t", "1")
    test_static(d, s.port)
    test_dynamic(d, s.port)
    ok(s.stop() == 0, "exit 0")
    done()


if __name__ == "__main__":
    main()
