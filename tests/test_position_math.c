/* Table-driven tests of the pure position arithmetic (repo/positions.c):
 * opening, adding, reducing, closing and flipping longs and shorts, exact
 * realized PnL with half-even rounding, the volume-weighted entry price,
 * unrealized PnL against a mark price, and overflow leaving the position
 * untouched. Decimals are written as text and parsed with dec_parse, so a
 * row reads like the API. */
#include "repo/positions.h"

#include <check.h>

#include "check_run.h"
#include <stdlib.h>
#include <string.h>

#include "common/dec.h"

#define MAX "92233720368.54775807"

/* Parses a decimal of the table; NULL is 0. */
static int64_t
D(const char *s)
{
        int64_t v = 0;

        if (s != NULL)
                ck_assert_msg(dec_parse(s, strlen(s), &v) == DEC_OK, "bad decimal %s", s);
        return v;
}

struct pos_text {
        const char *quantity, *avg, *realized;
        const char *mark; /* NULL: no mark price */
};

struct fill_case {
        const char *name;
        struct pos_text start;
        bool is_buy;
        const char *price, *qty;
        bool ok;
        /* expected quantity, avg, realized, unrealized (when ok) */
        const char *quantity, *avg, *realized, *unrealized;
};

/* clang-format off */
static const struct fill_case cases[] = {
        { "open long from flat", { "0", "0", "0", NULL }, true, "100", "2", true,
          "2", "100", "0", "0" },
        { "open short from flat", { "0", "0", "0", NULL }, false, "50", "3", true,
          "-3", "50", "0", "0" },
        { "add to long: vwap", { "2", "100", "0", NULL }, true, "110", "2", true,
          "4", "105", "0", "0" },
        { "add to long: vwap rounded half-even once", { "1", "1", "0", NULL }, true, "2", "2",
          true, "3", "1.66666667", "0", "0" },
        { "add to short: vwap", { "-2", "50", "0", NULL }, false, "60", "2", true,
          "-4", "55", "0", "0" },
        { "reduce long at a profit", { "4", "105", "0", NULL }, false, "110", "1", true,
          "3", "105", "5", "0" },
        { "reduce long at a loss", { "4", "105", "0", NULL }, false, "100", "1", true,
          "3", "105", "-5", "0" },
        { "reduce short at a profit", { "-4", "55", "0", NULL }, true, "50", "1", true,
          "-3", "55", "5", "0" },
        { "reduce short at a loss", { "-4", "55", "0", NULL }, true, "57.5", "2", true,
          "-2", "55", "-5", "0" },
        { "realized adds to what was there", { "4", "105", "7.25", NULL }, false, "110", "1",
          true, "3", "105", "12.25", "0" },
        { "close long to flat: avg 0", { "3", "105", "0", NULL }, false, "100", "3", true,
          "0", "0", "-15", "0" },
        { "close short to flat: avg 0", { "-2", "50", "0", NULL }, true, "40", "2", true,
          "0", "0", "20", "0" },
        { "flip long to short", { "2", "100", "0", NULL }, false, "110", "5", true,
          "-3", "110", "20", "0" },
        { "flip short to long", { "-2", "50", "0", NULL }, true, "60", "3", true,
          "1", "60", "-20", "0" },
        { "realized rounds half-even down to even", { "0.00000003", "1", "0", NULL }, false,
          "1.5", "0.00000001", true, "0.00000002", "1", "0", "0" },
        { "realized rounds half-even up to even", { "0.00000003", "1", "0", NULL }, false,
          "2.5", "0.00000001", true, "0.00000002", "1", "0.00000002", "0" },
        { "unrealized long with a mark", { "2", "100", "0", "120" }, true, "110", "2", true,
          "4", "105", "0", "60" },
        { "unrealized short with a mark", { "-2", "50", "0", "40" }, false, "50", "1", true,
          "-3", "50", "0", "30" },
        { "unrealized after a flip", { "1", "100", "0", "90" }, false, "95", "3", true,
          "-2", "95", "-5", "10" },
        { "flat with a mark: unrealized 0", { "1", "100", "0", "90" }, false, "95", "1", true,
          "0", "0", "-5", "0" },
        { "unrealized product rounds half-even", { "0", "0", "0", "1.00000001" }, true, "1",
          "0.5", true, "0.5", "1", "0", "0" },
        { "quantity overflow", { MAX, "1", "0", NULL }, true, "1", "0.00000001", false,
          NULL, NULL, NULL, NULL },
        { "realized overflow", { "1", "0.00000001", MAX, NULL }, false, "2", "1", false,
          NULL, NULL, NULL, NULL },
        { "unrealized overflow", { "92233720368", "1", "0", "92233720368" }, true, "1", "0.5",
          false, NULL, NULL, NULL, NULL },
        { "zero quantity is refused", { "1", "1", "0", NULL }, true, "1", "0", false, NULL, NULL,
          NULL, NULL },
        { "zero price is refused", { "1", "1", "0", NULL }, true, "0", "1", false, NULL, NULL,
          NULL, NULL },
};
/* clang-format on */

