/* Shared by the libFuzzer targets of tests/fuzz: the entry point's
 * prototype (libFuzzer calls it; -Wmissing-prototypes wants one) and
 * fuzz_fail, which reports a broken property and aborts so that libFuzzer
 * saves the input as a crash file. */
#ifndef TRADESTORE_FUZZ_H
#define TRADESTORE_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Prints "property failed: " and the message to stderr, then aborts. */
_Noreturn void fuzz_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
