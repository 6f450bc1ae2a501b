/* JSON numbers kept as their literal text: jnum (the literal rules) and
 * json_exact (jansson parsing with each number's literal kept). */
#include "common/jnum.h"
#include "common/jsonw.h"
#include "server/json_exact.h"

#include <check.h>

#include "check_run.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))

/* ---- jnum_scan ---- */

static const struct scan_case {
        const char *s;
        size_t len; /* of the literal at the start */
} scan_cases[] = {
        { "0", 1 },     { "-0", 2 },      { "12", 2 },   { "1.5", 3 },    { "1e5", 3 },
        { "1E+5", 4 },  { "-1.5e-7", 7 }, { "01", 1 },   { "1.", 1 },     { "1.e5", 1 },
        { "1e", 1 },    { "1e+", 1 },     { "1.5x", 3 }, { "12,", 2 },    { "-", 0 },
        { "+1", 0 },    { ".5", 0 },      { "", 0 },     { "x", 0 },      { "--1", 0 },
        { "1.5.5", 3 }, { "1e5e5", 3 },   { "-01", 2 },  { "0.0001", 6 }, { "9e999", 5 },
};

START_TEST(scan_finds_the_longest_literal_table)
{
        const struct scan_case *c = &scan_cases[_i];

        ck_assert_msg(jnum_scan(c->s, strlen(c->s)) == c->len, "%s: %zu", c->s,
                      jnum_scan(c->s, strlen(c->s)));
}
END_TEST

/* ---- jnum_plain ---- */

static const struct plain_case {
        const char *lit;
        int frac_max;
        bool truncate;
        enum jnum_status status;
        const char *out;
} plain_cases[] = {
        { "0", 8, false, JNUM_OK, "0" },
        { "-0.000", 8, false, JNUM_OK, "0" },
        { "007", 8, false, JNUM_SYNTAX, NULL },
        { "12345e-4", 8, false, JNUM_OK, "1.2345" },
        { "9.223372036799999999e10", 8, false, JNUM_OK, "92233720367.99999999" },
        { "-1.5e-8", 8, false, JNUM_PRECISION, NULL },
        { "-1.5e-8", 8, true, JNUM_OK, "-0.00000001" },
        { "-1.5e-9", 8, true, JNUM_OK, "0" },
        { "1e19", 0, false, JNUM_OK, "10000000000000000000" },
        { "1e20", 0, false, JNUM_RANGE, NULL },
        { "99999999999999999999", 0, false, JNUM_OK, "99999999999999999999" },
        { "1.0000000000000000e-16", 16, false, JNUM_OK, "0.0000000000000001" },
        { "1e-17", 16, false, JNUM_PRECISION, NULL },
        { "1e-17", 17, false, JNUM_SYNTAX, NULL }, /* frac_max past the buffer */
        { "5.25", 0, true, JNUM_OK, "5" },
        { "1e999999999999999999999999", 8, false, JNUM_RANGE, NULL },
        { "1e-999999999999999999999999", 8, true, JNUM_OK, "0" },
};

START_TEST(plain_moves_the_point_and_never_rounds_table)
{
        const struct plain_case *c = &plain_cases[_i];
        char out[JNUM_PLAIN_BUFSZ] = "untouched";
        size_t n = 99;
        enum jnum_status st = jnum_plain(c->lit, strlen(c->lit), c->frac_max, c->truncate, out, &n);

        ck_assert_msg(st == c->status, "%s: status %d", c->lit, st);
        if (c->out != NULL) {
                ck_assert_str_eq(out, c->out);
                ck_assert_uint_eq(n, strlen(c->out));
        } else {
                ck_assert_str_eq(out, "untouched");
                ck_assert_uint_eq(n, 99);
        }
}
END_TEST

/* ---- jnum_canonical ---- */

static void
put(void *cls, const char *s, size_t n)
{
        strncat(cls, s, n);
}

static const char *
canon(const char *lit)
{
        static char buf[256];

        buf[0] = '\0';
        jnum_canonical(lit, strlen(lit), put, buf);
        return buf;
}

