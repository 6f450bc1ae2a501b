-- Shared by the bench/w*.lua wrk scripts (loaded with dofile; bench/run sets
-- BENCH_DIR). Numbers every wrk thread (global `tid` in its own Lua state),
-- keeps the thread objects for done(), and prints one machine-readable line
-- that bench/run parses:
--   @@BENCH requests=N duration_us=N rps=X p50_us=N p90_us=N p99_us=N max_us=N
--           http_errors=N connect=N read=N write=N timeout=N
-- (http_errors is wrk's count of status codes > 399.)

bench_threads = {}

function setup(thread)
   table.insert(bench_threads, thread)
   thread:set("tid", #bench_threads)
end

function bench_report(summary, latency)
   local e = summary.errors
   local secs = summary.duration / 1e6
   io.write(string.format(
      "@@BENCH requests=%d duration_us=%d rps=%.1f p50_us=%d p90_us=%d p99_us=%d max_us=%d " ..
      "http_errors=%d connect=%d read=%d write=%d timeout=%d\n",
      summary.requests, summary.duration, secs > 0 and summary.requests / secs or 0,
      latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
      e.status, e.connect, e.read, e.write, e.timeout))
end

-- Seeds math.random differently per thread and per run.
function bench_seed()
   math.randomseed(os.time() * 1000 + (tid or 0) * 7919 + math.floor(os.clock() * 1e6))
   math.random(); math.random()
end

function done(summary, latency, requests)
   bench_report(summary, latency)
end
