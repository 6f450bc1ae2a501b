/* The account's balances (see balances.h): the only SQL on
 * account_balances. Writes are writer jobs that compute total themselves,
 * so a stored total is always available + locked and within range. */
#include "repo/balances.h"

#include "common/dec.h"
#include "common/ts.h"
#include "db/db.h"

#include <stdio.h>
#include <string.h>

/* The columns every SELECT below returns, in this order. */
#define BALANCE_COLUMNS "asset, available, locked, total, updated_at"

static void
read_row(struct db_stmt *st, struct balance *ret)
{
        snprintf(ret->asset, sizeof(ret->asset), "%s", db_column_str(st, 0));
        ret->available = db_column_int64(st, 1);
        ret->locked = db_column_int64(st, 2);
        ret->total = db_column_int64(st, 3);
        ret->updated_at = db_column_int64(st, 4);
}

/* The arguments of repo_balances_get, for its db_read job below. */
struct get_read {
        const char *asset;
        struct balance *ret;
};

static int
balances_get(struct db_conn *c, void *arg)
{
        const struct get_read *a = arg;
        const char *asset = a->asset;
        struct balance *ret = a->ret;
        static const char sql[] =
                "SELECT " BALANCE_COLUMNS " FROM account_balances WHERE asset = ?1";
        struct db_stmt *st = db_stmt(c, sql);
        enum repo_status s = REPO_ERROR;
        int rc;

        if (st == NULL)
                return REPO_ERROR;
        db_bind_text(st, 1, asset);
        rc = db_step(st);
        if (rc == DB_ROW) {
                read_row(st, ret);
                s = REPO_OK;
        } else if (rc == DB_DONE) {
                s = REPO_NOT_FOUND;
        } else {
                db_log_error(c, "balances get");
        }
        db_stmt_done(st);
        return s;
}

/* The list queries: the first page, and the pages after a cursor. Both walk
 * the primary key's index in order. */
static const char sql_list_first[] =
        "SELECT " BALANCE_COLUMNS " FROM account_balances ORDER BY asset LIMIT ?1";
static const char sql_list_after[] =
        "SELECT " BALANCE_COLUMNS " FROM account_balances WHERE asset > ?2"
        " ORDER BY asset LIMIT ?1";

const char *const *
repo_balances_list_sql(size_t *ret_n)
{
        static const char *const all[] = { sql_list_first, sql_list_after };

        *ret_n = sizeof(all) / sizeof(all[0]);
        return all;
}

/* The arguments of repo_balances_list, for its db_read job below. */
struct list_read {
        const char *after;
        int limit;
        struct balance *ret_items;
        size_t *ret_n;
};

static int
balances_list(struct db_conn *c, void *arg)
{
        const struct list_read *a = arg;
        const char *after = a->after;
        int limit = a->limit;
        struct balance *ret_items = a->ret_items;
        size_t *ret_n = a->ret_n;
        struct db_stmt *st = db_stmt(c, after != NULL ? sql_list_after : sql_list_first);
        size_t n = 0;
        int rc = DB_DONE;

        if (st == NULL)
                return REPO_ERROR;
        db_bind_int64(st, 1, limit);
        if (after != NULL)
                db_bind_text(st, 2, after);
        while (n < (size_t)limit && (rc = db_step(st)) == DB_ROW)
                read_row(st, &ret_items[n++]);
        if (n < (size_t)limit && rc != DB_DONE) {
                db_log_error(c, "balances list");
                db_stmt_done(st);
                return REPO_ERROR;
        }
        db_stmt_done(st);
        *ret_n = n;
        return REPO_OK;
}

/* Steps a write statement to its end and resets it. A repeated asset (the
 * primary key) is REPO_INVALID: callers refuse duplicates before they get
 * here, so it is only a safety net. */
static enum repo_status
step_write(struct db_conn *c, struct db_stmt *st, const char *what)
{
        int rc = db_step(st);
        enum repo_status s = REPO_OK;

        if (rc == DB_E_UNIQUE) {
                s = REPO_INVALID;
        } else if (rc != DB_DONE) {
                db_log_error(c, what);
                s = REPO_ERROR;
        }
        db_stmt_done(st);
        return s;
}

static void
bind_values(struct db_stmt *st, const struct balance *b)
{
        db_bind_text(st, 1, b->asset);
        db_bind_int64(st, 2, b->available);
        db_bind_int64(st, 3, b->locked);
        db_bind_int64(st, 4, b->total);
        db_bind_int64(st, 5, b->updated_at);
}

