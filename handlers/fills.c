/* The /fills endpoints (see ../shared/API.md, "Fills").
 *
 * POST /fills parses and validates the body, then hands one job to the
 * writer (repo_fills_create_job), which stores the fill, grows the order,
 * moves the position and adds the fill_processed event in one transaction.
 * An absent executed_at means "now" (the server's clock, taken in the job);
 * an absent fill_id gets a UUIDv7. Reads go to the reader pool. */
#include "handlers/fills.h"

#include "common/jsonw.h"

#include "common/dec.h"
#include "common/ids.h"
#include "handlers/parse.h"
#include "repo/fills.h"
#include "server/http.h"
#include "server/metrics.h"

#include <stdio.h>
#include <string.h>

static const char *const sides[] = { "buy", "sell", NULL };

/* ---- JSON output ---- */

static void
fill_write(struct jw *w, const struct fill *f)
{
        jw_obj(w);
        jw_kstr(w, "fill_id", f->fill_id);
        jw_kstr(w, "order_id", f->order_id);
        jw_kstr(w, "symbol", f->symbol);
        jw_kstr(w, "side", f->side);
        jw_kdec(w, "price", f->price);
        jw_kdec(w, "quantity", f->quantity);
        jw_kts(w, "executed_at", f->executed_at);
        jw_kstr_opt(w, "trade_id", f->has_trade_id ? f->trade_id : NULL);
        jw_kdec(w, "commission", f->commission);
        jw_kstr(w, "commission_asset", f->commission_asset);
        jw_kbool(w, "is_maker", f->is_maker);
        jw_kts(w, "created_at", f->created_at);
        jw_end(w);
}

static void
reply_fill(struct req *r, unsigned status, const struct fill *f)
{
        struct jw w;

        jw_init(&w);
        fill_write(&w, f);
        reply_jw(r, status, &w);
}

/* ---- POST /fills ---- */

struct fill_body {
        struct opt_str fill_id, order_id, symbol, side, trade_id, commission_asset;
        struct opt_dec price, quantity, commission;
        struct opt_ts executed_at;
        struct opt_bool is_maker;
};

#define BODY(m) offsetof(struct fill_body, m)
static const struct field fill_fields[] = {
        { .name = "fill_id", .type = F_ID, .offset = BODY(fill_id) },
        { .name = "order_id", .type = F_ID, .required = true, .offset = BODY(order_id) },
        { .name = "symbol", .type = F_SYMBOL, .offset = BODY(symbol) },
        { .name = "side", .type = F_ENUM, .offset = BODY(side), .enum_values = sides },
        { .name = "price",
          .type = F_DEC,
          .required = true,
          .offset = BODY(price),
          .rule = DEC_POSITIVE },
        { .name = "quantity",
          .type = F_DEC,
          .required = true,
          .offset = BODY(quantity),
          .rule = DEC_POSITIVE },
        { .name = "executed_at", .type = F_TS, .offset = BODY(executed_at) },
        { .name = "trade_id", .type = F_ID, .offset = BODY(trade_id) },
        /* Any sign: a maker rebate is a negative commission. */
        { .name = "commission", .type = F_DEC, .offset = BODY(commission) },
        { .name = "commission_asset",
          .type = F_STRING,
          .offset = BODY(commission_asset),
          .max_len = SYMBOL_MAX_LEN },
        { .name = "is_maker", .type = F_BOOL, .offset = BODY(is_maker) },
        { .name = "created_at", .type = F_READONLY },
};
#undef BODY

/* fill_payload_fn: the fill_processed event's payload, {"fill_id",
 * "order_id"}. Caller owns the text (free). */
static char *
fill_payload(const struct fill *f)
{
        struct jw w;
        size_t len;

        jw_init(&w);
        jw_obj(&w);
        jw_kstr(&w, "fill_id", f->fill_id);
        jw_kstr(&w, "order_id", f->order_id);
        jw_end(&w);
        return jw_take(&w, &len);
}

/* Copies the validated body into the job's input, with the defaults. */
static void
fill_from_body(const struct fill_body *b, struct fill_create *fc)
{
        struct fill *f = &fc->fill;

        if (b->fill_id.set)
                snprintf(f->fill_id, sizeof(f->fill_id), "%s", b->fill_id.v);
        else
                id_uuidv7(f->fill_id);
        snprintf(f->order_id, sizeof(f->order_id), "%s", b->order_id.v);
        fc->has_symbol = b->symbol.set;
        if (b->symbol.set)
                snprintf(f->symbol, sizeof(f->symbol), "%s", b->symbol.v);
        fc->has_side = b->side.set;
        if (b->side.set)
                snprintf(f->side, sizeof(f->side), "%s", b->side.v);
        f->price = b->price.v;
        f->quantity = b->quantity.v;
        fc->has_executed_at = b->executed_at.set;
        f->executed_at = b->executed_at.v;
        f->has_trade_id = b->trade_id.set;
        if (b->trade_id.set)
                snprintf(f->trade_id, sizeof(f->trade_id), "%s", b->trade_id.v);
        f->commission = b->commission.set ? b->commission.v : 0;
        snprintf(f->commission_asset, sizeof(f->commission_asset), "%s",
                 b->commission_asset.set ? b->commission_asset.v : "");
        f->is_maker = b->is_maker.set ? b->is_maker.v : true;
}

