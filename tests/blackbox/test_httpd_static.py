"""eddy-httpd static files: content, MIME, validators, 304, ranges, 405, 301, index,
dotfiles, traversal attempts, symlinks (with and without --follow-symlinks), listing."""
import hashlib
import os
import socket
import shutil
import subprocess

from httpd_blackbox import (HOST, Reader, Server, check_multipart, connect, done,
                            expected_multipart, get, make_site,
                            ok, rmtree, time_limit)

time_limit(120)
base, root, files = make_site()
# A copy with the same mtime (another inode), as on a second server behind a balancer.
with open(os.path.join(root, "copy.txt"), "wb") as f:
    f.write(files["hello.txt"])
for name in ("hello.txt", "copy.txt"):
    os.utime(os.path.join(root, name), (1700000000, 1700000000))


def raw(port, data, timeout=5):
    s = connect(port, timeout)
    try:
        s.sendall(data)
        return Reader(s).read_response()
    finally:
        s.close()


def basics(port):
    r = get(port, "/hello.txt")
    ok(r.status == 200 and r.body == files["hello.txt"], "GET a file", "%d %r" % (r.status, r.body))
    ok(r.header("Content-Type") == "text/plain; charset=utf-8", "text MIME with charset",
       str(r.header("Content-Type")))
    ok(r.header("Date") is not None and r.header("Server") is not None, "Date and Server headers")
    ok(r.header("Accept-Ranges") == "bytes", "Accept-Ranges: bytes")
    etag, lm = r.header("ETag"), r.header("Last-Modified")
    ok(etag is not None and etag.startswith('"') and lm is not None and lm.endswith("GMT"),
       "ETag and Last-Modified", "%r %r" % (etag, lm))
    ok(etag == '"%x-%x"' % (1700000000, len(files["hello.txt"])),
       "ETag is nginx's \"MTIME-SIZE\" in hex", str(etag))
    copy = get(port, "/copy.txt").header("ETag")
    ok(copy == etag, "a copy with the same mtime and size (another inode) has the same ETag",
       "%r %r" % (copy, etag))
    for path, mime in (("/style.css", "text/css; charset=utf-8"), ("/data.json", "application/json"),
                       ("/blob.bin", "application/octet-stream"), ("/", "text/html; charset=utf-8")):
        r = get(port, path)
        ok(r.header("Content-Type") == mime, "MIME of " + path, str(r.header("Content-Type")))
    r = get(port, "/hello.txt", method="HEAD")
    ok(r.status == 200 and r.header("Content-Length") == str(len(files["hello.txt"])),
       "HEAD has the GET headers", str(r.headers))
    r = get(port, "/blob.bin")
    ok(r.status == 200 and r.body == files["blob.bin"], "256 KiB file via sendfile intact")
    r = get(port, "/")
    ok(r.status == 200 and r.body == files["index.html"], "/ serves index.html")
    r = get(port, "/sub/")
    ok(r.status == 200 and r.body == files["sub/index.html"], "/sub/ serves its index.html")
    r = get(port, "/link_in.txt")
    ok(r.status == 200 and r.body == files["hello.txt"], "symlink inside the root is served")
    return etag, lm


def conditionals(port, etag, lm):
    r = get(port, "/hello.txt", {"If-None-Match": etag})
    ok(r.status == 304 and r.body == b"" and r.header("ETag") == etag, "If-None-Match -> 304",
       "%d %r" % (r.status, r.headers))
    r = get(port, "/hello.txt", {"If-None-Match": '"nope", W/' + etag})
    ok(r.status == 304, "If-None-Match list with weak match -> 304")
    r = get(port, "/hello.txt", {"If-None-Match": "*"})
    ok(r.status == 304, "If-None-Match * -> 304")
    r = get(port, "/hello.txt", {"If-None-Match": '"other"'})
    ok(r.status == 200 and r.body == files["hello.txt"], "If-None-Match mismatch -> 200")
    r = get(port, "/hello.txt", {"If-Modified-Since": lm})
    ok(r.status == 304, "If-Modified-Since = Last-Modified -> 304")
    r = get(port, "/hello.txt", {"If-Modified-Since": "Thu, 01 Jan 1970 00:00:00 GMT"})
    ok(r.status == 200, "If-Modified-Since older -> 200")
    r = get(port, "/hello.txt", {"If-None-Match": '"other"', "If-Modified-Since": lm})
    ok(r.status == 200, "If-None-Match takes precedence over If-Modified-Since")
    r = get(port, "/hello.txt", {"If-Match": '"other"'})
    ok(r.status == 412, "If-Match mismatch -> 412", str(r.status))
    r = get(port, "/hello.txt", method="HEAD", headers={"If-None-Match": etag})
    ok(r.status == 304, "HEAD conditional -> 304")


