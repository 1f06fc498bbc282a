"""eddy-httpd over HTTPS on every backend (epoll, epoll-et, poll, select) with threads 0 and
2: GET, HEAD, a range, keep-alive, pipelining, a multi-record file byte-exact, concurrent
clients; and a certificate swap by SIGHUP while requests run (connections made before it keep
working, new ones get the new certificate, a bad reload keeps the old one)."""
import hashlib
import os
import shutil
import signal
import threading
import time

from httpd_blackbox import BINARY, Reader, done, make_site, ok, rmtree, time_limit
from tls_blackbox import (NO_TLS, SLOW, TlsServer, check_not_built, curl, make_certs,
                          tls_connect)

time_limit(300)
base, root, files = make_site()
certs = make_certs()
MB = 2 if SLOW else 8
with open(os.path.join(root, "mid.bin"), "wb") as f:
    f.write(os.urandom(MB << 20))
mid = open(os.path.join(root, "mid.bin"), "rb").read()


def fetch(port, path, n=1):
    """n keep-alive GETs of path on one TLS connection; the bodies."""
    s = tls_connect(port, certs)
    rd, out = Reader(s), []
    for _ in range(n):
        s.sendall(b"GET %s HTTP/1.1\r\nHost: localhost\r\n\r\n" % path.encode())
        out.append(rd.read_response().body)
    s.close()
    return out


def matrix(backend, threads):
    tag = "%s_t%d" % (backend, threads)
    srv = TlsServer(root, certs, "-b", backend, "-t", str(threads))
    rc, out, err = curl(srv.tport, certs, "/hello.txt")
    ok(rc == 0 and out == files["hello.txt"], "get_" + tag, err)
    rc, out, _ = curl(srv.tport, certs, "/hello.txt", "-I")
    ok(rc == 0 and b"Content-Length: 13" in out, "head_" + tag)
    rc, out, _ = curl(srv.tport, certs, "/blob.bin", "-r", "70000-")
    ok(rc == 0 and out == files["blob.bin"][70000:], "range_" + tag)
    ok(fetch(srv.tport, "/style.css", 20) == [files["style.css"]] * 20, "keepalive_20_" + tag)
    s = tls_connect(srv.tport, certs)
    s.sendall(b"GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\nGET /blob.bin HTTP/1.1\r\nHost: x\r\n\r\n"
              * 8)
    rd = Reader(s)
    got = [rd.read_response().body for _ in range(16)]
    ok(got == [files["hello.txt"], files["blob.bin"]] * 8, "pipelined_" + tag)
    s.close()
    results = []

    def client():
        try:
            results.append(hashlib.sha256(fetch(srv.tport, "/mid.bin")[0]).digest())
        except Exception as e:  # noqa: BLE001 - any failure is a wrong result
            results.append(repr(e))
    ts = [threading.Thread(target=client) for _ in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(120)
    ok(results == [hashlib.sha256(mid).digest()] * 4, "concurrent_%dMB_%s" % (MB, tag))
    ok(srv.stop() == 0, "clean_exit_" + tag)


def sighup_swap():
    d = os.path.join(base, "live")
    os.makedirs(d)
    cert, key = os.path.join(d, "cert.pem"), os.path.join(d, "key.pem")
    shutil.copy(os.path.join(certs, "localhost.chain.pem"), cert)
    shutil.copy(os.path.join(certs, "localhost.key"), key)
    # Unlimited keep-alive requests: the three connections must live through both reloads.
    srv = TlsServer(root, certs, "-t", "2", "--keepalive-requests", "4294967295", "--tls-cert", cert,
                    "--tls-key", key, names=())
    stop, errors, count = threading.Event(), [], [0]

    def busy():
        try:
            s = tls_connect(srv.tport, certs)
            rd = Reader(s)
            while not stop.is_set():
                s.sendall(b"GET /blob.bin HTTP/1.1\r\nHost: x\r\n\r\n")
                if rd.read_response().body != files["blob.bin"]:
                    errors.append("bad body")
                count[0] += 1
            s.close()
        except Exception as e:  # noqa: BLE001
            errors.append(repr(e))
    ts = [threading.Thread(target=busy) for _ in range(3)]
    for t in ts:
        t.start()
    time.sleep(0.5)
    before = tls_connect(srv.tport, certs).getpeercert(binary_form=True)
    shutil.copy(os.path.join(certs, "rsa.chain.pem"), cert)
    shutil.copy(os.path.join(certs, "rsa.key"), key)
    srv.signal(signal.SIGHUP)
    time.sleep(1)
    after = tls_connect(srv.tport, certs).getpeercert(binary_form=True)
    # A broken pair (mismatched key): the reload fails and the RSA certificate stays.
    shutil.copy(os.path.join(certs, "a.test.key"), key)
    srv.signal(signal.SIGHUP)
    time.sleep(1)
    still = tls_connect(srv.tport, certs).getpeercert(binary_form=True)
    stop.set()
    for t in ts:
        t.join(30)
    rsa_der = open(os.path.join(certs, "rsa.pem")).read()
    import ssl as _ssl
    ok(after == _ssl.PEM_cert_to_DER_cert(rsa_der) and before != after, "sighup_swaps_cert")
    ok(still == after, "sighup_bad_pair_keeps_old")
    ok(not errors and count[0] > 10, "sighup_requests_uninterrupted",
       "%s, %d requests" % (errors[:3], count[0]))
    srv.stop()
    err = srv.err.decode("latin-1")
    ok("certificates reloaded" in err and "key.pem' does not match" in err,
       "sighup_logged", repr(err))


if NO_TLS:
    check_not_built(ok, BINARY, root, certs)
else:
    for backend in ("epoll", "epoll-et", "poll", "select"):
        for threads in (0, 2):
            matrix(backend, threads)
    sighup_swap()
rmtree(base)
rmtree(certs)
done()
