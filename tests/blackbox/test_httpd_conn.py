"""eddy-httpd connections: keep-alive, pipelining hundreds of requests in one write,
HTTP/1.0 with and without keep-alive, on every backend, single and multi reactor."""
import socket
import threading
import time

from httpd_blackbox import (Reader, Server, backends, connect, done, get, make_site, ok, rmtree,
                            thread_counts, time_limit)

time_limit(200)
base, root, files = make_site()
PIPELINED = 300


def keep_alive(port, tag):
    s = connect(port)
    rd = Reader(s)
    good = True
    for i in range(20):
        path = ("/hello.txt", "/style.css", "/blob.bin")[i % 3]
        s.sendall(("GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % path).encode())
        r = rd.read_response()
        good = good and r.status == 200 and r.body == files[path[1:]]
    ok(good, "%s: 20 requests on one keep-alive connection" % tag)
    s.close()


def pipelining(port, tag):
    paths = [("/hello.txt", "/style.css", "/data.json", "/missing")[i % 4] for i in range(PIPELINED)]
    data = "".join("GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % p for p in paths).encode()
    s = connect(port, timeout=20)
    s.sendall(data)
    rd = Reader(s)
    good, first_bad = True, None
    for i, p in enumerate(paths):
        r = rd.read_response()
        want = 404 if p == "/missing" else 200
        if r.status != want or (want == 200 and r.body != files[p[1:]]):
            good, first_bad = False, (i, p, r.status)
            break
    ok(good, "%s: %d pipelined requests in one write, answered in order" % (tag, PIPELINED),
       str(first_bad))
    s.close()


def head_and_get_pipelined(port, tag):
    s = connect(port)
    s.sendall(b"HEAD /blob.bin HTTP/1.1\r\nHost: x\r\n\r\nGET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n")
    rd = Reader(s)
    r1 = rd.read_response(head_only=True)
    r2 = rd.read_response()
    ok(r1.status == 200 and r2.body == files["hello.txt"], "%s: HEAD then GET pipelined" % tag)
    s.close()


def http10(port, tag):
    s = connect(port)
    s.sendall(b"GET /hello.txt HTTP/1.0\r\n\r\n")
    rd = Reader(s)
    r = rd.read_response()
    ok(r.status == 200 and r.body == files["hello.txt"] and rd.closed(),
       "%s: HTTP/1.0 without keep-alive closes after the response" % tag)
    s.close()
    s = connect(port)
    rd = Reader(s)
    s.sendall(b"GET /hello.txt HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
    r1 = rd.read_response()
    s.sendall(b"GET /style.css HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
    r2 = rd.read_response()
    ok(r1.status == 200 and (r1.header("Connection") or "").lower() == "keep-alive"
       and r2.body == files["style.css"], "%s: HTTP/1.0 keep-alive" % tag)
    s.close()


def close_header(port, tag):
    s = connect(port)
    s.sendall(b"GET /hello.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    rd = Reader(s)
    r = rd.read_response()
    ok(r.status == 200 and rd.closed(), "%s: Connection: close honoured" % tag)
    s.close()


def dropped_bodies(port, tag):
    """Bodies the static handler never reads (405, a GET with a body, 404) arrive over several
    reads, with Content-Length or chunked; the server drops them and keep-alive goes on."""
    s = connect(port)
    rd = Reader(s)
    body = b"b" * (200 * 1024)
    cases = [(b"POST /hello.txt", b"Content-Length: %d\r\n" % len(body), body, 405),
             (b"GET /style.css", b"Content-Length: %d\r\n" % len(body), body, 200),
             (b"GET /missing", b"Transfer-Encoding: chunked\r\n",
              b"".join(b"1000\r\n" + body[:4096] + b"\r\n" for _ in range(50)) + b"0\r\n\r\n",
              404)]
    got = []
    for line, field, data, want in cases:
        s.sendall(line + b" HTTP/1.1\r\nHost: x\r\n" + field + b"\r\n" + data[:1000])
        time.sleep(0.05)
        s.sendall(data[1000:])
        r = rd.read_response()
        s.sendall(b"GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n")
        r2 = rd.read_response()
        got.append((r.status, r2.status, r2.body == files["hello.txt"]))
    ok(got == [(want, 200, True) for _, _, _, want in cases],
       "%s: dropped bodies keep the keep-alive framing" % tag, str(got))
    s.close()


def expect_unread(port, tag):
    """Expect: 100-continue to a route that never reads the body (a POST to a static file,
    a GET with a body): the final status comes at once, without 100 Continue, so the
    client does not upload for nothing (issue 11.5); the connection then closes, since
    the client may send the body or not."""
    for line, want in ((b"POST /hello.txt", 405), (b"GET /style.css", 200)):
        s = connect(port)
        rd = Reader(s)
        s.sendall(line + b" HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n"
                  b"Expect: 100-continue\r\n\r\n")
        s.settimeout(3)
        try:
            r = rd.read_response()
            status, conn, closed = r.status, r.header("Connection"), rd.closed()
        except (OSError, EOFError) as e:
            status, conn, closed = repr(e), None, None
        ok(status == want and conn == "close" and closed,
           "%s: Expect: 100-continue, body unread -> %d at once" % (tag, want),
           "%r Connection: %r closed: %r" % (status, conn, closed))
        s.close()


def keepalive_requests(root):
    """--keepalive-requests 3: the third response on a connection carries Connection: close
    and the connection closes after it, one request at a time and pipelined."""
    srv = Server(root, "-t", "0", "--keepalive-requests", "3")
    for pipelined in (False, True):
        s = connect(srv.port)
        rd = Reader(s)
        req = b"GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n"
        if pipelined:
            s.sendall(req * 4)
        got = []
        for _ in range(3):
            if not pipelined:
                s.sendall(req)
            r = rd.read_response()
            got.append((r.status, r.header("Connection")))
        ok(got == [(200, None), (200, None), (200, "close")] and rd.closed(),
           "--keepalive-requests 3%s: the 3rd response says close, then the connection closes"
           % (" (pipelined)" if pipelined else ""), str(got))
        s.close()
    ok(srv.stop() == 0, "--keepalive-requests server exits 0")


def concurrent(port, tag, n=16):
    errors = []

    def worker():
        try:
            s = connect(port)
            rd = Reader(s)
            for _ in range(25):
                s.sendall(b"GET /blob.bin HTTP/1.1\r\nHost: x\r\n\r\n")
                if rd.read_response().body != files["blob.bin"]:
                    errors.append("bad body")
            s.close()
        except (OSError, EOFError) as e:
            errors.append(repr(e))
    threads = [threading.Thread(target=worker) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    ok(not errors, "%s: %d concurrent clients x 25 x 256 KiB" % (tag, n), str(errors[:3]))


try:
    for backend in backends():
        for threads in thread_counts():
            tag = "%s -t %s" % (backend, threads)
            srv = Server(root, "-b", backend, "-t", threads)
            keep_alive(srv.port, tag)
            pipelining(srv.port, tag)
            head_and_get_pipelined(srv.port, tag)
            http10(srv.port, tag)
            close_header(srv.port, tag)
            dropped_bodies(srv.port, tag)
            expect_unread(srv.port, tag)
            concurrent(srv.port, tag)
            ok(srv.stop() == 0, "%s: exits 0 on SIGTERM" % tag)
    keepalive_requests(root)
finally:
    Server.kill_all()
    rmtree(base)
done()
