/* The file-system side of database copies, one way for every writer of one
 * (POST /admin/backup and `tradestore backup`, the copy before a migration)
 * and for the database's own folder: folders made on demand, and a copy
 * that appears under its final name only when it is whole and durable. */
#ifndef TRADESTORE_BACKUP_H
#define TRADESTORE_BACKUP_H

/* mkdir -p of dir, each new folder mode 0750. 0, or -1 with errno set. */
int backup_mkdirs(const char *dir);

/* mkdir -p of the folder that holds path (nothing for a bare file name). */
int backup_mkdirs_for(const char *path);

/* Makes the finished copy tmp the file final, durably: mode 0640 (owner
 * and group only: it holds the whole trading record), fsync, rename in the
 * same folder, fsync of the folder (a failure there is only logged: the
 * file is complete under its name). 0, or -1 with errno set and tmp left. */
int backup_publish(const char *tmp, const char *final);

#endif
