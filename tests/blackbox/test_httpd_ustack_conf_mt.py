#!/usr/bin/env python3
"""eddy-httpd --stack user with -c FILE, TLS and SIGHUP, inside a network namespace this test
creates and deletes (on failure too): ustack 198.18.0.2 on a TAP, the kernel side 198.18.0.1
the client (curl, openssl s_client run in the namespace).

The file: two virtual hosts on 198.18.0.2:8080 (a.test default, b.test), two on the wildcard
port 8081 (d.test default, a.test with another root), and a TLS listener 198.18.0.2:8443 whose
two servers (a.test, b.test) have their own certificates (tests/lib/gen_certs.sh). Checked,
once with one loop and once with --threads 2 (a two-queue TAP, one stack per thread): the body
of every Host on every port, HTTPS bodies through curl --cacert (small and 3 MB, byte-exact),
the certificate SNI picks (openssl s_client -servername), TLS 1.2 and 1.3, then a SIGHUP
reload while a download runs (the download ends byte-exact; a root changed, a listener added
and one removed, the certificates swapped). Then the same server from command-line options
(two --listen ports, --listen-tls with two certificates, --hsts). Needs root."""
import hashlib
import os
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ustack_ns import (BUILD, K_IP, US_IP, FAILED, Netns, ok, sanitized,  # noqa: E402
                       skip_without_root, stop)

HTTPD = os.path.join(BUILD, "eddy-httpd")
ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BIG = (3 << 20) + 12345


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb" if isinstance(data, bytes) else "w") as f:
        f.write(data)


def conf_text(d, certs, reloaded=False):
    def pair(n):
        return os.path.join(certs, n + ".chain.pem"), os.path.join(certs, n + ".key")
    ta, tb = pair("a.test"), pair("b.test")
    if reloaded:  # the certificates swapped: a.test's now serves b.test's chain and back
        ta, tb = tb, ta
    plain2 = "8082" if reloaded else "8081"
    broot = d + ("/b2" if reloaded else "/b")
    return ("error_log %s/error.log info;\n" % d +
            "server { listen %s:8080 default_server; server_name a.test; root %s/a; }\n"
            % (US_IP, d) +
            "server { listen %s:8080; server_name b.test; root %s; }\n" % (US_IP, broot) +
            "server { listen %s default_server; server_name d.test; root %s/d; }\n"
            % (plain2, d) +
            "server { listen %s; server_name a.test; root %s/a81; }\n" % (plain2, d) +
            "server { listen %s:8443 tls default_server; server_name a.test; root %s/ta; "
            "tls_certificate %s; tls_certificate_key %s; }\n" % (US_IP, d, ta[0], ta[1]) +
            "server { listen %s:8443 ssl; server_name b.test; root %s/tb; "
            "tls_certificate %s; tls_certificate_key %s; }\n" % (US_IP, d, tb[0], tb[1]))


def make_tree(d):
    for name in ("a", "b", "b2", "d", "a81", "ta", "tb"):
        write("%s/%s/index.html" % (d, name), "root %s\n" % name)
    big = os.urandom(BIG)
    write(d + "/ta/big.bin", big)
    write(d + "/a/big.bin", big)
    return hashlib.sha256(big).hexdigest()


