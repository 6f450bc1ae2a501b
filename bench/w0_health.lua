-- W0: GET /health (the path comes from the URL bench/run passes to wrk).
-- No request() or response(): wrk sends one pre-built request, as fast as
-- it can.
dofile((os.getenv("BENCH_DIR") or "bench") .. "/common.lua")
