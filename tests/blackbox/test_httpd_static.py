"""eddy-httpd static files: content, MIME, validators, 304, ranges, 405, 301, index,
dotfiles, traversal attempts, symlinks (with and without --follow-symlinks), listing."""
import hashlib
import os
import shutil
import subprocess

from httpd_blackbox import (Reader, Server, connect, done, get, make_site, ok, rmtree,
                            time_limit)

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
    r = get(port, "/blob.bin", {"Range": "bytes=0-1,5-9"})
    ok(r.status == 200 and r.body == blob, "several ranges -> whole file 200")
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
                          "http://127.0.0.1:%d/blob.bin" % port], capture_output=True)
    ok(out.returncode == 0 and out.stdout == files["blob.bin"][10:20], "curl range download")
    out = subprocess.run(["curl", "-s", "--max-time", "5", "--path-as-is", "-o", "/dev/null",
                          "-w", "%{http_code}", "http://127.0.0.1:%d/../../etc/passwd" % port],
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
finally:
    Server.kill_all()
    rmtree(base)
done()
