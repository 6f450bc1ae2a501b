/* The fault-injecting VFS of faultvfs.h. Every method passes through to the
 * real VFS and file; only the counted operations can fail, before they reach
 * the file (so a failed write wrote nothing, as with a full disk). */
#include "faultvfs.h"

#include <sqlite3.h>
#include <stdatomic.h>
#include <string.h>

struct fault_file {
        sqlite3_file base;
        sqlite3_file *real; /* follows this struct in the same allocation */
};

static sqlite3_vfs *real_vfs;
static sqlite3_vfs fault_vfs;
static atomic_uint armed_ops;
static atomic_long calls;
static atomic_long nth_call;
static atomic_long injected;
static atomic_int fail_rc;
static atomic_bool persist_fail;

/* Returns the error to inject for one call of op, or SQLITE_OK. */
static int
fault(unsigned op)
{
        long n;

        if ((atomic_load(&armed_ops) & op) == 0)
                return SQLITE_OK;
        n = atomic_fetch_add(&calls, 1) + 1;
        if (n == atomic_load(&nth_call) || (atomic_load(&persist_fail) && n > nth_call)) {
                atomic_fetch_add(&injected, 1);
                return atomic_load(&fail_rc);
        }
        return SQLITE_OK;
}

void
faultvfs_arm(unsigned ops, long nth, int rc, bool persist)
{
        atomic_store(&armed_ops, 0);
        atomic_store(&calls, 0);
        atomic_store(&injected, 0);
        atomic_store(&nth_call, nth);
        atomic_store(&fail_rc, rc);
        atomic_store(&persist_fail, persist);
        atomic_store(&armed_ops, ops);
}

long
faultvfs_disarm(void)
{
        atomic_store(&armed_ops, 0);
        return atomic_load(&calls);
}

long
faultvfs_injected(void)
{
        return atomic_load(&injected);
}

#define REAL(f) (((struct fault_file *)(f))->real)

static int
f_close(sqlite3_file *f)
{
        return REAL(f)->pMethods->xClose(REAL(f));
}

static int
f_read(sqlite3_file *f, void *buf, int amt, sqlite3_int64 off)
{
        int rc = fault(FAULT_READ);

        return rc != SQLITE_OK ? rc : REAL(f)->pMethods->xRead(REAL(f), buf, amt, off);
}

static int
f_write(sqlite3_file *f, const void *buf, int amt, sqlite3_int64 off)
{
        int rc = fault(FAULT_WRITE);

        return rc != SQLITE_OK ? rc : REAL(f)->pMethods->xWrite(REAL(f), buf, amt, off);
}

static int
f_truncate(sqlite3_file *f, sqlite3_int64 size)
{
        int rc = fault(FAULT_TRUNCATE);

        return rc != SQLITE_OK ? rc : REAL(f)->pMethods->xTruncate(REAL(f), size);
}

static int
f_sync(sqlite3_file *f, int flags)
{
        int rc = fault(FAULT_SYNC);

        return rc != SQLITE_OK ? rc : REAL(f)->pMethods->xSync(REAL(f), flags);
}

static int
f_size(sqlite3_file *f, sqlite3_int64 *ret)
{
        return REAL(f)->pMethods->xFileSize(REAL(f), ret);
}

static int
f_lock(sqlite3_file *f, int lock)
{
        return REAL(f)->pMethods->xLock(REAL(f), lock);
}

static int
f_unlock(sqlite3_file *f, int lock)
{
        return REAL(f)->pMethods->xUnlock(REAL(f), lock);
}

static int
f_check_lock(sqlite3_file *f, int *ret)
{
        return REAL(f)->pMethods->xCheckReservedLock(REAL(f), ret);
}

static int
f_control(sqlite3_file *f, int op, void *arg)
{
        return REAL(f)->pMethods->xFileControl(REAL(f), op, arg);
}

static int
f_sector(sqlite3_file *f)
{
        return REAL(f)->pMethods->xSectorSize(REAL(f));
}

static int
f_dev(sqlite3_file *f)
{
        return REAL(f)->pMethods->xDeviceCharacteristics(REAL(f));
}

static int
f_shm_map(sqlite3_file *f, int pg, int pgsz, int extend, void volatile **pp)
{
        return REAL(f)->pMethods->xShmMap(REAL(f), pg, pgsz, extend, pp);
}

static int
f_shm_lock(sqlite3_file *f, int offset, int n, int flags)
{
        return REAL(f)->pMethods->xShmLock(REAL(f), offset, n, flags);
}