START_TEST(canonical_is_equal_exactly_for_equal_values)
{
        static const char *const same[][4] = {
                { "0.1", "1e-1", "0.10", "10E-2" },
                { "0", "-0", "0.0e5", "-0e-9" },
                { "123456789012345678901234567890", "1.2345678901234567890123456789e29",
                  "123456789012345678901234567890.000", "12345678901234567890123456789e1" },
                { "-2.5", "-25e-1", "-0.25e1", "-2.50" },
        };

        for (size_t i = 0; i < N_ELEMS(same); i++) {
                char first[256];

                snprintf(first, sizeof(first), "%s", canon(same[i][0]));
                for (size_t j = 1; j < 4; j++)
                        ck_assert_msg(strcmp(canon(same[i][j]), first) == 0, "%s: %s vs %s",
                                      same[i][j], canon(same[i][j]), first);
        }
        ck_assert_str_eq(canon("0.1"), "1e-1");
        ck_assert_str_eq(canon("-1200"), "-12e2");
        ck_assert_str_eq(canon("0"), "0");
        {
                static const char *const differ[][2] = {
                        { "0.1", "0.1000000000000000000001" },
                        { "1", "-1" },
                        { "1e400", "1e401" },
                        { "10", "1" },
                };

                for (size_t i = 0; i < N_ELEMS(differ); i++) {
                        char first[256];

                        snprintf(first, sizeof(first), "%s", canon(differ[i][0]));
                        ck_assert_str_ne(first, canon(differ[i][1]));
                }
        }
}
END_TEST

/* ---- jx_load / jx_write ---- */

/* v's literal as a NUL-terminated string (static buffer). */
static const char *
lit(const struct jx_numbers *nums, const json_t *v)
{
        static char buf[256];
        const char *t;
        size_t n;

        ck_assert(jx_number(nums, v, &t, &n));
        snprintf(buf, sizeof(buf), "%.*s", (int)n, t);
        return buf;
}

static char *
write_text(const json_t *v, const struct jx_numbers *nums, enum jx_form form)
{
        struct jw w;
        size_t len;

        jw_init(&w);
        jx_write(&w, v, nums, form);
        return jw_take(&w, &len);
}

START_TEST(each_number_keeps_its_literal_in_document_order)
{
        static const char text[] =
                "{\"z\": 0.1, \"a\": [1e400, -0.0, {\"k\": 123456789012345678901234567890}],"
                " \"m\": \"1.5 in a string\", \"n\": {\"y\": 2, \"b\": 1.5e-10}, \"t\": true}";
        struct jx_numbers nums = { 0 };
        json_error_t err;
        json_t *root = jx_load(text, strlen(text), JSON_REJECT_DUPLICATES, &nums, &err);
        json_t *a;

        ck_assert_msg(root != NULL, "%s", err.text);
        ck_assert_uint_eq(nums.n, 6);
        ck_assert_str_eq(lit(&nums, json_object_get(root, "z")), "0.1");
        a = json_object_get(root, "a");
        ck_assert_str_eq(lit(&nums, json_array_get(a, 0)), "1e400");
        ck_assert_str_eq(lit(&nums, json_array_get(a, 1)), "-0.0");
        ck_assert_str_eq(lit(&nums, json_object_get(json_array_get(a, 2), "k")),
                         "123456789012345678901234567890");
        ck_assert_str_eq(json_string_value(json_object_get(root, "m")), "1.5 in a string");
        ck_assert_str_eq(lit(&nums, json_object_get(json_object_get(root, "n"), "y")), "2");
        ck_assert_str_eq(lit(&nums, json_object_get(json_object_get(root, "n"), "b")), "1.5e-10");
        /* A node that is not a number of this tree has no literal. */
        {
                const char *t;
                size_t n;
                json_t *foreign = json_integer(99);

                ck_assert(!jx_number(&nums, json_object_get(root, "m"), &t, &n));
                ck_assert(!jx_number(&nums, foreign, &t, &n));
                json_decref(foreign);
        }
        json_decref(root);
        jx_numbers_clear(&nums);
}
END_TEST