static enum repo_status
insert_row(struct db_conn *c, const struct balance *b)
{
        static const char sql[] =
                "INSERT INTO account_balances (asset, available, locked, total, updated_at)"
                " VALUES (?1, ?2, ?3, ?4, ?5)";
        struct db_stmt *st = db_stmt(c, sql);

        if (st == NULL)
                return REPO_ERROR;
        bind_values(st, b);
        return step_write(c, st, "balances insert");
}

static enum repo_status
update_row(struct db_conn *c, const struct balance *b)
{
        static const char sql[] =
                "UPDATE account_balances SET available = ?2, locked = ?3, total = ?4,"
                " updated_at = ?5 WHERE asset = ?1";
        struct db_stmt *st = db_stmt(c, sql);

        if (st == NULL)
                return REPO_ERROR;
        bind_values(st, b);
        return step_write(c, st, "balances update");
}

/* Sets *ret to whether asset has a row. */
static enum repo_status
row_exists(struct db_conn *c, const char *asset, bool *ret)
{
        static const char sql[] = "SELECT 1 FROM account_balances WHERE asset = ?1";
        struct db_stmt *st = db_stmt(c, sql);
        enum repo_status s = REPO_OK;
        int rc;

        if (st == NULL)
                return REPO_ERROR;
        db_bind_text(st, 1, asset);
        rc = db_step(st);
        if (rc == DB_ROW || rc == DB_DONE)
                *ret = rc == DB_ROW;
        else {
                db_log_error(c, "balances exists");
                s = REPO_ERROR;
        }
        db_stmt_done(st);
        return s;
}

int
repo_balances_put_job(struct db_conn *c, void *arg)
{
        struct balance_put *p = arg;
        struct balance b = p->b;
        enum repo_status s;
        bool exists = false;

        if (!dec_add(b.available, b.locked, &b.total))
                return REPO_CONFLICT;
        b.updated_at = ts_now_us();
        s = row_exists(c, b.asset, &exists);
        if (s != REPO_OK)
                return s;
        s = exists ? update_row(c, &b) : insert_row(c, &b);
        if (s != REPO_OK)
                return s;
        p->b = b;
        p->created = !exists;
        return REPO_OK;
}

int
repo_balances_snapshot_job(struct db_conn *c, void *arg)
{
        static const char sql_clear[] = "DELETE FROM account_balances";
        struct balance_snapshot *snap = arg;
        int64_t now = ts_now_us();
        struct db_stmt *st;
        enum repo_status s;

        /* Every total first: a snapshot out of range writes nothing. */
        for (size_t i = 0; i < snap->n; i++) {
                int64_t total;

                if (!dec_add(snap->items[i].available, snap->items[i].locked, &total)) {
                        snap->bad = i;
                        return REPO_CONFLICT;
                }
        }
        st = db_stmt(c, sql_clear);
        if (st == NULL)
                return REPO_ERROR;
        s = step_write(c, st, "balances clear");
        for (size_t i = 0; s == REPO_OK && i < snap->n; i++) {
                struct balance *b = &snap->items[i];

                dec_add(b->available, b->locked, &b->total);
                b->updated_at = now;
                s = insert_row(c, b);
        }
        /* Any other result rolls the job's savepoint back: nothing changed. */
        return s;
}

int
repo_balances_delete_job(struct db_conn *c, void *arg)
{
        static const char sql[] = "DELETE FROM account_balances WHERE asset = ?1";
        const char *asset = arg;
        struct db_stmt *st = db_stmt(c, sql);
        enum repo_status s;

        if (st == NULL)
                return REPO_ERROR;
        db_bind_text(st, 1, asset);
        s = step_write(c, st, "balances delete");
        if (s == REPO_OK && db_changes(c) == 0)
                s = REPO_NOT_FOUND;
        return s;
}

enum repo_status
repo_balances_get(struct db *d, const char *asset, struct balance *ret)
{
        struct get_read a = { asset, ret };

        return (enum repo_status)db_read(d, balances_get, &a);
}

enum repo_status
repo_balances_list(struct db *d, const char *after, int limit, struct balance *ret_items,
                   size_t *ret_n)
{
        struct list_read a = { after, limit, ret_items, ret_n };

        return (enum repo_status)db_read(d, balances_list, &a);
}
