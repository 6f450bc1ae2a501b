/* The end of every suite's main (the tests/test_*.c files): runs the suite and
 * returns the process's exit status, 0 when no test failed. */
#ifndef TRADESTORE_CHECK_RUN_H
#define TRADESTORE_CHECK_RUN_H

#include <check.h>
#include <stdlib.h>

static inline int
check_run(Suite *s)
{
        SRunner *sr = srunner_create(s);
        int failed;

        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

#endif
