#!/usr/bin/env python3
"""Tables for bench/compare.sh and bench/backends.sh from their raw result files (stdlib only).

  report.py compare RAW.tsv      medians per scenario and server, eddy/peer ratios, targets
  report.py backends RAW.tsv DAT  medians per backend and idle count; writes the gnuplot data
  report.py syscalls SCEN:SERVER:REQUESTS:STRACE_FILE ...   syscalls per request (strace -c -f)
  report.py callgrind SERVER SCEN REQUESTS CALLGRIND_OUT     instructions per request

Raw lines (whitespace separated):
  run SCENARIO SERVER ROUND REQUESTS BYTES DURATION_US ERRORS CPU_US P50_US P99_US [WRK_CORE_BUSY_PCT]
  mem SERVER ROUND IDLE_ASKED HELD RSS0_KB RSS1_KB FDS0 FDS1
  bk  BACKEND IDLE_ASKED ROUND HELD REQUESTS BYTES DURATION_US ERRORS CPU_US P50_US P99_US
  bkfail BACKEND IDLE_ASKED REASON...
"""
import statistics
import sys

SCENARIOS = [
    ("ka", "keep-alive 13 B, c100, pinned"),
    ("pipe", "pipelined 16 deep, c256, pinned"),
    ("1m", "1 MiB file, c16, pinned"),
    ("64k", "64 KiB file, c50, pinned"),
    ("20m", "20 MiB file, c4, pinned"),
    ("close", "Connection: close, c50, pinned"),
    ("ka2", "keep-alive 13 B, c100, 2 cores"),
    ("pipe2", "pipelined 16 deep, c256, 2 cores"),
    ("tka", "HTTPS keep-alive 13 B, c100, pinned"),
    ("t1m", "HTTPS 1 MiB file, c16, pinned"),
    ("hs_ec", "TLS 1.3 new handshakes/s, ECDSA P-256"),
    ("hsr_ec", "TLS 1.3 resumed handshakes/s, ECDSA"),
    ("hs_rsa", "TLS 1.3 new handshakes/s, RSA 2048"),
    ("hsr_rsa", "TLS 1.3 resumed handshakes/s, RSA"),
]
SMALL = ("ka", "pipe", "close", "tka")
ORDER = ["eddy", "eddy0", "nginx", "h2o", "lighttpd", "canned"]


def med(xs):
    return statistics.median(xs) if xs else float("nan")


def load(path):
    with open(path) as f:
        return [line.split() for line in f if line.strip()]


def run_stats(rows):
    """{(scenario, server): dict of medians over rounds}"""
    acc = {}
    for r in rows:
        if r[0] != "run":
            continue
        scen, srv = r[1], r[2]
        req, byt, dur, err, cpu, p50, p99 = map(float, r[4:11])
        a = acc.setdefault((scen, srv), {"rps": [], "mbs": [], "cpu": [], "err": 0, "p99": [],
                                         "n": 0, "wrk": []})
        if len(r) > 11 and float(r[11]) >= 0:
            a["wrk"].append(float(r[11]))
        a["n"] += 1
        a["err"] += int(err)
        if req <= 0 or dur <= 0:
            continue
        a["rps"].append(req / (dur / 1e6))
        a["mbs"].append(byt / (dur / 1e6) / 1e6)
        a["cpu"].append(cpu / req)
        a["p99"].append(p99 / 1000)
    out = {}
    for k, a in acc.items():
        out[k] = {"rps": med(a["rps"]), "mbs": med(a["mbs"]), "cpu": med(a["cpu"]),
                  "err": a["err"], "p99": med(a["p99"]), "n": a["n"], "ok": len(a["rps"]),
                  "wrk": med(a["wrk"]), "busy": med(a["rps"]) * med(a["cpu"]) / 1e4}
    return out


def round_rps(rows):
    """{(scenario, server): {round: req/s}}, rounds with requests only."""
    out = {}
    for r in rows:
        if r[0] != "run":
            continue
        req, dur = float(r[4]), float(r[6])
        if req > 0 and dur > 0:
            out.setdefault((r[1], r[2]), {})[r[3]] = req / (dur / 1e6)
    return out