def ranges(port, etag):
    blob, n = files["blob.bin"], len(files["blob.bin"])
    cases = [("bytes=0-99", 0, 99), ("bytes=1000-", 1000, n - 1), ("bytes=-500", n - 500, n - 1),
             ("bytes=100-99999999", 100, n - 1), ("bytes=7-7", 7, 7)]
    for spec, a, b in cases:
        r = get(port, "/blob.bin", {"Range": spec})
        good = (r.status == 206 and r.body == blob[a:b + 1] and
                r.header("Content-Range") == "bytes %d-%d/%d" % (a, b, n))
        ok(good, "Range %s -> 206" % spec, "%d %r" % (r.status, r.header("Content-Range")))
    r = get(port, "/hello.txt", {"Range": "bytes=2-5"})
    ok(r.status == 206 and r.body == files["hello.txt"][2:6], "range of a memory-cached file")
    for spec in ("bytes=%d-" % n, "bytes=-0"):
        r = get(port, "/blob.bin", {"Range": spec})
        ok(r.status == 416 and r.header("Content-Range") == "bytes */%d" % n,
           "Range %s -> 416 with bytes */len" % spec, "%d %r" % (r.status, r.headers))
    multi_ranges(port)
    for spec in ("bytes=5-1", "bytes=abc", "pages=1-2"):
        r = get(port, "/blob.bin", {"Range": spec})
        ok(r.status == 200 and len(r.body) == n, "malformed Range %r ignored -> 200" % spec)
    r = get(port, "/blob.bin", {"Range": "bytes=0-9", "If-Range": etag})
    ok(r.status == 200, "If-Range with another file's etag -> 200")
    r2 = get(port, "/blob.bin", method="HEAD")
    r = get(port, "/blob.bin", {"Range": "bytes=0-9", "If-Range": r2.header("ETag")})
    ok(r.status == 206 and r.body == blob[:10], "If-Range matching etag -> 206")
    r = get(port, "/blob.bin", {"Range": "bytes=0-9", "If-Range": r2.header("Last-Modified")})
    ok(r.status == 206, "If-Range matching date -> 206")


