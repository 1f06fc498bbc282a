"""eddy-httpd command line: help, version, bad flags, missing root, port in use, the
listening line, several addresses, IPv6, make-run's shipped site."""
import os
import select
import socket
import subprocess
import time

from httpd_blackbox import BINARY, Server, done, free_port, get, make_site, ok, rmtree, time_limit

time_limit(60)
base, root, files = make_site()
ROOT_DIR = os.environ.get("EDDY_ROOT") or os.path.join(os.path.dirname(__file__), "..", "..")


def run(*args):
    return subprocess.run([BINARY] + list(args), capture_output=True, timeout=10)


def one_line_error(args, name, names=None):
    """names: the text the error must quote (the bad option, as the user typed it)."""
    p = run(*args)
    lines = p.stderr.decode("utf-8", "replace").strip().split("\n")
    ok(p.returncode != 0 and len(lines) == 1 and lines[0].startswith("eddy-httpd:") and
       (names is None or ("'%s'" % names) in lines[0]) and lines[0].isprintable(),
       name + ": one-line error, non-zero exit" + (", names %s" % names if names else ""),
       "rc=%d %r" % (p.returncode, p.stderr))


try:
    p = run("--help")
    ok(p.returncode == 0 and b"--listen" in p.stdout and b"--follow-symlinks" in p.stdout,
       "--help prints usage, exit 0")
    p = run("-h")
    ok(p.returncode == 0 and b"Usage" in p.stdout, "-h")
    p = run("--version")
    ok(p.returncode == 0 and p.stdout.startswith(b"eddy-httpd "), "--version")
    p = run("-V")
    ok(p.returncode == 0 and p.stdout.startswith(b"eddy-httpd "), "-V")
    port = free_port()
    one_line_error(["--bogus"], "unknown long flag", "--bogus")
    one_line_error(["--bogus=1"], "unknown long flag with a value", "--bogus")
    one_line_error(["-Z"], "unknown short flag", "-Z")
    one_line_error(["-r", root, "--threads"], "flag without its value", "--threads")
    # Every flag that takes no value, given one: it must name itself (it printed '-\n').
    for flag in ("--dir-listing", "--reuseport", "--follow-symlinks", "--help", "--version"):
        one_line_error(["-r", root, flag + "=yes"], flag + "=yes refused", flag)
    one_line_error(["-r", root, "-t", "x"], "non-numeric --threads")
    one_line_error(["-r", root, "-b", "kqueue"], "unknown backend")
    one_line_error(["-r", root, "--keepalive-timeout", "-1"], "negative timeout")
    one_line_error(["-r", root, "--keepalive-requests", "0"], "--keepalive-requests 0")
    one_line_error(["-r", root, "--sendfile-chunk", "100"], "--sendfile-chunk below 4096")
    one_line_error(["-r", root, "--file-lowat", "-1"], "negative --file-lowat")
    one_line_error(["-r", root, "--file-lowat-min", "1m"], "--file-lowat-min with a unit")
    one_line_error(["-r", root, "--file-copy-min", "8m"], "--file-copy-min with a unit")
    one_line_error(["-r", root, "--tls-ticket-renewal", "maybe"], "--tls-ticket-renewal maybe",
                   "maybe")
    one_line_error(["-r", root, "-l", "localhost"], "listen address without port")
    one_line_error(["-r", root, "-l", "localhost:99999"], "host name with a bad port")
    one_line_error(["-r", root, "extra"], "stray argument")
    one_line_error(["-r", os.path.join(base, "nope"), "-l", "127.0.0.1:%d" % port], "missing root")
    one_line_error(["-r", os.path.join(root, "hello.txt"), "-l", "127.0.0.1:%d" % port],
                   "root that is a file")
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    one_line_error(["-r", root, "-l", "127.0.0.1:%d" % busy.getsockname()[1]], "port in use")
    busy.close()

    p1, p2 = free_port(), free_port()
    srv = Server(root, "-l", "127.0.0.1:%d" % p2, "-l", "[::1]:%d" % p1, "-t", "1", port=p1)
    lines = [x for x in srv.err.decode().split("\n") if "listening" in x]
    srv.wait_listening()
    expected = {"eddy-httpd listening on http://127.0.0.1:%d" % p1,
                "eddy-httpd listening on http://127.0.0.1:%d" % p2,
                "eddy-httpd listening on http://[::1]:%d" % p1}
    t0 = time.time()
    while time.time() - t0 < 3 and len(set(lines)) < 3:
        try:
            srv.err += os.read(srv.proc.stderr.fileno(), 4096)
        except BlockingIOError:
            pass
        lines = [x for x in srv.err.decode().split("\n") if "listening" in x]
    ok(set(lines) == expected, "one listening line per address", str(lines))
    ok(get(p1, "/hello.txt").status == 200 and get(p2, "/hello.txt").status == 200,
       "both IPv4 addresses serve")
    s6 = socket.create_connection(("::1", p1), timeout=5)
    s6.sendall(b"GET /hello.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    data = b""
    while True:
        c = s6.recv(4096)
        if not c:
            break
        data += c
    s6.close()
    ok(data.startswith(b"HTTP/1.1 200") and data.endswith(files["hello.txt"]), "IPv6 [::1] serves")
    ok(srv.stop() == 0, "multi-address server exits 0")

    # A host name is resolved at startup and every address it gives is bound.
    p1, p2 = free_port(), free_port()
    want = set()
    for fam, _, _, _, sa in socket.getaddrinfo("localhost", p2, type=socket.SOCK_STREAM):
        want.add("eddy-httpd listening on http://%s:%d" %
                 (("[%s]" if fam == socket.AF_INET6 else "%s") % sa[0], p2))
    srv = Server(root, "-l", "localhost:%d" % p2, "-t", "0", port=p1)
    t0 = time.time()
    while True:
        lines = [x for x in srv.err.decode().split("\n") if "listening" in x and ":%d" % p2 in x]
        if time.time() - t0 > 3 or want <= set(lines):
            break
        if select.select([srv.proc.stderr], [], [], 0.1)[0]:
            srv.err += os.read(srv.proc.stderr.fileno(), 4096)
    ok(want and set(lines) == want, "--listen localhost:PORT binds every address of localhost",
       "%r vs %r" % (lines, want))
    ok(get(p2, "/hello.txt").status == 200, "--listen localhost:PORT serves")
    ok(srv.stop() == 0, "host-name server exits 0")

    # --reuseport: a second server may bind the same port only when both ask for it.
    port = free_port()
    a = Server(root, "-t", "0", "--reuseport", port=port)
    b = Server(root, "-t", "0", "--reuseport", port=port)
    ok(get(port, "/hello.txt").status == 200, "--reuseport: two servers share a port")
    b.stop()
    a.stop()
    a = Server(root, "-t", "0", port=port)
    one_line_error(["-r", root, "-t", "0", "-l", "127.0.0.1:%d" % port],
                   "same port without --reuseport")
    a.stop()

    # --max-body: a larger request body is refused with 413 before any handler runs.
    srv = Server(root, "-t", "0", "--max-body", "1000")
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
    s.sendall(b"POST /hello.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n" + b"x" * 5000)
    head = s.recv(100)
    s.close()
    ok(head.startswith(b"HTTP/1.1 413"), "--max-body 1000: 5000-byte body -> 413", repr(head))
    ok(srv.stop() == 0, "max-body server exits 0")

    www = os.path.join(ROOT_DIR, "www")
    srv = Server(www, "-t", "0")
    r = get(srv.port, "/")
    ok(r.status == 200 and b"eddy" in r.body and r.header("Content-Type").startswith("text/html"),
       "the shipped www/ site is served")
    r = get(srv.port, "/style.css")
    ok(r.status == 200 and r.header("Content-Type").startswith("text/css"), "www/style.css")
    r = get(srv.port, "/about.html")
    ok(r.status == 200, "www/about.html")
    ok(srv.stop() == 0, "www server exits 0")
finally:
    Server.kill_all()
    rmtree(base)
done()
