/* The streaming JSON writer: exact text, escaping, nesting, and that what it
 * writes parses back to the same values. */
#include "common/jsonw.h"

#include <check.h>

#include "check_run.h"
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static char *
take(struct jw *w)
{
        size_t len = 0;
        char *s = jw_take(w, &len);

        ck_assert_ptr_nonnull(s);
        ck_assert_uint_eq(strlen(s), len);
        return s;
}

START_TEST(objects_arrays_and_commas_are_placed_exactly)
{
        struct jw w;
        char *s;

        jw_init(&w);
        jw_obj(&w);
        jw_kstr(&w, "a", "x");
        jw_key(&w, "items");
        jw_arr(&w);
        jw_obj(&w);
        jw_kint(&w, "n", -42);
        jw_end(&w);
        jw_obj(&w);
        jw_end(&w);
        jw_int(&w, 0);
        jw_end(&w);
        jw_key(&w, "next");
        jw_null(&w);
        jw_kbool(&w, "t", true);
        jw_kbool(&w, "f", false);
        jw_end(&w);
        s = take(&w);
        ck_assert_str_eq(s, "{\"a\":\"x\",\"items\":[{\"n\":-42},{},0],\"next\":null,"
                            "\"t\":true,\"f\":false}");
        free(s);
}
END_TEST

START_TEST(decimals_and_timestamps_are_canonical_strings)
{
        struct jw w;
        char *s;

        jw_init(&w);
        jw_obj(&w);
        jw_kdec(&w, "p", 150000000);
        jw_kdec(&w, "q", -1);
        jw_kdec(&w, "z", 0);
        jw_kdec(&w, "max", INT64_MAX);
        jw_kdec_opt(&w, "none", false, 5);
        jw_kts(&w, "t", 1764169200123456LL);
        jw_kts_opt(&w, "u", false, 0);
        jw_end(&w);
        s = take(&w);
        ck_assert_str_eq(s, "{\"p\":\"1.5\",\"q\":\"-0.00000001\",\"z\":\"0\","
                            "\"max\":\"92233720368.54775807\",\"none\":null,"
                            "\"t\":\"2025-11-26T15:00:00.123456Z\",\"u\":null}");
        free(s);
}
END_TEST

START_TEST(strings_are_escaped_and_parse_back_unchanged)
{
        static const char *const cases[] = {
                "plain",
                "",
                "quote\"back\\slash",
                "nl\ncr\rtab\t",
                "\x01\x1f ctl",
                "caf\xc3\xa9 \xe2\x82\xac",
                "</script>",
        };
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                struct jw w;
                json_t *j;
                char *s;

                jw_init(&w);
                jw_arr(&w);
                jw_str(&w, cases[i]);
                jw_end(&w);
                s = take(&w);
                j = json_loads(s, 0, NULL);
                ck_assert_msg(j != NULL, "case %zu: %s", i, s);
                ck_assert_str_eq(json_string_value(json_array_get(j, 0)), cases[i]);
                json_decref(j);
                free(s);
        }
}
END_TEST

START_TEST(unbalanced_or_too_deep_output_is_refused)
{
        struct jw w;
        size_t len;

        jw_init(&w);
        jw_obj(&w);
        ck_assert_ptr_null(jw_take(&w, &len)); /* still open */
        jw_init(&w);
        jw_end(&w);
        ck_assert_ptr_null(jw_take(&w, &len)); /* closed nothing */
        jw_init(&w);
        for (int i = 0; i < JW_MAX_DEPTH + 1; i++)
                jw_arr(&w);
        for (int i = 0; i < JW_MAX_DEPTH + 1; i++)
                jw_end(&w);
        ck_assert_ptr_null(jw_take(&w, &len));
}
END_TEST

START_TEST(large_output_grows_the_buffer)
{
        struct jw w;
        json_t *j;
        char *s;

        jw_init(&w);
        jw_arr(&w);
        for (int i = 0; i < 10000; i++)
                jw_dec(&w, (int64_t)i * 12345);
        jw_end(&w);
        s = take(&w);
        j = json_loads(s, 0, NULL);
        ck_assert_ptr_nonnull(j);
        ck_assert_uint_eq(json_array_size(j), 10000);
        ck_assert_str_eq(json_string_value(json_array_get(j, 9999)), "1.23437655");
        json_decref(j);
        free(s);
}
END_TEST

int
main(void)
{
        Suite *s = suite_create("jsonw");
        TCase *t = tcase_create("writer");

        tcase_add_test(t, objects_arrays_and_commas_are_placed_exactly);
        tcase_add_test(t, decimals_and_timestamps_are_canonical_strings);
        tcase_add_test(t, strings_are_escaped_and_parse_back_unchanged);
        tcase_add_test(t, unbalanced_or_too_deep_output_is_refused);
        tcase_add_test(t, large_output_grows_the_buffer);
        suite_add_tcase(s, t);
        return check_run(s);
}
