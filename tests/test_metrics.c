/* /metrics during start-up: the service's HTTP server is not yet known to
 * the handlers (server/service.c sets app.http after http_start, whose
 * daemon already serves), so what the metrics handler reads of it must
 * take a NULL server. */
#include "server/http.h"

#include <check.h>
#include <stdlib.h>

START_TEST(a_server_not_yet_running_reads_as_idle)
{
        unsigned long header = 7, body = 7;

        ck_assert_int_eq(http_in_flight(NULL), 0);
        http_cut_counts(NULL, &header, &body);
        ck_assert_uint_eq(header, 0);
        ck_assert_uint_eq(body, 0);
}
END_TEST

int
main(void)
{
        Suite *s = suite_create("metrics");
        TCase *t = tcase_create("metrics");
        SRunner *sr;
        int failed;

        tcase_add_test(t, a_server_not_yet_running_reads_as_idle);
        suite_add_tcase(s, t);
        sr = srunner_create(s);
        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
