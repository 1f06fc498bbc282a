"""eddy-httpd -c with HTTPS: `listen ... tls`, tls_certificate per server chosen by SNI
against server_name (the default server's otherwise) while Host picks the server, the
ssl_* directives, -t errors with their line, the redirect to HTTPS, and reload swapping a
certificate and opening / closing TLS listeners. Certificates are made by gen_certs.sh."""
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from httpd_blackbox import ok, done, time_limit, free_port  # noqa: E402
from httpd_config_util import (ConfServer, check_config, read_all, refused, request,  # noqa: E402
                               wait_for, write_tree)
from tls_blackbox import (NO_TLS, TlsServer, make_certs, s_client, curl,  # noqa: E402
                          silent_client, tls_connect, ticket_chain)  # noqa: E402


def pair(certs, name):
    return (os.path.join(certs, name + ".chain.pem"), os.path.join(certs, name + ".key"))


def server_block(listen, names, root, cert, key, extra=""):
    return ("server { listen %s; server_name %s; root %s; tls_certificate %s; "
            "tls_certificate_key %s; %s }\n" % (listen, names, root, cert, key, extra))


def subject(port, certs, name):
    out = s_client(port, certs, *(["-servername", name] if name else ["-noservername"]))
    for line in out.splitlines():
        if line.startswith("subject="):
            return line.split("CN", 1)[-1].strip(" =")
    return out[-300:]


def has_ticket(port, certs):
    """Whether the session of one request/response carries a ticket (TLS 1.3 sends it
    after the handshake, so a full exchange is read first)."""
    c = tls_connect(port, certs)
    c.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
    read_all(c)
    t = c.session is not None and c.session.has_ticket
    c.close()
    return t


def body(port, certs, host, path="/", *args):
    rc, out, err = curl(port, certs, path, *args, host=host)
    return out if rc == 0 else ("curl %d: %s" % (rc, err)).encode()


def test_sni_vhosts(d, certs):
    lc, lk = pair(certs, "localhost")
    bc, bk = pair(certs, "b.test")
    text = "error_log %s/e.log info;\nssl_protocols TLSv1.2 TLSv1.3;\n" % d
    text += server_block("127.0.0.1:PORT tls default_server", "localhost", d + "/a", lc, lk)
    text += server_block("127.0.0.1:PORT ssl", "b.test *.b.test", d + "/b", bc, bk).replace(
        "tls_certificate", "ssl_certificate")
    s = ConfServer(text)
    ok(b"listening on https://127.0.0.1:%d" % s.port in s.err, "the TLS listener is announced",
       s.err.decode("latin-1")[-300:])
    ok(body(s.port, certs, "localhost") == b"A\n", "SNI localhost: the default server")
    ok(body(s.port, certs, "b.test") == b"B\n", "SNI b.test: its server (ssl_certificate alias)")
    ok(body(s.port, certs, "www.b.test") == b"B\n", "SNI www.b.test: the *.b.test server")
    ok(subject(s.port, certs, "b.test") == "b.test", "s_client -servername b.test: b.test's cert")
    ok(subject(s.port, certs, "x.y.b.test") == "b.test", "*.b.test covers deeper names (nginx)")
    ok(subject(s.port, certs, "unknown.example") == "localhost",
       "an unknown name gets the default server's certificate")
    ok(subject(s.port, certs, None) == "localhost", "no SNI: the default server's certificate")
    rc, out, _ = curl(s.port, certs, "/", "-H", "Host: localhost", host="b.test")
    ok(rc == 0 and out == b"A\n", "Host picks the server, not SNI (nginx semantics)", repr(out))
    ok(has_ticket(s.port, certs) is True, "tickets on by default (the check below can fail)")
    ok(s.stop() == 0, "exit 0")


def test_redirect_and_timeout(d, certs):
    lc, lk = pair(certs, "localhost")
    tport = free_port()
    text = "ssl_handshake_timeout 400ms; ssl_session_tickets off;\n"
    text += "server { listen 127.0.0.1:PORT; return 301 https://$host:%d$request_uri; }\n" % tport
    text += server_block("127.0.0.1:%d tls" % tport, "localhost", d + "/a", lc, lk)
    s = ConfServer(text)
    st, hd, _ = request(s.port, "/x?y=1", host="localhost")
    ok(st == 301 and hd.get("location") == "https://localhost:%d/x?y=1" % tport,
       "plain -> 301 to https://$host$request_uri", "%s %s" % (st, hd.get("location")))
    ok(body(tport, certs, "localhost") == b"A\n", "the HTTPS side serves")
    got, waited = silent_client(tport)
    ok(got == b"" and 0.2 < waited < 3, "ssl_handshake_timeout 400ms closes a silent client",
       "%.2fs" % waited)
    ok(has_ticket(tport, certs) is False, "ssl_session_tickets off: no ticket sent")
    ok(s.stop() == 0, "exit 0")


