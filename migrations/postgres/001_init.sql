-- 001_init (PostgreSQL): the tables of tradestore, the same as
-- migrations/001_init.sql for SQLite, column for column, in PostgreSQL's
-- words. Keep the two in step: a migration is added to both folders with
-- the same number and meaning.
--
-- Conventions, for every table:
--   * Exact decimals (prices, quantities, PnL, balances, commission, spread)
--     are BIGINT counts of 1e-8 units: 1.5 is stored as 150000000. The range
--     is that of int64, so |value| < 92233720368.54775807.
--   * Timestamps are BIGINT microseconds since the Unix epoch, UTC.
--   * Enumerations are lower-case TEXT, each guarded by a CHECK.
--   * Every TEXT column is COLLATE "C": ids and symbols compare bytewise,
--     so keyset cursors walk the same order as on SQLite whatever the
--     database's locale.
--
-- A migration runs inside one transaction opened by the runner: it must not
-- contain BEGIN, COMMIT or ROLLBACK.

-- SQLite's json_valid for the outbox payload's CHECK: a cast error would be
-- an error of its own (22P02), not the CHECK violation repo/ expects.
CREATE FUNCTION tradestore_is_json(t text) RETURNS boolean
        LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
        PERFORM t::jsonb;
        RETURN true;
EXCEPTION WHEN others THEN
        RETURN false;
END;
$$;

-- Quotes the bot made: a bid and/or ask on symbol_dst derived from the
-- source market's prices on symbol_src. An order may reference the quote it
-- acted on; that quote then becomes 'used'.
CREATE TABLE quotes (
        quote_id         TEXT COLLATE "C" PRIMARY KEY NOT NULL,
        symbol_src       TEXT COLLATE "C" NOT NULL,
        symbol_dst       TEXT COLLATE "C" NOT NULL,
        bid_price        BIGINT  CHECK (bid_price IS NULL OR bid_price > 0),
        bid_qty          BIGINT  CHECK (bid_qty IS NULL OR bid_qty > 0),
        ask_price        BIGINT  CHECK (ask_price IS NULL OR ask_price > 0),
        ask_qty          BIGINT  CHECK (ask_qty IS NULL OR ask_qty > 0),
        source_bid_price BIGINT  NOT NULL CHECK (source_bid_price > 0),
        source_ask_price BIGINT  NOT NULL CHECK (source_ask_price > 0),
        spread_bps       BIGINT,
        status           TEXT COLLATE "C" NOT NULL DEFAULT 'active'
                CHECK (status IN ('active', 'used', 'expired', 'cancelled')),
        created_at       BIGINT  NOT NULL,
        updated_at       BIGINT  NOT NULL,
        expires_at       BIGINT
);

-- Lists newest first, optionally by status and one symbol; the last index
-- serves the retention cleanup of finished quotes.
CREATE INDEX idx_quotes_status ON quotes (status, created_at, quote_id);
CREATE INDEX idx_quotes_symbol_dst ON quotes (symbol_dst, status, created_at, quote_id);
CREATE INDEX idx_quotes_symbol_src ON quotes (symbol_src, status, created_at, quote_id);
CREATE INDEX idx_quotes_created ON quotes (created_at, quote_id);
CREATE INDEX idx_quotes_retention ON quotes (updated_at)
        WHERE status IN ('expired', 'cancelled');

-- Orders placed on the exchange, with what their fills have done to them so
-- far. filled_quantity, fill_notional and avg_fill_price are maintained by
-- the fill that changes them, in the same transaction.
CREATE TABLE orders (
        order_id          TEXT COLLATE "C" PRIMARY KEY NOT NULL,
        -- No cascade: a quote that an order references cannot be deleted.
        quote_id          TEXT COLLATE "C" REFERENCES quotes (quote_id),
        symbol            TEXT COLLATE "C" NOT NULL,
        side              TEXT COLLATE "C" NOT NULL CHECK (side IN ('buy', 'sell')),
        type              TEXT COLLATE "C" NOT NULL
                CHECK (type IN ('market', 'limit', 'limit_maker')),
        quantity          BIGINT  NOT NULL CHECK (quantity > 0),
        price             BIGINT  CHECK (price IS NULL OR price > 0),
        status            TEXT COLLATE "C" NOT NULL DEFAULT 'pending'
                CHECK (status IN ('pending', 'open', 'partially_filled', 'filled',
                                  'cancelled', 'rejected', 'expired')),
        external_order_id TEXT COLLATE "C" UNIQUE,
        filled_quantity   BIGINT  NOT NULL DEFAULT 0
                CHECK (filled_quantity >= 0 AND filled_quantity <= quantity),
        -- The exact sum of price * quantity over the order's fills, in units
        -- of 1e-16, as a decimal integer string: it can exceed int64.
        fill_notional     TEXT COLLATE "C" NOT NULL DEFAULT '0'
                CHECK (fill_notional <> '' AND fill_notional !~ '[^0-9]'),
        -- NULL until the first fill.
        avg_fill_price    BIGINT  CHECK (avg_fill_price IS NULL OR avg_fill_price > 0),
        created_at        BIGINT  NOT NULL,
        updated_at        BIGINT  NOT NULL,
        -- A market order has no price; a limit or limit_maker order has one.
        CHECK ((type = 'market') = (price IS NULL))
);

