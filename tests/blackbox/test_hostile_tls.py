"""Hostile clients against eddy-httpd's TLS port: slowloris over TLS (headers a byte at a
time after the handshake), a flood of connections that never start a handshake, a trickled
ClientHello, a pipeliner that never reads, and resets at every stage. Each attack is bounded
in time; afterwards normal HTTPS clients are served, descriptors come back and the server
did not spin."""
import os
import socket
import ssl
import threading
import time

from httpd_blackbox import done, make_site, ok, rmtree, time_limit
from tls_blackbox import NO_TLS, SLOW, TlsServer, client_hello, curl, make_certs, tls_connect

time_limit(240)
base, root, files = make_site()
certs = make_certs()
with open(os.path.join(root, "big.bin"), "wb") as f:
    f.write(os.urandom(8 << 20))
CLK = os.sysconf("SC_CLK_TCK")
HS = 4 if SLOW else 2  # --tls-handshake-timeout


def cpu(pid):
    with open("/proc/%d/stat" % pid) as f:
        x = f.read().rsplit(")", 1)[1].split()
    return (int(x[11]) + int(x[12])) / CLK


def fds(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def rss_mib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0


def served(srv):
    rc, out, _ = curl(srv.tport, certs, "/hello.txt", timeout=10)
    return rc == 0 and out == files["hello.txt"]


def closed_by_server(s, wait):
    s.settimeout(wait)
    try:
        while True:
            if not s.recv(4096):
                return True
    except (ConnectionResetError, BrokenPipeError, ssl.SSLError, OSError) as e:
        return not isinstance(e, socket.timeout)


def slowloris_tls(srv):
    conns = [tls_connect(srv.tport, certs) for _ in range(30)]
    head = b"GET /hello.txt HTTP/1.1\r\nHost: localhost\r\nX-Slow: " + b"a" * 200
    t0, cut = time.time(), set()
    for i in range(len(head)):
        if len(cut) == len(conns) or time.time() - t0 > 10:
            break
        for k, s in enumerate(conns):
            if k in cut:
                continue
            try:
                s.send(head[i:i + 1])
            except OSError:
                cut.add(k)
        time.sleep(0.25)
    left = [s for k, s in enumerate(conns) if k not in cut]
    ok(all(closed_by_server(s, 4) for s in left) and time.time() - t0 < 10,
       "slowloris_tls_cut_by_header_timeout", "%.1f s" % (time.time() - t0))
    for s in conns:
        s.close()


def flood_no_handshake(srv):
    pid = srv.proc.pid
    fd0, c0 = fds(pid), cpu(pid)
    socks = []
    for _ in range(300):
        s = socket.socket()
        s.connect(("127.0.0.1", srv.tport))
        socks.append(s)
    ok(served(srv), "flood_tls_others_served_during")
    t0 = time.time()
    # The handshake timeout runs from the accept, which TCP_DEFER_ACCEPT delays by a
    # second or more for a client that sends nothing.
    budget = HS + 5
    alive = [s for s in socks if not closed_by_server(s, max(0.1, budget - (time.time() - t0)))]
    ok(not alive, "flood_tls_cut_by_handshake_timeout", "%d left" % len(alive))
    for s in socks:
        s.close()
    time.sleep(0.5)
    ok(fds(pid) <= fd0 + 2, "flood_tls_fds_back", "%d -> %d" % (fd0, fds(pid)))
    ok(cpu(pid) - c0 < 3.0, "flood_tls_no_busy_loop", "%.2f s CPU" % (cpu(pid) - c0))


def trickle(srv):
    hello = client_hello()
    socks = [socket.create_connection(("127.0.0.1", srv.tport)) for _ in range(10)]
    t0 = time.time()
    gone = set()
    for b in hello:
        if time.time() - t0 > 6:
            break
        for k, s in enumerate(socks):
            if k not in gone:
                try:
                    s.send(bytes([b]))
                except OSError:
                    gone.add(k)
        time.sleep(0.2)
    rest = [s for k, s in enumerate(socks) if k not in gone]
    ok(all(closed_by_server(s, 3) for s in rest), "trickled_client_hello_cut",
       "%.1f s" % (time.time() - t0))
    for s in socks:
        s.close()


def pipeline_noread(srv):
    pid = srv.proc.pid
    r0 = rss_mib(pid)
    s = tls_connect(srv.tport, certs)
    s.setblocking(False)
    req = b"GET /blob.bin HTTP/1.1\r\nHost: x\r\n\r\n" * 64
    t0, sent = time.time(), 0
    while time.time() - t0 < 3:
        try:
            sent += s.send(req)
        except (ssl.SSLWantWriteError, BlockingIOError):
            time.sleep(0.05)
        except OSError:
            break
    grow = rss_mib(pid) - r0
    ok(grow < 64, "pipeline_noread_tls_memory_bounded", "RSS +%.1f MiB, %d B sent" % (grow, sent))
    ok(served(srv), "pipeline_noread_tls_others_served")
    s.close()


def resets(srv):
    linger = b"\x01\x00\x00\x00\x00\x00\x00\x00"
    for i in range(60):
        s = socket.create_connection(("127.0.0.1", srv.tport))
        if i % 3 == 1:
            s.send(b"\x16\x03\x01\x00")
        if i % 3 == 2:
            s.close()
            s = tls_connect(srv.tport, certs)
            s.sendall(b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
            s.recv(1000)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
        s.close()
    ok(served(srv) and srv.proc.poll() is None, "resets_tls_server_fine")


if NO_TLS:
    from httpd_blackbox import BINARY
    from tls_blackbox import check_not_built
    check_not_built(ok, BINARY, root, certs)
else:
    srv = TlsServer(root, certs, "-t", "2", "--header-timeout", "2", "--tls-handshake-timeout",
                    str(HS))
    slowloris_tls(srv)
    flood_no_handshake(srv)
    trickle(srv)
    pipeline_noread(srv)
    resets(srv)
    ok(srv.stop() == 0, "clean_exit")
rmtree(base)
rmtree(certs)
done()
