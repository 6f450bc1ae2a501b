-- Adds rows past retention to a database seeded by bench/seed.sql, for
-- bench/run --retention N: N quotes expired 8 days ago ('bench-oldq-%07d';
-- retention 7 days), N fills created 91 days ago ('bench-oldf-%07d', on the
-- bench orders; retention 90 days) and N outbox events processed 31 days ago
-- ('bench-olde-%07d'; retention 30 days). `tradestore maintain --cleanup`
-- deletes exactly these 3 x N rows. The orders' fill totals are left alone:
-- the old fills are history the book has long since moved past.
-- Usage: sqlite3 -cmd '.parameter set @rows N' DB < bench/seed_retention.sql
.bail on
BEGIN;

CREATE TEMP TABLE bench_now AS
  SELECT CAST((julianday('now') - 2440587.5) * 86400000000.0 AS INTEGER) AS us,
         86400000000 AS day, coalesce(@rows, 1000000) AS rows,
         (SELECT count(*) FROM orders) AS norders;

WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n
                        WHERE i < (SELECT rows FROM bench_now) - 1)
INSERT INTO quotes (quote_id, symbol_src, symbol_dst, bid_price, bid_qty, ask_price, ask_qty,
                    source_bid_price, source_ask_price, spread_bps, status, created_at,
                    updated_at, expires_at)
SELECT printf('bench-oldq-%07d', i), 'SRC' || (i % 20), 'SYM' || (i % 20),
       9990000000, 100000000, 10010000000, 100000000, 10000000000, 10001000000, 20,
       'expired', k.us - 9 * k.day + i, k.us - 8 * k.day + i, NULL
FROM n, bench_now AS k;

WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n
                        WHERE i < (SELECT rows FROM bench_now) - 1)
INSERT INTO fills (fill_id, order_id, symbol, side, price, quantity, executed_at,
                   trade_id, commission, commission_asset, is_maker, created_at)
SELECT printf('bench-oldf-%07d', i), printf('bench-ord-%04d', i % k.norders),
       'SYM' || ((i % k.norders) % 20), 'buy', 10050000000, 100000,
       k.us - 91 * k.day + i, printf('bench-oldt-%07d', i), 0, '', 1, k.us - 91 * k.day + i
FROM n, bench_now AS k;

WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n
                        WHERE i < (SELECT rows FROM bench_now) - 1)
INSERT INTO outbox (event_id, event_type, aggregate_id, payload, status, created_at,
                    processed_at)
SELECT printf('bench-olde-%07d', i), 'fill_processed', printf('bench-ord-%04d', i % k.norders),
       json_object('fill_id', printf('bench-oldf-%07d', i)), 'processed',
       k.us - 32 * k.day + i, k.us - 31 * k.day + i
FROM n, bench_now AS k;

DROP TABLE bench_now;
COMMIT;
ANALYZE;