static void
f_shm_barrier(sqlite3_file *f)
{
        REAL(f)->pMethods->xShmBarrier(REAL(f));
}

static int
f_shm_unmap(sqlite3_file *f, int del)
{
        return REAL(f)->pMethods->xShmUnmap(REAL(f), del);
}

static int
f_fetch(sqlite3_file *f, sqlite3_int64 off, int amt, void **pp)
{
        return REAL(f)->pMethods->xFetch(REAL(f), off, amt, pp);
}

static int
f_unfetch(sqlite3_file *f, sqlite3_int64 off, void *p)
{
        return REAL(f)->pMethods->xUnfetch(REAL(f), off, p);
}

static const sqlite3_io_methods fault_io = {
        .iVersion = 3,
        .xClose = f_close,
        .xRead = f_read,
        .xWrite = f_write,
        .xTruncate = f_truncate,
        .xSync = f_sync,
        .xFileSize = f_size,
        .xLock = f_lock,
        .xUnlock = f_unlock,
        .xCheckReservedLock = f_check_lock,
        .xFileControl = f_control,
        .xSectorSize = f_sector,
        .xDeviceCharacteristics = f_dev,
        .xShmMap = f_shm_map,
        .xShmLock = f_shm_lock,
        .xShmBarrier = f_shm_barrier,
        .xShmUnmap = f_shm_unmap,
        .xFetch = f_fetch,
        .xUnfetch = f_unfetch,
};

static int
v_open(sqlite3_vfs *vfs, sqlite3_filename name, sqlite3_file *f, int flags, int *ret_flags)
{
        struct fault_file *ff = (struct fault_file *)f;
        int rc;

        (void)vfs;
        ff->real = (sqlite3_file *)(ff + 1);
        ff->base.pMethods = NULL;
        rc = real_vfs->xOpen(real_vfs, name, ff->real, flags, ret_flags);
        if (ff->real->pMethods != NULL)
                ff->base.pMethods = &fault_io;
        return rc;
}

static int
v_delete(sqlite3_vfs *vfs, const char *name, int sync_dir)
{
        (void)vfs;
        return real_vfs->xDelete(real_vfs, name, sync_dir);
}

static int
v_access(sqlite3_vfs *vfs, const char *name, int flags, int *ret)
{
        (void)vfs;
        return real_vfs->xAccess(real_vfs, name, flags, ret);
}

static int
v_full(sqlite3_vfs *vfs, const char *name, int n, char *out)
{
        (void)vfs;
        return real_vfs->xFullPathname(real_vfs, name, n, out);
}

static int
v_random(sqlite3_vfs *vfs, int n, char *out)
{
        (void)vfs;
        return real_vfs->xRandomness(real_vfs, n, out);
}

static int
v_sleep(sqlite3_vfs *vfs, int us)
{
        (void)vfs;
        return real_vfs->xSleep(real_vfs, us);
}

static int
v_time(sqlite3_vfs *vfs, double *ret)
{
        (void)vfs;
        return real_vfs->xCurrentTime(real_vfs, ret);
}

static int
v_last_error(sqlite3_vfs *vfs, int n, char *out)
{
        (void)vfs;
        return real_vfs->xGetLastError(real_vfs, n, out);
}

static int
v_time64(sqlite3_vfs *vfs, sqlite3_int64 *ret)
{
        (void)vfs;
        return real_vfs->xCurrentTimeInt64(real_vfs, ret);
}

int
faultvfs_register(void)
{
        if (real_vfs != NULL)
                return SQLITE_OK;
        real_vfs = sqlite3_vfs_find(NULL);
        if (real_vfs == NULL)
                return SQLITE_ERROR;
        fault_vfs = (sqlite3_vfs){
                .iVersion = 2,
                .szOsFile = (int)sizeof(struct fault_file) + real_vfs->szOsFile,
                .mxPathname = real_vfs->mxPathname,
                .zName = "faultvfs",
                .xOpen = v_open,
                .xDelete = v_delete,
                .xAccess = v_access,
                .xFullPathname = v_full,
                .xDlOpen = NULL,
                .xRandomness = v_random,
                .xSleep = v_sleep,
                .xCurrentTime = v_time,
                .xGetLastError = v_last_error,
                .xCurrentTimeInt64 = v_time64,
        };
        return sqlite3_vfs_register(&fault_vfs, 1);
}
