"""The attacks. Each takes a Report and a started Server, runs for a bounded time,
checks its invariants through report.check() and returns a dict of measurements.

Shared rule: while an attack runs, a normal client (Prober) keeps making requests and
every one of them must succeed; after it, the server's fd count is back to its baseline.
"""
import os
import random
import select
import socket
import threading
import time

from hostile import (HOST, USTACK_TAP, HttpError, KeepAliveClient, Prober, get, read_response,
                     request_bytes, rst_close, settle_fds, wait_fds)


def _warm(server):
    """Requests every file on enough fresh connections to reach every reactor thread (each
    has its own open-file cache, holding an fd per file, and its own send ring, an io_uring
    made at its first keep-alive answer), so the baseline fd count taken afterwards
    includes them."""
    for _ in range(2 * (os.cpu_count() or 1) + 2):
        for path in ("/index.html", "/small.txt", "/mid.bin", "/big.bin", "/nope-404"):
            s = socket.create_connection((HOST, server.port), timeout=10)
            s.sendall(request_bytes(path, "HEAD"))
            read_response(s, head_only=True, deadline=time.monotonic() + 10)
            s.close()
    return settle_fds(server)


def _probe_check(report, name, prober):
    prober.stop()
    report.check(f"{name}: probe requests keep succeeding", prober.passed(), prober.summary())


def _fds_back(report, name, server, base, timeout=5.0):
    n = wait_fds(server, base, timeout)
    report.check(f"{name}: server fd count back to baseline", 0 <= n <= base,
                 f"baseline {base}, now {n}")
    return n


class _Watch:
    """Non-blocking sockets watched for the moment the server cuts them (EOF or RST)."""

    def __init__(self):
        self.socks = {}  # fd -> [sock, t_open, t_cut or None, first bytes received]
        self.poll = select.poll()

    def add(self, sock, t_open):
        sock.setblocking(False)
        self.socks[sock.fileno()] = [sock, t_open, None, b""]
        self.poll.register(sock.fileno(), select.POLLIN)

    def open_socks(self):
        return [e for e in self.socks.values() if e[2] is None]

    def _cut(self, e, now):
        e[2] = now
        try:
            self.poll.unregister(e[0].fileno())
        except (KeyError, ValueError):
            pass

    def check(self, timeout_ms=0):
        for fd, _ in self.poll.poll(timeout_ms):
            e = self.socks[fd]
            if e[2] is not None:
                continue
            try:
                data = e[0].recv(65536)
            except BlockingIOError:
                continue
            except OSError:
                data = b""
            if data:
                if len(e[3]) < 256:
                    e[3] += data[:256]
            else:
                self._cut(e, time.monotonic())

    def send(self, e, data):
        try:
            e[0].send(data)
        except BlockingIOError:
            pass
        except OSError:
            self._cut(e, time.monotonic())

    def close_all(self):
        for e in self.socks.values():
            rst_close(e[0])

    def cut_times(self):
        return [e[2] - e[1] for e in self.socks.values() if e[2] is not None]

    def statuses(self):
        out = {}
        for e in self.socks.values():
            key = e[3][:12].decode("latin-1") if e[3] else "(nothing)"
            out[key] = out.get(key, 0) + 1
        return out


def _run_watch(w, deadline, drip=None, interval=0.5):
    """Polls until every socket is cut or the deadline; drip(entry) is called every interval."""
    next_drip = time.monotonic() + interval
    while w.open_socks() and time.monotonic() < deadline:
        w.check(50)
        if drip and time.monotonic() >= next_drip:
            for e in w.open_socks():
                drip(e)
            next_drip += interval


def _cut_report(report, name, w, limit):
    times = w.cut_times()
    left = len(w.open_socks())
    worst = max(times) if times else float("inf")
    report.check(f"{name}: every attacking connection cut within {limit:.1f}s",
                 left == 0 and worst <= limit,
                 f"{len(times)} cut, {left} still open, earliest {min(times or [0]):.2f}s, "
                 f"latest {worst:.2f}s, server sent {w.statuses()}")
    return times


# ---------------------------------------------------------------- slow headers

