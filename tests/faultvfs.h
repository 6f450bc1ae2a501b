/* A test VFS over the default one that fails chosen file operations, as
 * SQLite's own anomaly tests do: the Nth xWrite, xSync, xTruncate or xRead
 * after faultvfs_arm returns the given error, once or from then on. */
#ifndef TRADESTORE_TESTS_FAULTVFS_H
#define TRADESTORE_TESTS_FAULTVFS_H

#include <stdbool.h>

enum {
        FAULT_READ = 1u << 0,
        FAULT_WRITE = 1u << 1,
        FAULT_SYNC = 1u << 2,
        FAULT_TRUNCATE = 1u << 3,
};

/* Registers "faultvfs" over the current default VFS and makes it the
 * default, so every connection opened afterwards goes through it. Once per
 * process; returns 0 or an SQLite code. */
int faultvfs_register(void);

/* From now on counts the calls of the operations in ops; call number nth
 * (1-based) fails with rc (SQLITE_IOERR_WRITE, SQLITE_FULL, ...), and with
 * persist every later one too. */
void faultvfs_arm(unsigned ops, long nth, int rc, bool persist);

/* Stops failing. Returns the calls counted since faultvfs_arm. */
long faultvfs_disarm(void);

/* Faults injected since faultvfs_arm. */
long faultvfs_injected(void);

#endif
