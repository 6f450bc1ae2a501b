/* The /positions endpoints (see ../shared/API.md, "Positions").
 *
 * Fills move positions (repo/fills.c); here are the reads, the
 * reconciliation with the exchange (PUT, which adds a position_reconciled
 * event carrying the position) and the mark-price update (PATCH, which adds
 * no event: the contract names none). The {symbol} of the URL may contain
 * '/' (BTC/USDT, or BTC%2FUSDT). */
#include "handlers/positions.h"

#include "common/jsonw.h"

#include "common/ids.h"
#include "handlers/parse.h"
#include "repo/positions.h"
#include "server/http.h"

#include <stdio.h>
#include <string.h>

/* ---- JSON output ---- */

static void
position_write(struct jw *w, const struct position *p)
{
        jw_obj(w);
        jw_kstr(w, "symbol", p->symbol);
        jw_kdec(w, "quantity", p->quantity);
        jw_kdec(w, "avg_entry_price", p->avg_entry_price);
        jw_kdec(w, "realized_pnl", p->realized_pnl);
        jw_kdec(w, "unrealized_pnl", p->unrealized_pnl);
        jw_kdec_opt(w, "mark_price", p->has_mark_price, p->mark_price);
        jw_kts(w, "last_updated", p->last_updated);
        jw_end(w);
}

/* The position_reconciled payload: the position's JSON text. Caller owns:
 * free(). NULL on out-of-memory. */
static char *
position_payload(const struct position *p)
{
        struct jw w;
        size_t len;

        jw_init(&w);
        position_write(&w, p);
        return jw_take(&w, &len);
}

static void
reply_position(struct req *r, unsigned status, const struct position *p)
{
        struct jw w;

        jw_init(&w);
        position_write(&w, p);
        reply_jw(r, status, &w);
}

static void
reply_not_found(struct req *r)
{
        char detail[96];

        snprintf(detail, sizeof(detail), "position %s does not exist", req_param(r));
        reply_problem(r, 404, detail, NULL);
}

static void
reply_out_of_range(struct req *r)
{
        reply_problem(r, 409,
                      "result out of range: unrealized_pnl = (mark_price - avg_entry_price) "
                      "* quantity would exceed the decimal range; nothing was written",
                      NULL);
}

/* ---- GET /positions, GET /positions/{symbol} ---- */

/* This list's cursors carry key 0 and a symbol. */
static void
list_row(void *cls, const struct position *p)
{
        struct list_page *lp = cls;

        position_write(&lp->w, p);
        list_page_row(lp, 0, p->symbol);
}

void
handle_positions_list(struct req *r)
{
        const struct page pg = *req_page(r);
        struct list_page lp;
        json_t *errors = NULL;
        enum repo_status s;
        size_t n = 0;

        /* This list's cursors carry key 0 and a symbol. */
        if (pg.has_cursor &&
            (pg.cursor_key != 0 || !symbol_valid(pg.cursor_id, strlen(pg.cursor_id))))
                problem_add(&errors, "cursor",
                            "cursor is malformed: pass back next_cursor exactly as received");
        if (errors != NULL) {
                reply_invalid(r, errors);
                return;
        }
        list_page_begin(&lp);
        s = repo_positions_list(req_app(r)->db, pg.has_cursor ? pg.cursor_id : NULL, pg.limit,
                                list_row, &lp, &n);
        list_page_reply(r, &lp, s, (size_t)pg.limit);
}

void
handle_positions_get(struct req *r)
{
        struct db *db = req_app(r)->db;
        struct position p;
        enum repo_status s = repo_positions_get(db, req_param(r), &p);

        switch (s) {
        case REPO_OK: reply_position(r, 200, &p); return;
        case REPO_NOT_FOUND: reply_not_found(r); return;
        default: reply_unavailable(r); return;
        }
}

/* ---- PUT /positions/{symbol} ---- */

