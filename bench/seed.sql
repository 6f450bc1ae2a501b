-- Seeds a freshly migrated tradestore database for bench/run:
--   * 1,000 open buy limit orders 'bench-ord-0000'..'bench-ord-0999' on
--     SYM0..SYM19 (50 each) at price 100, each for 1e9 units of quantity, so
--     the fills of any run (0.001 each) never come close to filling one;
--   * 100,000 quotes 'bench-q-000000'..'bench-q-099999', 5,000 per symbol_dst
--     SYM0..SYM19 (symbol_src SRC0..SRC19), one second apart going back from
--     now (about 28 hours, well inside the 7-day retention of finished
--     quotes); 10% of each symbol's quotes are 'active' with no expires_at,
--     the rest 'expired' (expires_at 60 s after creation; updated_at is
--     created_at for all).
-- Decimals are INTEGER units of 1e-8, timestamps INTEGER microseconds UTC
-- (see migrations/001_init.sql). Usage: sqlite3 DB < bench/seed.sql
--
-- With a parameter @scale = N (bench/run --scale N: sqlite3 -cmd
-- '.parameter set @scale N'), N times as many orders and quotes: ids keep
-- their format (bench-ord-%04d, bench-q-%06d, wider past 9999 / 999999),
-- still 20 symbols, and the quotes N per second over the same 28 hours.
.bail on
BEGIN;

CREATE TEMP TABLE bench_now AS
  SELECT CAST((julianday('now') - 2440587.5) * 86400000000.0 AS INTEGER) AS us,
         coalesce(@scale, 1) AS scale;

WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n
                        WHERE i < 1000 * (SELECT scale FROM bench_now) - 1)
INSERT INTO orders (order_id, quote_id, symbol, side, type, quantity, price,
                    status, external_order_id, filled_quantity, fill_notional,
                    avg_fill_price, created_at, updated_at)
SELECT printf('bench-ord-%04d', i), NULL, 'SYM' || (i % 20), 'buy', 'limit',
       100000000000000000,           -- 1,000,000,000
       10000000000,                  -- 100
       'open', NULL, 0, '0', NULL,
       (SELECT us FROM bench_now) - (1000 * (SELECT scale FROM bench_now) - i) * 1000,
       (SELECT us FROM bench_now) - (1000 * (SELECT scale FROM bench_now) - i) * 1000
FROM n;

-- i % 20 picks the symbol and (i / 20) % 10 = 0 the active tenth, so every
-- symbol has 5,000 quotes of which 500 are active, spread over the whole
-- time range (not all the newest ones).
WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n
                        WHERE i < 100000 * (SELECT scale FROM bench_now) - 1),
     k(step, total) AS (SELECT 1000000 / scale, 100000 * scale FROM bench_now)
INSERT INTO quotes (quote_id, symbol_src, symbol_dst, bid_price, bid_qty,
                    ask_price, ask_qty, source_bid_price, source_ask_price,
                    spread_bps, status, created_at, updated_at, expires_at)
SELECT printf('bench-q-%06d', i), 'SRC' || (i % 20), 'SYM' || (i % 20),
       9990000000,                   -- bid 99.9
       150000000,                    -- 1.5
       10010000000,                  -- ask 100.1
       150000000,                    -- 1.5
       9995000000,                   -- source bid 99.95
       10005000000,                  -- source ask 100.05
       2000000000,                   -- 20 bps
       CASE WHEN (i / 20) % 10 = 0 THEN 'active' ELSE 'expired' END,
       (SELECT us FROM bench_now) - ((SELECT total FROM k) - i) * (SELECT step FROM k),
       (SELECT us FROM bench_now) - ((SELECT total FROM k) - i) * (SELECT step FROM k),
       CASE WHEN (i / 20) % 10 = 0 THEN NULL
            ELSE (SELECT us FROM bench_now) - ((SELECT total FROM k) - i) * (SELECT step FROM k) + 60000000 END
FROM n;

DROP TABLE bench_now;
COMMIT;

-- Planner statistics, as the service's periodic maintenance would gather.
ANALYZE;
