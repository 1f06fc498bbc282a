"""eddy-httpd request validation over raw sockets (RFC 9112 3.2, RFC 9110 7.2): an empty
Host on an origin-form request, a method longer than any eddy knows, and request-targets
with bytes outside visible ASCII are refused; their valid neighbours are served."""
import socket

from httpd_blackbox import Reader, Server, connect, done, make_site, ok, rmtree, time_limit

time_limit(60)
base, root, files = make_site()


def status_of(port, data):
    s = connect(port, timeout=10)
    try:
        try:
            s.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server may answer and close before reading all of a huge line
        return Reader(s).read_response().status
    except (OSError, EOFError) as e:
        return repr(e)
    finally:
        s.close()


def checks(port):
    cases = [
        (b"GET /hello.txt HTTP/1.1\r\nHost:\r\n\r\n", (400,), "empty Host -> 400"),
        (b"GET /hello.txt HTTP/1.1\r\nHost:   \r\n\r\n", (400,), "blank Host -> 400"),
        (b"GET http://x/hello.txt HTTP/1.1\r\nHost:\r\n\r\n", (200,),
         "empty Host with an absolute-form target -> 200"),
        (b"X" * (100 * 1024) + b" /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n", (400, 501),
         "100 KB method -> 400 or 501, not 414"),
        (b"PROPFINDX /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n", (501,), "unknown long method -> 501"),
        (b"GET /caf\xc3\xa9 HTTP/1.1\r\nHost: x\r\n\r\n", (400,), "raw UTF-8 in the target -> 400"),
        (b"GET /\xc0\xaf HTTP/1.1\r\nHost: x\r\n\r\n", (400,), "overlong UTF-8 in the target -> 400"),
        (b"GET /hello.txt?q=\xff HTTP/1.1\r\nHost: x\r\n\r\n", (400,),
         "byte 0xFF in the query -> 400"),
        (b"GET /caf%C3%A9 HTTP/1.1\r\nHost: x\r\n\r\n", (404,),
         "percent-encoded UTF-8 target is valid (404: no such file)"),
        (b"GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n", (200,), "a valid request -> 200"),
    ]
    for data, want, name in cases:
        got = status_of(port, data)
        ok(got in want, name, "got %r" % (got,))


try:
    srv = Server(root, "-t", "1")
    checks(srv.port)
    ok(srv.stop() == 0, "server exits 0")
finally:
    Server.kill_all()
    rmtree(base)
done()
