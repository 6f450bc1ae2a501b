/* The /outbox endpoints (see ../shared/API.md, Outbox): creating events by
 * hand, reading them, and the consumer protocol: claim with a lease, then
 * processed or failed (with back-off, dead after the maximum), and the
 * operator's retry of a dead event. Every state change is one writer job
 * from repo/outbox.c; outbox endpoints add no further events. */
#include "handlers/outbox.h"

#include "common/ids.h"
#include "common/jnum.h"
#include "common/jsonw.h"
#include "handlers/parse.h"
#include "repo/outbox.h"
#include "server/config.h"
#include "server/http.h"
#include "server/json_exact.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CLAIM_LIMIT_DEFAULT 100
#define CLAIM_LIMIT_MAX 1000
#define LEASE_DEFAULT_S 30
#define LEASE_MAX_S 3600
#define ERROR_MESSAGE_MAX_CHARS 1000
#define US_PER_S 1000000

static const char aggregate_rule[] = "must be 1-64 characters of [A-Za-z0-9._:/-]";

/* The read-only fields of an event, rejected in every request body. */
#define READONLY(n)                                                                                \
        {                                                                                          \
                .name = n, .type = F_READONLY                                                      \
        }

/* ---- shared pieces ---- */

/* True for 1-64 characters of [A-Za-z0-9._:/-]: an order id or a symbol. */
static bool
aggregate_valid(const char *s)
{
        size_t n = strlen(s);

        if (n < 1 || n > ID_MAX_LEN)
                return false;
        for (size_t i = 0; i < n; i++) {
                char ch = s[i];

                if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                      (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == ':' ||
                      ch == '/' || ch == '-'))
                        return false;
        }
        return true;
}

/* Writes the event as the API shows it: the payload as the JSON text that
 * was stored (its numbers as the publisher wrote them), timestamps as
 * RFC 3339, absent optionals as null. */
static void
event_write(struct jw *w, const struct outbox_event *e)
{
        jw_obj(w);
        jw_kstr(w, "event_id", e->event_id);
        jw_kstr(w, "event_type", e->event_type);
        jw_kstr(w, "aggregate_id", e->aggregate_id);
        jw_key(w, "payload");
        jw_raw(w, e->payload);
        jw_kstr(w, "status", e->status);
        jw_kts(w, "created_at", e->created_at);
        jw_kts_opt(w, "processed_at", e->has_processed_at, e->processed_at);
        jw_kint(w, "retry_count", e->retry_count);
        jw_key(w, "error_message");
        if (e->error_message != NULL)
                jw_str(w, e->error_message);
        else
                jw_null(w);
        jw_kstr_opt(w, "claimed_by", e->has_claimed_by ? e->claimed_by : NULL);
        jw_kts_opt(w, "lease_expires_at", e->has_lease_expires_at, e->lease_expires_at);
        jw_end(w);
}

static void
reply_event(struct req *r, unsigned status, const struct outbox_event *e)
{
        struct jw w;

        jw_init(&w);
        event_write(&w, e);
        reply_jw(r, status, &w);
}

/* Replies {"items": [...]}: a claim's events (no cursor). */
static void
reply_events(struct req *r, const struct outbox_event *v, size_t n)
{
        struct jw w;

        jw_init(&w);
        jw_obj(&w);
        jw_key(&w, "items");
        jw_arr(&w);
        for (size_t i = 0; i < n; i++)
                event_write(&w, &v[i]);
        jw_end(&w);
        jw_end(&w);
        reply_jw(r, 200, &w);
}

static void
reply_no_event(struct req *r, const char *event_id)
{
        char detail[128];

        snprintf(detail, sizeof(detail), "no outbox event with event_id %s", event_id);
        reply_problem(r, 404, detail, NULL);
}

/* ---- POST /outbox ---- */

struct create_body {
        struct opt_str event_id;
        struct opt_str event_type;
        struct opt_str aggregate_id;
        struct opt_json payload;
};