static struct position
from_text(const struct pos_text *t)
{
        struct position p = { .symbol = "BTC/USDT", .last_updated = 42 };

        p.quantity = D(t->quantity);
        p.avg_entry_price = D(t->avg);
        p.realized_pnl = D(t->realized);
        p.has_mark_price = t->mark != NULL;
        p.mark_price = D(t->mark);
        return p;
}

START_TEST(apply_fill_follows_the_table)
{
        const struct fill_case *c = &cases[_i];
        struct position p = from_text(&c->start);
        struct position before;
        bool ok;

        ck_assert(position_mark_to_market(&p) || !c->ok);
        before = p;
        ok = position_apply_fill(&p, c->is_buy, D(c->price), D(c->qty));
        ck_assert_msg(ok == c->ok, "%s: ok %d", c->name, ok);
        if (!c->ok) {
                ck_assert_msg(memcmp(&p, &before, sizeof(p)) == 0, "%s: touched", c->name);
                return;
        }
        ck_assert_msg(p.quantity == D(c->quantity), "%s: quantity %lld", c->name,
                      (long long)p.quantity);
        ck_assert_msg(p.avg_entry_price == D(c->avg), "%s: avg %lld", c->name,
                      (long long)p.avg_entry_price);
        ck_assert_msg(p.realized_pnl == D(c->realized), "%s: realized %lld", c->name,
                      (long long)p.realized_pnl);
        ck_assert_msg(p.unrealized_pnl == D(c->unrealized), "%s: unrealized %lld", c->name,
                      (long long)p.unrealized_pnl);
        ck_assert_str_eq(p.symbol, "BTC/USDT");
        ck_assert_int_eq(p.last_updated, 42);
        ck_assert(p.has_mark_price == before.has_mark_price);
        ck_assert_int_eq(p.mark_price, before.mark_price);
}
END_TEST

START_TEST(mark_to_market_without_mark_is_zero)
{
        struct position p = { .quantity = D("3"),
                              .avg_entry_price = D("10"),
                              .unrealized_pnl = D("99") };

        ck_assert(position_mark_to_market(&p));
        ck_assert_int_eq(p.unrealized_pnl, 0);
}
END_TEST

START_TEST(mark_to_market_long_and_short)
{
        struct position p = { .quantity = D("3"),
                              .avg_entry_price = D("10"),
                              .has_mark_price = true,
                              .mark_price = D("12.5") };

        ck_assert(position_mark_to_market(&p));
        ck_assert_int_eq(p.unrealized_pnl, D("7.5"));
        p.quantity = D("-3");
        ck_assert(position_mark_to_market(&p));
        ck_assert_int_eq(p.unrealized_pnl, D("-7.5"));
}
END_TEST

START_TEST(mark_to_market_overflow_leaves_position_untouched)
{
        struct position p = { .quantity = D("92233720368"),
                              .avg_entry_price = D("1"),
                              .unrealized_pnl = D("5"),
                              .has_mark_price = true,
                              .mark_price = D("3") };
        struct position before = p;

        ck_assert(!position_mark_to_market(&p));
        ck_assert(memcmp(&p, &before, sizeof(p)) == 0);
}
END_TEST