def multi_ranges(port):
    """Several ranges: 206 multipart/byteranges, parts checked byte for byte, from memory
    (hello.txt) and with sendfile (blob.bin); overlapping or touching ranges merged."""
    blob, n, hello = files["blob.bin"], len(files["blob.bin"]), files["hello.txt"]
    txt, octet = b"text/plain; charset=utf-8", b"application/octet-stream"
    r = get(port, "/hello.txt", {"Range": "bytes=0-1,3-4"})
    check_multipart(r, "bytes=0-1,3-4 -> 206 multipart/byteranges (memory)", hello,
                    [(0, 1), (3, 4)], txt)
    r = get(port, "/blob.bin", {"Range": "bytes=0-9,1000-1999,-100"})
    b1 = check_multipart(r, "three ranges of a sendfile file -> 206 multipart", blob,
                         [(0, 9), (1000, 1999), (n - 100, n - 1)], octet)
    r = get(port, "/blob.bin", {"Range": "bytes=0-9,1000-1999,-100"})
    b2 = check_multipart(r, "same ranges again", blob, [(0, 9), (1000, 1999), (n - 100, n - 1)],
                         octet)
    ok(b1 != b2, "each multipart response has its own boundary", "%r %r" % (b1, b2))
    r = get(port, "/blob.bin", {"Range": "bytes=5000-5009,0-9"})
    check_multipart(r, "parts in the order of the range-specs", blob, [(5000, 5009), (0, 9)],
                    octet)
    r = get(port, "/blob.bin", {"Range": "bytes=0-99,50-149,100-120,500-509,n-"
                                .replace("n-", "%d-" % (n - 1))})
    check_multipart(r, "overlapping ranges merged (RFC 9110 14.2)", blob,
                    [(0, 149), (500, 509), (n - 1, n - 1)], octet)
    r = get(port, "/blob.bin", {"Range": "bytes=0-1,5-9,%d-%d" % (n + 10, n + 20)})
    check_multipart(r, "an unsatisfiable range among others is dropped", blob, [(0, 1), (5, 9)],
                    octet)
    r = get(port, "/blob.bin", {"Range": "bytes=0-9,10-19"})
    ok(r.status == 206 and r.body == blob[:20] and r.header("Content-Range") == "bytes 0-19/%d" % n,
       "touching ranges merged into one -> plain 206", "%d %r" % (r.status, r.headers))
    r = get(port, "/blob.bin", {"Range": "bytes=%d-,%d-" % (n, n + 5)})
    ok(r.status == 416 and r.header("Content-Range") == "bytes */%d" % n,
       "no satisfiable range among several -> 416", str(r.status))
    many = ",".join("%d-%d" % (i * 10, i * 10) for i in range(33))
    r = get(port, "/blob.bin", {"Range": "bytes=" + many})
    ok(r.status == 200 and r.body == blob, "33 ranges (over the cap of 32) -> whole file 200",
       str(r.status))
    many = ",".join("%d-%d" % (i * 10, i * 10) for i in range(32))
    r = get(port, "/blob.bin", {"Range": "bytes=" + many})
    check_multipart(r, "32 ranges -> 32 parts", blob, [(i * 10, i * 10) for i in range(32)], octet)
    r = get(port, "/blob.bin", {"Range": "bytes=0-9,20-29", "If-Range": '"nope"'})
    ok(r.status == 200 and r.body == blob, "several ranges with a failing If-Range -> 200")
    g = get(port, "/blob.bin", {"Range": "bytes=0-9,20-29"})
    h = get(port, "/blob.bin", {"Range": "bytes=0-9,20-29"}, method="HEAD")
    ok(h.status == 206 and h.body == b"" and h.header("Content-Length") == g.header("Content-Length")
       and h.header("Content-Type").startswith("multipart/byteranges; boundary="),
       "HEAD with several ranges: the GET's status and length, no body", str(h.headers))
    # Keep-alive: the declared length is exact, so the next response parses.
    s = connect(port)
    rd = Reader(s)
    good = True
    for path, spec in (("/blob.bin", "0-0,2-2"), ("/hello.txt", "1-1,3-3"), ("/hello.txt", "")):
        s.sendall(("GET %s HTTP/1.1\r\nHost: x\r\n%s\r\n" %
                   (path, "Range: bytes=%s\r\n" % spec if spec else "")).encode())
        r = rd.read_response()
        good = good and r.status == (206 if spec else 200)
    s.close()
    ok(good, "multipart responses on one keep-alive connection, then a plain one")


def curl_multi_ranges(port):
    """curl -r with several ranges: the raw multipart body, parts byte-exact."""
    blob, n = files["blob.bin"], len(files["blob.bin"])
    out = subprocess.run(["curl", "-s", "-f", "--max-time", "5", "-D", "-", "-r",
                          "0-1,3-4,200000-200099", "http://%s:%d/blob.bin" % (HOST, port)],
                         capture_output=True)
    head, _, body = out.stdout.partition(b"\r\n\r\n")
    m = [x for x in head.split(b"\r\n") if x.lower().startswith(b"content-type:")]
    boundary = m[0].split(b"boundary=")[1] if m and b"boundary=" in m[0] else b""
    want = expected_multipart(boundary, b"application/octet-stream", blob,
                              [(0, 1), (3, 4), (200000, 200099)])
    ok(out.returncode == 0 and head.startswith(b"HTTP/1.1 206") and body == want,
       "curl -r 0-1,3-4,200000-200099 -> multipart body byte-exact", repr(out.stdout[:400]))


def errors(port):
    for m in ("POST", "PUT", "DELETE", "OPTIONS"):
        r = raw(port, ("%s /hello.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n"
                       "Connection: close\r\n\r\n" % m).encode())
        allow = (r.header("Allow") or "").replace(" ", "")
        ok(r.status == 405 and allow == "GET,HEAD", m + " -> 405 with Allow: GET, HEAD",
           "%d %r" % (r.status, r.header("Allow")))
    r = get(port, "/sub?x=1&y=2")
    ok(r.status == 301 and r.header("Location") == "/sub/?x=1&y=2",
       "directory without slash -> 301 keeping the query", "%d %r" % (r.status, r.header("Location")))
    r = get(port, "/empty/")
    ok(r.status == 403, "directory without index, listing off -> 403", str(r.status))
    r = get(port, "/missing.html")
    ok(r.status == 404, "missing file -> 404")
    r = get(port, "/hello.txt/")
    ok(r.status == 404, "file with trailing slash -> 404", str(r.status))


