/* A VFS over SQLite's default one that gathers a transaction's WAL frames
 * into one write.
 *
 * SQLite writes each WAL frame as two writes (its 24-byte header, then the
 * page): under W1 about 12 pwrite calls per fill, a quarter of the writer
 * thread's time. This VFS keeps the frames a connection appends to its WAL
 * in a buffer and writes them with one pwrite when the transaction's commit
 * frame is in (its header carries the database size), before SQLite makes
 * the commit visible to readers, and before anything else touches the file
 * (read, sync, truncate, size, lock, close). What the file holds at each
 * commit, and when an error is reported (at the commit's own write), are
 * as without it. Writes that are not appends (a WAL header at a restart,
 * checksums rewritten in place) go straight through. Files other than WALs
 * are the default VFS's own. */
#ifndef TRADESTORE_DB_WALBUF_H
#define TRADESTORE_DB_WALBUF_H

/* Registers the VFS as SQLite's default, over the default at the time
 * (once; later calls do nothing). Returns 0, or an SQLite error code. */
int walbuf_register(void);

/* Frames written since the process started, and the write calls that
 * carried them to the VFS below: for tests and /metrics. */
void walbuf_counts(unsigned long *ret_frames, unsigned long *ret_writes);

#endif