static const struct field create_fields[] = {
        { .name = "event_id", .type = F_ID, .offset = offsetof(struct create_body, event_id) },
        { .name = "event_type",
          .type = F_ID,
          .required = true,
          .offset = offsetof(struct create_body, event_type) },
        /* Checked by aggregate_valid: it may hold a '/', unlike an id. */
        { .name = "aggregate_id",
          .type = F_STRING,
          .required = true,
          .max_len = SIZE_MAX,
          .offset = offsetof(struct create_body, aggregate_id) },
        { .name = "payload",
          .type = F_OBJECT,
          .required = true,
          .offset = offsetof(struct create_body, payload) },
        READONLY("status"),
        READONLY("created_at"),
        READONLY("processed_at"),
        READONLY("retry_count"),
        READONLY("error_message"),
        READONLY("claimed_by"),
        READONLY("lease_expires_at"),
};

/* v (with its numbers' literals in nums) as canonical JSON text: keys
 * sorted, numbers compared by value (json_exact.h). Caller frees; NULL on
 * out-of-memory. */
static char *
canonical(const json_t *v, const struct jx_numbers *nums)
{
        struct jw w;
        size_t len;

        jw_init(&w);
        jx_write(&w, v, nums, JX_CANONICAL);
        return jw_take(&w, &len);
}

/* Whether the stored event e has the content the client sent now in r's
 * body (event_type, aggregate_id, payload compared canonically): 1 same, 0
 * different, -1 out of memory. */
static int
same_content(const struct outbox_event *e, const struct req *r)
{
        const json_t *body = req_body(r);
        struct jx_numbers kept_nums = { 0 };
        json_error_t err;
        json_t *stored = jx_load(e->payload, strlen(e->payload), 0, &kept_nums, &err);
        char *sent = canonical(json_object_get(body, "payload"), req_numbers(r));
        char *kept = stored ? canonical(stored, &kept_nums) : NULL;
        int same = -1;

        /* A stored payload that does not parse cannot equal the one sent. */
        if (sent != NULL && (stored == NULL || kept != NULL))
                same = kept != NULL && strcmp(sent, kept) == 0 &&
                       strcmp(e->event_type,
                              json_string_value(json_object_get(body, "event_type"))) == 0 &&
                       strcmp(e->aggregate_id,
                              json_string_value(json_object_get(body, "aggregate_id"))) == 0;
        free(sent);
        free(kept);
        json_decref(stored);
        jx_numbers_clear(&kept_nums);
        return same;
}

/* Payloads nest at most this deep: SQLite's json_valid (which the outbox
 * table's CHECK runs) refuses 2000 levels, jansson parses 2048. */
#define PAYLOAD_MAX_DEPTH 1000

static int
json_depth(const json_t *v, int limit)
{
        int deepest = 0;

        if (limit <= 0 || !(json_is_object(v) || json_is_array(v)))
                return 0;
        if (json_is_object(v)) {
                const char *k;
                json_t *x;

                json_object_foreach((json_t *)(uintptr_t)v, k, x)
                {
                        int d = json_depth(x, limit - 1);

                        if (d > deepest)
                                deepest = d;
                }
        } else {
                for (size_t i = 0; i < json_array_size(v); i++) {
                        int d = json_depth(json_array_get(v, i), limit - 1);

                        if (d > deepest)
                                deepest = d;
                }
        }
        return deepest + 1;
}

static json_t *
payload_error(void)
{
        json_t *errors = NULL;

        problem_add(&errors, "payload", "payload nests deeper than %d levels", PAYLOAD_MAX_DEPTH);
        return errors;
}

static void
respond_create(struct req *r, int result)
{
        struct outbox_create *x = req_write_arg(r);
        char detail[160];
        int same;

        /* x->event is cleared by clear_create when the request ends. */
        if (result == REPO_INVALID) {
                reply_invalid(r, payload_error());
                return;
        }
        if (result != REPO_OK) {
                reply_unavailable(r);
                return;
        }
        if (!x->existed) {
                reply_event(r, 201, &x->event);
                return;
        }
        same = same_content(&x->event, r);
        if (same == 1) {
                reply_event(r, 200, &x->event);
        } else if (same == 0) {
                snprintf(detail, sizeof(detail), "event_id %s already exists with other content",
                         x->event.event_id);
                reply_problem(r, 409, detail, NULL);
        } else {
                reply_unavailable(r);
        }
}

