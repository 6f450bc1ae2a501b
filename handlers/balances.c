/* The /balances endpoints (API.md "Balances"): the account's balance per
 * asset as last reported by the exchange. A balance is {asset, available,
 * locked, total, updated_at}; total (always available + locked) and
 * updated_at are the server's and cannot be sent. PUT /balances replaces
 * the whole set with a snapshot in one writer job; no change of a balance
 * adds an outbox event (API.md names none). */
#include "handlers/balances.h"

#include "common/ids.h"
#include "handlers/parse.h"
#include "repo/balances.h"
#include "server/http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A balance as sent: PUT /balances/{asset} and each snapshot entry. asset is
 * optional in the former (it must then match the URL), required in the
 * latter. */
struct balance_body {
        struct opt_str asset;
        struct opt_dec available;
        struct opt_dec locked;
};

static const struct field put_fields[] = {
        { .name = "asset", .type = F_SYMBOL, .offset = offsetof(struct balance_body, asset) },
        { .name = "available",
          .type = F_DEC,
          .required = true,
          .rule = DEC_NONNEGATIVE,
          .offset = offsetof(struct balance_body, available) },
        { .name = "locked",
          .type = F_DEC,
          .required = true,
          .rule = DEC_NONNEGATIVE,
          .offset = offsetof(struct balance_body, locked) },
        { .name = "total", .type = F_READONLY },
        { .name = "updated_at", .type = F_READONLY },
};

static const struct field entry_fields[] = {
        { .name = "asset",
          .type = F_SYMBOL,
          .required = true,
          .offset = offsetof(struct balance_body, asset) },
        { .name = "available",
          .type = F_DEC,
          .required = true,
          .rule = DEC_NONNEGATIVE,
          .offset = offsetof(struct balance_body, available) },
        { .name = "locked",
          .type = F_DEC,
          .required = true,
          .rule = DEC_NONNEGATIVE,
          .offset = offsetof(struct balance_body, locked) },
        { .name = "total", .type = F_READONLY },
        { .name = "updated_at", .type = F_READONLY },
};

/* ---- output ---- */

static void
balance_write(struct jw *w, const struct balance *b)
{
        jw_obj(w);
        jw_kstr(w, "asset", b->asset);
        jw_kdec(w, "available", b->available);
        jw_kdec(w, "locked", b->locked);
        jw_kdec(w, "total", b->total);
        jw_kts(w, "updated_at", b->updated_at);
        jw_end(w);
}

static void
reply_balance(struct req *r, unsigned status, const struct balance *b)
{
        struct jw w;

        jw_init(&w);
        balance_write(&w, b);
        reply_jw(r, status, &w);
}

/* {"items": [...], "next_cursor": ...} over rows; limit 0: no cursor (a
 * snapshot's answer is the whole set). Balance cursors are (0, asset). */
static void
reply_balances(struct req *r, enum repo_status s, const struct balance *rows, size_t n,
               size_t limit)
{
        struct list_page lp;

        list_page_begin(&lp);
        for (size_t i = 0; s == REPO_OK && i < n; i++) {
                balance_write(&lp.w, &rows[i]);
                list_page_row(&lp, 0, rows[i].asset);
        }
        list_page_reply(r, &lp, s, limit);
}

static void
reply_total_conflict(struct req *r, const char *asset)
{
        char detail[256];

        snprintf(detail, sizeof(detail),
                 "the total of %s (available + locked) would exceed the largest decimal, "
                 "92233720368.54775807; nothing was written",
                 asset);
        reply_problem(r, 409, detail, NULL);
}

/* ---- reads ---- */

/* GET /balances?limit=&cursor=: 200 {"items", "next_cursor"} in ascending
 * asset order; 400 for a bad limit, cursor or unknown parameter. */
void
handle_balances_list(struct req *r)
{
        const struct app *app = req_app(r);
        json_t *errors = NULL;
        struct balance *rows;
        const struct page page = *req_page(r);
        enum repo_status s;
        size_t n = 0;

        /* Balance cursors are (0, asset): anything else came from elsewhere. */
        if (page.has_cursor &&
            (page.cursor_key != 0 || !symbol_valid(page.cursor_id, strlen(page.cursor_id))))
                problem_add(&errors, "cursor",
                            "cursor is malformed: pass back next_cursor exactly as received");
        if (errors != NULL) {
                reply_invalid(r, errors);
                return;
        }
        rows = req_alloc(r, (size_t)page.limit * sizeof(*rows));
        if (rows == NULL) {
                reply_unavailable(r);
                return;
        }
        s = repo_balances_list(app->db, page.has_cursor ? page.cursor_id : NULL, page.limit, rows,
                               &n);
        reply_balances(r, s, rows, n, (size_t)page.limit);
}

