"""Slow and hostile clients against build/hello_server with short timeouts: slow header
(408 + close), idle keep-alive (close), slow body (408 + close), a client that pipelines
10,000 requests and never reads (server memory bounded, then every response in order)."""
import os
import socket
import sys
import time

from httplib_client import Conn, Server, Tap, check

BUILD = os.environ.get("EDDY_BUILD", os.path.join(os.path.dirname(__file__), "../../build"))
HELLO = os.path.join(BUILD, "hello_server")
GET_PLAIN = b"GET /plaintext HTTP/1.1\r\nHost: t\r\n\r\n"
# header, body, keep-alive, send timeouts in ms
SHORT = {"EDDY_HELLO_TIMEOUTS": "400,400,400,1500"}


def start(backend, threads, env):
    return Server([HELLO, "-l", "127.0.0.1:0", "-b", backend, "-t", str(threads)], env=env)


def t_slow_header(srv):
    c = Conn(srv.port)
    t0 = time.time()
    c.send(b"GET /plaintext HTTP/1.1\r\nHo")
    time.sleep(0.2)
    c.send(b"st: t\r\n")  # progress does not extend the header deadline
    r = c.read_response()
    took = time.time() - t0
    check(r.status == 408 and r.header("Connection") == "close", r)
    check(0.3 <= took < 2.5, "408 after %.2fs" % took)
    check(c.closed_by_peer(), "closed after 408")
    c.close()


def t_idle_keepalive(srv):
    c = Conn(srv.port)
    c.send(GET_PLAIN)
    check(c.read_response().status == 200, "first response")
    t0 = time.time()
    check(c.closed_by_peer(timeout=3), "idle connection closed")
    took = time.time() - t0
    check(0.3 <= took < 2.5, "closed after %.2fs" % took)
    c.close()


def t_busy_keepalive_survives(srv):
    """Requests every 200 ms keep the connection alive past the 400 ms idle timeout."""
    c = Conn(srv.port)
    for _ in range(6):
        c.send(GET_PLAIN)
        check(c.read_response().status == 200, "response")
        time.sleep(0.2)
    c.close()


def t_silent_connection(srv):
    c = Conn(srv.port)
    t0 = time.time()
    check(c.closed_by_peer(timeout=3), "a connection that never sends is closed")
    check(c.buf == b"", "without a response: %r" % c.buf[:80])
    check(time.time() - t0 < 2.5, "in time")
    c.close()


