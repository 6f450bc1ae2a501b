/* Storage faults seen through HTTP: the real server in-process over the
 * fault-injecting VFS (faultvfs.c), registered as SQLite's default before
 * the service opens its database.
 *
 * A full disk is a persistent SQLITE_FULL from every write, sync and
 * truncate: writes must be refused with a 503 that says the disk is full,
 * /health must say "degraded" with the reason while it lasts, and once
 * space returns writes resume and nothing acknowledged before is lost. */
#include "common/ts.h"
#include "harness.h"

#include "faultvfs.h"

#include <check.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define QUOTE                                                                                      \
        "{\"quote_id\": \"%s\", \"symbol_src\": \"BTC/USDT\", \"symbol_dst\": \"BTC/EUR\","        \
        " \"source_bid_price\": \"100\", \"source_ask_price\": \"101\"}"
#define HEALTH_WAIT_MS 1100 /* past the health probe's cache (HEALTH_PROBE_US) */

static struct harness h;
static struct http_resp resp;

static void
setup(void)
{
        ck_assert_int_eq(faultvfs_register(), SQLITE_OK);
        harness_init(&h);
        harness_start(&h);
        memset(&resp, 0, sizeof(resp));
}

static void
teardown(void)
{
        faultvfs_disarm();
        http_resp_clear(&resp);
        harness_stop(&h);
}

static long
post_quote(const char *id)
{
        char body[512];

        snprintf(body, sizeof(body), QUOTE, id);
        http_resp_clear(&resp);
        return http_json(&h, "POST", "/quotes", body, &resp);
}

static const char *
str_field(const char *key)
{
        json_t *v = resp.json ? json_object_get(resp.json, key) : NULL;

        return json_is_string(v) ? json_string_value(v) : "";
}

START_TEST(full_disk_is_named_in_the_answer_and_in_health_until_space_returns)
{
        ck_assert_int_eq(post_quote("before-full"), 201);
        faultvfs_arm(FAULT_WRITE | FAULT_SYNC | FAULT_TRUNCATE, 1, SQLITE_FULL, true);

        ck_assert_int_eq(post_quote("while-full"), 503);
        ck_assert_msg(strstr(str_field("detail"), "disk full") != NULL, "%s", resp.body);
        ts_sleep_ms(HEALTH_WAIT_MS);
        http_resp_clear(&resp);
        ck_assert_int_eq(http_json(&h, "GET", "/health", NULL, &resp), 200);
        ck_assert_str_eq(str_field("status"), "degraded");
        ck_assert_msg(strstr(str_field("reason"), "disk full") != NULL, "%s", resp.body);
        ck_assert_int_gt(faultvfs_injected(), 0);

        faultvfs_disarm(); /* space returns */
        ck_assert_int_eq(post_quote("after-full"), 201);
        http_resp_clear(&resp);
        ck_assert_int_eq(http_json(&h, "GET", "/quotes/before-full", NULL, &resp), 200);
        http_resp_clear(&resp);
        ck_assert_int_eq(http_json(&h, "GET", "/quotes/while-full", NULL, &resp), 404);
        ts_sleep_ms(HEALTH_WAIT_MS);
        http_resp_clear(&resp);
        ck_assert_int_eq(http_json(&h, "GET", "/health", NULL, &resp), 200);
        ck_assert_str_eq(str_field("status"), "ok");
        ck_assert_ptr_null(json_object_get(resp.json, "reason"));
}
END_TEST

static Suite *
storage_suite(void)
{
        Suite *s = suite_create("storage");
        TCase *tc = tcase_create("faults");

        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, full_disk_is_named_in_the_answer_and_in_health_until_space_returns);
        suite_add_tcase(s, tc);
        return s;
}

int
main(void)
{
        if (harness_sqlite_only_suite("storage", "faults injected through SQLite's VFS"))
                return HARNESS_EXIT_SKIP;
        return harness_run_suite(storage_suite());
}
