/* The /orders endpoints (../shared/API.md, Orders): parse and validate the
 * request into plain structs, run the repo (a writer job for changes, one
 * cached statement on a reader for reads), map the result to a status, and
 * serialize orders. The order's JSON here is also the payload of its
 * order_created / order_updated events, so a consumer sees exactly what
 * GET /orders/{order_id} returns. */
#include "handlers/orders.h"

#include "common/jsonw.h"

#include "common/ids.h"
#include "handlers/parse.h"
#include "repo/orders.h"
#include "server/http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const sides[] = { "buy", "sell", NULL };
static const char *const types[] = { "market", "limit", "limit_maker", NULL };
static const char *const create_statuses[] = { "pending", "open", NULL };
static const char *const patch_statuses[] = { "open", "cancelled", "rejected", "expired", NULL };

/* ---- JSON out ---- */

/* Writes the order as every endpoint and event shows it. */
static void
order_write(struct jw *w, const struct order *o)
{
        jw_obj(w);
        jw_kstr(w, "order_id", o->order_id);
        jw_kstr_opt(w, "quote_id", o->has_quote_id ? o->quote_id : NULL);
        jw_kstr(w, "symbol", o->symbol);
        jw_kstr(w, "side", o->side);
        jw_kstr(w, "type", o->type);
        jw_kdec(w, "quantity", o->quantity);
        jw_kdec_opt(w, "price", o->has_price, o->price);
        jw_kstr(w, "status", order_status_name(o->status));
        jw_kstr_opt(w, "external_order_id", o->has_external_order_id ? o->external_order_id : NULL);
        jw_kdec(w, "filled_quantity", o->filled_quantity);
        jw_kdec_opt(w, "avg_fill_price", o->has_avg_fill_price, o->avg_fill_price);
        jw_kts(w, "created_at", o->created_at);
        jw_kts(w, "updated_at", o->updated_at);
        jw_end(w);
}

/* order_payload_fn: the event payload. Caller owns the text (free). */
static char *
order_payload(const struct order *o)
{
        struct jw w;
        size_t len;

        jw_init(&w);
        order_write(&w, o);
        return jw_take(&w, &len);
}

static void
reply_order(struct req *r, unsigned status, const struct order *o)
{
        struct jw w;

        jw_init(&w);
        order_write(&w, o);
        reply_jw(r, status, &w);
}

/* Copies a validated string into a fixed member (validation bounded it). */
static void
copy_str(char *dst, size_t cap, const char *src)
{
        snprintf(dst, cap, "%s", src);
}

/* external_order_id: any text of 1-ORDER_EXT_ID_MAX bytes (the length cap is
 * the field table's; an empty one could not name an exchange order). */
static void
check_external_id(const struct opt_str *v, const char *field, json_t **errors)
{
        if (v->set && v->v[0] == '\0')
                problem_add(errors, field, "%s must be 1-%d characters", field, ORDER_EXT_ID_MAX);
}

/* ---- POST /orders ---- */

struct create_body {
        struct opt_str order_id, quote_id, symbol, side, type, status, external_order_id;
        struct opt_dec quantity, price;
};

#define CB(m) offsetof(struct create_body, m)
static const struct field create_fields[] = {
        { .name = "order_id", .type = F_ID, .offset = CB(order_id) },
        { .name = "quote_id", .type = F_ID, .offset = CB(quote_id) },
        { .name = "symbol", .type = F_SYMBOL, .required = true, .offset = CB(symbol) },
        { .name = "side",
          .type = F_ENUM,
          .required = true,
          .offset = CB(side),
          .enum_values = sides },
        { .name = "type",
          .type = F_ENUM,
          .required = true,
          .offset = CB(type),
          .enum_values = types },
        { .name = "quantity",
          .type = F_DEC,
          .required = true,
          .offset = CB(quantity),
          .rule = DEC_POSITIVE },
        { .name = "price", .type = F_DEC, .offset = CB(price), .rule = DEC_POSITIVE },
        { .name = "status", .type = F_ENUM, .offset = CB(status), .enum_values = create_statuses },
        { .name = "external_order_id",
          .type = F_STRING,
          .offset = CB(external_order_id),
          .max_len = ORDER_EXT_ID_MAX },
        { .name = "filled_quantity", .type = F_READONLY },
        { .name = "avg_fill_price", .type = F_READONLY },
        { .name = "created_at", .type = F_READONLY },
        { .name = "updated_at", .type = F_READONLY },
};
#undef CB

/* price is required for limit and limit_maker orders and must be absent for
 * market ones. Skipped when type itself is invalid (already reported), and
 * a price that failed its own checks is not reported twice. */
static void
check_price_rule(const json_t *body, const struct create_body *b, json_t **errors)
{
        const json_t *p = body ? json_object_get(body, "price") : NULL;
        bool sent = p != NULL && !json_is_null(p);

        if (!b->type.set)
                return;
        if (strcmp(b->type.v, "market") == 0) {
                if (b->price.set)
                        problem_add(errors, "price", "price must be absent for a market order");
        } else if (!sent) {
                problem_add(errors, "price", "price is required for a %s order", b->type.v);
        }
}