def traversal(port):
    for path in ("/.env", "/.git/config", "/.git/", "/sub/../.env", "/%2eenv", "/%2Egit/config"):
        r = get(port, path)
        ok(r.status == 404 and b"SECRET" not in r.body and b"core" not in r.body,
           "dotfile %s -> 404" % path, str(r.status))
    attacks = ["/../etc/passwd", "/../../../../etc/passwd", "/%2e%2e/etc/passwd",
               "/%2e%2e%2fetc%2fpasswd", "/sub/..%2f..%2fetc%2fpasswd", "/..%5c..%5cetc/passwd",
               "/sub\\..\\..\\etc\\passwd", "/hello.txt%00.html", "/%00", "/..",
               "/%252e%252e/etc/passwd", "/link_out.txt", "/dirlink_out/secret.txt",
               "/sub/%2e%2e/%2e%2e/outside/secret.txt"]
    for path in attacks:
        r = raw(port, ("GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" % path).encode())
        leaked = b"root:" in r.body or b"TOP SECRET" in r.body
        ok(r.status in (400, 403, 404) and not leaked, "traversal %s refused" % path,
           "%d %r" % (r.status, r.body[:60]))
    r = raw(port, b"GET http://x/../etc/passwd HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    ok(r.status in (400, 404) and b"root:" not in r.body, "absolute-form traversal refused")


def with_curl(port):
    if shutil.which("curl") is None:
        ok(False, "curl is installed (scripts/deps.sh installs it)")
        return
    out = subprocess.run(["curl", "-s", "-f", "--max-time", "5", "-r", "10-19",
                          "http://%s:%d/blob.bin" % (HOST, port)], capture_output=True)
    ok(out.returncode == 0 and out.stdout == files["blob.bin"][10:20], "curl range download")
    curl_multi_ranges(port)
    out = subprocess.run(["curl", "-s", "--max-time", "5", "--path-as-is", "-o", "/dev/null",
                          "-w", "%{http_code}", "http://%s:%d/../../etc/passwd" % (HOST, port)],
                         capture_output=True)
    ok(out.stdout in (b"400", b"404"), "curl --path-as-is /../../etc/passwd refused", str(out.stdout))


try:
    srv = Server(root, "-t", "1")
    etag, lm = basics(srv.port)
    conditionals(srv.port, etag, lm)
    ranges(srv.port, etag)
    errors(srv.port)
    traversal(srv.port)
    with_curl(srv.port)
    ok(srv.stop() == 0, "server exits 0 on SIGTERM")

    srv = Server(root, "-t", "0", "--follow-symlinks", "--dir-listing")
    r = get(srv.port, "/link_out.txt")
    ok(r.status == 200 and r.body == b"TOP SECRET\n", "--follow-symlinks serves a link out of root")
    r = get(srv.port, "/dirlink_out/secret.txt")
    ok(r.status == 200, "--follow-symlinks follows a directory link")
    r = get(srv.port, "/.env")
    ok(r.status == 404, "dotfiles stay hidden with --follow-symlinks")
    r = get(srv.port, "/empty/")
    ok(r.status == 200 and b"a%20b%26c.txt" in r.body and b"a b&amp;c.txt" in r.body,
       "--dir-listing lists escaped names", r.body[:300].decode("latin-1"))
    r = get(srv.port, "/")
    ok(r.status == 200 and r.body == files["index.html"], "index.html wins over the listing")
    ok(srv.stop() == 0, "second server exits 0")

    # --sendfile-chunk: 4 KiB per sendfile, connections taking turns; every byte arrives.
    srv = Server(root, "-t", "0", "--sendfile-chunk", "4096")
    conns = [socket.create_connection((HOST, srv.port), timeout=5) for _ in range(4)]
    for c in conns:
        c.sendall(b"GET /blob.bin HTTP/1.1\r\nHost: x\r\n\r\n" * 2)
    whole = True
    for c in conns:
        want = 2 * (len(files["blob.bin"]) + 200)
        data = b""
        while data.count(files["blob.bin"]) < 2 and len(data) < want:
            chunk = c.recv(65536)
            if not chunk:
                break
            data += chunk
        whole = whole and data.count(files["blob.bin"]) == 2 and data.count(b"200 OK") == 2
        c.close()
    ok(whole, "--sendfile-chunk 4096: two 256 KiB files on each of 4 connections, whole")
    ok(srv.stop() == 0, "chunked-sendfile server exits 0")
finally:
    Server.kill_all()
    rmtree(base)
done()
