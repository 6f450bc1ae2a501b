/* Start-up checks of the database file and free-space queries (storage.h).
 *
 * Why before SQLite: a read-write open already changes a file (journal_mode
 * =WAL rewrites the header, -wal and -shm appear), and SQLite's own words for
 * a read-only file or folder ("attempt to write a readonly database") do not
 * say which of the two an operator must fix. */
#include "db/storage.h"

#include "common/log.h"
#include "db/migrate.h"

#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#define HEADER_LEN 100

static uint32_t
be32(const unsigned char *p)
{
        return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* The folder of path into dir ("." when it has none). */
static void
parent_dir(const char *path, char *dir, size_t dirlen)
{
        const char *slash = strrchr(path, '/');

        if (slash == NULL)
                snprintf(dir, dirlen, ".");
        else if (slash == path)
                snprintf(dir, dirlen, "/");
        else
                snprintf(dir, dirlen, "%.*s", (int)(slash - path), path);
}

/* Permission checks with the kernel's real semantics for this process
 * (root passes mode bits but not a read-only mount). */
static int
check_writable(const char *path, bool exists, char *err, size_t errlen)
{
        char dir[4096];

        if (exists && faccessat(AT_FDCWD, path, R_OK | W_OK, AT_EACCESS) != 0) {
                snprintf(err, errlen,
                         "the database file %s is not writable (%s): tradestore needs read and"
                         " write access; fix its permission or owner, or the mount",
                         path, strerror(errno));
                return -1;
        }
        parent_dir(path, dir, sizeof(dir));
        if (faccessat(AT_FDCWD, dir, W_OK | X_OK, AT_EACCESS) != 0) {
                snprintf(err, errlen,
                         "the folder %s of the database is not writable (%s): SQLite creates"
                         " the -wal and -shm files beside %s there; fix the folder's permission"
                         " or the mount",
                         dir, strerror(errno), path);
                return -1;
        }
        return 0;
}

/* Refuses what is not a whole SQLite file, from its first HEADER_LEN bytes.
 * A file shorter than its header's page count was cut short (a copy or a
 * disk that ran out); unless a WAL is there to recover it, which may hold
 * the pages a crashed checkpoint had not yet written. */
static int
check_header(const char *path, off_t size, char *err, size_t errlen)
{
        unsigned char h[HEADER_LEN];
        char wal[4096];
        struct stat sb;
        uint32_t page_size, pages;
        ssize_t n = -1;
        int fd = open(path, O_RDONLY | O_CLOEXEC);

        if (fd >= 0) {
                n = read(fd, h, sizeof(h));
                close(fd);
        }
        if (n < 0) {
                snprintf(err, errlen, "cannot read the database file %s: %s", path,
                         strerror(errno));
                return -1;
        }
        if (n < HEADER_LEN || memcmp(h, "SQLite format 3", 16) != 0) {
                snprintf(err, errlen,
                         "%s is not a SQLite database (it lacks the SQLite header); it was left"
                         " untouched: point database.path at a tradestore database or a new file",
                         path);
                return -1;
        }
        page_size = (uint32_t)h[16] << 8 | h[17];
        page_size = page_size == 1 ? 65536 : page_size;
        pages = be32(h + 28);
        snprintf(wal, sizeof(wal), "%s-wal", path);
        if (stat(wal, &sb) == 0 && sb.st_size > 0)
                return 0;
        /* The page count is valid only when "version-valid-for" matches the
         * change counter (file format, section 1.3.7). */
        if (pages > 0 && be32(h + 92) == be32(h + 24) &&
            (long long)size < (long long)pages * page_size) {
                snprintf(err, errlen,
                         "the database file %s is truncated: %lld bytes, but its header says %u"
                         " pages of %u bytes (%lld bytes); it was left untouched: restore it"
                         " from a backup",
                         path, (long long)size, pages, page_size, (long long)pages * page_size);
                return -1;
        }
        return 0;
}

/* The URI that opens path read-only; immutable when no -wal is beside it,
 * since a read-only connection to a WAL-mode file would otherwise create
 * -wal and -shm (and with no -wal, the file alone is the whole database).
 * Caller frees with sqlite3_free; NULL when out of memory. */
static char *
read_only_uri(const char *path)
{
        char wal[4096];
        struct stat sb;
        sqlite3_str *u = sqlite3_str_new(NULL);

        snprintf(wal, sizeof(wal), "%s-wal", path);
        sqlite3_str_appendall(u, "file:");
        for (const char *p = path; *p != '\0'; p++) {
                if (*p == '%' || *p == '?' || *p == '#')
                        sqlite3_str_appendf(u, "%%%02X", (unsigned char)*p);
                else
                        sqlite3_str_appendchar(u, 1, *p);
        }
        sqlite3_str_appendall(u, stat(wal, &sb) == 0 ? "?mode=ro" : "?mode=ro&immutable=1");
        return sqlite3_str_finish(u);
}

/* Reads the schema history with a read-only connection. */
static int
check_history(const char *path, const struct migration *m, size_t n, char *err, size_t errlen)
{
        char why[768];
        char *uri = read_only_uri(path);
        sqlite3 *db = NULL;
        int ret = -1;

        why[0] = '\0';
        if (uri == NULL ||
            sqlite3_open_v2(uri, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, NULL) != SQLITE_OK) {
                snprintf(why, sizeof(why), "%s", db ? sqlite3_errmsg(db) : "out of memory");
                goto out;
        }
        if (migrate_check(db, m, n, why, sizeof(why)) != 0)
                goto out;
        if (migrate_current_version(db) == 0 && migrate_check_history(db, why, sizeof(why)) != 0)
                goto out;
        ret = 0;
out:
        if (ret != 0)
                snprintf(err, errlen, "cannot serve the database %s: %s", path,
                         why[0] != '\0' ? why : (db ? sqlite3_errmsg(db) : "?"));
        sqlite3_close(db);
        sqlite3_free(uri);
        return ret;
}

int
storage_preflight(const char *path, const struct migration *m, size_t n, char *err, size_t errlen)
{
        struct stat sb;

        if (stat(path, &sb) != 0) {
                if (errno != ENOENT) {
                        snprintf(err, errlen, "cannot read the database file %s: %s", path,
                                 strerror(errno));
                        return -1;
                }
                return check_writable(path, false, err, errlen);
        }
        if (!S_ISREG(sb.st_mode)) {
                snprintf(err, errlen, "the database path %s is not a regular file", path);
                return -1;
        }
        if (check_writable(path, true, err, errlen) != 0)
                return -1;
        if (sb.st_size == 0) {
                log_msg(LOG_WARN, "database_initialised",
                        "the database file %s is an empty file (0 bytes): initialising it as a"
                        " new tradestore database",
                        path);
                return 0;
        }
        if (check_header(path, sb.st_size, err, errlen) != 0)
                return -1;
        return check_history(path, m, n, err, errlen);
}

int64_t
storage_free_bytes(const char *path)
{
        char dir[4096];
        struct statvfs vfs;

        parent_dir(path, dir, sizeof(dir));
        if (statvfs(dir, &vfs) != 0)
                return -1;
        return (int64_t)vfs.f_bavail * (int64_t)vfs.f_frsize;
}
