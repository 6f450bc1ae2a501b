/* The query string reader: decoding, limits and repeats (server/query.c). */
#include "server/query.h"

#include <check.h>

#include "check_run.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct {
        const char *raw;
        enum query_status status;
        size_t n;
        const char *key, *value; /* of the last parameter, when n > 0 */
} cases[] = {
        { "", QUERY_OK, 0, NULL, NULL },
        { "a=1", QUERY_OK, 1, "a", "1" },
        { "a", QUERY_OK, 1, "a", NULL },
        { "a=", QUERY_OK, 1, "a", "" },
        { "a=1&&b=2&", QUERY_OK, 2, "b", "2" },
        { "sym=BTC%2FUSDT", QUERY_OK, 1, "sym", "BTC/USDT" },
        { "q=a+b%20c", QUERY_OK, 1, "q", "a b c" },
        { "q=100%", QUERY_OK, 1, "q", "100%" },
        { "q=%zz%4", QUERY_OK, 1, "q", "%zz%4" },
        { "%ff=1", QUERY_OK, 1, "\xff", "1" },
        { "a=1=2", QUERY_OK, 1, "a", "1=2" },
        { "a=1&a=2", QUERY_TWICE, 2, NULL, NULL },
        { "a=1&b=2&%61=3", QUERY_TWICE, 3, NULL, NULL },
        { "a&a", QUERY_TWICE, 2, NULL, NULL },
};

START_TEST(parse_decodes_and_checks_table)
{
        struct query q = { 0 };
        const char *twice = NULL;
        enum query_status st = query_parse(cases[_i].raw, strlen(cases[_i].raw), &q, &twice);

        ck_assert_msg(st == cases[_i].status, "%s: %d", cases[_i].raw, st);
        ck_assert_uint_eq(q.n, cases[_i].n);
        if (st == QUERY_TWICE)
                ck_assert_str_eq(twice, "a");
        if (st == QUERY_OK && q.n > 0) {
                ck_assert_str_eq(q.v[q.n - 1].key, cases[_i].key);
                if (cases[_i].value == NULL)
                        ck_assert_ptr_null(q.v[q.n - 1].value);
                else
                        ck_assert_str_eq(q.v[q.n - 1].value, cases[_i].value);
                ck_assert_ptr_eq(query_get(&q, cases[_i].key), q.v[q.n - 1].value);
        }
        ck_assert_ptr_null(query_get(&q, "absent"));
        query_clear(&q);
}
END_TEST

START_TEST(limits_on_length_and_count)
{
        char raw[QUERY_MAX_BYTES + 2];
        struct query q = { 0 };
        const char *twice = NULL;
        size_t n = 0;

        memset(raw, 'a', sizeof(raw) - 1);
        raw[sizeof(raw) - 1] = '\0';
        ck_assert_int_eq(query_parse(raw, QUERY_MAX_BYTES + 1, &q, &twice), QUERY_TOO_LONG);
        ck_assert_int_eq(query_parse(raw, QUERY_MAX_BYTES, &q, &twice), QUERY_OK);
        for (int i = 0; i < QUERY_MAX_PARAMS; i++)
                n += (size_t)snprintf(raw + n, sizeof(raw) - n, "%sk%d=1", i ? "&" : "", i);
        ck_assert_int_eq(query_parse(raw, n, &q, &twice), QUERY_OK);
        ck_assert_uint_eq(q.n, QUERY_MAX_PARAMS);
        n += (size_t)snprintf(raw + n, sizeof(raw) - n, "&one=more");
        ck_assert_int_eq(query_parse(raw, n, &q, &twice), QUERY_TOO_MANY);
        query_clear(&q);
}
END_TEST

int
main(void)
{
        Suite *s = suite_create("query");
        TCase *tc = tcase_create("core");

        tcase_add_loop_test(tc, parse_decodes_and_checks_table, 0,
                            sizeof(cases) / sizeof(cases[0]));
        tcase_add_test(tc, limits_on_length_and_count);
        suite_add_tcase(s, tc);
        return check_run(s);
}
