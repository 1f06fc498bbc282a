"""eddy-httpd -b select past FD_SETSIZE: it says so at start, refuses (closes at once) the
connections it could not watch instead of hanging or corrupting them, keeps serving those it
holds, and serves again once clients leave."""
import os
import resource
import socket
import time

from httpd_blackbox import (Reader, Server, connect, done, get, make_site, ok, rmtree,
                            time_limit)

OVER = 1200  # connections offered, past FD_SETSIZE (1024)


def request(s):
    s.sendall(b"GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n")


def outcome(s):
    """'served', 'closed' (EOF or reset) or 'hung' for one connection with a request sent."""
    try:
        r = Reader(s).read_response()
        return "served" if r.status == 200 else "closed"
    except (EOFError, ConnectionError):
        return "closed"
    except socket.timeout:
        return "hung"


def main():
    time_limit(90)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    base, root, _ = make_site()
    srv = Server(root, "-b", "select", "-t", "0", "--keepalive-timeout", "60")
    try:
        ok(b"below 1024" in srv.err and b"select backend" in srv.err,
           "a select server says at start that it handles descriptors below FD_SETSIZE only",
           srv.err.decode(errors="replace"))
        socks = []
        for _ in range(OVER):
            try:
                s = connect(srv.port, timeout=5)
            except OSError:
                break  # the listen queue may fill up; what was offered is enough
            socks.append(s)
        for s in socks:
            try:
                request(s)
            except OSError:
                pass
        counts = {"served": 0, "closed": 0, "hung": 0}
        for s in socks:
            counts[outcome(s)] += 1
        ok(len(socks) > 1024, "more connections offered than FD_SETSIZE", str(len(socks)))
        ok(counts["hung"] == 0, "no connection left hanging", str(counts))
        ok(counts["served"] >= 900, "the connections it can watch are served", str(counts))
        ok(counts["closed"] >= len(socks) - 1024, "the ones past the limit are closed at once",
           str(counts))
        ok(srv.proc.poll() is None, "the server is still running")
        for s in socks:
            s.close()
        time.sleep(0.5)
        r = None
        for _ in range(20):
            try:
                r = get(srv.port, "/hello.txt")
                break
            except (OSError, EOFError):
                time.sleep(0.2)
        ok(r is not None and r.status == 200, "serves again once the clients left")
        ok(srv.stop() == 0, "exit 0 on SIGTERM")
    finally:
        Server.kill_all()
        rmtree(base)
    done()


if __name__ == "__main__":
    main()
