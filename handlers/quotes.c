/* The /quotes endpoints (see ../shared/API.md, Quotes): each handler parses
 * the request into plain structs with the declarative tables of parse.h,
 * hands reads to repo/quotes.c on a reader connection and changes to the
 * writer as one job, then maps the repo's answer to a status and JSON.
 *
 * A create, a batch item and an idempotent repeat are compared by the repo
 * after parsing, so 1.5 and "1.5" are the same content. Quote changes add no
 * outbox events: the contract names none for quotes. */
#include "handlers/quotes.h"

#include "common/jsonw.h"

#include "common/ids.h"
#include "common/ts.h"
#include "handlers/parse.h"
#include "repo/quotes.h"
#include "server/http.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define BATCH_MAX 1000

/* A quote as a client sends it (POST /quotes and each batch item). */
struct quote_in {
        struct opt_str quote_id;
        struct opt_str symbol_src;
        struct opt_str symbol_dst;
        struct opt_dec bid_price;
        struct opt_dec bid_qty;
        struct opt_dec ask_price;
        struct opt_dec ask_qty;
        struct opt_dec source_bid_price;
        struct opt_dec source_ask_price;
        struct opt_dec spread_bps;
        struct opt_str status;
        struct opt_ts expires_at;
};

static const char *const create_statuses[] = { "active", NULL };

#define QUOTE_DEC(field, req, rule_)                                                               \
        {                                                                                          \
                .name = #field, .type = F_DEC, .required = (req),                                  \
                .offset = offsetof(struct quote_in, field), .rule = (rule_)                        \
        }

static const struct field create_fields[] = {
        { .name = "quote_id", .type = F_ID, .offset = offsetof(struct quote_in, quote_id) },
        { .name = "symbol_src",
          .type = F_SYMBOL,
          .required = true,
          .offset = offsetof(struct quote_in, symbol_src) },
        { .name = "symbol_dst",
          .type = F_SYMBOL,
          .required = true,
          .offset = offsetof(struct quote_in, symbol_dst) },
        QUOTE_DEC(bid_price, false, DEC_POSITIVE),
        QUOTE_DEC(bid_qty, false, DEC_POSITIVE),
        QUOTE_DEC(ask_price, false, DEC_POSITIVE),
        QUOTE_DEC(ask_qty, false, DEC_POSITIVE),
        QUOTE_DEC(source_bid_price, true, DEC_POSITIVE),
        QUOTE_DEC(source_ask_price, true, DEC_POSITIVE),
        QUOTE_DEC(spread_bps, false, DEC_ANY),
        { .name = "status",
          .type = F_ENUM,
          .offset = offsetof(struct quote_in, status),
          .enum_values = create_statuses },
        { .name = "expires_at", .type = F_TS, .offset = offsetof(struct quote_in, expires_at) },
        { .name = "created_at", .type = F_READONLY },
        { .name = "updated_at", .type = F_READONLY },
};

/* ---- shared helpers ---- */

/* Copies a parsed decimal into a nullable quote member. */
static void
set_opt(const struct opt_dec *d, bool *ret_has, int64_t *ret_v)
{
        *ret_has = d->set;
        *ret_v = d->set ? d->v : 0;
}

/* Fills q from a parsed, valid quote_in; makes a UUIDv7 when no id came. */
static void
quote_from_in(const struct quote_in *in, struct quote *q)
{
        memset(q, 0, sizeof(*q));
        if (in->quote_id.set)
                snprintf(q->quote_id, sizeof(q->quote_id), "%s", in->quote_id.v);
        else
                id_uuidv7(q->quote_id);
        snprintf(q->symbol_src, sizeof(q->symbol_src), "%s", in->symbol_src.v);
        snprintf(q->symbol_dst, sizeof(q->symbol_dst), "%s", in->symbol_dst.v);
        set_opt(&in->bid_price, &q->has_bid_price, &q->bid_price);
        set_opt(&in->bid_qty, &q->has_bid_qty, &q->bid_qty);
        set_opt(&in->ask_price, &q->has_ask_price, &q->ask_price);
        set_opt(&in->ask_qty, &q->has_ask_qty, &q->ask_qty);
        q->source_bid_price = in->source_bid_price.v;
        q->source_ask_price = in->source_ask_price.v;
        set_opt(&in->spread_bps, &q->has_spread_bps, &q->spread_bps);
        q->has_expires_at = in->expires_at.set;
        q->expires_at = in->expires_at.set ? in->expires_at.v : 0;
}

