/* fuzz_fail for every target (see fuzz.h). */
#include "tests/fuzz/fuzz.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

void
fuzz_fail(const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        fputs("property failed: ", stderr);
        vfprintf(stderr, fmt, ap);
        fputc('\n', stderr);
        va_end(ap);
        abort();
}