def paired(rr, scen, peers):
    """eddy against the best peer of the same round, over the rounds all of them ran: the
    machine's drift between rounds (up to 2x here) then cancels, since a round runs the
    servers back to back. (median ratio, rounds eddy led, rounds), or None."""
    ed = rr.get((scen, "eddy"), {})
    ps = [rr[(scen, p)] for p in peers if (scen, p) in rr]
    rounds = [k for k in ed if ps and all(k in p for p in ps)]
    if not rounds:
        return None
    ratios = [ed[k] / max(p[k] for p in ps) for k in rounds]
    return med(ratios), sum(x >= 1 for x in ratios), len(rounds)


def fmt_ratio(x):
    return "-" if x != x else f"{x:.2f}"


def print_runs(st):
    if not st:
        return
    print(f"{'scenario':34} {'server':9} {'req/s':>10} {'MB/s':>9} {'CPU us/req':>10} "
          f"{'errors':>7} {'p99 ms':>7} {'eddy/this req/s':>15} {'eddy/this CPU':>13} "
          f"{'srv %':>5} {'wrk %':>5}")
    for scen, title in SCENARIOS:
        servers = sorted({s for (sc, s) in st if sc == scen}, key=ORDER.index)
        if not servers:
            continue
        ed = st.get((scen, "eddy"))
        for srv in servers:
            v = st[(scen, srv)]
            rr = cr = float("nan")
            if ed and srv != "eddy" and v["rps"] == v["rps"]:
                rr = ed["rps"] / v["rps"]
                cr = ed["cpu"] / v["cpu"]
            label = title if srv == servers[0] else ""
            wrk = "-" if v["wrk"] != v["wrk"] else f"{v['wrk']:.0f}"
            print(f"{label:34} {srv:9} {v['rps']:10.0f} {v['mbs']:9.1f} {v['cpu']:10.2f} "
                  f"{v['err']:7d} {v['p99']:7.2f} {fmt_ratio(rr):>15} {fmt_ratio(cr):>13} "
                  f"{v['busy']:5.0f} {wrk:>5}")
    print("(medians over rounds; errors = sum over rounds of wrk socket errors + non-2xx; "
          "CPU = server utime+stime / requests;\n srv % = req/s x CPU per request: how busy "
          "the server's processes were, in % of one core; wrk % = how busy wrk's pinned CPU was)")
    if any(s == "canned" for (_, s) in st):
        print("(canned = bench/canned_server, not a peer: eddy's own response bytes answered by a "
              "server that does no other work;\n what wrk -t1 counts against it shows how far the "
              "client and kernel, not the server's work, set the rate)")


def mem_stats(rows):
    acc = {}
    for r in rows:
        if r[0] != "mem":
            continue
        srv, held, rss0, rss1 = r[1], int(r[4]), int(r[5]), int(r[6])
        a = acc.setdefault(srv, {"per": [], "held": held, "rss0": rss0, "rss1": rss1,
                                 "fds": (int(r[7]), int(r[8])), "slab": []})
        if held > 0:
            a["per"].append((rss1 - rss0) * 1024.0 / held)
            if len(r) >= 11:
                a["slab"].append((int(r[10]) - int(r[9])) * 1024.0 / held)
    return {s: dict(a, per=med(a["per"]), slab=med(a["slab"])) for s, a in acc.items()}


def print_mem(ms):
    if not ms:
        return
    print(f"\n{'server':9} {'idle held':>9} {'RSS idle=0 KiB':>14} {'RSS idle=N KiB':>14} "
          f"{'bytes/conn':>10} {'fds 0 -> N':>14} {'kernel slab/conn':>16}")
    for srv in sorted(ms, key=ORDER.index):
        v = ms[srv]
        print(f"{srv:9} {v['held']:9d} {v['rss0']:14d} {v['rss1']:14d} {v['per']:10.0f} "
              f"{v['fds'][0]:>6d} -> {v['fds'][1]:<6d} {v['slab']:16.0f}")
    print("(VmRSS summed over the server's processes; bytes/conn = (RSS with N idle - RSS with 0) / N;\n"
          " kernel slab/conn = growth of Slab in /proc/meminfo / N, both socket ends, machine-wide: noisy)")


def verdict(ok):
    return "MET" if ok else "NOT MET"