/* GET /balances/{asset}: 200 with the balance, 404 when there is none. */
void
handle_balances_get(struct req *r)
{
        const struct app *app = req_app(r);
        struct balance b;
        enum repo_status s;
        char detail[96];

        s = repo_balances_get(app->db, req_param(r), &b);
        switch (s) {
        case REPO_OK: reply_balance(r, 200, &b); return;
        case REPO_NOT_FOUND:
                snprintf(detail, sizeof(detail), "no balance for asset %s", req_param(r));
                reply_problem(r, 404, detail, NULL);
                return;
        default: reply_unavailable(r); return;
        }
}

/* ---- PUT /balances/{asset} ---- */

static void
respond_put(struct req *r, int result)
{
        const struct balance_put *p = req_write_arg(r);

        if (result < 0) {
                reply_unavailable(r);
                return;
        }
        switch ((enum repo_status)result) {
        case REPO_OK: reply_balance(r, p->created ? 201 : 200, &p->b); return;
        case REPO_CONFLICT: reply_total_conflict(r, p->b.asset); return;
        default: reply_unavailable(r); return;
        }
}

/* PUT /balances/{asset} {"available", "locked"}: 201 when the asset is
 * new, 200 when it replaced a balance; 400 for an invalid body, 409 when
 * the total would be out of range (nothing written). */
void
handle_balances_put(struct req *r)
{
        const char *asset = req_param(r);
        struct balance_body body = { 0 };
        json_t *errors = NULL;
        struct balance_put *p;

        parse_object(r, req_body(r), put_fields, NFIELDS(put_fields), &body, "", &errors);
        if (body.asset.set && strcmp(body.asset.v, asset) != 0)
                problem_add(&errors, "asset", "asset must be the asset of the URL (%s) or left out",
                            asset);
        if (errors != NULL) {
                reply_invalid(r, errors);
                return;
        }
        p = req_alloc(r, sizeof(*p));
        if (p == NULL) {
                reply_unavailable(r);
                return;
        }
        snprintf(p->b.asset, sizeof(p->b.asset), "%s", asset);
        p->b.available = body.available.v;
        p->b.locked = body.locked.v;
        req_write(r, repo_balances_put_job, p, respond_put);
}

/* ---- PUT /balances: the account snapshot ---- */

/* An entry's asset and where it was sent, to find repeats. */
struct asset_at {
        const char *asset;
        size_t index;
};

static int
cmp_asset_at(const void *a, const void *b)
{
        const struct asset_at *x = a, *y = b;
        int c = strcmp(x->asset, y->asset);

        if (c != 0)
                return c;
        return x->index < y->index ? -1 : x->index > y->index;
}

static int
cmp_balance(const void *a, const void *b)
{
        return strcmp(((const struct balance *)a)->asset, ((const struct balance *)b)->asset);
}

/* Reports every entry whose asset an earlier entry already has. The assets
 * of entries that failed to parse are "" and skipped. Returns false on
 * out-of-memory. */
static bool
check_repeats(struct req *r, const struct balance *items, size_t n, json_t **errors)
{
        struct asset_at *at = req_alloc(r, (n ? n : 1) * sizeof(*at));

        if (at == NULL)
                return false;
        for (size_t i = 0; i < n; i++)
                at[i] = (struct asset_at){ .asset = items[i].asset, .index = i };
        qsort(at, n, sizeof(*at), cmp_asset_at);
        /* Equal assets are now adjacent, the one sent first leading its run. */
        for (size_t i = 1, first = 0; i < n; i++) {
                char field[48];

                if (strcmp(at[i].asset, at[first].asset) != 0) {
                        first = i;
                        continue;
                }
                if (at[i].asset[0] == '\0')
                        continue;
                snprintf(field, sizeof(field), "balances[%zu].asset", at[i].index);
                problem_add(errors, field,
                            "%s repeats the asset %s of balances[%zu]: each asset may appear "
                            "once",
                            field, at[i].asset, at[first].index);
        }
        return true;
}

/* Parses entry i into *item; reports problems named balances[i].field. */
static void
parse_entry(const struct req *r, const json_t *v, size_t i, struct balance *item, json_t **errors)
{
        struct balance_body e = { 0 };
        char prefix[40];
        bool ok;

        snprintf(prefix, sizeof(prefix), "balances[%zu].", i);
        if (!json_is_object(v)) {
                snprintf(prefix, sizeof(prefix), "balances[%zu]", i);
                problem_add(errors, prefix,
                            "%s must be an object {\"asset\", \"available\", "
                            "\"locked\"}",
                            prefix);
                return;
        }
        ok = parse_object(r, v, entry_fields, NFIELDS(entry_fields), &e, prefix, errors);
        /* A valid asset counts for repeats even when another field is bad. */
        if (e.asset.set)
                snprintf(item->asset, sizeof(item->asset), "%s", e.asset.v);
        if (!ok)
                return;
        item->available = e.available.v;
        item->locked = e.locked.v;
}

