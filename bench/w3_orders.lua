-- W3: GET /orders/{order_id} with the id random among the 1,000 seeded
-- orders bench-ord-0000..bench-ord-0999. The requests are built once in
-- init(); request() only picks one.
dofile((os.getenv("BENCH_DIR") or "bench") .. "/common.lua")

local reqs = {}

function init(args)
   bench_seed()
   for n = 0, (tonumber(os.getenv("BENCH_ORDERS")) or 1000) - 1 do
      reqs[#reqs + 1] = wrk.format("GET", string.format("/orders/bench-ord-%04d", n))
   end
end

function request()
   return reqs[math.random(#reqs)]
end