/* Writes q as its response JSON (the API's field names and forms). */
static void
quote_write(struct jw *w, const struct quote *q)
{
        jw_obj(w);
        jw_kstr(w, "quote_id", q->quote_id);
        jw_kstr(w, "symbol_src", q->symbol_src);
        jw_kstr(w, "symbol_dst", q->symbol_dst);
        jw_kdec_opt(w, "bid_price", q->has_bid_price, q->bid_price);
        jw_kdec_opt(w, "bid_qty", q->has_bid_qty, q->bid_qty);
        jw_kdec_opt(w, "ask_price", q->has_ask_price, q->ask_price);
        jw_kdec_opt(w, "ask_qty", q->has_ask_qty, q->ask_qty);
        jw_kdec(w, "source_bid_price", q->source_bid_price);
        jw_kdec(w, "source_ask_price", q->source_ask_price);
        jw_kdec_opt(w, "spread_bps", q->has_spread_bps, q->spread_bps);
        jw_kstr(w, "status", q->status);
        jw_kts(w, "created_at", q->created_at);
        jw_kts(w, "updated_at", q->updated_at);
        jw_kts_opt(w, "expires_at", q->has_expires_at, q->expires_at);
        jw_end(w);
}

/* Replies status with one quote. */
static void
reply_quote(struct req *r, unsigned status, const struct quote *q)
{
        struct jw w;

        jw_init(&w);
        quote_write(&w, q);
        reply_jw(r, status, &w);
}

/* The job's argument, or a 503 reply and NULL when memory ran out. */
static void *
job_alloc(struct req *r, size_t size)
{
        void *job = req_alloc(r, size);

        if (job == NULL)
                reply_problem(r, 503, "out of memory, retry", NULL);
        return job;
}

static void
reply_not_found(struct req *r, const char *quote_id)
{
        char detail[128];

        snprintf(detail, sizeof(detail), "quote '%s' does not exist", quote_id);
        reply_problem(r, 404, detail, NULL);
}

/* 409 for an id stored (or sent earlier in the batch) with other content;
 * field names the quote_id member that clashed. */
static void
reply_id_conflict(struct req *r, const char *field, const char *quote_id)
{
        char detail[256];
        json_t *errors = NULL;

        snprintf(detail, sizeof(detail),
                 "quote '%s' already exists with other content; a retry must send the same "
                 "content, a new quote needs a new quote_id",
                 quote_id);
        problem_add(&errors, field, "%s", detail);
        reply_problem(r, 409, detail, errors);
}

/* ---- POST /quotes ---- */

static void
respond_create(struct req *r, int result)
{
        const struct repo_quote_create *job = req_write_arg(r);

        switch (result) {
        case REPO_OK: reply_quote(r, job->existed ? 200 : 201, &job->q); return;
        case REPO_CONFLICT: reply_id_conflict(r, "quote_id", job->q.quote_id); return;
        case REPO_INVALID:
                reply_problem(r, 400, "the quote breaks a rule of the database", NULL);
                return;
        default: /* REPO_ERROR, REPO_BUSY, DB_COMMIT_FAILED, DB_UNAVAILABLE */
                reply_unavailable(r);
                return;
        }
}

void
handle_quotes_create(struct req *r)
{
        struct quote_in in = { 0 };
        json_t *errors = NULL;
        struct repo_quote_create *job;

        if (!parse_object(r, req_body(r), create_fields, NFIELDS(create_fields), &in, "",
                          &errors)) {
                reply_invalid(r, errors);
                return;
        }
        job = job_alloc(r, sizeof(*job));
        if (job == NULL)
                return;
        quote_from_in(&in, &job->q);
        req_write(r, repo_quotes_create_job, job, respond_create);
}

/* ---- GET /quotes ---- */

static void
list_row(void *cls, const struct quote *q)
{
        struct list_page *lp = cls;

        quote_write(&lp->w, q);
        list_page_row(lp, q->created_at, q->quote_id);
}

void
handle_quotes_list(struct req *r)
{
        const struct page page = *req_page(r);
        struct list_page lp;
        struct quote_filter f;
        enum repo_status s;

        list_page_begin(&lp);
        f = (struct quote_filter){ .status = req_arg(r, "status")->str,
                                   .symbol_src = req_arg(r, "symbol_src")->str,
                                   .symbol_dst = req_arg(r, "symbol_dst")->str,
                                   .now_us = ts_now_us() };
        s = repo_quotes_list(req_app(r)->db, &f, page.has_cursor, page.cursor_key, page.cursor_id,
                             page.limit, list_row, &lp);
        list_page_reply(r, &lp, s, (size_t)page.limit);
}