START_TEST(sequence_of_fills_realizes_exactly)
{
        /* buy 1@1, buy 1@1, buy 1@2, sell 2@3, sell 2@1 (flip), buy 1@0.5 */
        struct position p = { 0 };

        ck_assert(position_apply_fill(&p, true, D("1"), D("1")));
        ck_assert(position_apply_fill(&p, true, D("1"), D("1")));
        ck_assert(position_apply_fill(&p, true, D("2"), D("1")));
        ck_assert_int_eq(p.avg_entry_price, D("1.33333333"));
        ck_assert(position_apply_fill(&p, false, D("3"), D("2")));
        /* (3 - 1.33333333) * 2 = 3.33333334 */
        ck_assert_int_eq(p.realized_pnl, D("3.33333334"));
        ck_assert_int_eq(p.quantity, D("1"));
        ck_assert(position_apply_fill(&p, false, D("1"), D("2")));
        /* closes 1 at (1 - 1.33333333) = -0.33333333, opens short 1 @ 1 */
        ck_assert_int_eq(p.realized_pnl, D("3.00000001"));
        ck_assert_int_eq(p.quantity, D("-1"));
        ck_assert_int_eq(p.avg_entry_price, D("1"));
        ck_assert(position_apply_fill(&p, true, D("0.5"), D("1")));
        ck_assert_int_eq(p.realized_pnl, D("3.50000001"));
        ck_assert_int_eq(p.quantity, 0);
        ck_assert_int_eq(p.avg_entry_price, 0);
}
END_TEST

/* Issue 15: a buy of 7 @ 0.66, 6 @ 0.74 and 6 @ 0.59 averages 12.6 / 19 =
 * 0.663157894..., so 0.66315789 rounded once (the order's avg_fill_price).
 * Rounding the average at every fill drifted it to 0.6631579. */
START_TEST(growing_fills_keep_the_exact_vwap_rounded_once)
{
        struct position p = { 0 };

        ck_assert(position_apply_fill(&p, true, D("0.66"), D("7")));
        ck_assert(position_apply_fill(&p, true, D("0.74"), D("6")));
        ck_assert_int_eq(p.avg_entry_price, D("0.69692308"));
        ck_assert(position_apply_fill(&p, true, D("0.59"), D("6")));
        ck_assert_int_eq(p.quantity, D("19"));
        ck_assert_int_eq(p.avg_entry_price, D("0.66315789"));
}
END_TEST

/* The same for a short, and after a partial close (whose remaining basis is
 * the shown average times the remaining quantity). */
START_TEST(growing_a_short_and_after_a_reduce_keeps_the_exact_vwap)
{
        struct position p = { 0 };

        ck_assert(position_apply_fill(&p, false, D("0.66"), D("7")));
        ck_assert(position_apply_fill(&p, false, D("0.74"), D("6")));
        ck_assert(position_apply_fill(&p, false, D("0.59"), D("6")));
        ck_assert_int_eq(p.quantity, D("-19"));
        ck_assert_int_eq(p.avg_entry_price, D("0.66315789"));
        /* 1@1, 1@1, 1@2: 4/3; sell 1: (3 - 1.33333333) realized; the 2 left
         * cost 2.66666666 exactly, so buying 1@1 averages 3.66666666 / 3. */
        p = (struct position){ 0 };
        ck_assert(position_apply_fill(&p, true, D("1"), D("1")));
        ck_assert(position_apply_fill(&p, true, D("1"), D("1")));
        ck_assert(position_apply_fill(&p, true, D("2"), D("1")));
        ck_assert(position_apply_fill(&p, false, D("3"), D("1")));
        ck_assert_int_eq(p.realized_pnl, D("1.66666667"));
        ck_assert_int_eq(p.avg_entry_price, D("1.33333333"));
        ck_assert_int_eq(p.basis_residual, 0);
        ck_assert(position_apply_fill(&p, true, D("1"), D("1")));
        ck_assert_int_eq(p.avg_entry_price, D("1.22222222"));
}
END_TEST

/* ---- property: random fills against an independent __int128 reference ---- */

__extension__ typedef __int128 i128;

/* n / d rounded half-to-even, d > 0; written apart from common/dec.c. */
static int64_t
ref_div(i128 n, i128 d)
{
        i128 q = n / d, r = n % d;

        if (r < 0) {
                q--;
                r += d;
        }
        if (2 * r > d || (2 * r == d && (q & 1) != 0))
                q++;
        return (int64_t)q;
}

/* The reference position: the exact cost of the held units (1e-16 units,
 * >= 0), the signed quantity and the realized PnL. */
struct ref {
        i128 basis;
        int64_t qty, realized;
};

