-- wrk done() hook: one machine-readable line for bench/lib/report.py (wrk's own text stays above it).
-- Loaded with -s directly, or through dofile() from the scenario scripts.
function done(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      "EDDYBENCH requests=%d bytes=%d duration_us=%d connect=%d read=%d write=%d status=%d timeout=%d" ..
      " p50_us=%d p99_us=%d\n",
      summary.requests, summary.bytes, summary.duration, e.connect, e.read, e.write, e.status,
      e.timeout, latency:percentile(50), latency:percentile(99)))
end
