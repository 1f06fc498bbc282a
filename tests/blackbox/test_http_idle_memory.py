"""Idle keep-alive connections are cheap: build/hello_server holding 4000 idle keep-alive
connections (each made one request first, held by build/bench/idle_conns) grows its RSS by
less than 1 KiB per connection (8 KiB under the sanitizers, whose allocator pads)."""
import os
import subprocess
import sys
import time

from httplib_client import Server, Tap, check

BUILD = os.environ.get("EDDY_BUILD", os.path.join(os.path.dirname(__file__), "../../build"))
HELLO = os.path.join(BUILD, "hello_server")
IDLE = os.path.join(BUILD, "bench", "idle_conns")
N = 4000
SANITIZED = os.path.basename(os.path.normpath(BUILD)) in ("build-san", "build-tsan")
LIMIT = 8192 if SANITIZED else 1024


def t_idle_memory(threads):
    srv = Server([HELLO, "-l", "127.0.0.1:0", "-t", str(threads)])
    try:
        time.sleep(0.2)
        rss0 = srv.rss_kib()
        p = subprocess.Popen([IDLE, "-p", str(srv.port), "-n", str(N), "-r", "/plaintext", "-d", "4"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        line = p.stdout.readline().decode()
        check(line.startswith("holding %d" % N), "idle_conns: %r %r" % (line, p.stderr.read(300)))
        time.sleep(0.5)
        rss1 = srv.rss_kib()
        per = (rss1 - rss0) * 1024 / N
        print("# %d threads: %d idle connections, RSS %d -> %d KiB, %.0f bytes each"
              % (threads, N, rss0, rss1, per))
        p.wait(timeout=30)
        check(p.returncode == 0, "idle_conns held every connection (exit %s)" % p.returncode)
        check(per < LIMIT, "%.0f bytes per idle connection (limit %d)" % (per, LIMIT))
        check(srv.alive(), "server alive")
    finally:
        srv.stop()


def main():
    tap = Tap()
    tap.run("idle keep-alive memory, one reactor", t_idle_memory, 0)
    tap.run("idle keep-alive memory, two sub-reactors", t_idle_memory, 2)
    return tap.done()


if __name__ == "__main__":
    sys.exit(main())