def test_flags_with_config(d, certs):
    """--listen-tls/--tls-cert/--tls-key/--hsts given with -c keep their meaning, beside the
    file's own TLS listener."""
    lc, lk = pair(certs, "localhost")
    fport = free_port()
    s = ConfServer(server_block("127.0.0.1:PORT tls", "b.test", d + "/b", *pair(certs, "b.test")),
                   "--listen-tls", "127.0.0.1:%d" % fport, "--tls-cert", lc, "--tls-key", lk,
                   "--hsts", "60")
    rc, out, _ = curl(fport, certs, "/", "-i", host="localhost")
    ok(rc == 0 and b"strict-transport-security: max-age=60" in out.lower() and
       out.endswith(b"B\n"), "--listen-tls with -c: its listener serves the file's servers",
       repr(out[-200:]))
    ok(body(s.port, certs, "b.test") == b"B\n", "... and the file's TLS listener still serves")
    ok(s.stop() == 0, "exit 0")


def check_error(d, name, text, want):
    path = os.path.join(d, name + ".conf")
    with open(path, "w") as f:
        f.write(text)
    rc, err = check_config(path)
    ok(rc == 1 and want % {"f": path} in err, "-t: " + name, err.strip()[-300:])


def test_ticket_renewal(d, certs):
    """tls_ticket_renewal off: no fresh ticket after a TLS 1.3 resumption, the one ticket
    resumes again; on (the default) renews it each time; --tls-ticket-renewal beats the file."""
    srv = server_block("127.0.0.1:PORT tls", "localhost", d + "/a", *pair(certs, "localhost"))
    for main_level, flags, renew in (("", (), True), ("tls_ticket_renewal off;\n", (), False),
                                     ("tls_ticket_renewal off;\n",
                                      ("--tls-ticket-renewal", "on"), True)):
        s = ConfServer(main_level + srv, *flags)
        reused, ids = ticket_chain(s.port, certs)
        what = "%s%s" % (main_level.strip() or "default", " " + " ".join(flags) if flags else "")
        ok(reused == [False, True, True], what + ": the 2nd and 3rd connections resume",
           repr(reused))
        ok(len(set(ids)) == (3 if renew else 1),
           what + (": a fresh ticket each time" if renew else ": the same ticket each time"),
           repr([i.hex()[:8] for i in ids]))
        ok(s.stop() == 0, "exit 0")


def test_check_errors(d, certs):
    lc, lk = pair(certs, "localhost")
    check_error(d, "no_cert", "server {\n  root %s/a;\n  listen 127.0.0.1:8443 tls;\n}\n" % d,
                '%(f)s:3: no "tls_certificate" and "tls_certificate_key" in the server of the '
                'TLS listener 127.0.0.1:8443')
    check_error(d, "one_server_without",
                server_block("127.0.0.1:8443 tls", "a", d + "/a", lc, lk) +
                "server {\n listen 127.0.0.1:8443 tls;\n server_name b; root %s/b; }\n" % d,
                "%(f)s:3: no \"tls_certificate\"")
    check_error(d, "missing_file",
                "server { listen 127.0.0.1:8443 tls; root %s/a;\n"
                "  tls_certificate %s/nope.pem;\n  tls_certificate_key %s; }\n" % (d, d, lk),
                "%(f)s:2: tls: certificate '" + d + "/nope.pem': No such file")
    check_error(d, "key_mismatch",
                "server { listen 127.0.0.1:8443 tls; root %s/a;\n"
                "  tls_certificate %s;\n  tls_certificate_key %s; }\n"
                % (d, lc, pair(certs, "b.test")[1]), "%(f)s:2: tls: private key")
    check_error(d, "protocols", "ssl_protocols TLSv1.2 TLSv9;\nserver { listen 127.0.0.1:80; }\n",
                '%(f)s:1: ssl_protocols: unknown protocol "TLSv9"')
    check_error(d, "ciphers_in_server", "server {\n listen 127.0.0.1:80;\n ssl_ciphers HIGH; }\n",
                '%(f)s:3: "ssl_ciphers" is not allowed here')
    check_error(d, "bad_ciphers",
                "ssl_ciphers NOTACIPHER;\n" +
                server_block("127.0.0.1:8443 tls", "a", d + "/a", lc, lk),
                "tls: cipher list 'NOTACIPHER'")
    check_error(d, "mixed_wildcard",
                "server { listen 0.0.0.0:8443 tls; root %s/a; tls_certificate %s; "
                "tls_certificate_key %s; }\nserver { listen 127.0.0.1:8443; }\n" % (d, lc, lk),
                "%(f)s:2: 127.0.0.1:8443 and 0.0.0.0:8443 share a port, one with TLS")
    check_error(d, "cert_outside_server", "tls_certificate %s;\nserver { listen 127.0.0.1:80; }\n"
                % lc, '%(f)s:1: "tls_certificate" is not allowed here')
    good = os.path.join(d, "good.conf")
    with open(good, "w") as f:
        f.write(server_block("127.0.0.1:8443 tls", "a", d + "/a", lc, lk))
    rc, err = check_config(good)
    ok(rc == 0 and "test is successful" in err, "-t: a valid TLS config", err)