def print_before_after(st, ms):
    """eddy against eddy0 (EDDY_BEFORE, an earlier build) in the same run: a change's cost."""
    for scen, title in SCENARIOS:
        ed, e0 = st.get((scen, "eddy")), st.get((scen, "eddy0"))
        if not ed or not e0 or not ed["ok"] or not e0["ok"]:
            continue
        d = ed["cpu"] / e0["cpu"] - 1
        print(f"  {title}: eddy CPU {ed['cpu']:.2f} us/req vs before {e0['cpu']:.2f} "
              f"({d * 100:+.1f} %), req/s {ed['rps']:.0f} vs {e0['rps']:.0f}"
              + (f": within 3 %: {verdict(abs(d) <= 0.03)}" if scen in SMALL else ""))
    if "eddy" in ms and "eddy0" in ms:
        print(f"  RSS per idle connection: eddy {ms['eddy']['per']:.0f} B vs before "
              f"{ms['eddy0']['per']:.0f} B")


def print_targets(st, ms, rr):
    print("\nTargets")
    peers = ["nginx", "h2o", "lighttpd"]
    for scen, title in SCENARIOS:
        ed = st.get((scen, "eddy"))
        ps = [st[(scen, p)] for p in peers if (scen, p) in st and st[(scen, p)]["ok"]]
        if not ps:
            continue
        best = max(p["rps"] for p in ps)
        if not ed or not ed["ok"]:
            print(f"  {title}: eddy req/s >= best peer ({best:.0f}): not measured (no eddy-httpd)")
            continue
        print(f"  {title}: eddy req/s {ed['rps']:.0f} >= best peer {best:.0f}: "
              f"{verdict(ed['rps'] >= best)}")
        pr = paired(rr, scen, [p for p in peers if (scen, p) in st])
        if pr:
            print(f"    paired by round: eddy / the round's best peer, median {pr[0]:.2f}; "
                  f"eddy ahead in {pr[1]} of {pr[2]} rounds")
        if scen in SMALL:
            lo = min(p["cpu"] for p in ps)
            print(f"  {title}: eddy CPU {ed['cpu']:.2f} us/req <= 0.8 x best peer {lo:.2f} = "
                  f"{0.8 * lo:.2f}: {verdict(ed['cpu'] <= 0.8 * lo)}")
        ceil = st.get((scen, "canned"))
        if ceil and ceil["ok"]:
            print(f"    reference: a do-nothing server with the same bytes (canned): "
                  f"{ceil['rps']:.0f} req/s; eddy/canned {ed['rps'] / ceil['rps']:.2f}")
        if scen == "pipe" and ("pipe", "h2o") in st:
            h = st[("pipe", "h2o")]["rps"]
            print(f"  {title}: eddy {ed['rps']:.0f} >= 5 x h2o ({5 * h:.0f}): "
                  f"{verdict(ed['rps'] >= 5 * h)}")
            if ed["rps"] < 5 * h and ceil and ceil["ok"] and 5 * h > ceil["rps"]:
                print(f"    5 x h2o is {5 * h / ceil['rps']:.2f} x what wrk -t1 counts against a "
                      "server that does no work at all (canned): the limit is outside eddy")
    print_before_after(st, ms)
    if ms:
        pm = [ms[p]["per"] for p in peers if p in ms and ms[p]["per"] == ms[p]["per"]]
        if "eddy" in ms and pm:
            e = ms["eddy"]["per"]
            print(f"  RSS per idle connection: eddy {e:.0f} B < every peer (min {min(pm):.0f} B): "
                  f"{verdict(e < min(pm))}")
        elif pm:
            print("  RSS per idle connection below every peer: not measured (no eddy-httpd)")