/* ---- POST /quotes/batch ---- */

/* Checks the envelope {"quotes": [...]}: an array of 1 to BATCH_MAX, and
 * no other member (reported in *errors). Returns the array (borrowed), or
 * NULL when there is no usable one (reported too). */
static const json_t *
batch_array(const json_t *body, json_t **errors)
{
        const json_t *arr = body ? json_object_get(body, "quotes") : NULL;
        const char *key;
        json_t *v;

        json_object_foreach((json_t *)(uintptr_t)body, key, v)
        {
                if (strcmp(key, "quotes") != 0)
                        problem_add(errors, key, "%s is not a known field", key);
        }
        if (arr == NULL || json_is_null(arr)) {
                problem_add(errors, "quotes", "quotes is required");
                return NULL;
        }
        if (!json_is_array(arr) || json_array_size(arr) < 1 || json_array_size(arr) > BATCH_MAX) {
                problem_add(errors, "quotes", "quotes must be an array of 1 to %d quotes",
                            BATCH_MAX);
                return NULL;
        }
        return arr;
}

/* Parses every item of arr into items (as many as arr holds), reporting every
 * bad field as quotes[i].field. Returns true when nothing at all was wrong,
 * counting the errors already in *errors. */
static bool
batch_items(const struct req *r, const json_t *arr, struct quote *items, json_t **errors)
{
        for (size_t i = 0; i < json_array_size(arr); i++) {
                const json_t *item = json_array_get(arr, i);
                struct quote_in in = { 0 };
                char prefix[32];

                snprintf(prefix, sizeof(prefix), "quotes[%zu].", i);
                if (!json_is_object(item)) {
                        prefix[strlen(prefix) - 1] = '\0';
                        problem_add(errors, prefix, "%s must be a JSON object (a quote)", prefix);
                        continue;
                }
                if (parse_object(r, item, create_fields, NFIELDS(create_fields), &in, prefix,
                                 errors))
                        quote_from_in(&in, &items[i]);
        }
        return *errors == NULL;
}

static void
respond_batch(struct req *r, int result)
{
        const struct repo_quotes_batch *job = req_write_arg(r);
        char field[48];
        struct jw w;

        switch (result) {
        case REPO_OK:
                jw_init(&w);
                jw_obj(&w);
                jw_key(&w, "items");
                jw_arr(&w);
                for (size_t i = 0; i < job->n; i++)
                        quote_write(&w, &job->items[i]);
                jw_end(&w);
                jw_end(&w);
                reply_jw(r, 201, &w);
                return;
        case REPO_CONFLICT:
                snprintf(field, sizeof(field), "quotes[%zu].quote_id", job->conflict_index);
                reply_id_conflict(r, field, job->items[job->conflict_index].quote_id);
                return;
        case REPO_INVALID:
                reply_problem(r, 400, "a quote breaks a rule of the database", NULL);
                return;
        default: /* REPO_ERROR, REPO_BUSY, DB_COMMIT_FAILED, DB_UNAVAILABLE */
                reply_unavailable(r);
                return;
        }
}

void
handle_quotes_batch(struct req *r)
{
        json_t *errors = NULL;
        const json_t *arr;
        struct repo_quotes_batch *job;

        arr = batch_array(req_body(r), &errors);
        if (arr == NULL) {
                reply_invalid(r, errors);
                return;
        }
        job = job_alloc(r, sizeof(*job));
        if (job == NULL)
                return;
        job->n = json_array_size(arr);
        job->items = job_alloc(r, job->n * sizeof(*job->items));
        if (job->items == NULL)
                return;
        if (!batch_items(r, arr, job->items, &errors)) {
                reply_invalid(r, errors);
                return;
        }
        req_write(r, repo_quotes_batch_job, job, respond_batch);
}

/* ---- POST /quotes/expire ---- */

struct expire_in {
        struct opt_str symbol_src;
        struct opt_str symbol_dst;
};

static const struct field expire_fields[] = {
        { .name = "symbol_src",
          .type = F_SYMBOL,
          .offset = offsetof(struct expire_in, symbol_src) },
        { .name = "symbol_dst",
          .type = F_SYMBOL,
          .offset = offsetof(struct expire_in, symbol_dst) },
};

static void
reply_expired(struct req *r, int64_t n)
{
        struct jw w;

        jw_init(&w);
        jw_obj(&w);
        jw_kint(&w, "expired", n);
        jw_end(&w);
        reply_jw(r, 200, &w);
}

