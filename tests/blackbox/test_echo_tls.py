"""build/echo_tls_server (echo over TLS, tcp_server with the TLS transport) on every backend
with threads 0 and 2: concurrent clients get their streams back byte-exact (small messages
and multi-record ones), no ALPN is answered, and a client's close_notify is answered with the
server's (a clean TLS close both ways). SIGTERM stops the server with status 0."""
import os
import random
import signal
import socket
import ssl
import subprocess
import threading

from httpd_blackbox import BUILD, done, ok, time_limit
from tls_blackbox import NO_TLS, make_certs

time_limit(240)
SERVER = os.path.join(BUILD, "echo_tls_server")
certs = make_certs()
CTX = ssl.create_default_context(cafile=os.path.join(certs, "ca.pem"))
CTX.set_alpn_protocols(["http/1.1"])


def start(backend, threads):
    p = subprocess.Popen([SERVER, "-l", "127.0.0.1:0", "-t", str(threads), "-b", backend,
                          "--cert", os.path.join(certs, "localhost.chain.pem"),
                          "--key", os.path.join(certs, "localhost.key")],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    line = p.stderr.readline()
    return p, int(line.rsplit(":", 1)[1]) if "listening on" in line else 0


def client(port, seed, out):
    rnd = random.Random(seed)
    try:
        raw = socket.create_connection(("127.0.0.1", port), timeout=20)
        s = CTX.wrap_socket(raw, server_hostname="localhost")
        good = s.selected_alpn_protocol() is None
        for _ in range(50):
            n = rnd.choice([1, 13, 200, 5000, 70000])
            msg = rnd.randbytes(n)
            s.sendall(msg)
            got = bytearray()
            while len(got) < n:
                chunk = s.recv(n - len(got))
                if not chunk:
                    break
                got += chunk
            good = good and bytes(got) == msg
        s = s.unwrap()  # our close_notify, then the server's
        s.close()
        out.append(good)
    except (OSError, ssl.SSLError) as e:
        out.append(repr(e))


def config(backend, threads):
    tag = "%s_t%d" % (backend, threads)
    p, port = start(backend, threads)
    if not ok(port > 0, "started_" + tag):
        p.kill()
        return
    out = []
    ts = [threading.Thread(target=client, args=(port, i, out)) for i in range(8)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(120)
    ok(out == [True] * 8, "echo_byte_exact_and_close_notify_" + tag, str(out[:3]))
    p.send_signal(signal.SIGTERM)
    try:
        rc = p.wait(20)
    except subprocess.TimeoutExpired:
        p.kill()
        rc = None
    ok(rc == 0, "sigterm_exit_0_" + tag, str(rc))


if NO_TLS:
    p = subprocess.run([SERVER, "--cert", "a", "--key", "b"], stderr=subprocess.PIPE, timeout=10)
    ok(p.returncode != 0 and b"without TLS" in p.stderr, "echo_tls_not_built_refused")
else:
    for b in ("epoll", "epoll-et", "poll", "select"):
        for t in (0, 2):
            config(b, t)
subprocess.call(["rm", "-rf", certs])
done()
