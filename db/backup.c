/* Database copies on the file system (see backup.h). */
#include "db/backup.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"

int
backup_mkdirs(const char *dir)
{
        char buf[4096];

        if (snprintf(buf, sizeof(buf), "%s", dir) >= (int)sizeof(buf)) {
                errno = ENAMETOOLONG;
                return -1;
        }
        for (char *p = buf + 1; *p != '\0'; p++) {
                if (*p != '/')
                        continue;
                *p = '\0';
                if (mkdir(buf, 0750) != 0 && errno != EEXIST)
                        return -1;
                *p = '/';
        }
        if (mkdir(buf, 0750) != 0 && errno != EEXIST)
                return -1;
        return 0;
}

int
backup_mkdirs_for(const char *path)
{
        char buf[4096];
        char *slash;

        if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf)) {
                errno = ENAMETOOLONG;
                return -1;
        }
        slash = strrchr(buf, '/');
        if (slash == NULL || slash == buf)
                return 0;
        *slash = '\0';
        return backup_mkdirs(buf);
}

/* fsync of a file or folder by path. 0 or -1. */
static int
sync_path(const char *path, int flags)
{
        int fd = open(path, flags | O_CLOEXEC);
        int rc;

        if (fd < 0)
                return -1;
        rc = fsync(fd);
        close(fd);
        return rc;
}

int
backup_publish(const char *tmp, const char *final)
{
        char dir[4096];
        char *slash;

        if (chmod(tmp, 0640) != 0 || sync_path(tmp, O_RDONLY) != 0 || rename(tmp, final) != 0)
                return -1;
        snprintf(dir, sizeof(dir), "%s", final);
        slash = strrchr(dir, '/');
        if (slash == NULL)
                snprintf(dir, sizeof(dir), ".");
        else if (slash == dir)
                dir[1] = '\0';
        else
                *slash = '\0';
        if (sync_path(dir, O_RDONLY | O_DIRECTORY) != 0)
                log_msg(LOG_WARN, "backup_sync", "cannot fsync the folder %s: %s", dir,
                        strerror(errno));
        return 0;
}
