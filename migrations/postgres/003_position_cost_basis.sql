-- 003_position_cost_basis: the exact cost basis of each position.
--
-- A position's average entry price used to be re-rounded at every fill that
-- grew it, so it drifted from the exact volume-weighted average (issue 15).
-- The exact cost basis (sum of price x quantity of the held units, in 1e-16
-- units) is now avg_entry_price * abs(quantity) + basis_residual, where
-- avg_entry_price stays the basis / abs(quantity) rounded half-to-even and
-- basis_residual is what that rounding left over: at most half a unit of
-- quantity either way, so it fits an BIGINT, and the basis needs no wider
-- type in SQL. Existing rows get 0: their basis is avg_entry_price x
-- quantity exactly, as if just reconciled.
ALTER TABLE positions ADD COLUMN basis_residual BIGINT NOT NULL DEFAULT 0
        CHECK (2 * abs(basis_residual) <= abs(quantity));
