"""Black-box tests of the HTTP library through build/hello_server: keep-alive, pipelining,
HTTP/1.0, bodies, Expect, limits, framing errors, on every backend, single and multi reactor."""
import os
import socket
import sys
import time

from httpd_blackbox import backends
from httplib_client import Conn, Server, Tap, check

BUILD = os.environ.get("EDDY_BUILD", os.path.join(os.path.dirname(__file__), "../../build"))
HELLO = os.path.join(BUILD, "hello_server")
PLAIN = b"Hello, World!"
JSON = b'{"message":"Hello, World!"}'
GET_PLAIN = b"GET /plaintext HTTP/1.1\r\nHost: t\r\n\r\n"
GET_JSON = b"GET /json HTTP/1.1\r\nHost: t\r\n\r\n"


def start(backend="epoll", threads=0, env=None):
    return Server([HELLO, "-l", "127.0.0.1:0", "-b", backend, "-t", str(threads)], env=env)


def t_plaintext(srv):
    c = Conn(srv.port)
    c.send(GET_PLAIN)
    r = c.read_response()
    check(r.status == 200 and r.body == PLAIN, r)
    check(r.header("Content-Type") == "text/plain", r)
    check(r.header("Content-Length") == "13", r)
    check(r.header("Server") == "eddy", r)
    date = r.header("Date")
    check(date and date.endswith(" GMT") and len(date) == 29, date)
    check(r.header("Connection") is None, "HTTP/1.1 keep-alive needs no Connection field")
    c.close()


def t_json(srv):
    c = Conn(srv.port)
    c.send(GET_JSON)
    r = c.read_response()
    check(r.status == 200 and r.body == JSON and r.header("Content-Type") == "application/json", r)
    c.close()


def t_keepalive(srv):
    c = Conn(srv.port)
    for i in range(20):
        c.send(GET_PLAIN if i % 2 else GET_JSON)
        r = c.read_response()
        check(r.status == 200 and r.body == (PLAIN if i % 2 else JSON), (i, r))
    c.close()


def t_pipeline(srv, n=500):
    c = Conn(srv.port, timeout=10)
    reqs = [GET_PLAIN if i % 3 else GET_JSON for i in range(n)]
    c.send(b"".join(reqs))
    for i in range(n):
        r = c.read_response()
        check(r.status == 200 and r.body == (PLAIN if i % 3 else JSON), (i, r))
    check(c.buf == b"", "no stray bytes")
    c.send(GET_PLAIN)
    check(c.read_response().body == PLAIN, "connection still usable")
    c.close()


def t_pipeline_split(srv):
    """Pipelined requests cut at every byte boundary across writes."""
    c = Conn(srv.port)
    data = (GET_PLAIN + GET_JSON) * 3
    for i in range(0, len(data), 7):
        c.send(data[i:i + 7])
        time.sleep(0.001)
    for i in range(6):
        r = c.read_response()
        check(r.body == (PLAIN if i % 2 == 0 else JSON), (i, r))
    c.close()


def t_head(srv):
    c = Conn(srv.port)
    c.send(b"HEAD /plaintext HTTP/1.1\r\nHost: t\r\n\r\n")
    r = c.read_response(head_request=True)
    check(r.status == 200 and r.header("Content-Length") == "13", r)
    c.send(GET_JSON)  # a body sent for HEAD would show up here
    r = c.read_response()
    check(r.body == JSON, r)
    c.close()


def t_http10_close(srv):
    c = Conn(srv.port)
    c.send(b"GET /plaintext HTTP/1.0\r\n\r\n")
    r = c.read_response()
    check(r.status == 200 and r.body == PLAIN and r.header("Connection") == "close", r)
    check(c.closed_by_peer(), "server closes after an HTTP/1.0 response")
    c.close()


