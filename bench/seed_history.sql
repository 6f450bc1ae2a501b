-- Adds a history to a database seeded by bench/seed.sql with @scale = N,
-- for bench/run --scale N: N x 100,000 fills 'bench-fill-%07d' (100 on each
-- of the N x 1,000 orders, 0.001 @ 100.5, one every 10 ms / N back from
-- now) with the orders' filled quantity, notional and average price and the
-- 20 positions to match, and N x 100,000 'fill_processed' outbox events,
-- all processed (a dispatcher has nothing to do at start).
-- Usage: sqlite3 -cmd '.parameter set @scale N' DB < bench/seed_history.sql
.bail on
BEGIN;

CREATE TEMP TABLE bench_now AS
  SELECT CAST((julianday('now') - 2440587.5) * 86400000000.0 AS INTEGER) AS us,
         coalesce(@scale, 1) AS scale;

WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n
                        WHERE i < 100000 * (SELECT scale FROM bench_now) - 1),
     k(norders, total, step, now) AS
       (SELECT 1000 * scale, 100000 * scale, 10000 / scale, us FROM bench_now)
INSERT INTO fills (fill_id, order_id, symbol, side, price, quantity, executed_at,
                   trade_id, commission, commission_asset, is_maker, created_at)
SELECT printf('bench-fill-%07d', i),
       printf('bench-ord-%04d', i % k.norders),
       'SYM' || ((i % k.norders) % 20), 'buy',
       10050000000,                  -- 100.5
       100000,                       -- 0.001
       k.now - (k.total - i) * k.step,
       printf('bench-trade-%07d', i), 0, '', 1,
       k.now - (k.total - i) * k.step
FROM n, k;

WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n
                        WHERE i < 100000 * (SELECT scale FROM bench_now) - 1),
     k(norders, total, step, now) AS
       (SELECT 1000 * scale, 100000 * scale, 10000 / scale, us FROM bench_now)
INSERT INTO outbox (event_id, event_type, aggregate_id, payload, status,
                    created_at, processed_at)
SELECT printf('bench-evt-%07d', i), 'fill_processed', printf('bench-ord-%04d', i % k.norders),
       json_object('fill_id', printf('bench-fill-%07d', i),
                   'order_id', printf('bench-ord-%04d', i % k.norders)),
       'processed', k.now - (k.total - i) * k.step, k.now - (k.total - i) * k.step
FROM n, k;

-- 100 fills of 0.001 @ 100.5 per order; the notional is in 1e-16 units.
UPDATE orders SET filled_quantity = 10000000, fill_notional = '100500000000000000',
                  avg_fill_price = 10050000000, status = 'partially_filled';

INSERT INTO positions (symbol, quantity, avg_entry_price, realized_pnl, unrealized_pnl,
                       mark_price, last_updated)
SELECT symbol, sum(quantity), 10050000000, 0, 0, NULL, (SELECT us FROM bench_now)
FROM fills GROUP BY symbol;

DROP TABLE bench_now;
COMMIT;
ANALYZE;