class Client:
    """curl and openssl inside the namespace."""

    def __init__(self, ns, certs):
        self.ns, self.certs = ns, certs

    def curl(self, url, host, port, *args, timeout=60):
        scheme_host = url.split("/")[2].split(":")[0]
        cmd = ["curl", "-sS", "--http1.1", "--max-time", str(timeout), "--cacert",
               os.path.join(self.certs, "ca.pem"), "-H", "Host: %s" % host,
               "--resolve", "%s:%d:%s" % (scheme_host, port, US_IP)] + list(args) + [url]
        p = self.ns.run(cmd, timeout=timeout + 15, capture_output=True)
        return p.returncode, p.stdout, p.stderr.decode("latin-1")

    def body(self, port, host, path="/"):
        rc, out, err = self.curl("http://%s:%d%s" % (US_IP, port, path), host, port)
        return out.decode("latin-1") if rc == 0 else "curl %d: %s" % (rc, err.strip())

    def https(self, name, path="/", *args):
        rc, out, err = self.curl("https://%s:8443%s" % (name, path), name, 8443, *args)
        return out if rc == 0 else ("curl %d: %s" % (rc, err.strip())).encode()

    def s_client(self, *args):
        cmd = ["openssl", "s_client", "-connect", "%s:8443" % US_IP, "-CAfile",
               os.path.join(self.certs, "ca.pem")] + list(args)
        p = self.ns.run(cmd, timeout=30, input=b"", stdout=subprocess.PIPE,
                        stderr=subprocess.STDOUT)
        return p.stdout.decode("latin-1")

    def subject(self, name, *args):
        out = self.s_client("-servername", name, *args)
        for line in out.splitlines():
            if line.startswith("subject="):
                return line.split("CN", 1)[-1].strip(" =")
        return out[-300:]


def check_vhosts(c, tag, ports=(8080, 8081)):
    p80, p81 = ports
    want = {(p80, "a.test"): "root a\n", (p80, "b.test"): "root b\n",
            (p80, "other.test"): "root a\n", (p81, "a.test"): "root a81\n",
            (p81, "d.test"): "root d\n", (p81, "other.test"): "root d\n"}
    got = {k: c.body(k[0], k[1]) for k in want}
    ok(got == want, "%s_vhost_per_host_and_port" % tag, repr(got))


def check_tls(c, tag, digest):
    ok(c.https("a.test") == b"root ta\n", "%s_https_a" % tag, repr(c.https("a.test")[:200]))
    ok(c.https("b.test") == b"root tb\n", "%s_https_b" % tag, repr(c.https("b.test")[:200]))
    big = c.https("a.test", "/big.bin")
    ok(len(big) == BIG and hashlib.sha256(big).hexdigest() == digest,
       "%s_https_3mb_byte_exact" % tag, "%d bytes: %r" % (len(big), big[:200]))
    sa, sb = c.subject("a.test"), c.subject("b.test")
    ok(sa == "a.test" and sb == "b.test", "%s_sni_picks_certificate" % tag, "%r %r" % (sa, sb))
    for v in ("1_2", "1_3"):
        out = c.s_client("-servername", "b.test", "-tls" + v)
        proto = "TLSv" + v.replace("_", ".")
        ok(proto in out and "Verify return code: 0 (ok)" in out, "%s_tls%s" % (tag, v),
           out[-400:])