/* req_on_free: the event a create read back, answered or not. */
static void
clear_create(void *arg)
{
        struct outbox_create *x = arg;

        outbox_event_clear(&x->event);
}

/* Fills the job argument from a valid body. False on out-of-memory. */
static bool
create_prepare(struct req *r, const struct create_body *b, struct outbox_create *x)
{
        struct jw w;
        size_t len = 0;
        char *text, *payload;

        /* Stored compact, members in the order sent, each number as its
         * literal: the payload is the publisher's, to the last digit. */
        jw_init(&w);
        jx_write(&w, b->payload.v, req_numbers(r), JX_AS_SENT);
        text = jw_take(&w, &len);
        payload = text ? req_alloc(r, len + 1) : NULL;
        char *id = b->event_id.set ? NULL : req_alloc(r, ID_UUID_BUFSZ);

        if (payload != NULL)
                memcpy(payload, text, len + 1);
        free(text);
        if (payload == NULL || (!b->event_id.set && id == NULL))
                return false;
        if (id != NULL)
                id_uuidv7(id);
        x->event_id = b->event_id.set ? b->event_id.v : id;
        x->event_type = b->event_type.v;
        x->aggregate_id = b->aggregate_id.v;
        x->payload_json = payload;
        return true;
}

void
handle_outbox_create(struct req *r)
{
        struct create_body b = { 0 };
        struct outbox_create *x;
        json_t *errors = NULL;

        parse_object(r, req_body(r), create_fields, NFIELDS(create_fields), &b, "", &errors);
        if (b.aggregate_id.set && !aggregate_valid(b.aggregate_id.v))
                problem_add(&errors, "aggregate_id", "aggregate_id %s", aggregate_rule);
        if (b.payload.set && json_depth(b.payload.v, PAYLOAD_MAX_DEPTH + 1) > PAYLOAD_MAX_DEPTH)
                problem_add(&errors, "payload", "payload nests deeper than %d levels",
                            PAYLOAD_MAX_DEPTH);
        if (errors != NULL) {
                reply_invalid(r, errors);
                return;
        }
        x = req_alloc(r, sizeof(*x));
        if (x == NULL || !create_prepare(r, &b, x)) {
                reply_unavailable(r);
                return;
        }
        req_on_free(r, clear_create, x);
        req_write(r, repo_outbox_create_job, x, respond_create);
}

/* ---- GET /outbox and /outbox/{event_id} ---- */

void
handle_outbox_list(struct req *r)
{
        const struct page page = *req_page(r);
        const char *aggregate_id = req_arg(r, "aggregate_id")->str;
        struct outbox_filter f;
        struct outbox_event *v = NULL;
        json_t *errors = NULL;
        struct list_page lp;
        enum repo_status s;
        size_t n = 0;

        if (aggregate_id != NULL && !aggregate_valid(aggregate_id)) {
                problem_add(&errors, "aggregate_id", "aggregate_id %s", aggregate_rule);
                reply_invalid(r, errors);
                return;
        }
        f = (struct outbox_filter){ .status = req_arg(r, "status")->str,
                                    .event_type = req_arg(r, "event_type")->str,
                                    .aggregate_id = aggregate_id };
        s = repo_outbox_list(req_app(r)->db, &f, page.has_cursor ? page.cursor_key : INT64_MIN,
                             page.limit, &v, &n);
        list_page_begin(&lp);
        for (size_t i = 0; s == REPO_OK && i < n; i++) {
                event_write(&lp.w, &v[i]);
                list_page_row(&lp, v[i].seq, v[i].event_id);
        }
        list_page_reply(r, &lp, s, (size_t)page.limit);
        outbox_events_free(v, n);
}

