/* The database file as storage: checks made before SQLite is let near the
 * file at start-up, and the free space of the disk that holds it. */
#ifndef TRADESTORE_STORAGE_H
#define TRADESTORE_STORAGE_H

#include <stddef.h>
#include <stdint.h>

struct migration;

/* Checks, before any read-write open, that the file at path can be served
 * by this binary: it is absent, empty or a whole SQLite database (not cut
 * short), it and its folder are writable for this process, and its schema
 * history is tradestore's and not newer than m. Opens the file read-only at
 * most, so a refused file is left exactly as it was (no -wal or -shm is
 * created beside it). Logs when an empty file will be initialised. Returns 0,
 * or -1 with a one-line reason in err that names the file or folder. */
int storage_preflight(const char *path, const struct migration *m, size_t n, char *err,
                      size_t errlen);

/* Bytes available to this process on the file system that holds path, or -1
 * when statvfs fails. */
int64_t storage_free_bytes(const char *path);

#endif
