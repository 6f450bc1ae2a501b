/* Unit tests of the order state machine in repo/orders.c: every one of the
 * 7x7 (from, to) pairs against a table written out here independently of
 * the code's, the status names both ways, and which statuses are final.
 *
 * The expected table follows ../shared/API.md: pending -> open ->
 * partially_filled -> filled (a fill may complete a pending or open order
 * at once, so forward steps may be skipped); pending, open and
 * partially_filled may become cancelled, rejected or expired; filled,
 * cancelled, rejected and expired are final. Staying put is no transition. */
#include "repo/orders.h"

#include <check.h>

#include "check_run.h"
#include <stdlib.h>

static const char *const names[ORDER_STATUS_COUNT] = {
        "pending", "open", "partially_filled", "filled", "cancelled", "rejected", "expired",
};

/* expected[from][to], indexes in the order of names[] above. */
static const int expected[ORDER_STATUS_COUNT][ORDER_STATUS_COUNT] = {
        /*                 pend open part fill canc rej exp */
        /* pending */ { 0, 1, 1, 1, 1, 1, 1 },
        /* open */ { 0, 0, 1, 1, 1, 1, 1 },
        /* partially */ { 0, 0, 0, 1, 1, 1, 1 },
        /* filled */ { 0, 0, 0, 0, 0, 0, 0 },
        /* cancelled */ { 0, 0, 0, 0, 0, 0, 0 },
        /* rejected */ { 0, 0, 0, 0, 0, 0, 0 },
        /* expired */ { 0, 0, 0, 0, 0, 0, 0 },
};

/* The enum value for names[i], looked up by name so that the test does not
 * depend on the enum's numbering. */
static enum order_status
by_name(int i)
{
        enum order_status s;

        ck_assert_msg(order_status_from_name(names[i], &s), "unknown status %s", names[i]);
        return s;
}

START_TEST(every_pair_of_statuses_matches_the_expected_table)
{
        int checked = 0;

        for (int from = 0; from < ORDER_STATUS_COUNT; from++) {
                for (int to = 0; to < ORDER_STATUS_COUNT; to++) {
                        bool got = order_transition_allowed(by_name(from), by_name(to));

                        ck_assert_msg(got == (expected[from][to] != 0), "%s -> %s: got %s",
                                      names[from], names[to], got ? "allowed" : "refused");
                        checked++;
                }
        }
        ck_assert_int_eq(checked, 49);
}
END_TEST

START_TEST(staying_in_the_same_status_is_not_a_transition)
{
        for (int i = 0; i < ORDER_STATUS_COUNT; i++)
                ck_assert_msg(!order_transition_allowed(by_name(i), by_name(i)), "%s -> %s",
                              names[i], names[i]);
}
END_TEST

START_TEST(names_round_trip_and_unknown_names_are_refused)
{
        static const char *const bad[] = { "",     "Pending",  "OPEN",     "partially-filled",
                                           "fill", "canceled", "pending ", NULL };
        enum order_status s = ORDER_OPEN;

        for (int i = 0; i < ORDER_STATUS_COUNT; i++)
                ck_assert_str_eq(order_status_name(by_name(i)), names[i]);
        for (const char *const *b = bad; *b != NULL; b++) {
                ck_assert_msg(!order_status_from_name(*b, &s), "accepted '%s'", *b);
                ck_assert_int_eq(s, ORDER_OPEN); /* untouched on failure */
        }
        ck_assert_str_eq(order_status_name((enum order_status)ORDER_STATUS_COUNT), "");
        ck_assert_str_eq(order_status_name((enum order_status) - 1), "");
}
END_TEST

START_TEST(final_statuses_are_exactly_filled_cancelled_rejected_expired)
{
        static const int final[ORDER_STATUS_COUNT] = { 0, 0, 0, 1, 1, 1, 1 };

        for (int i = 0; i < ORDER_STATUS_COUNT; i++)
                ck_assert_msg(order_status_final(by_name(i)) == (final[i] != 0), "%s", names[i]);
}
END_TEST

START_TEST(values_outside_the_enum_never_transition)
{
        enum order_status out = (enum order_status)ORDER_STATUS_COUNT;

        for (int i = 0; i < ORDER_STATUS_COUNT; i++) {
                ck_assert(!order_transition_allowed(out, by_name(i)));
                ck_assert(!order_transition_allowed(by_name(i), out));
        }
        ck_assert(!order_transition_allowed((enum order_status) - 1, ORDER_OPEN));
}
END_TEST

static Suite *
order_state_suite(void)
{
        Suite *s = suite_create("order_state");
        TCase *tc = tcase_create("transitions");

        tcase_add_test(tc, every_pair_of_statuses_matches_the_expected_table);
        tcase_add_test(tc, staying_in_the_same_status_is_not_a_transition);
        tcase_add_test(tc, names_round_trip_and_unknown_names_are_refused);
        tcase_add_test(tc, final_statuses_are_exactly_filled_cancelled_rejected_expired);
        tcase_add_test(tc, values_outside_the_enum_never_transition);
        suite_add_tcase(s, tc);
        return s;
}

int
main(void)
{
        return check_run(order_state_suite());
}
