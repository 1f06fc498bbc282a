#!/usr/bin/env python3
"""build/api_server: routes with path parameters, query decoding (repeated keys), form
bodies and JSON answers, with 0 and 2 threads; malformed input gets 400/415/422."""
import http.client
import json
import os
import re
import signal
import subprocess
import sys

BUILD = os.environ.get("EDDY_BUILD", os.path.join(os.path.dirname(__file__), "..", "..", "build"))
failures = 0


def ok(cond, name, detail=""):
    global failures
    print("%s - %s%s" % ("ok" if cond else "not ok", name, "" if cond else "  # " + str(detail)))
    failures += 0 if cond else 1


def req(port, method, path, body=None, ctype="application/x-www-form-urlencoded"):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    headers = {"Content-Type": ctype} if body is not None else {}
    c.request(method, path, body=body, headers=headers)
    r = c.getresponse()
    data = r.read()
    c.close()
    try:
        doc = json.loads(data) if data else None
    except ValueError:
        doc = data
    return r.status, doc, r


def run(threads):
    p = subprocess.Popen([os.path.join(BUILD, "api_server"), "-l", "127.0.0.1:0", "-t",
                          str(threads)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                         text=True)
    port = int(re.search(r":(\d+)$", p.stderr.readline().strip()).group(1))
    t = "threads=%d: " % threads
    s, d, r = req(port, "POST", "/users", "name=J%C3%B6rg&tag=admin&tag=ops")
    ok(s == 201 and d == {"id": 1, "name": "J\u00f6rg", "tags": ["admin", "ops"]}
       and r.getheader("Location") == "/users/1", t + "POST a form creates a user", (s, d))
    s, d, _ = req(port, "POST", "/users", "name=Ann+Lee&tag=ops")
    ok(s == 201 and d["name"] == "Ann Lee", t + "'+' in a form value is a space", d)
    s, d, _ = req(port, "GET", "/users?tag=ops")
    ok(s == 200 and [u["id"] for u in d] == [1, 2], t + "query filter", d)
    s, d, _ = req(port, "GET", "/users?tag=ops&tag=admin")
    ok(s == 200 and [u["id"] for u in d] == [1], t + "repeated query keys all apply", d)
    s, d, _ = req(port, "GET", "/users?limit=1")
    ok(s == 200 and len(d) == 1, t + "limit", d)
    s, d, _ = req(port, "GET", "/users/2")
    ok(s == 200 and d["id"] == 2, t + "GET /users/:id", d)
    s, d, _ = req(port, "GET", "/users/2/greeting?lang=fr")
    ok(s == 200 and d == {"greeting": "Bonjour, Ann Lee"}, t + "nested parameter route", d)
    s, d, _ = req(port, "GET", "/users/2/greeting?lang=xx")
    ok(s == 400, t + "bad lang: 400", (s, d))
    s, d, _ = req(port, "GET", "/users/99")
    ok(s == 404 and d == {"error": "no such user"}, t + "unknown id: 404 JSON", (s, d))
    s, d, _ = req(port, "GET", "/users/2/x")
    ok(s == 404, t + "exact routes: no prefix match", s)
    s, d, _ = req(port, "GET", "/users?tag=%zz")
    ok(s == 400, t + "bad escape in the query: 400", (s, d))
    s, d, _ = req(port, "POST", "/users", "=x")
    ok(s == 400, t + "empty key in the form: 400", (s, d))
    s, d, _ = req(port, "POST", "/users", "tag=a")
    ok(s == 422, t + "missing name: 422", (s, d))
    s, d, _ = req(port, "POST", "/users", '{"name":"x"}', "application/json")
    ok(s == 415, t + "another content type: 415", (s, d))
    s, d, r = req(port, "PUT", "/users/1")
    ok(s == 405 and "GET" in r.getheader("Allow") and "DELETE" in r.getheader("Allow"),
       t + "PUT: 405 with Allow", (s, r.getheader("Allow")))
    s, d, _ = req(port, "DELETE", "/users/1")
    s2, _, _ = req(port, "GET", "/users/1")
    ok(s == 204 and s2 == 404, t + "DELETE then GET: 404", (s, s2))
    p.send_signal(signal.SIGTERM)
    ok(p.wait(timeout=10) == 0, t + "SIGTERM exits 0")


def main():
    run(0)
    run(2)
    print("# %d failed" % failures)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