def test_reload(d, certs):
    live_c, live_k = os.path.join(d, "live.pem"), os.path.join(d, "live.key")
    shutil.copy(pair(certs, "localhost")[0], live_c)
    shutil.copy(pair(certs, "localhost")[1], live_k)
    bc, bk = pair(certs, "b.test")
    port2 = free_port()
    base = "error_log %s/reload.log info;\n" % d
    one = base + server_block("127.0.0.1:PORT tls", "localhost b.test", d + "/a", live_c, live_k)
    s = ConfServer(one)
    ok(subject(s.port, certs, "b.test") == "localhost", "before reload: the first certificate")
    tls_conn = socket.create_connection(("127.0.0.1", s.port), timeout=5)
    ctx = ssl.create_default_context(cafile=os.path.join(certs, "ca.pem"))
    tls_conn = ctx.wrap_socket(tls_conn, server_hostname="localhost")
    shutil.copy(bc, live_c)
    shutil.copy(bk, live_k)
    two = one + server_block("127.0.0.1:%d tls" % port2, "b.test", d + "/b", bc, bk)
    s.write(two)
    s.signal(signal.SIGHUP)
    log = os.path.join(d, "reload.log")
    ok(wait_for(lambda: b"configuration reloaded" in open(log, "rb").read()), "reloaded")
    ok(subject(s.port, certs, "b.test") == "b.test", "after reload: the changed certificate file")
    ok(body(port2, certs, "b.test") == b"B\n", "a TLS listener added by the reload serves")
    tls_conn.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
    got = read_all(tls_conn)
    tls_conn.close()
    ok(got.startswith(b"HTTP/1.1 200") and got.endswith(b"A\n"),
       "a connection opened before the reload still serves", got[:60])
    s.write(base + server_block("127.0.0.1:%d tls" % port2, "b.test", d + "/b", bc, bk))
    s.signal(signal.SIGHUP)
    ok(wait_for(lambda: refused(s.port)), "a TLS listener removed by a reload is closed")
    ok(body(port2, certs, "b.test") == b"B\n", "the remaining TLS listener serves")
    s.write(base + server_block("127.0.0.1:%d tls" % port2, "b.test", d + "/b", bc,
                                d + "/missing.key"))
    s.signal(signal.SIGHUP)
    ok(wait_for(lambda: b"missing.key" in open(log, "rb").read()),
       "a reload naming a missing key fails with the file in the error log")
    ok(body(port2, certs, "b.test") == b"B\n", "... and the old certificates stay")
    ok(s.stop() == 0, "exit 0 after reloads")


def log_lines(path):
    try:
        with open(path, "rb") as f:
            return f.read().splitlines()
    except OSError:
        return []


