/* The WAL write buffer: see walbuf.h. */
#include "db/walbuf.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define FRAME_HEADER 24
/* The unix VFS writes at most 0x1ffff bytes in one call (it masks the
 * length: os_unix.c, seekAndWriteFd), so a transaction is written in pieces
 * of up to 31 frames of 4 KiB pages. */
#define BUF_CAP 0x1ffff

struct wal_file {
        sqlite3_file base;  /* pMethods = &wal_methods */
        sqlite3_file *real; /* the VFS below's file, right after this struct */
        unsigned char *buf;
        int len;
        sqlite3_int64 off;  /* of buf[0] in the file */
        sqlite3_int64 next; /* where the last write ended: an append starts here */
        bool commit_next;   /* the last write was a commit frame's header */
};

static sqlite3_vfs vfs;
static sqlite3_vfs *below;
static sqlite3_io_methods wal_methods;
static atomic_ulong frames_written, writes_below;

static int
flush(struct wal_file *w)
{
        int rc;

        if (w->len == 0)
                return SQLITE_OK;
        rc = w->real->pMethods->xWrite(w->real, w->buf, w->len, w->off);
        atomic_fetch_add_explicit(&writes_below, 1, memory_order_relaxed);
        w->len = 0;
        return rc;
}

static int
write_through(struct wal_file *w, const void *p, int n, sqlite3_int64 off)
{
        int rc = flush(w);

        if (rc != SQLITE_OK)
                return rc;
        atomic_fetch_add_explicit(&writes_below, 1, memory_order_relaxed);
        return w->real->pMethods->xWrite(w->real, p, n, off);
}

static int
wal_write(sqlite3_file *f, const void *p, int n, sqlite3_int64 off)
{
        struct wal_file *w = (struct wal_file *)f;
        const unsigned char *b = p;
        bool commit = w->commit_next;
        int rc;

        w->commit_next = false;
        if (n == FRAME_HEADER) {
                atomic_fetch_add_explicit(&frames_written, 1, memory_order_relaxed);
                /* Bytes 4-7: the database's size in pages after a commit, 0
                 * in any other frame. */
                w->commit_next = (b[4] | b[5] | b[6] | b[7]) != 0;
        }
        if (w->buf == NULL && off == w->next)
                w->buf = malloc(BUF_CAP); /* on the first append: readers never need it */
        if (off != w->next || w->buf == NULL || n > BUF_CAP) {
                /* Not an append, or nothing to gather it in. */
                w->next = off + n;
                return write_through(w, p, n, off);
        }
        if (w->len + n > BUF_CAP && (rc = flush(w)) != SQLITE_OK)
                return rc;
        if (w->len == 0)
                w->off = off;
        memcpy(w->buf + w->len, p, (size_t)n);
        w->len += n;
        w->next = off + n;
        /* The commit frame's page ends the transaction: out before SQLite
         * publishes the commit, its error reported on this write. */
        return commit ? flush(w) : SQLITE_OK;
}

static int
wal_close(sqlite3_file *f)
{
        struct wal_file *w = (struct wal_file *)f;
        int rc = flush(w);
        int rc2 = w->real->pMethods->xClose(w->real);

        free(w->buf);
        w->buf = NULL;
        return rc != SQLITE_OK ? rc : rc2;
}

/* Every other method writes out what is gathered first, then is the
 * VFS below's. */
#define FLUSHED(call)                                                                              \
        do {                                                                                       \
                struct wal_file *w = (struct wal_file *)f;                                         \
                int rc = flush(w);                                                                 \
                if (rc != SQLITE_OK)                                                               \
                        return rc;                                                                 \
                return w->real->pMethods->call;                                                    \
        } while (0)

static int
wal_read(sqlite3_file *f, void *p, int n, sqlite3_int64 off)
{
        FLUSHED(xRead(w->real, p, n, off));
}

static int
wal_truncate(sqlite3_file *f, sqlite3_int64 size)
{
        FLUSHED(xTruncate(w->real, size));
}

static int
wal_sync(sqlite3_file *f, int flags)
{
        FLUSHED(xSync(w->real, flags));
}

static int
wal_file_size(sqlite3_file *f, sqlite3_int64 *ret)
{
        FLUSHED(xFileSize(w->real, ret));
}

static int
wal_lock(sqlite3_file *f, int level)
{
        FLUSHED(xLock(w->real, level));
}

static int
wal_unlock(sqlite3_file *f, int level)
{
        FLUSHED(xUnlock(w->real, level));
}

static int
wal_check_reserved(sqlite3_file *f, int *ret)
{
        FLUSHED(xCheckReservedLock(w->real, ret));
}

static int
wal_file_control(sqlite3_file *f, int op, void *arg)
{
        FLUSHED(xFileControl(w->real, op, arg));
}

static int
wal_sector_size(sqlite3_file *f)
{
        struct wal_file *w = (struct wal_file *)f;

        return w->real->pMethods->xSectorSize(w->real);
}

