"""eddy-httpd -c: -t on good and broken files, virtual hosts chosen by Host, and each
per-request directive, against configs written here."""
import os
import re
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from httpd_blackbox import ok, done, time_limit, Server, BINARY  # noqa: E402
from httpd_config_util import ConfServer, check_config, request, write_tree  # noqa: E402


def test_check():
    d = tempfile.mkdtemp(prefix="eddy-t-")
    good = os.path.join(d, "good.conf")
    with open(good, "w") as f:
        f.write("server {\n listen 127.0.0.1:1;\n root %s;\n}\n" % d)
    rc, err = check_config(good)
    ok(rc == 0 and "test is successful" in err, "-t on a valid file exits 0", err)
    for args in (["-c", good, "-t"], ["--test", "-c", good]):
        p = subprocess.run([BINARY] + args, capture_output=True, timeout=10)
        ok(p.returncode == 0 and b"test is successful" in p.stderr, " ".join(args[:2]) + " ... ok")
    p = subprocess.run([BINARY, "-t"], capture_output=True, timeout=10)
    ok(p.returncode == 2 and b"-t needs -c FILE" in p.stderr, "-t alone: usage error")
    cases = [
        ("server {\n listen 127.0.0.1:1;\n root %s\n}\n" % d, 4, "unexpected \"}\""),
        ("\n\nserver {\n  listen 127.0.0.1:1;\n", 5, "unexpected end of file"),
        ("server {\n  listen 127.0.0.1:1;\n  rooot /x;\n}\n", 3, "unknown directive \"rooot\""),
        ("server {\n  listen nowhere:x;\n}\n", 2, "invalid listen address"),
        ("server {\n listen 127.0.0.1:1;\n location /a {\n  expires soon;\n }\n}\n", 4,
         "expires: invalid time"),
        ("keepalive_timeout 5q;\nserver {}\n", 1, "invalid time"),
        ("server {\n listen 127.0.0.1:1;\n root /nonexistent/eddy-root;\n}\n", 3,
         "No such file or directory"),
        ("server {\n listen 127.0.0.1:1;\n error_page 404;\n}\n", 3,
         "invalid number of arguments"),
        ("user nobody;\nserver {\n listen 127.0.0.1:1;\n server_name 'a\n", 4,
         "unterminated string"),
    ]
    for i, (text, line, msg) in enumerate(cases):
        p = os.path.join(d, "bad%d.conf" % i)
        with open(p, "w") as f:
            f.write(text)
        rc, err = check_config(p)
        want = "%s:%d: " % (p, line)
        ok(rc == 1 and err.startswith(want) and msg in err and err.count("\n") == 1,
           "-t on broken file %d: exit 1 and '%s...%s'" % (i, want, msg), "rc=%d %r" % (rc, err))
    inc = os.path.join(d, "inc.conf")
    with open(inc, "w") as f:
        f.write("include %s/bad2.conf;\n" % d)
    rc, err = check_config(inc)
    ok(rc == 1 and err.startswith(os.path.join(d, "bad2.conf") + ":3:"),
       "-t names the included file and its line", err)


def test_vhosts():
    d = tempfile.mkdtemp(prefix="eddy-vh-")
    write_tree(d, {"a/index.html": "site A\n", "b/index.html": "site B\n",
                   "c/index.html": "site C\n"})
    s = ConfServer("""
server { listen 127.0.0.1:PORT; server_name a.test; root %(d)s/a; }
server { listen 127.0.0.1:PORT; server_name b.test *.b.test; root %(d)s/b; }
""" % {"d": d})
    p = s.port
    ok(request(p, "/", "a.test")[2] == b"site A\n", "Host a.test -> server a")
    ok(request(p, "/", "B.TEST:%d" % p)[2] == b"site B\n", "Host B.TEST:port -> server b")
    ok(request(p, "/", "www.b.test")[2] == b"site B\n", "*.b.test matches www.b.test")
    ok(request(p, "/", "b.test.")[2] == b"site B\n", "a trailing dot is ignored")
    ok(request(p, "/", "other.test")[2] == b"site A\n", "unknown Host -> the first server")
    ok(s.stop() == 0, "exit 0")
    s = ConfServer("""
server { listen 127.0.0.1:PORT; server_name a.test; root %(d)s/a; }
server { listen 127.0.0.1:PORT default_server; server_name c.test; root %(d)s/c; }
""" % {"d": d})
    ok(request(s.port, "/", "nope")[2] == b"site C\n", "default_server wins for unknown Host")
    ok(request(s.port, "/", "a.test")[2] == b"site A\n", "named server still chosen")
    s.stop()


