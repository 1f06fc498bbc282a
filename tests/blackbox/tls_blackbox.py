"""Helpers for the HTTPS black-box tests: certificates made at test time by
tests/lib/gen_certs.sh (openssl CLI), an eddy-httpd with a TLS listener, and clients
(Python's ssl, curl, openssl s_client). Servers listen on 127.0.0.1 only."""
import atexit
import os
import socket
import ssl
import subprocess
import tempfile
import time

from httpd_blackbox import BUILD, Server, free_port
from httpd_config_util import read_all

ROOT = os.environ.get("EDDY_ROOT") or os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                   "..", "..")
# Sanitizer builds are several times slower: smaller bulk transfers there.
SLOW = os.path.basename(os.path.normpath(BUILD)).startswith(("build-san", "build-tsan"))
NO_TLS = os.path.basename(os.path.normpath(BUILD)).endswith("-notls")
# A test that dies on an exception must not leave its servers running.
atexit.register(Server.kill_all)


def make_certs():
    d = tempfile.mkdtemp(prefix="eddy_certs_")
    subprocess.check_call(["bash", os.path.join(ROOT, "tests", "lib", "gen_certs.sh"), d])
    return d


def cert_args(certs, *names):
    args = []
    for n in names:
        args += ["--tls-cert", os.path.join(certs, n + ".chain.pem"),
                 "--tls-key", os.path.join(certs, n + ".key")]
    return args


class TlsServer(Server):
    """eddy-httpd with a plain listener (self.port) and a TLS one (self.tport)."""

    def __init__(self, root, certs, *args, names=("localhost",), tport=None, wait=True):
        for attempt in range(5):
            self.tport = tport or free_port()
            try:
                super().__init__(root, "--listen-tls", "127.0.0.1:%d" % self.tport,
                                 *(cert_args(certs, *names) + list(args)), wait=wait)
                return
            except RuntimeError:
                if tport is not None or attempt == 4 or self.busy_port() != self.tport:
                    raise
                self.stop()


def client_ctx(certs, version=None, alpn=None):
    c = ssl.create_default_context(cafile=os.path.join(certs, "ca.pem"))
    if version is not None:
        c.minimum_version = c.maximum_version = version
    if alpn:
        c.set_alpn_protocols(alpn)
    return c


def tls_connect(port, certs, host="localhost", timeout=10, **kw):
    raw = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return client_ctx(certs, **kw).wrap_socket(raw, server_hostname=host)


def ticket_chain(port, certs, n=3):
    """n TLS 1.3 connections, each offering the session the last one ended with: whether
    each resumed, and the session ids (OpenSSL names a ticket's session by the ticket's
    hash, so a fresh ticket gives a new id)."""
    ctx = client_ctx(certs, version=ssl.TLSVersion.TLSv1_3)
    sess, reused, ids = None, [], []
    for _ in range(n):
        raw = socket.create_connection(("127.0.0.1", port), timeout=10)
        c = ctx.wrap_socket(raw, server_hostname="localhost", session=sess)
        c.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        read_all(c)
        reused.append(c.session_reused)
        sess = c.session
        ids.append(sess.id)
        c.close()
    return reused, ids


def s_client(port, certs, *args, stdin=b"", timeout=20):
    """openssl s_client's combined output (text)."""
    cmd = ["openssl", "s_client", "-connect", "127.0.0.1:%d" % port, "-CAfile",
           os.path.join(certs, "ca.pem")] + list(args)
    p = subprocess.run(cmd, input=stdin, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=timeout)
    return p.stdout.decode("latin-1")


def curl(port, certs, path, *args, host="localhost", timeout=60):
    """(exit status, stdout bytes, stderr text) of curl over HTTPS to 127.0.0.1."""
    cmd = ["curl", "-sS", "--http1.1", "--cacert", os.path.join(certs, "ca.pem"),
           "--resolve", "%s:%d:127.0.0.1" % (host, port), "--max-time", str(timeout)]
    cmd += list(args) + ["https://%s:%d%s" % (host, port, path)]
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout + 10)
    return p.returncode, p.stdout, p.stderr.decode("latin-1")


def check_not_built(ok, binary, root, certs):
    """A build without TLS refuses the HTTPS options clearly."""
    p = subprocess.run([binary, "-r", root, "--listen-tls", "127.0.0.1:0"] +
                       cert_args(certs, "localhost"), stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=10)
    ok(p.returncode != 0 and b"without TLS" in p.stderr, "tls_not_built_refused",
       p.stderr.decode())


def silent_client(port, timeout=10):
    """Connects and sends nothing: (bytes received before the server closed, seconds)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    t0 = time.time()
    try:
        got = s.recv(100)
    except ConnectionResetError:
        got = b""
    dt = time.time() - t0
    s.close()
    return got, dt


def client_hello():
    """The first bytes a real client sends (Python's ssl through a memory BIO)."""
    ctx = ssl.create_default_context()
    inc, outg = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inc, outg, server_hostname="localhost")
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return outg.read()