void
handle_outbox_get(struct req *r)
{
        struct outbox_event e;
        enum repo_status s;

        s = repo_outbox_get(req_app(r)->db, req_param(r), &e);
        switch (s) {
        case REPO_OK:
                reply_event(r, 200, &e);
                outbox_event_clear(&e);
                return;
        case REPO_NOT_FOUND: reply_no_event(r, req_param(r)); return;
        default: reply_unavailable(r); return;
        }
}

/* ---- POST /outbox/claim ---- */

struct claim_body {
        struct opt_str consumer;
};

static const struct field claim_fields[] = {
        { .name = "consumer",
          .type = F_ID,
          .required = true,
          .offset = offsetof(struct claim_body, consumer) },
};

/* Reads the optional integer member name of r's body in [min, max] (def
 * when absent or null); reports anything else to *errors. Only an integer
 * literal counts: 5.0 and 5e0 are refused, as they always were. */
static int
int_member(const struct req *r, const char *name, int min, int max, int def, json_t **errors)
{
        const json_t *body = req_body(r);
        const json_t *v = body ? json_object_get(body, name) : NULL;
        char plain[JNUM_PLAIN_BUFSZ];
        const char *t;
        size_t n;
        long long x = (long long)min - 1;

        if (v == NULL || json_is_null(v))
                return def;
        if (req_number(r, v, &t, &n) && strcspn(t, ".eE") >= n &&
            jnum_plain(t, n, 0, false, plain, &n) == JNUM_OK)
                x = strtoll(plain, NULL, 10); /* at most 20 digits: saturates, never wraps */
        if (x < min || x > max) {
                problem_add(errors, name, "%s must be an integer from %d to %d", name, min, max);
                return def;
        }
        return (int)x;
}

/* Parses the claim body into x. False after gathering errors. */
static bool
claim_parse(struct req *r, struct outbox_claim *x, json_t **errors)
{
        const json_t *body = req_body(r);
        json_t *rest = body ? json_copy((json_t *)(uintptr_t)body) : NULL;
        struct claim_body b = { 0 };
        int lease;

        /* limit and lease_seconds are integers, which parse_object has no
         * type for: read them here, parse the rest declaratively. rest
         * shares its members with body, so b's strings stay valid. */
        if (rest != NULL) {
                json_object_del(rest, "limit");
                json_object_del(rest, "lease_seconds");
        }
        parse_object(r, rest, claim_fields, NFIELDS(claim_fields), &b, "", errors);
        json_decref(rest);
        x->limit = int_member(r, "limit", 1, CLAIM_LIMIT_MAX, CLAIM_LIMIT_DEFAULT, errors);
        lease = int_member(r, "lease_seconds", 1, LEASE_MAX_S, LEASE_DEFAULT_S, errors);
        x->lease_us = (int64_t)lease * US_PER_S;
        x->consumer = b.consumer.v;
        return *errors == NULL;
}

static void
respond_claim(struct req *r, int result)
{
        struct outbox_claim *x = req_write_arg(r);

        if (result == REPO_OK)
                reply_events(r, x->items, x->n);
        else
                reply_unavailable(r);
}

/* req_on_free: the claimed events, answered or not. */
static void
free_claim(void *arg)
{
        struct outbox_claim *x = arg;

        outbox_events_free(x->items, x->n);
        x->items = NULL;
        x->n = 0;
}

void
handle_outbox_claim(struct req *r)
{
        struct outbox_claim *x;
        json_t *errors = NULL;

        x = req_alloc(r, sizeof(*x));
        if (x == NULL) {
                reply_unavailable(r);
                return;
        }
        if (!claim_parse(r, x, &errors)) {
                reply_invalid(r, errors);
                return;
        }
        req_on_free(r, free_claim, x);
        req_write(r, repo_outbox_claim_job, x, respond_claim);
}

/* ---- POST /outbox/{event_id}/processed, /failed, /retry ---- */

/* Maps the result of an acknowledgement job. mark names the status that
 * was asked for ("processed", "failed"), or is NULL for a retry. */