def slowloris(report, server, conns=50, interval=0.5, timeout=2, slack=2.0):
    """Opens conns connections that send their header block one byte per interval."""
    name = "slowloris"
    base = _warm(server)
    prober = Prober(server.port)
    prober.start()
    w = _Watch()
    head = b"GET /index.html HTTP/1.1\r\nHost: 127.0.0.1\r\n" + b"X-a: b\r\n" * 10000
    pos = {}
    for _ in range(conns):
        s = socket.create_connection((HOST, server.port))
        w.add(s, time.monotonic())
        pos[s.fileno()] = 0

    def drip(e):
        i = pos[e[0].fileno()]
        w.send(e, head[i:i + 1])
        pos[e[0].fileno()] = i + 1

    for e in w.open_socks():
        drip(e)
    _run_watch(w, time.monotonic() + timeout + slack + 3, drip, interval)
    times = _cut_report(report, name, w, timeout + slack)
    _probe_check(report, name, prober)
    w.close_all()
    _fds_back(report, name, server, base)
    return {"cut_latest": max(times or [0]), "statuses": w.statuses()}


# ---------------------------------------------------------------- slow body

def slow_body(report, server, conns=20, timeout=2, slack=2.0, drip_conns=5):
    """Headers announce a 100 kB body; a few bytes come, then nothing (half POST, half GET).

    drip_conns more connections keep sending one body byte every timeout/2 seconds:
    reported only (a per-read body timeout, as nginx has, never cuts them; the bound on
    those is the body size and --max-connections).
    """
    name = "slow body"
    base = _warm(server)
    prober = Prober(server.port)
    prober.start()
    w, dripw = _Watch(), _Watch()
    for i in range(conns + drip_conns):
        method = "POST" if i % 2 == 0 else "GET"
        s = socket.create_connection((HOST, server.port))
        s.sendall(request_bytes("/index.html", method, extra="Content-Length: 100000\r\n")
                  + b"0123456789")
        (w if i < conns else dripw).add(s, time.monotonic())
    t_end = time.monotonic() + timeout + slack + 3
    next_drip = time.monotonic() + timeout / 2
    while (w.open_socks() or dripw.open_socks()) and time.monotonic() < t_end:
        w.check(20)
        dripw.check(20)
        if time.monotonic() >= next_drip:
            for e in dripw.open_socks():
                dripw.send(e, b"x")
            next_drip += timeout / 2
    times = _cut_report(report, name, w, timeout + slack)
    dt = dripw.cut_times()
    report.note(f"slow body, one byte per {timeout / 2:.1f}s: {len(dt)} of {drip_conns} cut "
                f"(server sent {dripw.statuses()})")
    _probe_check(report, name, prober)
    w.close_all()
    dripw.close_all()
    _fds_back(report, name, server, base)
    return {"cut_latest": max(times or [0])}


# ---------------------------------------------------------------- slow read

def slow_read(report, server, conns=10, timeout=2, slack=3.0, path="/big.bin"):
    """Clients with a tiny receive window ask for a large file and never read."""
    name = "slow read"
    base = _warm(server)
    size = os.path.getsize(os.path.join(server.root, path.lstrip("/")))
    prober = Prober(server.port)
    prober.start()
    socks = []
    t0 = time.monotonic()
    for _ in range(conns):
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.connect((HOST, server.port))
        s.sendall(request_bytes(path))
        socks.append(s)
    time.sleep(0.3)
    held = server.fds()
    n = wait_fds(server, base, timeout + slack + 3)
    t_cut = time.monotonic() - t0
    if USTACK_TAP:  # no fd shows ustack's cut: the send timeout runs out before we read
        time.sleep(max(0.0, t0 + timeout + slack - time.monotonic()))
    report.check(f"{name}: server drops the {conns} stalled readers within {timeout + slack:.1f}s",
                 n <= base and t_cut <= timeout + slack,
                 f"fds {base} -> {held} -> {n} after {t_cut:.2f}s")
    # The client side must see the cut too: a short body, then EOF or RST.
    got = []
    for s in socks:
        s.settimeout(5)
        total = 0
        try:
            while True:
                d = s.recv(1 << 20)
                if not d:
                    break
                total += len(d)
        except OSError:
            pass
        got.append(total)
        s.close()
    report.check(f"{name}: the readers got a truncated response (connection cut)",
                 all(g < size for g in got), f"file {size} bytes, clients got up to {max(got)}")
    _probe_check(report, name, prober)
    _fds_back(report, name, server, base)
    return {"cut_after": t_cut}


# ---------------------------------------------------------------- connection flood