def test_directives():
    d = tempfile.mkdtemp(prefix="eddy-dir-")
    write_tree(d, {
        "www/index.html": "<h1>home</h1>\n", "www/page.txt": "plain\n", "www/s.css": "a{}\n",
        "www/x.cust": "custom\n", "www/.env": "SECRET\n", "www/.well-known/security.txt": "sec\n",
        "www/404.html": "custom not found\n", "www/list/one.txt": "1", "www/list/two.txt": "22",
        "www/noindex/f.txt": "f", "www/app/index.html": "<spa/>\n", "www/app/asset.js": "js();\n",
        "data/img.png": "PNG", "www/private/p.txt": "no", "www/home.htm": "htm home\n",
    })
    s = ConfServer("""
http {
  charset utf-8;
  add_header X-Main main;
  server {
    listen 127.0.0.1:PORT;
    root %(d)s/www;
    index index.html;
    types { text/x-custom cust; }
    error_page 404 /404.html;
    add_header X-Frame-Options DENY;
    add_header X-Always yes always;
    expires 1h;
    location /list/ { autoindex on; }
    location = /exact { return 200 "exact $uri on $host\\n"; }
    location /old/ { return 301 $scheme://$host/new$request_uri; }
    location /go { return https://example.test/; }
    location /img/ { alias %(d)s/data/; expires off; }
    location /private/ { deny all; }
    location /gone/ { return 404; }
    location /badpage/ { error_page 403 /nonexistent.html; deny all; }
    location /app/ { try_files $uri $uri/ /app/index.html; }
    location /dots/ { allow_dotfiles on; alias %(d)s/www/; }
    location /htm/ { alias %(d)s/www/; index home.htm; charset off; }
  }
}
""" % {"d": d})
    p = s.port
    st, h, b = request(p, "/")
    ok(st == 200 and b == b"<h1>home</h1>\n", "root + index")
    ok(h.get("content-type") == "text/html; charset=utf-8", "charset on text/html",
       h.get("content-type"))
    ok(request(p, "/page.txt")[1].get("content-type") == "text/plain; charset=utf-8",
       "charset on text/plain")
    ok(request(p, "/s.css")[1].get("content-type") == "text/css", "no charset on text/css")
    ok(request(p, "/x.cust")[1].get("content-type") == "text/x-custom", "types {} addition")
    ok(h.get("x-frame-options") == "DENY" and "x-main" not in h,
       "add_header at server replaces main's", str(h))
    ok(h.get("cache-control") == "max-age=3600" and "expires" in h, "expires 1h")
    st, h, b = request(p, "/missing")
    ok(st == 404 and b == b"custom not found\n", "error_page 404 serves the page with 404")
    ok(h.get("x-always") == "yes" and "x-frame-options" not in h,
       "on 404 only 'always' headers", str(h))
    st, h, b = request(p, "/.env")
    ok(st == 404 and b"SECRET" not in b, "dotfile 404")
    st, h, b = request(p, "/.well-known/security.txt")
    ok(st == 200 and b == b"sec\n", "/.well-known/ served")
    ok(request(p, "/dots/.env")[2] == b"SECRET\n", "allow_dotfiles on in a location")
    st, h, b = request(p, "/list/")
    ok(st == 200 and b"one.txt" in b and b"two.txt" in b, "autoindex on")
    ok(re.search(rb'two\.txt</a> <time>\d\d-\w\w\w-\d{4} \d\d:\d\d</time> <data>2</data>', b)
       is not None, "autoindex shows dates and sizes", b.decode("latin-1")[-300:])
    ok(request(p, "/noindex/")[0] == 403, "no index, autoindex off: 403")
    ok(request(p, "/list")[0] == 301 and request(p, "/list")[1].get("location") == "/list/",
       "directory without slash: 301")
    st, h, b = request(p, "/exact", "ex.test")
    ok(st == 200 and b == b"exact /exact on ex.test\n", "location = and return TEXT with $uri $host")
    ok(request(p, "/exact/more")[2] == b"custom not found\n", "exact location does not match longer")
    st, h, _ = request(p, "/old/x?q=1", "h.test")
    ok(st == 301 and h.get("location") == "http://h.test/new/old/x?q=1",
       "return 301 with $scheme $host $request_uri", str(h.get("location")))
    st, h, _ = request(p, "/go")
    ok(st == 302 and h.get("location") == "https://example.test/", "return URL -> 302")
    st, h, b = request(p, "/img/img.png")
    ok(st == 200 and b == b"PNG" and h.get("content-type") == "image/png", "alias")
    ok("cache-control" not in h, "expires off in a location")
    ok(request(p, "/private/p.txt")[0] == 403, "deny all -> 403")
    st, h, b = request(p, "/gone/x")
    ok(st == 404 and b == b"custom not found\n", "return 404 goes through error_page")
    st, h, b = request(p, "/badpage/x")
    ok(st == 403, "an error page that is missing: the first error's status", str(st))
    ok(request(p, "/app/asset.js")[2] == b"js();\n", "try_files $uri")
    st, h, b = request(p, "/app/some/route")
    ok(st == 200 and b == b"<spa/>\n", "try_files falls back to /app/index.html")
    st, h, b = request(p, "/htm/")
    ok(st == 200 and b == b"htm home\n" and h.get("content-type") == "text/html",
       "index in a location, charset off", str(h.get("content-type")))
    st, h, _ = request(p, "/", method="POST", body=b"x")
    ok(st == 405 and h.get("allow") == "GET, HEAD", "POST -> 405 with Allow")
    ok(s.stop() == 0, "exit 0")


def test_no_config_unchanged():
    d = tempfile.mkdtemp(prefix="eddy-nc-")
    write_tree(d, {"s.css": "a{}\n"})
    s = Server(d)
    ok(request(s.port, "/s.css")[1].get("content-type") == "text/css; charset=utf-8",
       "without -c: today's MIME behaviour")
    s.stop()


def main():
    time_limit(120)
    test_check()
    test_vhosts()
    test_directives()
    test_no_config_unchanged()
    done()


if __name__ == "__main__":
    main()
