"""Helpers for the eddy-httpd config-file tests: a server started with -c on a config the
test writes (on a free port), and plain requests with any Host."""
import http.client
import os
import socket
import subprocess
import tempfile
import time

from httpd_blackbox import BINARY, Server, free_port


class ConfServer(Server):
    """eddy-httpd -c FILE; the config text gets PORT replaced by a free port."""

    def __init__(self, text, *args, port=None, wait=True, directory=None):
        self.port = port or free_port()
        self.dir = directory or tempfile.mkdtemp(prefix="eddy-conf-")
        self.conf = os.path.join(self.dir, "eddy.conf")
        self.write(text)
        self.root = self.dir
        self.args = ["-c", self.conf] + list(args)
        self.spawn(wait)

    def write(self, text):
        with open(self.conf, "w") as f:
            f.write(text.replace("PORT", str(self.port)))


def check_config(path):
    """eddy-httpd -t -c path: (exit status, stderr text)."""
    p = subprocess.run([BINARY, "-t", "-c", path], capture_output=True, timeout=10)
    return p.returncode, p.stderr.decode("utf-8", "replace")


def request(port, path, host="localhost", method="GET", headers=None, body=None,
            version=11):
    """One request on a new connection: (status, {lowercase name: value}, body bytes)."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    if version == 10:
        c._http_vsn, c._http_vsn_str = 10, "HTTP/1.0"
    h = {"Host": host}
    h.update(headers or {})
    c.request(method, path, body=body, headers=h)
    r = c.getresponse()
    data = r.read()
    hd = {}
    for k, v in r.getheaders():
        hd[k.lower()] = v if k.lower() not in hd else hd[k.lower()] + ", " + v
    c.close()
    return r.status, hd, data


def wait_for(cond, timeout=5):
    end = time.time() + timeout
    while time.time() < end:
        if cond():
            return True
        time.sleep(0.05)
    return cond()


def refused(port):
    """Whether a connection to 127.0.0.1:port is refused (its listener is closed)."""
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
        return False
    except OSError:
        return True


def read_all(sock):
    """Everything sock receives until the peer closes."""
    got = b""
    while True:
        chunk = sock.recv(4096)
        if not chunk:
            return got
        got += chunk


def write_tree(root, files):
    """files: {relative path: bytes or str}; directories made as needed."""
    for rel, content in files.items():
        p = os.path.join(root, rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "wb") as f:
            f.write(content.encode() if isinstance(content, str) else content)