def backends(rows, datfile):
    acc, fails = {}, {}
    for r in rows:
        if r[0] == "bkfail":
            fails[(r[1], int(r[2]))] = " ".join(r[3:])
        if r[0] != "bk":
            continue
        be, n = r[1], int(r[2])
        held, req, byt, dur, err, cpu = int(r[4]), *map(float, r[5:10])
        a = acc.setdefault((be, n), {"rps": [], "cpu": [], "err": 0, "held": []})
        a["held"].append(held)
        a["err"] += int(err)
        if req > 0 and dur > 0:
            a["rps"].append(req / (dur / 1e6))
            a["cpu"].append(cpu / req)
    bes = []
    for be, _ in list(acc) + list(fails):
        if be not in bes:
            bes.append(be)
    ns = sorted({n for _, n in list(acc) + list(fails)})
    print(f"{'backend':14} {'idle N':>7} {'held':>6} {'req/s':>10} {'CPU us/req':>10} {'errors':>7}")
    for be in bes:
        for n in ns:
            if (be, n) in fails:
                print(f"{be:14} {n:7d} {'-':>6} {'not run':>10}   {fails[(be, n)]}")
            elif (be, n) in acc:
                a = acc[(be, n)]
                print(f"{be:14} {n:7d} {min(a['held']):6d} {med(a['rps']):10.0f} "
                      f"{med(a['cpu']):10.2f} {a['err']:7d}")
    with open(datfile, "w") as f:
        f.write("# idle_N " + " ".join(f"{b}_rps {b}_cpu" for b in bes) + "\n")
        for n in ns:
            cols = []
            for be in bes:
                a = acc.get((be, n))
                cols += [f"{med(a['rps']):.0f}", f"{med(a['cpu']):.3f}"] if a else ["NaN", "NaN"]
            f.write(f"{n} " + " ".join(cols) + "\n")
    return bes


def parse_strace(path):
    """{syscall: calls} from strace -c output, or from perf trace -s (summed over threads)."""
    calls = {}
    with open(path) as f:
        for line in f:
            t = line.split()
            if len(t) >= 5 and t[0].replace(".", "").isdigit() and t[-1] != "total":
                calls[t[-1]] = calls.get(t[-1], 0) + int(t[3])  # strace -c
            elif len(t) >= 8 and t[1].isdigit() and t[2].isdigit() and t[0].isidentifier():
                calls[t[0]] = calls.get(t[0], 0) + int(t[1])  # perf trace -s
    return calls


TRACER = "strace -c -f"


def syscalls(specs):
    global TRACER
    if specs and specs[0].startswith("--tracer="):
        TRACER = specs.pop(0).split("=", 1)[1]
    data = {}
    for spec in specs:
        scen, srv, req, path = spec.split(":", 3)
        if int(req) > 0:
            data[(scen, srv)] = (int(req), parse_strace(path))
    for scen in dict.fromkeys(k[0] for k in data):
        servers = [k[1] for k in data if k[0] == scen]
        names = sorted({n for sv in servers for n in data[(scen, sv)][1]},
                       key=lambda n: -max(data[(scen, sv)][1].get(n, 0) / data[(scen, sv)][0]
                                          for sv in servers))
        print(f"\nsyscalls per request, scenario {scen} ({TRACER}; requests counted by wrk)")
        print(f"{'syscall':18}" + "".join(f"{sv:>10}" for sv in servers))
        for n in names:
            vals = [data[(scen, sv)][1].get(n, 0) / data[(scen, sv)][0] for sv in servers]
            if max(vals) >= 0.001:
                print(f"{n:18}" + "".join(f"{v:10.3f}" for v in vals))
        tot = [sum(data[(scen, sv)][1].values()) / data[(scen, sv)][0] for sv in servers]
        print(f"{'total':18}" + "".join(f"{v:10.3f}" for v in tot))
        print(f"{'(requests)':18}" + "".join(f"{data[(scen, sv)][0]:10d}" for sv in servers))


def callgrind(srv, scen, req, path):
    total = None
    with open(path) as f:
        for line in f:
            if line.startswith(("totals:", "summary:")):  # summary: can be 0 with --instr-atstart=no
                total = max(total or 0, int(line.split()[1]))
    if not total or req <= 0:
        print(f"callgrind {srv} {scen}: no data (requests {req})")
        return
    print(f"callgrind {srv} {scen}: {total} instructions / {req} requests = "
          f"{total / req:.0f} instructions per request")


def main():
    if len(sys.argv) >= 3 and sys.argv[1] == "compare":
        rows = load(sys.argv[2])
        st = run_stats(rows)
        ms = mem_stats(rows)
        print_runs(st)
        print_mem(ms)
        print_targets(st, ms, round_rps(rows))
    elif len(sys.argv) >= 4 and sys.argv[1] == "backends":
        bes = backends(load(sys.argv[2]), sys.argv[3])
        print("backends: " + " ".join(bes), file=sys.stderr)
    elif len(sys.argv) >= 3 and sys.argv[1] == "syscalls":
        syscalls(sys.argv[2:])
    elif len(sys.argv) == 6 and sys.argv[1] == "callgrind":
        callgrind(sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