static void
create_input(const struct create_body *b, struct order *o)
{
        memset(o, 0, sizeof(*o));
        if (b->order_id.set)
                copy_str(o->order_id, sizeof(o->order_id), b->order_id.v);
        else
                id_uuidv7(o->order_id);
        o->has_quote_id = b->quote_id.set;
        if (b->quote_id.set)
                copy_str(o->quote_id, sizeof(o->quote_id), b->quote_id.v);
        copy_str(o->symbol, sizeof(o->symbol), b->symbol.v);
        copy_str(o->side, sizeof(o->side), b->side.v);
        copy_str(o->type, sizeof(o->type), b->type.v);
        o->quantity = b->quantity.v;
        o->has_price = b->price.set;
        o->price = b->price.v;
        o->status = ORDER_PENDING;
        if (b->status.set)
                order_status_from_name(b->status.v, &o->status);
        o->has_external_order_id = b->external_order_id.set;
        if (b->external_order_id.set)
                copy_str(o->external_order_id, sizeof(o->external_order_id),
                         b->external_order_id.v);
}

static void
reply_create_conflict(struct req *r, const struct order_create *oc)
{
        char detail[400];
        json_t *errors = NULL;

        switch (oc->refusal) {
        case ORDER_REFUSED_QUOTE_NOT_ACTIVE:
                snprintf(detail, sizeof(detail), "quote %s is %s, not active", oc->in.quote_id,
                         oc->quote_status);
                problem_add(&errors, "quote_id", "%s", detail);
                break;
        case ORDER_REFUSED_QUOTE_EXPIRED:
                snprintf(detail, sizeof(detail), "quote %s is past its expires_at",
                         oc->in.quote_id);
                problem_add(&errors, "quote_id", "%s", detail);
                break;
        case ORDER_REFUSED_EXTERNAL_ID:
                snprintf(detail, sizeof(detail), "external_order_id %s already belongs to order %s",
                         oc->in.external_order_id, oc->other_order_id);
                problem_add(&errors, "external_order_id", "%s", detail);
                break;
        default:
                snprintf(detail, sizeof(detail), "order %s already exists with other content",
                         oc->in.order_id);
                problem_add(&errors, "order_id", "%s", detail);
                break;
        }
        reply_problem(r, 409, detail, errors);
}

static void
respond_create(struct req *r, int result)
{
        const struct order_create *oc = req_write_arg(r);
        char detail[200];
        json_t *errors = NULL;

        switch (result) {
        case REPO_OK: reply_order(r, oc->existed ? 200 : 201, &oc->out); return;
        case REPO_NOT_FOUND:
                snprintf(detail, sizeof(detail), "quote %s does not exist", oc->in.quote_id);
                problem_add(&errors, "quote_id", "%s", detail);
                reply_problem(r, 422, detail, errors);
                return;
        case REPO_CONFLICT: reply_create_conflict(r, oc); return;
        case REPO_INVALID:
                reply_problem(r, 400, "the order breaks a rule of the database", NULL);
                return;
        default: /* REPO_BUSY, REPO_ERROR, DB_COMMIT_FAILED, DB_UNAVAILABLE */
                reply_unavailable(r);
                return;
        }
}

void
handle_orders_create(struct req *r)
{
        const json_t *body = req_body(r);
        struct create_body b = { 0 };
        struct order_create *oc = req_alloc(r, sizeof(*oc));
        json_t *errors = NULL;

        if (oc == NULL) {
                reply_problem(r, 503, "out of memory, retry", NULL);
                return;
        }
        parse_object(r, body, create_fields, NFIELDS(create_fields), &b, "", &errors);
        check_price_rule(body, &b, &errors);
        check_external_id(&b.external_order_id, "external_order_id", &errors);
        if (errors != NULL) {
                reply_invalid(r, errors);
                return;
        }
        create_input(&b, &oc->in);
        oc->payload = order_payload;
        req_write(r, repo_orders_create_job, oc, respond_create);
}

/* ---- GET /orders/{order_id} ---- */

void
handle_orders_get(struct req *r)
{
        const struct app *app = req_app(r);
        struct order o;
        enum repo_status s = repo_orders_get(app->db, req_param(r), &o);
        char detail[120];

        switch (s) {
        case REPO_OK: reply_order(r, 200, &o); return;
        case REPO_NOT_FOUND:
                snprintf(detail, sizeof(detail), "order %s does not exist", req_param(r));
                reply_problem(r, 404, detail, NULL);
                return;
        default: reply_unavailable(r); return;
        }
}

/* ---- GET /orders ---- */

