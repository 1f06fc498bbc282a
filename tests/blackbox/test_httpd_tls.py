"""eddy-httpd over HTTPS with real clients (curl --cacert, Python ssl and http.client,
openssl s_client): GET, HEAD, ranges, a large file byte-exact, keep-alive, pipelining,
versions, SNI, ALPN, resumption, the handshake timeout, hostile input (plain HTTP, garbage,
truncated records, clients leaving mid-handshake and mid-response), renegotiation refused,
HSTS, the redirect to HTTPS, and startup errors. Certificates are made at test time."""
import hashlib
import http.client
import os
import socket
import ssl
import subprocess
import time

from httpd_blackbox import BINARY, Reader, done, make_site, ok, rmtree, time_limit
from tls_blackbox import (NO_TLS, SLOW, TlsServer, cert_args, check_not_built, client_hello, curl,
                          make_certs, s_client, silent_client, ticket_chain, tls_connect)

time_limit(240)
base, root, files = make_site()
certs = make_certs()


def basic(srv):
    rc, out, err = curl(srv.tport, certs, "/hello.txt")
    ok(rc == 0 and out == files["hello.txt"], "curl_get", err)
    rc, out, err = curl(srv.tport, certs, "/hello.txt", "-I")
    ok(rc == 0 and b"200 OK" in out and b"Content-Length: 13" in out, "curl_head", repr(out))
    rc, out, err = curl(srv.tport, certs, "/blob.bin", "-r", "1000-1999")
    ok(rc == 0 and out == files["blob.bin"][1000:2000], "curl_range", err)
    rc, out, err = curl(srv.tport, certs, "/hello.txt", "-v", "-o", "/dev/null",
                        "--next", "--cacert", os.path.join(certs, "ca.pem"),
                        "https://localhost:%d/style.css" % srv.tport)
    ok(rc == 0 and "Re-using existing connection" in err or "Reusing existing" in err,
       "curl_keepalive_reuses_connection", err[-400:])
    ok(b"Strict-Transport-Security" not in curl(srv.tport, certs, "/", "-I")[1],
       "no_hsts_by_default")


def python_clients(srv):
    ctx = ssl.create_default_context(cafile=os.path.join(certs, "ca.pem"))
    c = http.client.HTTPSConnection("localhost", srv.tport, context=ctx, timeout=10)
    c.request("GET", "/data.json")
    r = c.getresponse()
    body = r.read()
    c.request("GET", "/style.css")  # same connection
    r2 = c.getresponse()
    ok(r.status == 200 and body == files["data.json"] and r2.read() == files["style.css"],
       "http_client_keepalive")
    c.close()
    s = tls_connect(srv.tport, certs)
    n = 16
    s.sendall(b"GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n" * n)
    rd = Reader(s)
    bodies = [rd.read_response().body for _ in range(n)]
    ok(bodies == [files["hello.txt"]] * n, "pipelined_16")
    ok(s.version() == "TLSv1.3", "default_tls13", s.version())
    s.close()


