-- bench/seed.sql for PostgreSQL (bench/run --backend postgresql): the same
-- 1,000 x scale orders and 100,000 x scale quotes, the same ids, symbols,
-- prices, statuses and times, in PostgreSQL's words. Keep the two in step.
-- Usage: psql -v ON_ERROR_STOP=1 -v scale=N -f bench/seed_pg.sql URL
BEGIN;

CREATE TEMP TABLE bench_now AS
  SELECT (extract(epoch FROM clock_timestamp()) * 1000000)::bigint AS us,
         :scale::bigint AS scale;

-- printf('%04d') of seed.sql: at least four digits, wider past 9999.
CREATE FUNCTION pg_temp.pad(i bigint, w int) RETURNS text LANGUAGE sql IMMUTABLE AS
  $$ SELECT CASE WHEN length(i::text) < w THEN lpad(i::text, w, '0') ELSE i::text END $$;

INSERT INTO orders (order_id, quote_id, symbol, side, type, quantity, price,
                    status, external_order_id, filled_quantity, fill_notional,
                    avg_fill_price, created_at, updated_at)
SELECT 'bench-ord-' || pg_temp.pad(i, 4), NULL, 'SYM' || (i % 20), 'buy', 'limit',
       100000000000000000,           -- 1,000,000,000
       10000000000,                  -- 100
       'open', NULL, 0, '0', NULL,
       b.us - (1000 * b.scale - i) * 1000,
       b.us - (1000 * b.scale - i) * 1000
FROM bench_now b, generate_series(0, 1000 * b.scale - 1) AS i;

INSERT INTO quotes (quote_id, symbol_src, symbol_dst, bid_price, bid_qty,
                    ask_price, ask_qty, source_bid_price, source_ask_price,
                    spread_bps, status, created_at, updated_at, expires_at)
SELECT 'bench-q-' || pg_temp.pad(i, 6), 'SRC' || (i % 20), 'SYM' || (i % 20),
       9990000000, 150000000, 10010000000, 150000000, 9995000000, 10005000000,
       2000000000,
       CASE WHEN (i / 20) % 10 = 0 THEN 'active' ELSE 'expired' END,
       b.us - (100000 * b.scale - i) * (1000000 / b.scale),
       b.us - (100000 * b.scale - i) * (1000000 / b.scale),
       CASE WHEN (i / 20) % 10 = 0 THEN NULL
            ELSE b.us - (100000 * b.scale - i) * (1000000 / b.scale) + 60000000 END
FROM bench_now b, generate_series(0, 100000 * b.scale - 1) AS i;

COMMIT;

-- Planner statistics, as autovacuum would gather.
ANALYZE;
