-- W1: POST /fills, each a new fill (unique fill_id) of 0.001 at 100.5 on an
-- order picked at random among bench-ord-0000..bench-ord-0999; on the
-- server each is one transaction (fill, order, position, outbox event).
--
-- fill_id = BENCH_FILL_PREFIX .. "-t" .. thread number .. "-" .. counter:
-- unique across threads and connections (one Lua state per thread, shared
-- by its connections) and, with a per-run prefix, across runs.
--
-- Accounting, so that bench/run can check that every acknowledged fill is
-- stored and nothing else is: response() counts 2xx (201 created, other 2xx
-- such as a 200 replay) and non-2xx, and keeps `pending`, the fill_ids sent
-- but not yet acknowledged (it finds the id in the 2xx body, which is the
-- stored fill). When wrk stops it abandons the requests still in flight
-- (at most one per connection); the server may still store them, so done()
-- writes the ids still pending to BENCH_PENDING_FILE and bench/run checks
-- stored = 2xx + (pending ids that got stored). If a 2xx body carries no
-- known fill_id, or any response is non-2xx, exact tracking stops
-- (tracking = false) and bench/run falls back to bounds.
dofile((os.getenv("BENCH_DIR") or "bench") .. "/common.lua")

-- Globals, so that done() can read them with thread:get().
ok, created, other2xx, non2xx, noid, sent = 0, 0, 0, 0, 0, 0
pending, tracking, first_non2xx = {}, true, ""

local prefix, head
local seq = 0
-- bench/run --scale N seeds N x 1,000 orders (BENCH_ORDERS).
local norders = tonumber(os.getenv("BENCH_ORDERS")) or 1000
local body_fmt = '{"fill_id": "%s", "order_id": "bench-ord-%04d", "price": "100.5", ' ..
   '"quantity": "0.001", "executed_at": "2026-11-26T12:00:00Z"}'

function init(args)
   bench_seed()
   prefix = (os.getenv("BENCH_FILL_PREFIX") or ("b" .. os.time())) .. "-t" .. (tid or 0) .. "-"
   -- What wrk.format would build, without its per-request header loop.
   head = "POST /fills HTTP/1.1\r\nHost: " .. wrk.host .. "\r\n" ..
      "Content-Type: application/json\r\nContent-Length: "
end

function request()
   seq = seq + 1
   sent = sent + 1
   local id = prefix .. seq
   if tracking then
      pending[id] = true
   end
   local body = string.format(body_fmt, id, math.random(0, norders - 1))
   return head .. #body .. "\r\n\r\n" .. body
end

function response(status, hdrs, body)
   if status >= 200 and status < 300 then
      ok = ok + 1
      if status == 201 then
         created = created + 1
      else
         other2xx = other2xx + 1
      end
      if tracking then
         local id = body and string.match(body, '"fill_id"%s*:%s*"([^"]+)"')
         if id and pending[id] then
            pending[id] = nil
         else
            noid = noid + 1
            tracking, pending = false, {}
         end
      end
   else
      non2xx = non2xx + 1
      if first_non2xx == "" then
         first_non2xx = status .. " " .. string.sub(string.gsub(body or "", "%s+", " "), 1, 300)
      end
      tracking, pending = false, {}
   end
end

function done(summary, latency, requests)
   bench_report(summary, latency)
   local t = { ok = 0, created = 0, other2xx = 0, non2xx = 0, noid = 0, sent = 0 }
   local exact, ids, first = true, {}, ""
   for _, th in ipairs(bench_threads) do
      for k in pairs(t) do
         t[k] = t[k] + (th:get(k) or 0)
      end
      if not th:get("tracking") then
         exact = false
      end
      for id in pairs(th:get("pending") or {}) do
         ids[#ids + 1] = id
      end
      if first == "" then
         first = th:get("first_non2xx") or ""
      end
   end
   local path = os.getenv("BENCH_PENDING_FILE")
   if path then
      local f = assert(io.open(path, "w"))
      for _, id in ipairs(ids) do
         f:write(id, "\n")
      end
      f:close()
   end
   io.write(string.format(
      "@@FILLS ok=%d created=%d other2xx=%d non2xx=%d noid=%d sent=%d exact=%d pending=%d\n",
      t.ok, t.created, t.other2xx, t.non2xx, t.noid, t.sent, exact and 1 or 0, #ids))
   if first ~= "" then
      io.write("@@FIRST_NON2XX " .. first .. "\n")
   end
end