static int
wal_device_characteristics(sqlite3_file *f)
{
        struct wal_file *w = (struct wal_file *)f;

        return w->real->pMethods->xDeviceCharacteristics(w->real);
}

static int
vfs_open(sqlite3_vfs *v, sqlite3_filename name, sqlite3_file *f, int flags, int *ret_flags)
{
        struct wal_file *w = (struct wal_file *)f;
        int rc;

        (void)v;
        if (!(flags & SQLITE_OPEN_WAL))
                return below->xOpen(below, name, f, flags, ret_flags); /* below's own file */
        memset(w, 0, sizeof(*w));
        w->real = (sqlite3_file *)(w + 1);
        rc = below->xOpen(below, name, w->real, flags, ret_flags);
        if (rc != SQLITE_OK) {
                if (w->real->pMethods != NULL)
                        w->real->pMethods->xClose(w->real);
                return rc;
        }
        w->base.pMethods = &wal_methods;
        return SQLITE_OK;
}

/* The VFS's other methods are below's. */
static int
vfs_delete(sqlite3_vfs *v, const char *name, int sync_dir)
{
        (void)v;
        return below->xDelete(below, name, sync_dir);
}

static int
vfs_access(sqlite3_vfs *v, const char *name, int flags, int *ret)
{
        (void)v;
        return below->xAccess(below, name, flags, ret);
}

static int
vfs_full_pathname(sqlite3_vfs *v, const char *name, int n, char *out)
{
        (void)v;
        return below->xFullPathname(below, name, n, out);
}

static void *
vfs_dl_open(sqlite3_vfs *v, const char *name)
{
        (void)v;
        return below->xDlOpen(below, name);
}

static void
vfs_dl_error(sqlite3_vfs *v, int n, char *msg)
{
        (void)v;
        below->xDlError(below, n, msg);
}

static void (*vfs_dl_sym(sqlite3_vfs *v, void *h, const char *sym))(void)
{
        (void)v;
        return below->xDlSym(below, h, sym);
}

static void
vfs_dl_close(sqlite3_vfs *v, void *h)
{
        (void)v;
        below->xDlClose(below, h);
}

static int
vfs_randomness(sqlite3_vfs *v, int n, char *out)
{
        (void)v;
        return below->xRandomness(below, n, out);
}

static int
vfs_sleep(sqlite3_vfs *v, int us)
{
        (void)v;
        return below->xSleep(below, us);
}

static int
vfs_current_time(sqlite3_vfs *v, double *ret)
{
        (void)v;
        return below->xCurrentTime(below, ret);
}

static int
vfs_last_error(sqlite3_vfs *v, int n, char *msg)
{
        (void)v;
        return below->xGetLastError(below, n, msg);
}

static int
vfs_current_time_int64(sqlite3_vfs *v, sqlite3_int64 *ret)
{
        (void)v;
        return below->xCurrentTimeInt64(below, ret);
}

static int register_rc;

static void
register_once(void)
{
        below = sqlite3_vfs_find(NULL);
        if (below == NULL || below->iVersion < 2 || below->xCurrentTimeInt64 == NULL) {
                register_rc = SQLITE_ERROR;
                return;
        }
        wal_methods = (sqlite3_io_methods){
                .iVersion = 1, /* a WAL is never memory-mapped, nor has a -shm */
                .xClose = wal_close,
                .xRead = wal_read,
                .xWrite = wal_write,
                .xTruncate = wal_truncate,
                .xSync = wal_sync,
                .xFileSize = wal_file_size,
                .xLock = wal_lock,
                .xUnlock = wal_unlock,
                .xCheckReservedLock = wal_check_reserved,
                .xFileControl = wal_file_control,
                .xSectorSize = wal_sector_size,
                .xDeviceCharacteristics = wal_device_characteristics,
        };
        vfs = (sqlite3_vfs){
                .iVersion = 2,
                .szOsFile = (int)sizeof(struct wal_file) + below->szOsFile,
                .mxPathname = below->mxPathname,
                .zName = "tradestore-walbuf",
                .xOpen = vfs_open,
                .xDelete = vfs_delete,
                .xAccess = vfs_access,
                .xFullPathname = vfs_full_pathname,
                .xDlOpen = vfs_dl_open,
                .xDlError = vfs_dl_error,
                .xDlSym = vfs_dl_sym,
                .xDlClose = vfs_dl_close,
                .xRandomness = vfs_randomness,
                .xSleep = vfs_sleep,
                .xCurrentTime = vfs_current_time,
                .xGetLastError = vfs_last_error,
                .xCurrentTimeInt64 = vfs_current_time_int64,
        };
        register_rc = sqlite3_vfs_register(&vfs, 1);
}

int
walbuf_register(void)
{
        static pthread_once_t once = PTHREAD_ONCE_INIT;

        pthread_once(&once, register_once);
        return register_rc;
}

void
walbuf_counts(unsigned long *ret_frames, unsigned long *ret_writes)
{
        *ret_frames = atomic_load(&frames_written);
        *ret_writes = atomic_load(&writes_below);
}