struct reconcile_body {
        struct opt_dec quantity, avg_entry_price, realized_pnl;
};

#define BODY(m) offsetof(struct reconcile_body, m)
static const struct field reconcile_fields[] = {
        { .name = "quantity", .type = F_DEC, .required = true, .offset = BODY(quantity) },
        { .name = "avg_entry_price",
          .type = F_DEC,
          .required = true,
          .offset = BODY(avg_entry_price),
          .rule = DEC_NONNEGATIVE },
        { .name = "realized_pnl", .type = F_DEC, .offset = BODY(realized_pnl) },
        { .name = "unrealized_pnl", .type = F_READONLY },
        { .name = "last_updated", .type = F_READONLY },
};
#undef BODY

static void
respond_reconcile(struct req *r, int result)
{
        const struct position_reconcile *pr = req_write_arg(r);

        switch (result) {
        case REPO_OK: reply_position(r, pr->created ? 201 : 200, &pr->result); return;
        case REPO_CONFLICT: reply_out_of_range(r); return;
        default: reply_unavailable(r); return;
        }
}

void
handle_positions_reconcile(struct req *r)
{
        struct reconcile_body b = { 0 };
        json_t *errors = NULL;
        struct position_reconcile *pr;

        parse_object(r, req_body(r), reconcile_fields, NFIELDS(reconcile_fields), &b, "", &errors);
        if (b.quantity.set && b.quantity.v == 0 && b.avg_entry_price.set &&
            b.avg_entry_price.v != 0)
                problem_add(&errors, "avg_entry_price",
                            "avg_entry_price must be 0 when quantity is 0: a flat position "
                            "has no entry price");
        if (errors != NULL) {
                reply_invalid(r, errors);
                return;
        }
        pr = req_alloc(r, sizeof(*pr));
        if (pr == NULL) {
                reply_problem(r, 503, "out of memory, retry", NULL);
                return;
        }
        snprintf(pr->symbol, sizeof(pr->symbol), "%s", req_param(r));
        pr->quantity = b.quantity.v;
        pr->avg_entry_price = b.avg_entry_price.v;
        pr->has_realized_pnl = b.realized_pnl.set;
        pr->realized_pnl = b.realized_pnl.v;
        pr->payload = position_payload;
        req_write(r, repo_positions_reconcile_job, pr, respond_reconcile);
}

/* ---- PATCH /positions/{symbol} ---- */

struct mark_body {
        struct opt_dec mark_price;
};

static const struct field mark_fields[] = {
        { .name = "mark_price",
          .type = F_DEC,
          .required = true,
          .offset = offsetof(struct mark_body, mark_price),
          .rule = DEC_POSITIVE },
        { .name = "unrealized_pnl", .type = F_READONLY },
        { .name = "last_updated", .type = F_READONLY },
};

static void
respond_mark(struct req *r, int result)
{
        const struct position_mark *pm = req_write_arg(r);

        switch (result) {
        case REPO_OK: reply_position(r, 200, &pm->result); return;
        case REPO_NOT_FOUND: reply_not_found(r); return;
        case REPO_CONFLICT: reply_out_of_range(r); return;
        default: reply_unavailable(r); return;
        }
}

void
handle_positions_mark(struct req *r)
{
        struct mark_body b = { 0 };
        json_t *errors = NULL;
        struct position_mark *pm;

        if (!parse_object(r, req_body(r), mark_fields, NFIELDS(mark_fields), &b, "", &errors)) {
                reply_invalid(r, errors);
                return;
        }
        pm = req_alloc(r, sizeof(*pm));
        if (pm == NULL) {
                reply_problem(r, 503, "out of memory, retry", NULL);
                return;
        }
        snprintf(pm->symbol, sizeof(pm->symbol), "%s", req_param(r));
        pm->mark_price = b.mark_price.v;
        req_write(r, repo_positions_mark_job, pm, respond_mark);
}
