-- 001_init: the tables of tradestore.
--
-- Conventions, for every table:
--   * Exact decimals (prices, quantities, PnL, balances, commission, spread)
--     are INTEGER counts of 1e-8 units: 1.5 is stored as 150000000. The range
--     is that of int64, so |value| < 92233720368.54775807.
--   * Timestamps are INTEGER microseconds since the Unix epoch, UTC.
--   * Enumerations are lower-case TEXT, each guarded by a CHECK.
--   * Tables are STRICT: a value of the wrong type (a REAL price, text in a
--     quantity) is an error instead of being stored as is.
--
-- A migration runs inside one transaction opened by the runner: it must not
-- contain BEGIN, COMMIT or ROLLBACK.

-- Quotes the bot made: a bid and/or ask on symbol_dst derived from the
-- source market's prices on symbol_src. An order may reference the quote it
-- acted on; that quote then becomes 'used'.
CREATE TABLE quotes (
        quote_id         TEXT    PRIMARY KEY NOT NULL,
        symbol_src       TEXT    NOT NULL,
        symbol_dst       TEXT    NOT NULL,
        bid_price        INTEGER CHECK (bid_price IS NULL OR bid_price > 0),
        bid_qty          INTEGER CHECK (bid_qty IS NULL OR bid_qty > 0),
        ask_price        INTEGER CHECK (ask_price IS NULL OR ask_price > 0),
        ask_qty          INTEGER CHECK (ask_qty IS NULL OR ask_qty > 0),
        source_bid_price INTEGER NOT NULL CHECK (source_bid_price > 0),
        source_ask_price INTEGER NOT NULL CHECK (source_ask_price > 0),
        spread_bps       INTEGER,
        status           TEXT    NOT NULL DEFAULT 'active'
                CHECK (status IN ('active', 'used', 'expired', 'cancelled')),
        created_at       INTEGER NOT NULL,
        updated_at       INTEGER NOT NULL,
        expires_at       INTEGER
) STRICT;

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
        order_id          TEXT    PRIMARY KEY NOT NULL,
        -- No cascade: a quote that an order references cannot be deleted.
        quote_id          TEXT    REFERENCES quotes (quote_id),
        symbol            TEXT    NOT NULL,
        side              TEXT    NOT NULL CHECK (side IN ('buy', 'sell')),
        type              TEXT    NOT NULL
                CHECK (type IN ('market', 'limit', 'limit_maker')),
        quantity          INTEGER NOT NULL CHECK (quantity > 0),
        price             INTEGER CHECK (price IS NULL OR price > 0),
        status            TEXT    NOT NULL DEFAULT 'pending'
                CHECK (status IN ('pending', 'open', 'partially_filled', 'filled',
                                  'cancelled', 'rejected', 'expired')),
        external_order_id TEXT    UNIQUE,
        filled_quantity   INTEGER NOT NULL DEFAULT 0
                CHECK (filled_quantity >= 0 AND filled_quantity <= quantity),
        -- The exact sum of price * quantity over the order's fills, in units
        -- of 1e-16, as a decimal integer string: it can exceed int64.
        fill_notional     TEXT    NOT NULL DEFAULT '0'
                CHECK (fill_notional <> '' AND fill_notional NOT GLOB '*[^0-9]*'),
        -- NULL until the first fill.
        avg_fill_price    INTEGER CHECK (avg_fill_price IS NULL OR avg_fill_price > 0),
        created_at        INTEGER NOT NULL,
        updated_at        INTEGER NOT NULL,
        -- A market order has no price; a limit or limit_maker order has one.
        CHECK ((type = 'market') = (price IS NULL))
) STRICT;

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
        fill_id          TEXT    PRIMARY KEY NOT NULL,
        order_id         TEXT    NOT NULL REFERENCES orders (order_id),
        symbol           TEXT    NOT NULL,
        side             TEXT    NOT NULL CHECK (side IN ('buy', 'sell')),
        price            INTEGER NOT NULL CHECK (price > 0),
        quantity         INTEGER NOT NULL CHECK (quantity > 0),
        executed_at      INTEGER NOT NULL,
        trade_id         TEXT,
        -- Signed: a maker rebate is a negative commission.
        commission       INTEGER NOT NULL DEFAULT 0,
        commission_asset TEXT    NOT NULL DEFAULT '',
        is_maker         INTEGER NOT NULL DEFAULT 1 CHECK (is_maker IN (0, 1)),
        created_at       INTEGER NOT NULL
) STRICT;

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
        symbol          TEXT    PRIMARY KEY NOT NULL,
        quantity        INTEGER NOT NULL DEFAULT 0,
        avg_entry_price INTEGER NOT NULL DEFAULT 0 CHECK (avg_entry_price >= 0),
        realized_pnl    INTEGER NOT NULL DEFAULT 0,
        unrealized_pnl  INTEGER NOT NULL DEFAULT 0,
        mark_price      INTEGER CHECK (mark_price IS NULL OR mark_price > 0),
        last_updated    INTEGER NOT NULL,
        CHECK (quantity <> 0 OR avg_entry_price = 0)
) STRICT;

-- The account's balance per asset as last reported by the exchange.
CREATE TABLE account_balances (
        asset      TEXT    PRIMARY KEY NOT NULL,
        available  INTEGER NOT NULL CHECK (available >= 0),
        locked     INTEGER NOT NULL CHECK (locked >= 0),
        total      INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        CHECK (total = available + locked)
) STRICT;

-- Events for other services (the transactional outbox): written in the same
-- transaction as the change they announce, then claimed, processed or failed
-- by consumers. seq is the creation order.
CREATE TABLE outbox (
        seq              INTEGER PRIMARY KEY,
        event_id         TEXT    NOT NULL UNIQUE,
        event_type       TEXT    NOT NULL,
        aggregate_id     TEXT    NOT NULL,
        payload          TEXT    NOT NULL CHECK (json_valid(payload)),
        status           TEXT    NOT NULL DEFAULT 'pending'
                CHECK (status IN ('pending', 'processing', 'processed', 'failed', 'dead')),
        created_at       INTEGER NOT NULL,
        processed_at     INTEGER,
        retry_count      INTEGER NOT NULL DEFAULT 0 CHECK (retry_count >= 0),
        error_message    TEXT,
        claimed_by       TEXT,
        lease_expires_at INTEGER,
        -- A failed event is claimable again from then on.
        next_attempt_at  INTEGER
) STRICT;

-- Claims and lists go oldest first by status, aggregate or type; the last
-- index serves the retention cleanup of processed events.
CREATE INDEX idx_outbox_status ON outbox (status, seq);
CREATE INDEX idx_outbox_aggregate ON outbox (aggregate_id, seq);
CREATE INDEX idx_outbox_event_type ON outbox (event_type, seq);
CREATE INDEX idx_outbox_processed ON outbox (processed_at)
        WHERE status = 'processed';
