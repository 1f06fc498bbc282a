#!/usr/bin/env python3
"""Crafted segments against ustack over a TAP (RFC 9293, RFC 5961): echo_server --stack
user in a network namespace (tests/blackbox/ustack_ns.py), and tests/blackbox/
ustack_scapy.py run inside it with Debian's python3-scapy (/usr/bin/python3), one ok/not
ok line per behaviour. Needs root and python3-scapy; says so without them."""
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ustack_ns  # noqa: E402
from ustack_ns import US_IP, Netns  # noqa: E402

TAP = "eddyusc"
PORT = 7007
SCAPY_PY = "/usr/bin/python3"


def main():
    ustack_ns.skip_without_root("ustack_scapy")
    if subprocess.run([SCAPY_PY, "-c", "import scapy.all"], capture_output=True).returncode:
        print("# SKIP: %s has no scapy (apt-get install python3-scapy)" % SCAPY_PY)
        print("ok - ustack_scapy_skipped_without_scapy")
        return 0
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "ustack_scapy.py")
    # The checks read segments as the kernel side of the TAP receives them: without GSO,
    # so each frame is one segment (a GSO frame of MSS-sized segments looks oversized).
    os.environ["EDDY_USTACK_GSO"] = "off"
    with tempfile.TemporaryFile() as log, Netns("scapy") as ns:
        srv = ns.start_on_tap([os.path.join(ustack_ns.BUILD, "echo_server"), "--stack", "user",
                               "--tap", TAP, "--ip", US_IP + "/24", "-l", ":%d" % PORT], TAP,
                              log)
        if srv is None:
            log.seek(0)
            print("not ok - echo_server_started # " + log.read().decode(errors="replace")[-300:])
            return 1
        # No IPv6 chatter from the kernel side on the TAP: only our frames and ustack's.
        ns.run(["sysctl", "-qw", "net.ipv6.conf.%s.disable_ipv6=1" % TAP], 10)
        r = ns.run([SCAPY_PY, script, TAP, US_IP, str(PORT)], 120)
        rc = ustack_ns.stop(srv)
        log.seek(0)
        out = log.read().decode(errors="replace")
        print(("ok - " if rc == 0 else "not ok - ") + "echo_server_sigterm_exit_0" +
              ("" if rc == 0 else " # status %s: %s" % (rc, out[-300:])))
    return 1 if r.returncode or rc else 0


if __name__ == "__main__":
    sys.exit(main())