START_TEST(written_as_sent_and_canonically)
{
        static const char text[] = "{\"px\":0.1,\"big\":123456789012345678901234567890,"
                                   "\"s\":\"q\\\"\\u00e9\\n\",\"l\":[1e-400,-0,{}],\"n\":null,"
                                   "\"f\":false}";
        static const char other[] = "{ \"f\" : false, \"n\" : null, \"l\" : [ 0.1e-399, 0, { } ],"
                                    " \"s\" : \"q\\\"\u00e9\\n\", \"big\" : 1.23456789012345678901"
                                    "234567890e29, \"px\" : 1E-1 }";
        struct jx_numbers n1 = { 0 }, n2 = { 0 };
        json_error_t err;
        json_t *a = jx_load(text, strlen(text), 0, &n1, &err);
        json_t *b = jx_load(other, strlen(other), 0, &n2, &err);
        char *sent, *ca, *cb;

        ck_assert_ptr_nonnull(a);
        ck_assert_ptr_nonnull(b);
        sent = write_text(a, &n1, JX_AS_SENT);
        ck_assert_str_eq(sent, "{\"px\":0.1,\"big\":123456789012345678901234567890,"
                               "\"s\":\"q\\\"\u00e9\\n\",\"l\":[1e-400,-0,{}],\"n\":null,"
                               "\"f\":false}");
        ca = write_text(a, &n1, JX_CANONICAL);
        cb = write_text(b, &n2, JX_CANONICAL);
        ck_assert_str_eq(ca, cb);
        ck_assert_str_eq(ca,
                         "{\"big\":12345678901234567890123456789e1,\"f\":false,"
                         "\"l\":[1e-400,0,{}],\"n\":null,\"px\":1e-1,\"s\":\"q\\\"\u00e9\\n\"}");
        free(sent);
        free(ca);
        free(cb);
        json_decref(a);
        json_decref(b);
        jx_numbers_clear(&n1);
        jx_numbers_clear(&n2);
}
END_TEST

/* Blanking numbers must never make a bad document good, nor move jansson's
 * line and column of an error. */
START_TEST(bad_documents_stay_bad_with_the_same_error_position)
{
        static const char *const bad[] = {
                "{\"a\": --1}",
                "{\"a\": 1.}",
                "{\"a\": 01}",
                "[1-2]",
                "{\"a\": 1.2.3}",
                "{\"a\": 1e5e5}",
                "{\"a\": +1}",
                "{\"a\": .5}",
                "{\"a\": 1 2}",
                "{\"a\": 1x}",
                "{\"a\":\n 1.5 x}",
                "{\"a\": 1,}",
                "[1,,2]",
                "{\"a\" 1}",
                "{1: 2}",
                "[\"x\" 1]",
                "{\"a\": -}",
                "{\"a\": 0x10}",
                "[1e]",
                "{\"a\": 1, \"a\": 2}",
        };

        for (size_t i = 0; i < N_ELEMS(bad); i++) {
                struct jx_numbers nums = { 0 };
                json_error_t e1, e2;
                json_t *x = jx_load(bad[i], strlen(bad[i]), JSON_REJECT_DUPLICATES, &nums, &e1);
                json_t *y = json_loads(bad[i], JSON_REJECT_DUPLICATES, &e2);

                ck_assert_msg(x == NULL, "%s was accepted", bad[i]);
                ck_assert_ptr_null(y);
                ck_assert_msg(e1.line == e2.line && e1.column == e2.column, "%s: %d:%d vs %d:%d",
                              bad[i], e1.line, e1.column, e2.line, e2.column);
                jx_numbers_clear(&nums);
        }
}
END_TEST

int
main(void)
{
        Suite *s = suite_create("json_exact");
        TCase *tc = tcase_create("core");

        tcase_add_loop_test(tc, scan_finds_the_longest_literal_table, 0, N_ELEMS(scan_cases));
        tcase_add_loop_test(tc, plain_moves_the_point_and_never_rounds_table, 0,
                            N_ELEMS(plain_cases));
        tcase_add_test(tc, canonical_is_equal_exactly_for_equal_values);
        tcase_add_test(tc, each_number_keeps_its_literal_in_document_order);
        tcase_add_test(tc, written_as_sent_and_canonically);
        tcase_add_test(tc, bad_documents_stay_bad_with_the_same_error_position);
        suite_add_tcase(s, tc);
        return check_run(s);
}
