/* Query parameters read against their fields (handlers/parse.c): the
 * field's type decides which member of the value holds it. */
#include "handlers/parse.h"
#include "server/query.h"
#include "tests/harness.h"

#include <check.h>
#include <string.h>

static const struct field fields[] = {
        { .name = "flag", .type = F_BOOL },
        { .name = "symbol", .type = F_SYMBOL },
};

/* Parses text against fields; returns whether it was valid, the values in
 * ret (two) and the errors in *ret_errors (caller decrefs). */
static bool
parse(const char *text, struct query_value *ret, json_t **ret_errors)
{
        struct query q = { 0 };
        struct page page;
        const char *twice = NULL;
        bool ok;

        ck_assert_int_eq(query_parse(text, strlen(text), &q, &twice), QUERY_OK);
        *ret_errors = NULL;
        ok = parse_query(&q, fields, 2, false, ret, &page, ret_errors);
        /* Values borrow from q: keep only what the tests compare. */
        ret[1].str = ret[1].str != NULL ? "set" : NULL;
        query_clear(&q);
        return ok;
}

START_TEST(a_bool_parameter_is_read_into_the_flag_never_as_text)
{
        static const struct {
                const char *text;
                bool flag;
        } ok[] = { { "flag=true", true }, { "flag=false", false } };

        for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
                struct query_value v[2];
                json_t *errors;

                ck_assert(parse(ok[i].text, v, &errors));
                ck_assert(v[0].set);
                ck_assert_int_eq(v[0].flag, ok[i].flag);
                ck_assert_ptr_null(v[0].str);
                ck_assert(!v[1].set);
        }
}
END_TEST

START_TEST(a_bool_parameter_that_is_not_true_or_false_is_an_error_naming_it)
{
        static const char *const bad[] = { "flag=yes", "flag=1", "flag=TRUE" };

        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                struct query_value v[2];
                json_t *errors;

                ck_assert_msg(!parse(bad[i], v, &errors), "%s accepted", bad[i]);
                ck_assert_str_eq(
                        json_string_value(json_object_get(json_array_get(errors, 0), "field")),
                        "flag");
                ck_assert(!v[0].set);
                json_decref(errors);
        }
}
END_TEST

START_TEST(a_text_parameter_is_read_into_the_text)
{
        struct query_value v[2];
        json_t *errors;

        ck_assert(parse("symbol=BTCUSDT", v, &errors));
        ck_assert(v[1].set);
        ck_assert_str_eq(v[1].str, "set");
        ck_assert(!v[0].set);
}
END_TEST

int
main(void)
{
        Suite *s = suite_create("parse");
        TCase *t = tcase_create("query");

        tcase_add_test(t, a_bool_parameter_is_read_into_the_flag_never_as_text);
        tcase_add_test(t, a_bool_parameter_that_is_not_true_or_false_is_an_error_naming_it);
        tcase_add_test(t, a_text_parameter_is_read_into_the_text);
        suite_add_tcase(s, t);
        return harness_run_suite(s);
}