def t_slow_body(srv):
    c = Conn(srv.port)
    c.send(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nabc")
    r = c.read_response()
    check(r.status == 408 and r.header("Connection") == "close", r)
    check(c.closed_by_peer(), "closed after 408")
    c.close()


def t_slow_body_progress(srv):
    """A body trickling in faster than the body timeout completes."""
    c = Conn(srv.port)
    c.send(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 8\r\n\r\n")
    for ch in b"trickle!":
        time.sleep(0.15)
        c.send(bytes([ch]))
    r = c.read_response()
    check(r.status == 200 and r.body == b"trickle!", r)
    c.close()


def t_never_reads(srv, n=10000):
    """10,000 pipelined requests for 4 KiB each, never reading: the server stops reading once
    its output is backed up, its memory stays bounded, and then every response arrives in
    order."""
    s = socket.create_connection(("127.0.0.1", srv.port))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 32768)
    rss0 = srv.rss_kib()
    # ~1 KiB per request, 10 MB in all: more than the kernel buffers hold, so the client
    # can send everything only if the server keeps reading; 41 MB of responses.
    req = b"GET /bytes/4096 HTTP/1.1\r\nHost: t\r\nX-Pad: " + b"p" * 1000 + b"\r\n\r\n"
    data = req * n
    s.setblocking(False)
    sent, deadline = 0, time.time() + 3
    while sent < len(data) and time.time() < deadline:
        try:
            sent += s.send(data[sent:sent + 65536])
        except BlockingIOError:
            time.sleep(0.01)
    time.sleep(0.3)
    rss1 = srv.rss_kib()
    check(srv.alive(), "server alive")
    check(rss1 - rss0 < 16 * 1024, "server RSS grew by %d KiB" % (rss1 - rss0))
    check(sent < len(data), "server stopped reading (client sent all %d bytes)" % sent)
    c = Conn.__new__(Conn)
    c.s, c.buf, c.eof = s, b"", False
    got = 0
    body = b"x" * 4096
    while got < n:
        if sent < len(data):
            try:
                sent += s.send(data[sent:sent + 65536])
            except BlockingIOError:
                pass
        s.setblocking(True)
        s.settimeout(10)
        if got < n and not c._fill():
            raise AssertionError("EOF after %d responses (sent %d bytes)" % (got, sent))
        while got < n and b"\r\n\r\n" in c.buf:
            head_end = c.buf.index(b"\r\n\r\n") + 4
            if len(c.buf) < head_end + 4096:
                break
            r = c.read_response()
            check(r.status == 200 and r.body == body, (got, r))
            got += 1
        s.setblocking(False)
    check(sent == len(data), "all requests sent")
    s.close()


def t_half_close_after_pipeline(srv, n=3000):
    """3000 pipelined requests for 4 KiB each (12 MB of answers, far past the high-water
    mark), then shutdown(SHUT_WR): every response still arrives, then EOF."""
    c = Conn(srv.port, timeout=10)
    c.send(b"GET /bytes/4096 HTTP/1.1\r\nHost: t\r\n\r\n" * n)
    c.s.shutdown(socket.SHUT_WR)
    time.sleep(0.3)  # the server sits paused, our FIN waiting behind the requests
    body = b"x" * 4096
    for i in range(n):
        r = c.read_response()
        check(r.status == 200 and r.body == body, (i, r))
    check(c.read_to_eof() == b"", "EOF after the last response")
    c.close()


def t_send_timeout(srv):
    """A client that stops reading forever is closed after the send timeout."""
    s = socket.create_connection(("127.0.0.1", srv.port))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.setblocking(False)
    data = GET_PLAIN * 40000
    sent, t0 = 0, time.time()
    closed = False
    while time.time() - t0 < 8:
        try:
            n = s.send(data[sent % len(data):][:65536])
            sent += n
        except BlockingIOError:
            time.sleep(0.05)
        except (BrokenPipeError, ConnectionResetError):
            closed = True
            break
    s.close()
    check(closed, "server closed the stalled connection (sent %d bytes)" % sent)


BIG_PATH = "/bytes/%d" % (12 << 20)  # more than the kernel's socket buffers take


def t_send_timeout_below_mark(srv):
    """A response that stays queued below the high-water mark (nothing pauses) is under the
    send timeout (1 s) at once, not only after the keep-alive timeout (20 s)."""
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(("127.0.0.1", srv.port))
    s.sendall(("GET %s HTTP/1.1\r\nHost: t\r\n\r\n" % BIG_PATH).encode())
    time.sleep(3)
    c = Conn.__new__(Conn)
    c.s, c.buf, c.eof = s, b"", False
    t0 = time.time()
    s.settimeout(0.5)
    try:
        while time.time() - t0 < 10 and c._fill():
            pass
    except (socket.timeout, ConnectionResetError):
        pass
    check(c.eof and len(c.buf) < (12 << 20),
          "cut: %d bytes, then EOF=%s after %.1fs more" % (len(c.buf), c.eof, time.time() - t0))
    s.close()


def t_slow_reader_not_cut(srv):
    """Pauses shorter than the send timeout do not cut a reader; keep-alive starts once its
    response has drained."""
    c = Conn(srv.port, timeout=5)
    c.send(("GET %s HTTP/1.1\r\nHost: t\r\n\r\n" % BIG_PATH).encode())
    t0 = time.time()
    while len(c.buf) < (12 << 20) and time.time() - t0 < 15:
        time.sleep(0.6)
        c.s.setblocking(False)
        try:
            while c._fill():
                pass
        except BlockingIOError:
            pass
        c.s.setblocking(True)
    r = c.read_response()
    check(r.status == 200 and len(r.body) == 12 << 20, "whole response after pauses")
    time.sleep(0.5)
    c.send(GET_PLAIN)
    check(c.read_response().status == 200, "keep-alive after the drain")
    c.close()


def main():
    tap = Tap()
    for backend, threads in [("epoll", 0), ("epoll-et", 2), ("poll", 0), ("select", 1)]:
        label = "%s/t%d" % (backend, threads)
        srv = start(backend, threads, SHORT)
        try:
            for name, fn in [("slow header 408", t_slow_header), ("idle keep-alive", t_idle_keepalive),
                             ("busy keep-alive survives", t_busy_keepalive_survives),
                             ("silent connection", t_silent_connection),
                             ("slow body 408", t_slow_body), ("slow body progress", t_slow_body_progress)]:
                tap.run("%s: %s" % (label, name), fn, srv)
        finally:
            srv.stop()
        env = {"EDDY_HELLO_HIGH_WATER": "65536"}
        srv = start(backend, threads, env)
        try:
            tap.run("%s: never reads 10000 pipelined" % label, t_never_reads, srv)
            tap.run("%s: half-close after 3000 pipelined" % label, t_half_close_after_pipeline, srv)
            tap.run("%s: alive after" % label, lambda: check(srv.alive(), "alive"))
        finally:
            srv.stop()
    srv = start("epoll", 0, {"EDDY_HELLO_TIMEOUTS": "10000,10000,60000,700",
                             "EDDY_HELLO_HIGH_WATER": "65536"})
    try:
        tap.run("send timeout closes a stalled client", t_send_timeout, srv)
    finally:
        srv.stop()
    srv = start("epoll", 0, {"EDDY_HELLO_TIMEOUTS": "10000,10000,20000,1000",
                             "EDDY_HELLO_HIGH_WATER": str(64 << 20)})
    try:
        tap.run("send timeout below the high-water mark", t_send_timeout_below_mark, srv)
        tap.run("slow reader with short pauses not cut", t_slow_reader_not_cut, srv)
    finally:
        srv.stop()
    return tap.done()


if __name__ == "__main__":
    sys.exit(main())