def t_http10_keepalive(srv):
    c = Conn(srv.port)
    for _ in range(3):
        c.send(b"GET /json HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        r = c.read_response()
        check(r.body == JSON and r.header("Connection") == "keep-alive", r)
    c.close()


def t_connection_close(srv):
    c = Conn(srv.port)
    c.send(b"GET /plaintext HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n" + GET_JSON)
    r = c.read_response()
    check(r.body == PLAIN and r.header("Connection") == "close", r)
    check(c.read_to_eof() == b"", "nothing after the close response")
    c.close()


def t_404_405(srv):
    c = Conn(srv.port)
    c.send(b"GET /nope HTTP/1.1\r\nHost: t\r\n\r\n")
    r = c.read_response()
    check(r.status == 404 and b"404" in r.body, r)
    c.send(b"POST /plaintext HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n")
    r = c.read_response()
    check(r.status == 405 and r.header("Allow") == "GET, HEAD", r)
    c.send(GET_PLAIN)
    check(c.read_response().status == 200, "still open after 404/405")
    c.close()


def t_path_normalised(srv):
    c = Conn(srv.port)
    c.send(b"GET /x/../%70laintext?a=1 HTTP/1.1\r\nHost: t\r\n\r\n")
    r = c.read_response()
    check(r.status == 200 and r.body == PLAIN, r)
    c.send(b"GET http://t/json HTTP/1.1\r\nHost: t\r\n\r\n")
    check(c.read_response().body == JSON, "absolute-form target")
    c.close()
    c = Conn(srv.port)
    c.send(b"GET /%2e%2e/%2e%2e/etc HTTP/1.1\r\nHost: t\r\n\r\n")
    r = c.read_response()
    check(r.status == 400, r)
    c.close()


def t_echo_content_length(srv):
    c = Conn(srv.port)
    body = bytes(range(256)) * 40
    c.send(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n" % len(body))
    for i in range(0, len(body), 1000):  # the body arrives over many reads
        c.send(body[i:i + 1000])
        time.sleep(0.002)
    r = c.read_response()
    check(r.status == 200 and r.body == body, (r.status, len(r.body)))
    c.send(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello" + GET_PLAIN)
    check(c.read_response().body == b"hello", "in-place body")
    check(c.read_response().body == PLAIN, "request after a body")
    c.close()


def t_echo_chunked(srv):
    c = Conn(srv.port)
    chunks = [b"a" * 10, b"0123456789abcdef" * 100, b"z"]
    raw = b"".join(b"%x;ext=1\r\n%s\r\n" % (len(x), x) for x in chunks) + b"0\r\nX-T: 1\r\n\r\n"
    c.send(b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n")
    for i in range(0, len(raw), 5):
        c.send(raw[i:i + 5])
    c.send(GET_JSON)
    r = c.read_response()
    check(r.status == 200 and r.body == b"".join(chunks), r)
    check(c.read_response().body == JSON, "request after a chunked body")
    # whole chunked request in one write, pipelined twice
    one = b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
    c.send(one + one)
    check(c.read_response().body == b"abc", "first")
    check(c.read_response().body == b"abc", "second")
    c.close()


def t_expect_continue(srv):
    c = Conn(srv.port)
    c.send(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n")
    r = c.read_response()
    check(r.status == 100, r)
    c.send(b"ping")
    r = c.read_response()
    check(r.status == 200 and r.body == b"ping", r)
    c.send(b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n"
           b"Expect: 100-continue\r\n\r\n")
    r = c.read_response()
    check(r.status == 100, r)
    c.send(b"4\r\npong\r\n0\r\n\r\n")
    r = c.read_response()
    check(r.status == 200 and r.body == b"pong", r)
    c.send(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n"
           b"Expect: 100-continue\r\n\r\nabc")  # body already sent: no 100
    r = c.read_response()
    check(r.status == 200 and r.body == b"abc", r)
    c.close()


def t_expect_refused(srv):
    c = Conn(srv.port)
    c.send(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 2000000\r\n"
           b"Expect: 100-continue\r\n\r\n")
    r = c.read_response()
    check(r.status == 413 and r.header("Connection") == "close", r)
    check(c.closed_by_peer(), "closed after 413")
    c.close()
    c = Conn(srv.port)
    c.send(b"POST /nowhere HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n")
    r = c.read_response()
    check(r.status == 404 and r.header("Connection") == "close", r)
    c.close()


def expect_error_close(srv, data, status):
    c = Conn(srv.port)
    try:
        c.send(data)
    except (BrokenPipeError, ConnectionResetError):
        pass
    r = c.read_response()
    check(r.status == status, (status, r))
    check(r.header("Connection") == "close", r)
    check(c.closed_by_peer(), "closes after %d" % status)
    c.close()


def t_limits(srv):
    expect_error_close(srv, b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: t\r\n\r\n", 414)
    many = b"".join(b"X-%d: v\r\n" % i for i in range(101))
    expect_error_close(srv, b"GET / HTTP/1.1\r\nHost: t\r\n" + many + b"\r\n", 431)
    big = b"X-Big: " + b"v" * 17000 + b"\r\n"
    expect_error_close(srv, b"GET / HTTP/1.1\r\nHost: t\r\n" + big + b"\r\n", 431)
    expect_error_close(srv, b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 1048577\r\n\r\n", 413)
    chunked = b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
    expect_error_close(srv, chunked + b"100000\r\n" + b"x" * 0x100000 + b"\r\n1\r\nx\r\n0\r\n\r\n",
                       413)


def t_framing_error_closes(srv):
    c = Conn(srv.port)
    c.send(b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n"
           + GET_PLAIN)
    r = c.read_response()
    check(r.status == 400 and r.header("Connection") == "close", r)
    rest = c.read_to_eof()
    check(rest == b"", "nothing after the 400: %r" % rest[:100])
    c.close()
    for bad in (b"GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n\r\n",
                b"GET / HTTP/1.1\r\nHost a\r\n\r\n",
                b"GET / HTTP/1.1\r\n\r\n"):
        expect_error_close(srv, bad + GET_PLAIN, 400)


def t_many_connections(srv):
    conns = [Conn(srv.port) for _ in range(50)]
    for c in conns:
        c.send(GET_PLAIN)
    for c in conns:
        check(c.read_response().body == PLAIN, "response")
        c.close()


def core_cases(tap, label, srv):
    for name, fn in [("plaintext", t_plaintext), ("json", t_json), ("keepalive", t_keepalive),
                     ("pipeline 500", t_pipeline), ("pipeline split", t_pipeline_split),
                     ("HEAD", t_head), ("http/1.0 close", t_http10_close),
                     ("http/1.0 keep-alive", t_http10_keepalive),
                     ("connection close", t_connection_close), ("404/405", t_404_405),
                     ("path normalised", t_path_normalised),
                     ("echo content-length", t_echo_content_length),
                     ("echo chunked", t_echo_chunked), ("expect 100-continue", t_expect_continue),
                     ("expect refused", t_expect_refused), ("limits 414/431/413", t_limits),
                     ("framing error closes", t_framing_error_closes),
                     ("50 connections", t_many_connections)]:
        tap.run("%s: %s" % (label, name), fn, srv)


def t_two_listeners(tap):
    srv = Server([HELLO, "-l", "127.0.0.1:0", "-l", "127.0.0.1:0"])
    try:
        for p in srv.ports:
            c = Conn(p)
            c.send(GET_PLAIN)
            check(c.read_response().body == PLAIN, p)
            c.close()
    finally:
        check(srv.stop() == 0, "clean exit on SIGTERM")


def t_port_in_use(tap):
    import subprocess
    srv = start()
    try:
        r = subprocess.run([HELLO, "-l", "127.0.0.1:%d" % srv.port], stderr=subprocess.PIPE,
                           timeout=10)
        check(r.returncode != 0 and b"listen" in r.stderr, "port in use: %r" % r.stderr)
        c = Conn(srv.port)
        c.send(GET_PLAIN)
        check(c.read_response().body == PLAIN, "first server unharmed")
        c.close()
    finally:
        srv.stop()


def t_ipv6(tap):
    srv = Server([HELLO, "-l", "[::1]:0", "-t", "1"])
    try:
        c = Conn(srv.port, host="::1")
        c.send(GET_JSON + GET_PLAIN)
        check(c.read_response().body == JSON, "json over IPv6")
        check(c.read_response().body == PLAIN, "plaintext over IPv6")
        c.close()
    finally:
        srv.stop()


def t_bad_flags(tap):
    import subprocess
    r = subprocess.run([HELLO, "--bogus"], stderr=subprocess.PIPE, stdout=subprocess.PIPE, timeout=10)
    check(r.returncode != 0, "bad flag fails")
    r = subprocess.run([HELLO, "-b", "nope", "-l", "127.0.0.1:0"], stderr=subprocess.PIPE,
                       timeout=10)
    check(r.returncode != 0 and r.stderr, "bad backend fails")
    r = subprocess.run([HELLO, "-t", "two"], stderr=subprocess.PIPE, timeout=10)
    check(r.returncode != 0 and r.stderr, "bad thread count fails")
    r = subprocess.run([HELLO, "-l", "127.0.0.1:99999"], stderr=subprocess.PIPE, timeout=10)
    check(r.returncode != 0 and r.stderr, "bad address fails")


def main():
    tap = Tap()
    configs = [(backend, threads) for backend in backends(HELLO) for threads in (0, 2)]
    for backend, threads in configs:
        label = "%s/t%d" % (backend, threads)
        try:
            srv = start(backend, threads)
        except Exception as ex:  # noqa: BLE001
            tap.run(label + ": start", lambda: (_ for _ in ()).throw(ex))
            continue
        try:
            core_cases(tap, label, srv)
            tap.run(label + ": server alive", lambda: check(srv.alive(), "server died"))
        finally:
            code = srv.stop()
            tap.run(label + ": exit 0 on SIGTERM", lambda: check(code == 0, "exit %s" % code))
    tap.run("two listeners", t_two_listeners, tap)
    tap.run("bad flags", t_bad_flags, tap)
    tap.run("port in use", t_port_in_use, tap)
    tap.run("IPv6 listener", t_ipv6, tap)
    return tap.done()


if __name__ == "__main__":
    sys.exit(main())