static void
respond_ack(struct req *r, int result, const char *mark)
{
        struct outbox_ack *a = req_write_arg(r);
        char detail[192];

        switch (result) {
        case REPO_OK: reply_event(r, 200, &a->event); break;
        case REPO_NOT_FOUND: reply_no_event(r, a->event_id); break;
        case REPO_CONFLICT:
                if (mark != NULL)
                        snprintf(detail, sizeof(detail),
                                 "event %s is already %s and cannot be marked %s", a->event_id,
                                 a->status, mark);
                else
                        snprintf(detail, sizeof(detail),
                                 "event %s is %s: only a dead event can be retried", a->event_id,
                                 a->status);
                reply_problem(r, 409, detail, NULL);
                break;
        default: reply_unavailable(r); break;
        }
}

/* req_on_free: the event an acknowledgement read back, answered or not. */
static void
clear_ack(void *arg)
{
        struct outbox_ack *a = arg;

        outbox_event_clear(&a->event);
}

static void
respond_processed(struct req *r, int result)
{
        respond_ack(r, result, "processed");
}

static void
respond_failed(struct req *r, int result)
{
        respond_ack(r, result, "failed");
}

static void
respond_retry(struct req *r, int result)
{
        respond_ack(r, result, NULL);
}

/* Starts fn for the URL's event with a body that has no fields. */
static void
ack_start(struct req *r, db_job_fn fn, void (*respond)(struct req *r, int result))
{
        struct outbox_ack *a;
        json_t *errors = NULL;
        char unused;

        if (!parse_object(r, req_body(r), NULL, 0, &unused, "", &errors)) {
                reply_invalid(r, errors);
                return;
        }
        a = req_alloc(r, sizeof(*a));
        if (a == NULL) {
                reply_unavailable(r);
                return;
        }
        a->event_id = req_param(r);
        req_on_free(r, clear_ack, a);
        req_write(r, fn, a, respond);
}

void
handle_outbox_processed(struct req *r)
{
        ack_start(r, repo_outbox_processed_job, respond_processed);
}

void
handle_outbox_retry(struct req *r)
{
        ack_start(r, repo_outbox_retry_job, respond_retry);
}

struct failed_body {
        struct opt_str error_message;
};

static const struct field failed_fields[] = {
        /* Length is checked in characters by chars_at_most. */
        { .name = "error_message",
          .type = F_STRING,
          .required = true,
          .max_len = SIZE_MAX,
          .offset = offsetof(struct failed_body, error_message) },
};

/* Whether the UTF-8 text s (valid, as jansson guarantees) has at most max
 * characters. */
static bool
chars_at_most(const char *s, size_t max)
{
        size_t n = 0;

        for (; *s != '\0'; s++)
                if (((unsigned char)*s & 0xC0) != 0x80 && ++n > max)
                        return false;
        return true;
}

void
handle_outbox_failed(struct req *r)
{
        const struct config *cfg = req_app(r)->cfg;
        struct failed_body b = { 0 };
        json_t *errors = NULL;
        struct outbox_ack *a;

        parse_object(r, req_body(r), failed_fields, NFIELDS(failed_fields), &b, "", &errors);
        if (b.error_message.set && !chars_at_most(b.error_message.v, ERROR_MESSAGE_MAX_CHARS))
                problem_add(&errors, "error_message", "error_message must be at most %d characters",
                            ERROR_MESSAGE_MAX_CHARS);
        if (errors != NULL) {
                reply_invalid(r, errors);
                return;
        }
        a = req_alloc(r, sizeof(*a));
        if (a == NULL) {
                reply_unavailable(r);
                return;
        }
        a->event_id = req_param(r);
        a->error_message = b.error_message.v;
        a->max_retries = cfg->outbox.max_retries;
        a->retry_base_seconds = cfg->outbox.retry_base_seconds;
        a->retry_max_seconds = cfg->outbox.retry_max_seconds;
        req_on_free(r, clear_ack, a);
        req_write(r, repo_outbox_failed_job, a, respond_failed);
}