def test_access_log(d, certs):
    lc, lk = pair(certs, "localhost")
    for fmt in ("combined_tls", ""):
        alog = os.path.join(d, "access_%s.log" % (fmt or "plain"))
        tport = free_port()
        s = ConfServer("access_log %s %s;\nserver { listen 127.0.0.1:PORT; root %s/a; }\n%s"
                       % (alog, fmt, d, server_block("127.0.0.1:%d tls" % tport, "localhost",
                                                     d + "/a", lc, lk)))
        body(tport, certs, "localhost", "/", "--tls-max", "1.2")
        body(tport, certs, "localhost", "/?v13")
        request(s.port, "/?plain")
        s.stop()
        lines = log_lines(alog)
        # each thread has its own buffer: lines are found by their target, not their order
        by = {t: [ln for ln in lines if b"GET %s HTTP" % t in ln] for t in (b"/", b"/?v13",
                                                                               b"/?plain")}
        got = {t: v[0] if len(v) == 1 else None for t, v in by.items()}
        if fmt:
            ok(len(lines) == 3 and got[b"/"].endswith(b'" TLSv1.2 ECDHE-ECDSA-AES128-GCM-SHA256')
               and got[b"/?v13"].endswith(b'" TLSv1.3 TLS_AES_128_GCM_SHA256')
               and got[b"/?plain"].endswith(b'" "-" - -'),
               "access_log ... combined_tls: TLS version and cipher last, - - for plain",
               repr(lines))
        else:
            ok(len(lines) == 3 and all(v is not None and v.endswith(b'"') for v in got.values())
               and b"TLS" not in b"".join(lines),
               "default combined format unchanged over TLS", repr(lines))
    alog = os.path.join(d, "flag.log")
    s = TlsServer(d + "/a", certs, "--access-log", alog, "--access-log-tls", "-t", "1")
    body(s.tport, certs, "localhost")
    s.stop()
    lines = log_lines(alog)
    ok(len(lines) == 1 and lines[0].endswith(b" TLSv1.3 TLS_AES_128_GCM_SHA256"),
       "--access-log-tls: the same without a config file", repr(lines))


def netns_part(d, certs):
    """Runs inside a fresh network namespace (unshare -n): 0.0.0.0:P binds nothing
    reachable from outside. A wildcard and a specific address on one port, plain and TLS."""
    subprocess.check_call(["ip", "link", "set", "lo", "up"])
    lc, lk = pair(certs, "localhost")
    bc, bk = pair(certs, "b.test")
    tport = free_port()
    s = ConfServer("server { listen 0.0.0.0:PORT; root %s/a; }\n"
                   "server { listen 127.0.0.1:PORT; root %s/b; }\n%s%s"
                   % (d, d, server_block("0.0.0.0:%d tls" % tport, "localhost", d + "/a", lc, lk),
                      server_block("127.0.0.1:%d tls" % tport, "b.test", d + "/b", bc, bk)))
    st1, _, b1 = request(s.port, "/")
    c = socket.create_connection(("127.0.0.2", s.port), timeout=5)
    c.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    got = read_all(c)
    c.close()
    ok(st1 == 200 and b1 == b"B\n", "127.0.0.1:P gets the specific address's server", repr(b1))
    ok(got.endswith(b"\r\n\r\nA\n"), "127.0.0.2:P gets the wildcard's server", repr(got[-40:]))
    ok(s.err.count(b"listening on http://") == 1, "only the wildcard is bound", repr(s.err))
    ok(subject(tport, certs, "b.test") == "b.test" and body(tport, certs, "b.test") == b"B\n",
       "TLS: the specific address's certificate and server through the wildcard")
    ok(s.stop() == 0, "exit 0")
    done()


def test_wildcard_and_specific(d, certs):
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        ok(False, "wildcard + specific address: needs root and unshare for a network namespace")
        return
    p = subprocess.run(["unshare", "-n", sys.executable, os.path.abspath(__file__), "--netns",
                        d, certs], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
    out = p.stdout.decode("latin-1")
    for line in out.splitlines():
        if line.startswith(("ok - ", "not ok - ")):
            ok(line.startswith("ok - "), "netns: " + line.split(" - ", 1)[1])
    ok(p.returncode == 0 and "not ok" not in out, "the namespace part passed", out[-500:])


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "--netns":
        time_limit(50)
        netns_part(sys.argv[2], sys.argv[3])
    time_limit(120)
    d = tempfile.mkdtemp(prefix="eddy-conftls-")
    write_tree(d, {"a/index.html": "A\n", "b/index.html": "B\n"})
    certs = make_certs()
    if NO_TLS:
        path = os.path.join(d, "t.conf")
        with open(path, "w") as f:
            f.write(server_block("127.0.0.1:8443 tls", "a", d + "/a", *pair(certs, "localhost")))
        rc, err = check_config(path)
        ok(rc == 1 and "without TLS" in err, "TLS=0: a TLS listener is a -t error", err)
        done()
    test_sni_vhosts(d, certs)
    test_redirect_and_timeout(d, certs)
    test_flags_with_config(d, certs)
    test_check_errors(d, certs)
    test_ticket_renewal(d, certs)
    test_reload(d, certs)
    test_access_log(d, certs)
    test_wildcard_and_specific(d, certs)
    shutil.rmtree(certs, ignore_errors=True)
    shutil.rmtree(d, ignore_errors=True)
    done()


if __name__ == "__main__":
    main()