static void
list_filter(const struct req *r, const struct page *p, struct order_filter *f)
{
        const struct query_value *symbol = req_arg(r, "symbol"), *status = req_arg(r, "status");
        const struct query_value *quote_id = req_arg(r, "quote_id");
        const struct query_value *ext_id = req_arg(r, "external_order_id");
        const struct query_value *after = req_arg(r, "created_after");
        const struct query_value *before = req_arg(r, "created_before");

        memset(f, 0, sizeof(*f));
        if ((f->has_symbol = symbol->set))
                copy_str(f->symbol, sizeof(f->symbol), symbol->str);
        if ((f->has_status = status->set))
                order_status_from_name(status->str, &f->status);
        if ((f->has_quote_id = quote_id->set))
                copy_str(f->quote_id, sizeof(f->quote_id), quote_id->str);
        if ((f->has_external_order_id = ext_id->set))
                copy_str(f->external_order_id, sizeof(f->external_order_id), ext_id->str);
        f->has_created_after = after->set;
        f->created_after = after->num;
        f->has_created_before = before->set;
        f->created_before = before->num;
        f->has_cursor = p->has_cursor;
        f->cursor_key = p->cursor_key;
        copy_str(f->cursor_id, sizeof(f->cursor_id), p->cursor_id);
        f->limit = p->limit;
}

static void
list_each(void *cls, const struct order *o)
{
        struct list_page *lp = cls;

        order_write(&lp->w, o);
        list_page_row(lp, o->created_at, o->order_id);
}

void
handle_orders_list(struct req *r)
{
        const struct app *app = req_app(r);
        const struct page p = *req_page(r);
        struct order_filter f;
        struct list_page lp;
        enum repo_status s;
        size_t n = 0;

        list_filter(r, &p, &f);
        list_page_begin(&lp);
        s = repo_orders_list(app->db, &f, list_each, &lp, &n);
        list_page_reply(r, &lp, s, (size_t)p.limit);
}

/* ---- PATCH /orders/{order_id} ---- */

struct patch_body {
        struct opt_str status, external_order_id;
};

#define PB(m) offsetof(struct patch_body, m)
static const struct field patch_fields[] = {
        { .name = "status", .type = F_ENUM, .offset = PB(status), .enum_values = patch_statuses },
        { .name = "external_order_id",
          .type = F_STRING,
          .offset = PB(external_order_id),
          .max_len = ORDER_EXT_ID_MAX },
        { .name = "filled_quantity", .type = F_READONLY },
        { .name = "avg_fill_price", .type = F_READONLY },
        { .name = "created_at", .type = F_READONLY },
        { .name = "updated_at", .type = F_READONLY },
};
#undef PB

/* Parses and validates the PATCH body into u. False after gathering every
 * problem into *errors. */
static bool
patch_input(const struct req *r, const json_t *body, struct order_update *u, json_t **errors)
{
        struct patch_body b = { 0 };
        bool ok = parse_object(r, body, patch_fields, NFIELDS(patch_fields), &b, "", errors);

        check_external_id(&b.external_order_id, "external_order_id", errors);
        if (ok && !b.status.set && !b.external_order_id.set) {
                /* null means absent here too: it clears nothing */
                problem_add(errors, "status", "send status, external_order_id or both");
                problem_add(errors, "external_order_id", "send status, external_order_id or both");
        }
        if (*errors != NULL)
                return false;
        if ((u->has_status = b.status.set))
                order_status_from_name(b.status.v, &u->status);
        if ((u->has_external_order_id = b.external_order_id.set))
                copy_str(u->external_order_id, sizeof(u->external_order_id), b.external_order_id.v);
        return true;
}

static void
reply_update_conflict(struct req *r, const struct order_update *u)
{
        char detail[400];
        json_t *errors = NULL;

        if (u->refusal == ORDER_REFUSED_EXTERNAL_ID) {
                snprintf(detail, sizeof(detail), "external_order_id %s already belongs to order %s",
                         u->external_order_id, u->other_order_id);
                problem_add(&errors, "external_order_id", "%s", detail);
        } else {
                snprintf(detail, sizeof(detail), "order %s cannot go from %s to %s%s", u->order_id,
                         order_status_name(u->from), order_status_name(u->status),
                         order_status_final(u->from) ? ": its status is final" : "");
                problem_add(&errors, "status", "%s", detail);
        }
        reply_problem(r, 409, detail, errors);
}

static void
respond_update(struct req *r, int result)
{
        const struct order_update *u = req_write_arg(r);
        char detail[120];

        switch (result) {
        case REPO_OK: reply_order(r, 200, &u->out); return;
        case REPO_NOT_FOUND:
                snprintf(detail, sizeof(detail), "order %s does not exist", u->order_id);
                reply_problem(r, 404, detail, NULL);
                return;
        case REPO_CONFLICT: reply_update_conflict(r, u); return;
        case REPO_INVALID:
                reply_problem(r, 400, "the change breaks a rule of the database", NULL);
                return;
        default: reply_unavailable(r); return;
        }
}

void
handle_orders_update(struct req *r)
{
        struct order_update *u = req_alloc(r, sizeof(*u));
        json_t *errors = NULL;

        if (u == NULL) {
                reply_problem(r, 503, "out of memory, retry", NULL);
                return;
        }
        if (!patch_input(r, req_body(r), u, &errors)) {
                reply_invalid(r, errors);
                return;
        }
        copy_str(u->order_id, sizeof(u->order_id), req_param(r));
        u->payload = order_payload;
        req_write(r, repo_orders_update_job, u, respond_update);
}