def big_file(srv):
    size = (20 if SLOW else 200) * 1024 * 1024
    path = os.path.join(root, "huge.bin")
    with open(path, "wb") as f:
        for i in range(size // (1 << 20)):
            f.write(hashlib.sha256(b"%d" % i).digest() * 32768)
    want = hashlib.sha256(open(path, "rb").read()).hexdigest()
    out = os.path.join(base, "huge.out")
    t0 = time.time()
    rc, _, err = curl(srv.tport, certs, "/huge.bin", "-o", out, timeout=120)
    dt = time.time() - t0
    got = hashlib.sha256(open(out, "rb").read()).hexdigest() if rc == 0 else ""
    print("# %d MB over TLS in %.1f s" % (size >> 20, dt))
    ok(rc == 0 and got == want, "large_file_byte_exact_%dMB" % (size >> 20), err)
    os.unlink(out)


def versions_alpn(srv):
    o12 = s_client(srv.tport, certs, "-tls1_2", "-servername", "localhost")
    ok("Protocol  : TLSv1.2" in o12 and "ECDHE-ECDSA-AES" in o12 or "CHACHA20" in o12,
       "s_client_tls1_2", o12[-300:])
    o13 = s_client(srv.tport, certs, "-tls1_3")
    ok("TLSv1.3" in o13 and "Verify return code: 0 (ok)" in o13, "s_client_tls1_3", o13[-300:])
    o11 = s_client(srv.tport, certs, "-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0")
    ok("Cipher is (NONE)" in o11 or "no protocols available" in o11 or "alert" in o11,
       "tls1_1_refused", o11[-300:])
    a = s_client(srv.tport, certs, "-alpn", "h2,http/1.1")
    ok("ALPN protocol: http/1.1" in a, "alpn_http11", a[-300:])
    a = s_client(srv.tport, certs, "-alpn", "h2")
    ok("No ALPN negotiated" in a, "alpn_no_h2", a[-300:])


def sni():
    srv = TlsServer(root, certs, names=("localhost", "a.test", "b.test"))
    for name, want in (("a.test", "a.test"), ("www.b.test", "b.test"), ("other", "localhost")):
        o = s_client(srv.tport, certs, "-servername", name)
        ok("subject=CN = %s" % want in o, "sni_%s" % name, o[:300])
    o = s_client(srv.tport, certs, "-noservername")
    ok("subject=CN = localhost" in o, "sni_none_default")
    srv.stop()


def resumption(srv):
    for v in ("-tls1_3", "-tls1_2"):
        sess = os.path.join(base, "sess" + v)
        req = b"GET /hello.txt HTTP/1.0\r\n\r\n"
        first = s_client(srv.tport, certs, v, "-sess_out", sess, "-ign_eof", stdin=req)
        second = s_client(srv.tport, certs, v, "-sess_in", sess, "-ign_eof", stdin=req)
        ok(first.count("New, TLS") >= 1 and "Reused, TLS" in second and
           "Hello, eddy!" in second, "resumption" + v, second[:400])


def ticket_renewal():
    """--tls-ticket-renewal off: a TLS 1.3 resumption gets no fresh ticket and the one
    ticket resumes again (the default, a fresh one each time, is checked with -c)."""
    srv = TlsServer(root, certs, "--tls-ticket-renewal", "off")
    reused, ids = ticket_chain(srv.tport, certs)
    ok(reused == [False, True, True] and len(set(ids)) == 1, "ticket_renewal_off",
       "%r %r" % (reused, [i.hex()[:8] for i in ids]))
    srv.stop()


def handshake_timeout():
    srv = TlsServer(root, certs, "--tls-handshake-timeout", "1")
    got, dt = silent_client(srv.tport)
    ok(got == b"" and 0.8 <= dt <= 4, "handshake_timeout_idle", "%r after %.2f s" % (got, dt))
    # A ClientHello trickled a byte at a time does not extend the deadline.
    hello = client_hello()
    s = socket.create_connection(("127.0.0.1", srv.tport), timeout=10)
    t0, closed = time.time(), False
    for b in hello[:60]:
        try:
            s.send(bytes([b]))
        except OSError:
            closed = True
            break
        time.sleep(0.1)
    if not closed:
        s.settimeout(4)
        try:
            closed = s.recv(100) == b""
        except (ConnectionResetError, socket.timeout):
            closed = True
    ok(closed and time.time() - t0 < 7, "handshake_timeout_trickled")
    rc, out, _ = curl(srv.tport, certs, "/hello.txt")
    ok(rc == 0 and out == files["hello.txt"], "serves_after_timeouts")
    srv.stop()


def hostile(srv):
    cases = {
        "plain_http": b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        "garbage": os.urandom(2000),
        "truncated_record": b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
        "half_client_hello": client_hello()[:40],
    }
    for name, data in cases.items():
        s = socket.create_connection(("127.0.0.1", srv.tport), timeout=10)
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        t0 = time.time()
        try:
            while s.recv(4096):
                pass
            closed = True
        except ConnectionResetError:
            closed = True
        except socket.timeout:
            closed = False
        s.close()
        ok(closed and time.time() - t0 < 5, "hostile_" + name)
    # Leaving mid-handshake (no FIN first) and mid-response.
    s = socket.create_connection(("127.0.0.1", srv.tport), timeout=10)
    s.sendall(client_hello())
    s.close()
    s = tls_connect(srv.tport, certs)
    s.sendall(b"GET /huge.bin HTTP/1.1\r\nHost: x\r\n\r\n")
    s.recv(1000)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    s.close()  # a reset in the middle of the body
    rc, out, _ = curl(srv.tport, certs, "/hello.txt")
    ok(rc == 0 and out == files["hello.txt"], "serves_after_hostile_clients")
    ok(srv.proc.poll() is None, "server_alive_after_hostile_clients")


def renegotiation(srv):
    # s_client's "R" command asks for a renegotiation (TLS 1.2 only; 1.3 has none).
    p = subprocess.Popen(["openssl", "s_client", "-connect", "127.0.0.1:%d" % srv.tport,
                          "-tls1_2", "-CAfile", os.path.join(certs, "ca.pem")],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    time.sleep(1)
    p.stdin.write(b"R\n")
    p.stdin.flush()
    time.sleep(1)
    out = p.communicate(input=b"GET /hello.txt HTTP/1.0\r\n\r\n", timeout=20)[0]
    out = out.decode("latin-1")
    ok("RENEGOTIATING" in out and "Hello, eddy!" not in out and
       ("no renegotiation" in out or "alert" in out or "error" in out),
       "renegotiation_refused", out[-500:])


def hsts_and_redirect():
    srv = TlsServer(root, certs, "--hsts", "31536000", "--redirect-https")
    rc, out, _ = curl(srv.tport, certs, "/hello.txt", "-i")
    ok(b"Strict-Transport-Security: max-age=31536000" in out, "hsts_on_https")
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
    s.sendall(b"GET /sub/page.html?x=1 HTTP/1.1\r\nHost: example.test:8080\r\n\r\n")
    r = Reader(s).read_response()
    ok(r.status == 301 and
       r.header("Location") == "https://example.test:%d/sub/page.html?x=1" % srv.tport and
       r.header("Strict-Transport-Security") is None, "redirect_https",
       "%s %s" % (r.status, r.header("Location")))
    s.close()
    srv.stop()


def startup_errors():
    def run(args):
        p = subprocess.run([BINARY, "-r", root, "-l", "127.0.0.1:0", "--listen-tls",
                            "127.0.0.1:0"] + args, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=10)
        return p.returncode, p.stderr.decode()
    rc, err = run(["--tls-cert", "/nonexistent.pem", "--tls-key", "/x.key"])
    ok(rc != 0 and "/nonexistent.pem" in err and "No such file" in err, "error_missing_cert",
       err)
    rc, err = run(["--tls-cert", os.path.join(certs, "localhost.chain.pem"), "--tls-key",
                   os.path.join(certs, "a.test.key")])
    ok(rc != 0 and "a.test.key" in err and "mismatch" in err and "BEGIN" not in err,
       "error_mismatched_key", err)
    rc, err = run([])
    ok(rc != 0 and "--tls-cert" in err, "error_no_cert", err)


if NO_TLS:
    check_not_built(ok, BINARY, root, certs)
else:
    srv = TlsServer(root, certs)
    basic(srv)
    python_clients(srv)
    big_file(srv)
    versions_alpn(srv)
    resumption(srv)
    hostile(srv)
    renegotiation(srv)
    ok(srv.stop() == 0, "clean_exit")
    sni()
    ticket_renewal()
    handshake_timeout()
    hsts_and_redirect()
    startup_errors()
rmtree(base)
rmtree(certs)
done()