static void
reply_conflict(struct req *r, const struct fill_create *fc)
{
        const struct fill *f = &fc->fill;
        char detail[400], a[DEC_BUFSZ], b[DEC_BUFSZ], c[DEC_BUFSZ];

        switch (fc->conflict) {
        case FILL_CONFLICT_REJECTED:
                snprintf(detail, sizeof(detail),
                         "order %s is rejected: a rejected order cannot receive fills",
                         f->order_id);
                break;
        case FILL_CONFLICT_SYMBOL:
                snprintf(detail, sizeof(detail),
                         "symbol %s does not match the symbol %s of order %s", f->symbol,
                         fc->order_symbol, f->order_id);
                break;
        case FILL_CONFLICT_SIDE:
                snprintf(detail, sizeof(detail), "side %s does not match the side %s of order %s",
                         f->side, fc->order_side, f->order_id);
                break;
        case FILL_CONFLICT_OVERFILL:
                dec_format(f->quantity, a);
                dec_format(fc->order_filled_quantity, b);
                dec_format(fc->order_quantity, c);
                snprintf(detail, sizeof(detail),
                         "overfill: a fill of %s on top of filled_quantity %s would pass the "
                         "quantity %s of order %s; nothing was written",
                         a, b, c, f->order_id);
                break;
        case FILL_CONFLICT_FILL_ID:
                snprintf(detail, sizeof(detail), "fill %s already exists with other content",
                         f->fill_id);
                break;
        case FILL_CONFLICT_TRADE_ID:
                snprintf(detail, sizeof(detail),
                         "trade_id %s is already recorded for order %s with other content",
                         f->trade_id, f->order_id);
                break;
        default:
                snprintf(detail, sizeof(detail),
                         "result out of range: the order's or the position's new values "
                         "would exceed the decimal range; nothing was written");
                break;
        }
        reply_problem(r, 409, detail, NULL);
}

static void
respond_create(struct req *r, int result)
{
        const struct fill_create *fc = req_write_arg(r);
        json_t *errors = NULL;
        char detail[128];

        switch (result) {
        case REPO_OK:
                metrics_fill(req_app(r)->metrics,
                             fc->existed ? METRICS_FILL_DUPLICATE : METRICS_FILL_APPLIED);
                reply_fill(r, fc->existed ? 200 : 201, &fc->stored);
                return;
        case REPO_NOT_FOUND:
                snprintf(detail, sizeof(detail), "order %s does not exist", fc->fill.order_id);
                problem_add(&errors, "order_id", "%s", detail);
                reply_problem(r, 422, detail, errors);
                return;
        case REPO_CONFLICT:
                metrics_fill(req_app(r)->metrics, METRICS_FILL_CONFLICT);
                reply_conflict(r, fc);
                return;
        default: /* REPO_ERROR, DB_COMMIT_FAILED, DB_UNAVAILABLE */ reply_unavailable(r); return;
        }
}

void
handle_fills_create(struct req *r)
{
        struct fill_body b = { 0 };
        json_t *errors = NULL;
        struct fill_create *fc;

        parse_object(r, req_body(r), fill_fields, NFIELDS(fill_fields), &b, "", &errors);
        if (b.commission_asset.set && b.commission_asset.v[0] != '\0' &&
            !symbol_valid(b.commission_asset.v, strlen(b.commission_asset.v)))
                problem_add(&errors, "commission_asset",
                            "commission_asset must be empty or 1-32 characters of "
                            "[A-Za-z0-9._/-]");
        if (errors != NULL) {
                reply_invalid(r, errors);
                return;
        }
        fc = req_alloc(r, sizeof(*fc));
        if (fc == NULL) {
                reply_problem(r, 503, "out of memory, retry", NULL);
                return;
        }
        fill_from_body(&b, fc);
        fc->payload = fill_payload;
        req_write(r, repo_fills_create_job, fc, respond_create);
}

/* ---- GET /fills/{fill_id} ---- */

void
handle_fills_get(struct req *r)
{
        struct db *db = req_app(r)->db;
        struct fill f;
        enum repo_status s = repo_fills_get(db, req_param(r), &f);
        char detail[128];

        switch (s) {
        case REPO_OK: reply_fill(r, 200, &f); return;
        case REPO_NOT_FOUND:
                snprintf(detail, sizeof(detail), "fill %s does not exist", req_param(r));
                reply_problem(r, 404, detail, NULL);
                return;
        default: reply_unavailable(r); return;
        }
}

/* ---- GET /fills ---- */

static void
list_row(void *cls, const struct fill *f)
{
        struct list_page *lp = cls;

        fill_write(&lp->w, f);
        list_page_row(lp, f->executed_at, f->fill_id);
}

/* The filter of a page: executed_before as the bound (executed_at, "") and
 * the cursor, whichever is lower, since every (executed_at, fill_id) above
 * (before, "") has executed_at >= before. */
static void
filter_from_query(const struct req *r, const struct page *pg, struct fill_filter *ret)
{
        const struct query_value *after = req_arg(r, "executed_after");
        const struct query_value *before = req_arg(r, "executed_before");

        *ret = (struct fill_filter){
                .order_id = req_arg(r, "order_id")->str,
                .symbol = req_arg(r, "symbol")->str,
                .after = after->set ? after->num : INT64_MIN,
                .before_key = before->set ? before->num : INT64_MAX,
                .before_id = "",
        };
        if (pg->has_cursor && pg->cursor_key < ret->before_key) {
                ret->before_key = pg->cursor_key;
                ret->before_id = pg->cursor_id;
        }
}

void
handle_fills_list(struct req *r)
{
        const struct page pg = *req_page(r);
        struct fill_filter ff;
        struct list_page lp;
        enum repo_status s;
        size_t n = 0;

        filter_from_query(r, &pg, &ff);
        list_page_begin(&lp);
        s = repo_fills_list(req_app(r)->db, &ff, pg.limit, list_row, &lp, &n);
        list_page_reply(r, &lp, s, (size_t)pg.limit);
}