def flood(report, server, n=600, hold=3.0, existing=4, cpu_frac=0.15, label="flood",
          strict_status=True):
    """Opens n idle connections at once and holds them for `hold` seconds.

    existing keep-alive clients, connected before the flood, keep making requests; the
    server's CPU time over the hold window must stay under cpu_frac of it (no busy loop
    on a full connection table or on EMFILE); after the flood new clients are served.
    With strict_status False (the file limit is exhausted, so opening a file can fail)
    an existing client only needs a well-formed answer.
    """
    name = label
    base = _warm(server)
    clients = [KeepAliveClient(server.port) for _ in range(existing)]
    for c in clients:
        c.get()
    flood_socks = []
    for _ in range(n):
        try:
            s = socket.socket()
        except OSError as e:  # our own descriptor limit: the attack would be weaker
            report.check(f"{name}: open {n} connections", False, f"after {len(flood_socks)}: {e}")
            break
        s.setblocking(False)
        try:
            s.connect((HOST, server.port))
        except BlockingIOError:
            pass
        except OSError:
            s.close()
            continue
        flood_socks.append(s)
    time.sleep(0.5)  # the server takes in what it can
    cpu0, t0 = server.cpu(), time.monotonic()
    served, bad = 0, []
    peak_fds = server.fds()
    while time.monotonic() - t0 < hold:
        for c in clients:
            try:
                status, body = c.get()
                if status == 200 or (not strict_status and 100 <= status < 600):
                    served += 1
                else:
                    bad.append(f"status {status}")
            except (OSError, HttpError) as e:
                bad.append(f"{type(e).__name__}: {e}")
                try:
                    c.close()
                    c.reconnect()
                except OSError:
                    pass
        peak_fds = max(peak_fds, server.fds())
        time.sleep(0.1)
    window = time.monotonic() - t0
    cpu = server.cpu() - cpu0
    report.check(f"{name}: no busy loop while {n} connections are held",
                 cpu <= cpu_frac * window,
                 f"server CPU {cpu:.2f}s over {window:.1f}s (limit {cpu_frac * window:.2f}s), "
                 f"peak fds {peak_fds}")
    report.check(f"{name}: existing clients keep being served", served > 0 and not bad,
                 f"{served} served, {len(bad)} failed" + (f": {bad[0]}" if bad else ""))
    for s in flood_socks:
        rst_close(s)
    for c in clients:
        c.close()
    t_rec = time.monotonic()
    recovered = None
    while time.monotonic() - t_rec < 5:
        try:
            if get(server.port, timeout=2)[0] == 200:
                recovered = time.monotonic() - t_rec
                break
        except (OSError, HttpError):
            pass
        time.sleep(0.05)
    report.check(f"{name}: new clients served once the flood stops", recovered is not None,
                 f"after {recovered:.2f}s" if recovered is not None else "not within 5s")
    ok = sum(1 for _ in range(20) if get(server.port)[0] == 200) if recovered is not None else 0
    report.check(f"{name}: 20 fresh requests after recovery all succeed", ok == 20, f"{ok}/20")
    _fds_back(report, name, server, base)
    return {"cpu": cpu, "window": window, "recovered": recovered}


# ---------------------------------------------------------------- pipelining, never read

def pipeline_noread(report, server, clients=1, n=10000, hold=3.0, rss_limit_mib=64):
    """Each client writes n pipelined requests at once and never reads a byte."""
    name = "pipeline flood"
    base = _warm(server)
    rss0 = server.rss_kib()
    paths = ["/small.txt", "/index.html", "/nope-404", "/small.txt?x=1"]
    payload = b"".join(request_bytes(paths[i % len(paths)]) for i in range(n))
    prober = Prober(server.port)
    prober.start()
    socks = []
    for _ in range(clients):
        s = socket.create_connection((HOST, server.port))
        s.setblocking(False)
        socks.append([s, 0])
    t0 = time.monotonic()
    peak = rss0
    while time.monotonic() - t0 < hold:
        for e in socks:
            if e[1] < len(payload):
                try:
                    e[1] += e[0].send(payload[e[1]:])
                except BlockingIOError:
                    pass
                except OSError:
                    e[1] = len(payload)
        peak = max(peak, server.rss_kib())
        time.sleep(0.02)
    grow = (peak - rss0) / 1024
    sent = sum(e[1] for e in socks)
    report.check(f"{name}: server RSS bounded while {clients}x{n} requests sit unread",
                 grow < rss_limit_mib,
                 f"RSS {rss0 // 1024} MiB -> peak {peak // 1024} MiB (+{grow:.1f} MiB, limit "
                 f"{rss_limit_mib}); {sent} of {clients * len(payload)} request bytes accepted")
    _probe_check(report, name, prober)
    for e in socks:
        rst_close(e[0])
    _fds_back(report, name, server, base)
    return {"rss_growth_mib": grow}