/* Checks the body's members other than "balances" and returns that list
 * when it is an array of an allowed size, else NULL after reporting. */
static const json_t *
snapshot_list(const json_t *body, json_t **errors)
{
        const json_t *list = body ? json_object_get(body, "balances") : NULL;
        const char *key;
        json_t *v;

        json_object_foreach((json_t *)(uintptr_t)body, key, v)
        {
                if (strcmp(key, "balances") != 0)
                        problem_add(errors, key, "%s is not a known field", key);
        }
        if (list == NULL || json_is_null(list)) {
                problem_add(errors, "balances", "balances is required");
                return NULL;
        }
        if (!json_is_array(list)) {
                problem_add(errors, "balances",
                            "balances must be an array of "
                            "{\"asset\", \"available\", \"locked\"}");
                return NULL;
        }
        if (json_array_size(list) > BALANCES_SNAPSHOT_MAX) {
                problem_add(errors, "balances", "balances must hold at most %d entries",
                            BALANCES_SNAPSHOT_MAX);
                return NULL;
        }
        return list;
}

/* Fills snap from the body, sorted by asset. Returns false with *errors set
 * when the snapshot is invalid, or with *errors NULL on out-of-memory. */
static bool
parse_snapshot(struct req *r, struct balance_snapshot *snap, json_t **errors)
{
        const json_t *list = snapshot_list(req_body(r), errors);
        size_t n = json_array_size(list);

        if (list == NULL)
                return false;
        snap->items = req_alloc(r, (n ? n : 1) * sizeof(*snap->items));
        if (snap->items == NULL)
                return false;
        snap->n = n;
        for (size_t i = 0; i < n; i++)
                parse_entry(r, json_array_get(list, i), i, &snap->items[i], errors);
        if (!check_repeats(r, snap->items, n, errors)) {
                json_decref(*errors);
                *errors = NULL;
                return false;
        }
        if (*errors != NULL)
                return false;
        qsort(snap->items, n, sizeof(*snap->items), cmp_balance);
        return true;
}

static void
respond_snapshot(struct req *r, int result)
{
        const struct balance_snapshot *snap = req_write_arg(r);

        if (result < 0) {
                reply_unavailable(r);
                return;
        }
        switch ((enum repo_status)result) {
        case REPO_OK: reply_balances(r, REPO_OK, snap->items, snap->n, 0); return;
        case REPO_CONFLICT: reply_total_conflict(r, snap->items[snap->bad].asset); return;
        case REPO_INVALID:
                reply_problem(r, 400, "balances repeats an asset: each asset may appear once",
                              NULL);
                return;
        default: reply_unavailable(r); return;
        }
}

/* PUT /balances {"balances": [...]}: replaces the whole set in one writer
 * job; 200 {"items": [...], "next_cursor": null} with the new set in asset
 * order. 400 naming balances[i].field for any invalid or repeated entry,
 * 409 for a total out of range; either way nothing changes. */
void
handle_balances_snapshot(struct req *r)
{
        json_t *errors = NULL;
        struct balance_snapshot *snap;

        snap = req_alloc(r, sizeof(*snap));
        if (snap == NULL || !parse_snapshot(r, snap, &errors)) {
                if (errors != NULL)
                        reply_invalid(r, errors);
                else
                        reply_unavailable(r);
                return;
        }
        req_write(r, repo_balances_snapshot_job, snap, respond_snapshot);
}

/* ---- DELETE /balances/{asset} ---- */

static void
respond_delete(struct req *r, int result)
{
        char detail[96];

        if (result < 0) {
                reply_unavailable(r);
                return;
        }
        switch ((enum repo_status)result) {
        case REPO_OK: reply_empty(r, 204); return;
        case REPO_NOT_FOUND:
                snprintf(detail, sizeof(detail), "no balance for asset %s", req_param(r));
                reply_problem(r, 404, detail, NULL);
                return;
        default: reply_unavailable(r); return;
        }
}

/* DELETE /balances/{asset}: 204, or 404 when there is no such balance. */
void
handle_balances_delete(struct req *r)
{
        char *asset;

        asset = req_alloc(r, SYMBOL_MAX_LEN + 1);
        if (asset == NULL) {
                reply_unavailable(r);
                return;
        }
        snprintf(asset, SYMBOL_MAX_LEN + 1, "%s", req_param(r));
        req_write(r, repo_balances_delete_job, asset, respond_delete);
}