def wait_log(path, text, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if text in open(path, errors="replace").read():
                return True
        except OSError:
            pass
        time.sleep(0.05)
    return False


def check_reload(ns, c, srv, d, certs, tag, digest):
    """SIGHUP while a 3 MB HTTPS download runs, rate-limited so it spans the reload."""
    out = os.path.join(d, "dl.bin")
    dl = ns.popen(["curl", "-sS", "--http1.1", "--limit-rate", "1M", "--max-time", "60",
                   "--cacert", os.path.join(certs, "ca.pem"), "--resolve",
                   "a.test:8443:%s" % US_IP, "-o", out, "https://a.test:8443/big.bin"],
                  stderr=subprocess.PIPE)
    time.sleep(0.5)
    write(d + "/c.conf", conf_text(d, certs, reloaded=True))
    srv.send_signal(signal.SIGHUP)
    loaded = wait_log(d + "/error.log", "configuration reloaded")
    ok(loaded, "%s_reload_logged" % tag, open(d + "/error.log", errors="replace").read()[-500:])
    dl.wait(timeout=90)
    data = open(out, "rb").read() if os.path.exists(out) else b""
    ok(dl.returncode == 0 and len(data) == BIG and hashlib.sha256(data).hexdigest() == digest,
       "%s_download_across_reload_byte_exact" % tag, "rc %s, %d bytes" % (dl.returncode,
                                                                          len(data)))
    ok(c.body(8080, "b.test") == "root b2\n", "%s_reload_new_root" % tag, c.body(8080, "b.test"))
    ok(c.body(8082, "d.test") == "root d\n", "%s_reload_new_listener" % tag,
       c.body(8082, "d.test"))
    refused = c.body(8081, "d.test")
    ok(refused.startswith("curl 7"), "%s_reload_removed_listener" % tag, refused)
    sa, sb = c.subject("a.test"), c.subject("b.test")
    ok(sa == "b.test" and sb == "a.test", "%s_reload_swapped_certificates" % tag,
       "%r %r" % (sa, sb))
    got = c.https("b.test", "/", "--insecure")  # b.test now gets a.test's certificate
    ok(got == b"root tb\n", "%s_reload_https_still_served" % tag, repr(got[:200]))
    # An address ustack does not own: the reload is refused and logged, the config stays.
    write(d + "/c.conf", conf_text(d, certs, reloaded=True) +
          "server { listen 127.0.0.1:8084; root %s/d; }\n" % d)
    srv.send_signal(signal.SIGHUP)
    logged = wait_log(d + "/error.log", "reload: cannot listen on 127.0.0.1:8084")
    ok(logged and c.body(8080, "b.test") == "root b2\n", "%s_reload_bad_address_refused" % tag,
       open(d + "/error.log", errors="replace").read()[-500:])


def start(ns, argv, tap, log):
    p = ns.start_on_tap(argv, tap, log)
    if p is None or not wait_log(log.name, "listening on"):
        return None
    return p


def round_conf(ns, d, certs, digest, threads):
    tag = "threads%d" % threads
    tap = "eddyuc%d" % threads
    write(d + "/c.conf", conf_text(d, certs))
    if os.path.exists(d + "/error.log"):  # the last round's lines would answer wait_log
        os.unlink(d + "/error.log")
    log = open(os.path.join(d, "srv-%s.log" % tag), "w+")
    argv = [HTTPD, "-c", d + "/c.conf", "--stack", "user", "--tap", tap, "--ip", US_IP + "/24",
            "--threads", str(threads)]
    srv = start(ns, argv, tap, log)
    if not ok(srv is not None, "%s_conf_server_started" % tag, open(log.name).read()[-500:]):
        return
    c = Client(ns, certs)
    check_vhosts(c, tag)
    big = c.body(8080, "a.test", "/big.bin").encode("latin-1")
    ok(hashlib.sha256(big).hexdigest() == digest, "%s_http_3mb_byte_exact" % tag,
       "%d bytes" % len(big))
    check_tls(c, tag, digest)
    check_reload(ns, c, srv, d, certs, tag, digest)
    rc = stop(srv)
    text = open(log.name, errors="replace").read()
    ok(rc == 0, "%s_sigterm_exit_0" % tag, "status %s: %s" % (rc, text[-500:]))
    ok("Sanitizer" not in text, "%s_no_sanitizer_report" % tag, text[-2000:])
    subprocess.run(["ip", "-n", ns.name, "link", "del", tap], capture_output=True)


def round_cli(ns, d, certs, digest):
    tap = "eddyucli"
    log = open(os.path.join(d, "srv-cli.log"), "w+")
    argv = [HTTPD, "--stack", "user", "--tap", tap, "--ip", US_IP + "/24", "-r", d + "/ta",
            "-l", ":8080", "-l", US_IP + ":8081", "--listen-tls", ":8443", "--hsts", "60",
            "--access-log", d + "/access-cli.log", "--access-log-tls",
            "--tls-cert", certs + "/a.test.chain.pem", "--tls-key", certs + "/a.test.key",
            "--tls-cert", certs + "/b.test.chain.pem", "--tls-key", certs + "/b.test.key"]
    srv = start(ns, argv, tap, log)
    if not ok(srv is not None, "cli_server_started", open(log.name).read()[-500:]):
        return
    c = Client(ns, certs)
    ok(c.body(8080, "x") == "root ta\n" and c.body(8081, "x") == "root ta\n",
       "cli_both_listen_ports", c.body(8080, "x") + c.body(8081, "x"))
    sa, sb = c.subject("a.test"), c.subject("b.test")
    ok(sa == "a.test" and sb == "b.test", "cli_sni_picks_certificate", "%r %r" % (sa, sb))
    rc, body, err = c.curl("https://b.test:8443/big.bin", "b.test", 8443, "-D", "-")
    head, _, big = body.partition(b"\r\n\r\n")
    ok(rc == 0 and b"strict-transport-security: max-age=60" in head.lower() and
       hashlib.sha256(big).hexdigest() == digest, "cli_https_hsts_3mb_byte_exact",
       err + repr(head[:300]))
    ok(wait_log(d + "/access-cli.log", "/big.bin HTTP/1.1\" 200 %d" % BIG) and
       wait_log(d + "/access-cli.log", "TLSv1.3"), "cli_access_log_tls",
       open(d + "/access-cli.log", errors="replace").read()[-500:])
    srv.send_signal(signal.SIGHUP)
    ok(wait_log(log.name, "certificates reloaded"), "cli_sighup_reloads_certificates",
       open(log.name).read()[-500:])
    ok(c.https("a.test") == b"root ta\n", "cli_https_after_sighup")
    rc = stop(srv)
    text = open(log.name, errors="replace").read()
    ok(rc == 0, "cli_sigterm_exit_0", text[-500:])
    ok("Sanitizer" not in text, "cli_no_sanitizer_report", text[-2000:])


def refused_options(ns, d, certs):
    """What --stack user cannot take stops it at startup, naming the option (in the
    namespace: a TAP it may create goes with it)."""
    base = [HTTPD, "--stack", "user", "--tap", "eddyucx", "--ip", US_IP + "/24", "-r", d]
    cases = [("reuseport", ["--reuseport"], "--reuseport"),
             ("loopback", ["-l", "127.0.0.1:8080"], "127.0.0.1:8080"),
             ("ipv6", ["-l", "[::]:8080"], "[::]:8080"),
             ("unix_socket", ["-l", "unix:/tmp/x.sock"], "unix:"),
             ("other_address_tls", ["--listen-tls", "198.18.0.9:8443", "--tls-cert",
                                    certs + "/a.test.chain.pem", "--tls-key",
                                    certs + "/a.test.key"], "198.18.0.9"),
             ("kernel_backend", ["-b", "epoll"], "--backend")]
    for tag, extra, name in cases:
        try:
            p = ns.run(base + extra, timeout=20, capture_output=True)
            rc, err = p.returncode, p.stderr.decode(errors="replace")
        except subprocess.TimeoutExpired:
            rc, err = 0, "still running after 20 s"
        ok(rc != 0 and name in err, "refused_" + tag,
           "status %d: %s" % (rc, err[-300:]))


def main():
    skip_without_root("httpd_ustack_conf")
    certs = tempfile.mkdtemp(prefix="eddy_uc_certs_")
    subprocess.check_call(["bash", os.path.join(ROOT, "tests", "lib", "gen_certs.sh"), certs])
    with tempfile.TemporaryDirectory() as d, Netns("usconf") as ns:
        os.chmod(d, 0o755)
        digest = make_tree(d)
        for threads in (0, 2):
            round_conf(ns, d, certs, digest, threads)
        round_cli(ns, d, certs, digest)
        refused_options(ns, d, certs)
    subprocess.run(["rm", "-rf", certs])
    return 1 if FAILED else 0


if __name__ == "__main__":
    sys.exit(main())
