"""eddy-httpd slow clients: slow header -> 408, slow body -> 408, idle keep-alive closes,
a client that stops reading is dropped, --max-connections closes the surplus at once."""
import os
import select
import socket
import time

from httpd_blackbox import (Reader, Server, connect, done, get, make_site, ok, rmtree,
                            time_limit)

time_limit(120)
base, root, files = make_site()
BIG = 20 * 1024 * 1024
with open(os.path.join(root, "big.bin"), "wb") as f:
    f.write(os.urandom(BIG))


def read_until_close(s, limit):
    """Returns (bytes, seconds) read until EOF/reset or limit seconds."""
    s.settimeout(0.2)
    t0, data = time.time(), b""
    while time.time() - t0 < limit:
        try:
            chunk = s.recv(65536)
        except socket.timeout:
            continue
        except ConnectionResetError:
            break
        if not chunk:
            break
        data += chunk
    return data, time.time() - t0


def slow_header(port):
    s = connect(port)
    s.sendall(b"GET /hello.txt HTTP/1.1\r\nHost: x\r\n")
    data, dt = read_until_close(s, 6)
    ok(data.startswith(b"HTTP/1.1 408") and 0.5 < dt < 4, "slow header -> 408 and close",
       "%r after %.2fs" % (data[:40], dt))
    s.close()
    # Trickling one byte at a time does not extend the header deadline.
    s = connect(port)
    t0, got, when = time.time(), b"", None
    for ch in b"GET /hello.txt HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 40:
        try:
            s.sendall(bytes([ch]))
        except OSError:
            break
        r, _, _ = select.select([s], [], [], 0.1)
        if r:
            got, when = s.recv(4096), time.time() - t0
            break
    ok(got.startswith(b"HTTP/1.1 408") and when is not None and when < 3,
       "trickled header is cut at the header deadline", "%r after %s s" % (got[:40], when))
    s.close()
    slowloris(port)


def slowloris(port):
    """A client that keeps trickling header bytes after its 408 loses its slot within
    about a second (issue 11.1: its bytes used to be read for the 5 s linger). The slot
    is gone when our sends fail (the server's FIN alone still lets us send)."""
    s = connect(port)
    s.sendall(b"GET /hello.txt HTTP/1.1\r\nHost: x\r\n")
    s.setblocking(False)
    t0, got, t408, cut = time.time(), b"", None, None
    while time.time() - t0 < 9 and cut is None:
        try:
            s.send(b"X-Slow: a\r\n")
        except BlockingIOError:
            pass
        except OSError:
            cut = time.time()
        try:
            got += s.recv(4096)
        except (BlockingIOError, OSError):
            pass
        if t408 is None and got.startswith(b"HTTP/1.1 408"):
            t408 = time.time()
        time.sleep(0.05)
    after = cut - t408 if cut is not None and t408 is not None else None
    ok(t408 is not None and after is not None and after < 1.8,
       "a trickling client is cut within ~1 s after its 408, not lingered on",
       "408 at %s s, cut %s s after it" % (t408 and round(t408 - t0, 2), after and round(after, 2)))
    s.close()


def slow_body(port):
    s = connect(port)
    s.sendall(b"POST /hello.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789")
    data, dt = read_until_close(s, 6)
    ok((data == b"" or data.startswith(b"HTTP/1.1 408")) and 0.5 < dt < 4,
       "slow body -> 408 and close", "%r after %.2fs" % (data[:40], dt))
    s.close()
    # A chunked body the static handler drops still has to arrive in time.
    s = connect(port)
    s.sendall(b"PUT /hello.txt HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab")
    data, dt = read_until_close(s, 6)
    ok(data.startswith(b"HTTP/1.1 408") and 0.5 < dt < 4,
       "slow chunked body, dropped -> 408 and close", "%r after %.2fs" % (data[:40], dt))
    s.close()


def idle_keepalive(port):
    s = connect(port)
    rd = Reader(s)
    s.sendall(b"GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n")
    r = rd.read_response()
    t0 = time.time()
    closed = rd.closed(timeout=5)
    dt = time.time() - t0
    ok(r.status == 200 and closed and 0.6 < dt < 3.5, "idle keep-alive connection closed",
       "closed=%s after %.2fs" % (closed, dt))
    s.close()
    s = connect(port)
    data, dt = read_until_close(s, 6)
    ok(data == b"" and dt < 3.5, "a connection that sends nothing is closed", "%.2fs" % dt)
    s.close()


def stalled_reader(port):
    s = connect(port)
    s.sendall(b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
    # The socket buffers fill up, then nothing moves: the server must give up after its
    # 1 s send timeout. What it had queued in the kernel still arrives, then EOF.
    time.sleep(3.5)  # send timeout is 1 s: the server gives up on us meanwhile
    data, dt = read_until_close(s, 10)
    ok(0 < len(data) < BIG and dt < 5, "a client that stops reading is dropped after the send timeout",
       "got %d bytes, EOF after %.2fs more" % (len(data), dt))
    s.close()
    r = get(port, "/hello.txt")
    ok(r.status == 200, "server still serves after dropping a stalled client")


def max_connections(root):
    srv = Server(root, "-t", "0", "--max-connections", "4", "--keepalive-timeout", "30")
    held = []
    for _ in range(4):
        s = connect(srv.port)
        s.sendall(b"GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n")
        rd = Reader(s)
        rd.read_response()
        held.append((s, rd))
    extra = connect(srv.port)
    data, dt = read_until_close(extra, 3)
    ok(data == b"" and dt < 2, "connection beyond --max-connections closed at once",
       "%r after %.2fs" % (data[:40], dt))
    extra.close()
    good = True
    for s, rd in held:
        s.sendall(b"GET /style.css HTTP/1.1\r\nHost: x\r\n\r\n")
        good = good and rd.read_response().body == files["style.css"]
    ok(good, "the connections within the limit keep being served")
    held[0][0].close()
    time.sleep(0.3)
    r = get(srv.port, "/hello.txt")
    ok(r.status == 200, "a slot freed by a close is usable again")
    for s, _ in held[1:]:
        s.close()
    ok(srv.stop() == 0, "max-connections server exits 0")


try:
    for threads in ("0", "2"):
        srv = Server(root, "-t", threads, "--header-timeout", "1", "--body-timeout", "1",
                     "--keepalive-timeout", "1", "--send-timeout", "1")
        print("# -t", threads)
        slow_header(srv.port)
        slow_body(srv.port)
        idle_keepalive(srv.port)
        stalled_reader(srv.port)
        ok(srv.stop() == 0, "timeouts server (-t %s) exits 0" % threads)
    max_connections(root)
finally:
    Server.kill_all()
    rmtree(base)
done()