static int64_t
ref_avg(const struct ref *r)
{
        return r->qty == 0 ? 0 : ref_div(r->basis, r->qty < 0 ? -r->qty : r->qty);
}

static void
ref_fill(struct ref *r, bool buy, int64_t price, int64_t qty)
{
        int64_t held = r->qty < 0 ? -r->qty : r->qty;
        int64_t next = r->qty + (buy ? qty : -qty);
        int64_t avg = ref_avg(r), closed = qty < held ? qty : held;

        if (r->qty == 0 || (r->qty > 0) == buy) {
                r->basis += (i128)price * qty;
        } else {
                i128 per_unit = r->qty > 0 ? (i128)price - avg : (i128)avg - price;

                r->realized += ref_div(per_unit * closed, 100000000);
                if (next == 0)
                        r->basis = 0;
                else if ((next > 0) != (r->qty > 0))
                        r->basis = (i128)price * (next < 0 ? -next : next);
                else
                        r->basis = (i128)avg * (next < 0 ? -next : next);
        }
        r->qty = next;
}

static uint64_t
xorshift(uint64_t *s)
{
        *s ^= *s << 13;
        *s ^= *s >> 7;
        *s ^= *s << 17;
        return *s;
}

/* 300 sequences of 60 fills, prices 0.00000001..100 and quantities
 * 0.00000001..50 (some tiny, so rounding matters), buys twice as likely as
 * sells so positions grow, shrink and flip. After every fill the position
 * equals the reference; within a run of growing fills from flat the average
 * is also checked against the VWAP of that run computed from scratch. */
START_TEST(random_fills_match_the_exact_reference)
{
        uint64_t seed = 0x9e3779b97f4a7c15ULL;

        for (int run = 0; run < 300; run++) {
                struct position p = { 0 };
                struct ref r = { 0 };
                i128 run_cost = 0;
                int64_t run_qty = 0;

                for (int k = 0; k < 60; k++) {
                        uint64_t x = xorshift(&seed);
                        bool buy = x % 3 != 0;
                        bool tiny = (x >> 8) % 4 == 0;
                        int64_t price = 1 + (int64_t)((x >> 16) % (tiny ? 1000 : 10000000000ULL));
                        int64_t qty =
                                1 + (int64_t)(xorshift(&seed) % (tiny ? 1000 : 5000000000ULL));
                        bool grows = p.quantity == 0 || (p.quantity > 0) == buy;

                        if (p.quantity == 0) {
                                run_cost = 0;
                                run_qty = 0;
                        }
                        ck_assert(position_apply_fill(&p, buy, price, qty));
                        ref_fill(&r, buy, price, qty);
                        ck_assert_msg(p.quantity == r.qty && p.avg_entry_price == ref_avg(&r) &&
                                              p.realized_pnl == r.realized,
                                      "run %d fill %d: qty %lld/%lld avg %lld/%lld realized "
                                      "%lld/%lld",
                                      run, k, (long long)p.quantity, (long long)r.qty,
                                      (long long)p.avg_entry_price, (long long)ref_avg(&r),
                                      (long long)p.realized_pnl, (long long)r.realized);
                        if (grows && run_qty >= 0) {
                                run_cost += (i128)price * qty;
                                run_qty += qty;
                                ck_assert_int_eq(p.avg_entry_price, ref_div(run_cost, run_qty));
                        } else {
                                run_qty = -1; /* shrunk: no longer a run from flat */
                        }
                }
        }
}
END_TEST

static Suite *
suite(void)
{
        Suite *s = suite_create("position_math");
        TCase *tc = tcase_create("core");

        tcase_add_loop_test(tc, apply_fill_follows_the_table, 0,
                            (int)(sizeof(cases) / sizeof(cases[0])));
        tcase_add_test(tc, mark_to_market_without_mark_is_zero);
        tcase_add_test(tc, mark_to_market_long_and_short);
        tcase_add_test(tc, mark_to_market_overflow_leaves_position_untouched);
        tcase_add_test(tc, sequence_of_fills_realizes_exactly);
        tcase_add_test(tc, growing_fills_keep_the_exact_vwap_rounded_once);
        tcase_add_test(tc, growing_a_short_and_after_a_reduce_keeps_the_exact_vwap);
        tcase_add_test(tc, random_fills_match_the_exact_reference);
        suite_add_tcase(s, tc);
        return s;
}

int
main(void)
{
        return check_run(suite());
}