-- Lists newest first: all, or by symbol, status or quote. A lookup by
-- external_order_id uses the index behind its UNIQUE constraint.
CREATE INDEX idx_orders_created ON orders (created_at, order_id);
CREATE INDEX idx_orders_symbol ON orders (symbol, created_at, order_id);
CREATE INDEX idx_orders_status ON orders (status, created_at, order_id);
CREATE INDEX idx_orders_quote ON orders (quote_id, created_at, order_id);

-- Executions reported by the exchange, each against one order. trade_id is
-- the exchange's id of the execution: a redelivered fill carries the same
-- one, so (order_id, trade_id) is unique where a trade_id is given (a partial
-- index: fills without one cost no entry in it).
CREATE TABLE fills (
        fill_id          TEXT COLLATE "C" PRIMARY KEY NOT NULL,
        order_id         TEXT COLLATE "C" NOT NULL REFERENCES orders (order_id),
        symbol           TEXT COLLATE "C" NOT NULL,
        side             TEXT COLLATE "C" NOT NULL CHECK (side IN ('buy', 'sell')),
        price            BIGINT  NOT NULL CHECK (price > 0),
        quantity         BIGINT  NOT NULL CHECK (quantity > 0),
        executed_at      BIGINT  NOT NULL,
        trade_id         TEXT,
        -- Signed: a maker rebate is a negative commission.
        commission       BIGINT  NOT NULL DEFAULT 0,
        commission_asset TEXT COLLATE "C" NOT NULL DEFAULT '',
        is_maker         BIGINT  NOT NULL DEFAULT 1 CHECK (is_maker IN (0, 1)),
        created_at       BIGINT  NOT NULL
);

CREATE UNIQUE INDEX idx_fills_trade ON fills (order_id, trade_id)
        WHERE trade_id IS NOT NULL;

-- Lists newest executed_at first: by order, by symbol or all; the last index
-- serves the retention cleanup.
CREATE INDEX idx_fills_order ON fills (order_id, executed_at, fill_id);
CREATE INDEX idx_fills_symbol ON fills (symbol, executed_at, fill_id);
CREATE INDEX idx_fills_executed ON fills (executed_at, fill_id);
CREATE INDEX idx_fills_created ON fills (created_at);

-- The bot's position per symbol, kept up to date by every fill and
-- reconciled with the exchange on demand. quantity is signed (long > 0,
-- short < 0); a flat position has avg_entry_price 0.
CREATE TABLE positions (
        symbol          TEXT COLLATE "C" PRIMARY KEY NOT NULL,
        quantity        BIGINT  NOT NULL DEFAULT 0,
        avg_entry_price BIGINT  NOT NULL DEFAULT 0 CHECK (avg_entry_price >= 0),
        realized_pnl    BIGINT  NOT NULL DEFAULT 0,
        unrealized_pnl  BIGINT  NOT NULL DEFAULT 0,
        mark_price      BIGINT  CHECK (mark_price IS NULL OR mark_price > 0),
        last_updated    BIGINT  NOT NULL,
        CHECK (quantity <> 0 OR avg_entry_price = 0)
);

-- The account's balance per asset as last reported by the exchange.
CREATE TABLE account_balances (
        asset      TEXT COLLATE "C" PRIMARY KEY NOT NULL,
        available  BIGINT  NOT NULL CHECK (available >= 0),
        locked     BIGINT  NOT NULL CHECK (locked >= 0),
        total      BIGINT  NOT NULL,
        updated_at BIGINT  NOT NULL,
        CHECK (total = available + locked)
);

-- Events for other services (the transactional outbox): written in the same
-- transaction as the change they announce, then claimed, processed or failed
-- by consumers. seq is the creation order.
CREATE TABLE outbox (
        seq              BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
        event_id         TEXT COLLATE "C" NOT NULL UNIQUE,
        event_type       TEXT COLLATE "C" NOT NULL,
        aggregate_id     TEXT COLLATE "C" NOT NULL,
        payload          TEXT COLLATE "C" NOT NULL CHECK (tradestore_is_json(payload)),
        status           TEXT COLLATE "C" NOT NULL DEFAULT 'pending'
                CHECK (status IN ('pending', 'processing', 'processed', 'failed', 'dead')),
        created_at       BIGINT  NOT NULL,
        processed_at     BIGINT,
        retry_count      BIGINT  NOT NULL DEFAULT 0 CHECK (retry_count >= 0),
        error_message    TEXT,
        claimed_by       TEXT,
        lease_expires_at BIGINT,
        -- A failed event is claimable again from then on.
        next_attempt_at  BIGINT
);

-- Claims and lists go oldest first by status, aggregate or type; the last
-- index serves the retention cleanup of processed events.
CREATE INDEX idx_outbox_status ON outbox (status, seq);
CREATE INDEX idx_outbox_aggregate ON outbox (aggregate_id, seq);
CREATE INDEX idx_outbox_event_type ON outbox (event_type, seq);
CREATE INDEX idx_outbox_processed ON outbox (processed_at)
        WHERE status = 'processed';
