-- Lists of quotes filtered by a symbol but not by status, newest first,
-- stop at their limit instead of sorting every quote of the symbol.
CREATE INDEX idx_quotes_symbol_dst_created ON quotes (symbol_dst, created_at, quote_id);
CREATE INDEX idx_quotes_symbol_src_created ON quotes (symbol_src, created_at, quote_id);
