-- W2: GET /quotes?status=active&symbol_dst=SYMn&limit=10 with n random in
-- 0..19 (bench/seed.sql puts 500 active quotes on each symbol). The 20
-- requests are built once in init(); request() only picks one.
dofile((os.getenv("BENCH_DIR") or "bench") .. "/common.lua")

local reqs = {}

function init(args)
   bench_seed()
   for n = 0, 19 do
      reqs[#reqs + 1] = wrk.format("GET",
         "/quotes?status=active&symbol_dst=SYM" .. n .. "&limit=10")
   end
end

function request()
   return reqs[math.random(#reqs)]
end
