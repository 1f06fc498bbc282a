-- wrk done() hook: one machine-readable line for bench/lib/report.py (wrk's own text stays above it).
-- Numbers are formatted with %.0f: LuaJIT's %d wraps at 2^31 (a 10 s 1 MiB run moves more bytes).
-- Loaded with -s directly, or through dofile() from the scenario scripts.
function done(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      "EDDYBENCH requests=%.0f bytes=%.0f duration_us=%.0f connect=%.0f read=%.0f write=%.0f status=%.0f timeout=%.0f" ..
      " p50_us=%.0f p99_us=%.0f\n",
      summary.requests, summary.bytes, summary.duration, e.connect, e.read, e.write, e.status,
      e.timeout, latency:percentile(50), latency:percentile(99)))
end