# ---------------------------------------------------------------- resets under load

def _reset_once(s, kind, rnd):
    if kind == "mid-request":
        req = request_bytes("/index.html")
        s.sendall(req[:rnd.randrange(1, len(req))])
    elif kind == "mid-body":
        s.sendall(request_bytes("/index.html", "POST", extra="Content-Length: 5000\r\n")
                  + b"x" * rnd.randrange(0, 4000))
    elif kind == "mid-response":
        path = rnd.choice(["/big.bin", "/mid.bin"])
        s.sendall(request_bytes(path))
        # stop reading somewhere inside the body (mid.bin is 1 MiB)
        want, got = rnd.randrange(1, (2 << 20) if path == "/big.bin" else (1 << 20)), 0
        while got < want:
            d = s.recv(65536)
            if not d:
                break
            got += len(d)
    elif kind == "unread-pipeline":
        s.sendall(request_bytes("/mid.bin") * rnd.randrange(2, 50))
        time.sleep(rnd.random() * 0.02)
    else:
        s.sendall(request_bytes("/small.txt"))
        read_response(s, deadline=time.monotonic() + 5)


def _reset_worker(port, stop, counts, lock, rnd):
    kinds = ["mid-request", "mid-body", "mid-response", "unread-pipeline", "after-response"]
    while not stop.is_set():
        kind = rnd.choice(kinds)
        try:
            s = socket.create_connection((HOST, port), timeout=5)
        except OSError as e:
            kind = f"error connect {type(e).__name__}"
        else:
            try:
                _reset_once(s, kind, rnd)
            except (OSError, HttpError) as e:
                kind = f"error {kind} {type(e).__name__}"
            finally:
                rst_close(s)
        with lock:
            counts[kind] = counts.get(kind, 0) + 1


def reset_storm(report, server, duration=5.0, workers=8, seed=1):
    """workers threads open connections and reset them (SO_LINGER 0) at random points."""
    name = "reset storm"
    base = _warm(server)
    prober = Prober(server.port)
    prober.start()
    stop, lock, counts = threading.Event(), threading.Lock(), {}
    threads = [threading.Thread(target=_reset_worker, daemon=True,
                                args=(server.port, stop, counts, lock, random.Random(seed + i)))
               for i in range(workers)]
    for t in threads:
        t.start()
    time.sleep(duration)
    stop.set()
    for t in threads:
        t.join(10)
    total = sum(v for k, v in counts.items() if not k.startswith("error"))
    report.check(f"{name}: server survives {total} reset connections", server.alive(),
                 f"{counts}")
    _probe_check(report, name, prober)
    _fds_back(report, name, server, base)
    return {"resets": total, "counts": counts}


# ---------------------------------------------------------------- graceful shutdown

class _Downloader(threading.Thread):
    """Keep-alive client fetching `path` in a loop, reading at most `rate` bytes/s."""

    def __init__(self, port, path, rate):
        super().__init__(daemon=True)
        self.port, self.path, self.rate = port, path, rate
        self.done = []  # completion times
        self.truncated = []
        self.started = False
        self.stop_ev = threading.Event()

    def _one(self, s):
        self.started = False
        s.sendall(request_bytes(self.path))
        buf, t0 = b"", time.monotonic()
        while b"\r\n\r\n" not in buf:
            d = s.recv(65536)
            if not d:
                if self.started:
                    self.truncated.append("EOF inside the header block")
                return False
            self.started = True
            buf += d
        head, body = buf.split(b"\r\n\r\n", 1)
        length = int([l.split(b":")[1] for l in head.split(b"\r\n")
                      if l.lower().startswith(b"content-length:")][0])
        got = len(body)
        while got < length:
            d = s.recv(min(65536, length - got))
            if not d:
                self.truncated.append(f"{got} of {length} body bytes")
                return False
            got += len(d)
            if self.rate:
                ahead = got / self.rate - (time.monotonic() - t0)
                if ahead > 0:
                    time.sleep(ahead)
        self.done.append(time.monotonic())
        return True

    def run(self):
        while not self.stop_ev.is_set():
            try:
                s = socket.create_connection((HOST, self.port), timeout=20)
            except OSError:
                return  # listener closed: the server is shutting down
            try:
                while not self.stop_ev.is_set() and self._one(s):
                    pass
            except ConnectionResetError as e:
                if self.started:  # a reset before any byte: the request was not taken
                    self.truncated.append(f"reset: {e}")
            except OSError:
                pass
            finally:
                s.close()