static void
respond_expire(struct req *r, int result)
{
        const struct repo_quotes_expire *job = req_write_arg(r);

        switch (result) {
        case REPO_OK: reply_expired(r, job->expired); return;
        default: /* REPO_ERROR, REPO_BUSY, DB_COMMIT_FAILED, DB_UNAVAILABLE */
                reply_unavailable(r);
                return;
        }
}

void
handle_quotes_expire(struct req *r)
{
        struct expire_in in = { 0 };
        json_t *errors = NULL;
        struct repo_quotes_expire *job;

        if (!parse_object(r, req_body(r), expire_fields, NFIELDS(expire_fields), &in, "",
                          &errors)) {
                reply_invalid(r, errors);
                return;
        }
        job = job_alloc(r, sizeof(*job));
        if (job == NULL)
                return;
        /* Borrowed from the request body, which outlives the job. */
        job->symbol_src = in.symbol_src.set ? in.symbol_src.v : NULL;
        job->symbol_dst = in.symbol_dst.set ? in.symbol_dst.v : NULL;
        req_write(r, repo_quotes_expire_job, job, respond_expire);
}

/* ---- GET /quotes/{quote_id} ---- */

void
handle_quotes_get(struct req *r)
{
        const struct app *app = req_app(r);
        struct quote q;
        enum repo_status s;

        s = repo_quotes_get(app->db, req_param(r), &q);
        switch (s) {
        case REPO_OK: reply_quote(r, 200, &q); return;
        case REPO_NOT_FOUND: reply_not_found(r, req_param(r)); return;
        default: reply_unavailable(r); return;
        }
}

/* ---- PATCH /quotes/{quote_id} ---- */

struct update_in {
        struct opt_str status;
};

/* The only changes a client may make: an active quote ends. */
static const char *const update_statuses[] = { "expired", "cancelled", NULL };

static const struct field update_fields[] = {
        { .name = "status",
          .type = F_ENUM,
          .required = true,
          .offset = offsetof(struct update_in, status),
          .enum_values = update_statuses },
        { .name = "created_at", .type = F_READONLY },
        { .name = "updated_at", .type = F_READONLY },
};

static void
respond_update(struct req *r, int result)
{
        const struct repo_quote_status *job = req_write_arg(r);
        char detail[192];

        switch (result) {
        case REPO_OK: reply_quote(r, 200, &job->q); return;
        case REPO_NOT_FOUND: reply_not_found(r, job->quote_id); return;
        case REPO_CONFLICT:
                snprintf(detail, sizeof(detail),
                         "quote '%s' is %s: only an active quote can become %s", job->quote_id,
                         job->q.status, job->status);
                reply_problem(r, 409, detail, NULL);
                return;
        default: /* REPO_ERROR, REPO_BUSY, DB_COMMIT_FAILED, DB_UNAVAILABLE */
                reply_unavailable(r);
                return;
        }
}

void
handle_quotes_update(struct req *r)
{
        struct update_in in = { 0 };
        json_t *errors = NULL;
        struct repo_quote_status *job;

        if (!parse_object(r, req_body(r), update_fields, NFIELDS(update_fields), &in, "",
                          &errors)) {
                reply_invalid(r, errors);
                return;
        }
        job = job_alloc(r, sizeof(*job));
        if (job == NULL)
                return;
        snprintf(job->quote_id, sizeof(job->quote_id), "%s", req_param(r));
        job->status = strcmp(in.status.v, "expired") == 0 ? "expired" : "cancelled";
        req_write(r, repo_quotes_set_status_job, job, respond_update);
}

/* ---- DELETE /quotes/{quote_id} ---- */

static void
respond_delete(struct req *r, int result)
{
        const struct repo_quote_delete *job = req_write_arg(r);
        char detail[160];

        switch (result) {
        case REPO_OK: reply_empty(r, 204); return;
        case REPO_NOT_FOUND: reply_not_found(r, job->quote_id); return;
        case REPO_CONFLICT:
                snprintf(detail, sizeof(detail),
                         "quote '%s' is referenced by an order and cannot be deleted",
                         job->quote_id);
                reply_problem(r, 409, detail, NULL);
                return;
        default: /* REPO_ERROR, REPO_BUSY, DB_COMMIT_FAILED, DB_UNAVAILABLE */
                reply_unavailable(r);
                return;
        }
}

void
handle_quotes_delete(struct req *r)
{
        struct repo_quote_delete *job;

        job = job_alloc(r, sizeof(*job));
        if (job == NULL)
                return;
        snprintf(job->quote_id, sizeof(job->quote_id), "%s", req_param(r));
        req_write(r, repo_quotes_delete_job, job, respond_delete);
}