def graceful_shutdown(report, server, small=6, big=4, rate=16 << 20, warm=1.5, limit=20,
                      stuck=2, drain=None):
    """Under load (small keep-alive requests and rate-limited large downloads), the server
    gets its stop signal: every response already started must arrive whole; exit 0.

    stuck clients ask for the large file and never read: with drain (the server's drain
    deadline, seconds) the server must still exit within it plus a margin.
    """
    name = "graceful shutdown"
    clients = ([_Downloader(server.port, "/small.txt", 0) for _ in range(small)]
               + [_Downloader(server.port, "/big.bin", rate) for _ in range(big)])
    for c in clients:
        c.start()
    stuck_socks = []
    for _ in range(stuck):
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.connect((HOST, server.port))
        s.sendall(request_bytes("/big.bin"))
        stuck_socks.append(s)
    time.sleep(warm)
    t_sig = time.monotonic()
    server.proc.send_signal(server.graceful_signal())
    try:
        rc = server.proc.wait(limit)
    except Exception:
        rc = None
    t_exit = time.monotonic() - t_sig
    for c in clients:
        c.stop_ev.set()
    for c in clients:
        c.join(30)
    for s in stuck_socks:
        s.close()
    truncated = [t for c in clients for t in c.truncated]
    before = sum(1 for c in clients for t in c.done if t < t_sig)
    after = sum(1 for c in clients for t in c.done if t >= t_sig)
    report.check(f"{name}: exits 0 after the stop signal", rc == 0,
                 f"exit {rc} after {t_exit:.2f}s")
    if drain is not None:
        report.check(f"{name}: {stuck} clients that never read do not hold the exit past the "
                     f"drain deadline ({drain}s)", rc is not None and t_exit <= drain + 3,
                     f"exited after {t_exit:.2f}s")
    report.check(f"{name}: no started response truncated", not truncated,
                 f"{len(truncated)} truncated" + (f": {truncated[:3]}" if truncated else ""))
    report.check(f"{name}: responses in flight at the signal were completed", after > 0,
                 f"{before} completed before the signal, {after} after it")
    return {"exit": rc, "exit_after": t_exit, "completed_after": after}


# ---------------------------------------------------------------- bodies held in memory

def body_hold(report, server, conns=100, size=(1 << 20) - 4096, hold=3.0, rss_limit_mib=64):
    """conns connections each send a request head for a static file announcing a body just
    under the default --max-body, then all of it but the last byte, and stall.

    A static file takes no body: a server that buffers it anyway holds conns x size bytes
    an attacker sent once and forgot (nginx discards such bodies as they arrive).
    """
    name = "body hold"
    base = _warm(server)
    rss0 = server.rss_kib()
    prober = Prober(server.port)
    prober.start()
    chunk = b"b" * (size - 1)
    socks = []
    for _ in range(conns):
        s = socket.create_connection((HOST, server.port))
        s.setblocking(False)
        socks.append([s, request_bytes("/index.html", "POST",
                                       extra=f"Content-Length: {size}\r\n") + chunk])
    t0 = time.monotonic()
    peak = rss0
    while time.monotonic() - t0 < hold:
        for e in socks:
            if e[1]:
                try:
                    e[1] = e[1][e[0].send(e[1]):]
                except BlockingIOError:
                    pass
                except OSError:
                    e[1] = b""
        peak = max(peak, server.rss_kib())
        time.sleep(0.01)
    grow = (peak - rss0) / 1024
    left = sum(len(e[1]) for e in socks)
    report.check(f"{name}: server RSS bounded while {conns} bodies of {size >> 10} KiB stall",
                 grow < rss_limit_mib,
                 f"RSS {rss0 // 1024} MiB -> peak {peak // 1024} MiB (+{grow:.1f} MiB, limit "
                 f"{rss_limit_mib}); {conns * (size - 1) - left} body bytes accepted")
    _probe_check(report, name, prober)
    for e in socks:
        rst_close(e[0])
    _fds_back(report, name, server, base)
    return {"rss_growth_mib": grow}
