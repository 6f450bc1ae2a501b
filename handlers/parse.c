/* Declarative request parsing and JSON output helpers (see parse.h). */
#include "handlers/parse.h"

#include "common/cursor.h"
#include "common/dec.h"
#include "common/ids.h"
#include "common/jsonw.h"
#include "common/ts.h"
#include "server/http.h"
#include "server/query.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_MAX_LEN 256
#define LIMIT_DEFAULT 100
#define LIMIT_MAX 1000

static const struct field *
find_field(const struct field *fields, size_t n, const char *name)
{
        for (size_t i = 0; i < n; i++)
                if (strcmp(fields[i].name, name) == 0)
                        return &fields[i];
        return NULL;
}

static void
add(json_t **errors, const char *prefix, const char *name, const char *msg)
{
        char field[160];

        snprintf(field, sizeof(field), "%s%s", prefix, name);
        problem_add(errors, field, "%s %s", field, msg);
}

static const char *
dec_message(enum dec_status s)
{
        switch (s) {
        case DEC_EPRECISION: return "has more than 8 fractional digits";
        case DEC_ERANGE:
                return "is out of range (the absolute value must be at most "
                       "92233720368.54775807)";
        default:
                return "must be a decimal: a string like \"1.5\" (optional '-', digits, "
                       "optional '.' and digits) or a JSON number";
        }
}

/* Checks v against rule; reports and returns false when it breaks it. */
static bool
dec_rule_ok(const struct field *f, int64_t v, const char *prefix, json_t **errors)
{
        if (f->rule == DEC_POSITIVE && v <= 0) {
                add(errors, prefix, f->name, "must be greater than 0");
                return false;
        }
        if (f->rule == DEC_NONNEGATIVE && v < 0) {
                add(errors, prefix, f->name, "must not be negative");
                return false;
        }
        return true;
}

static bool
enum_ok(const struct field *f, const char *s)
{
        for (const char *const *e = f->enum_values; e != NULL && *e != NULL; e++)
                if (strcmp(*e, s) == 0)
                        return true;
        return false;
}

static void
enum_error(const struct field *f, const char *prefix, json_t **errors)
{
        char msg[256];
        size_t n = (size_t)snprintf(msg, sizeof(msg), "must be one of:");

        for (const char *const *e = f->enum_values; e != NULL && *e != NULL; e++)
                n += (size_t)snprintf(msg + n, n < sizeof(msg) ? sizeof(msg) - n : 0, " %s", *e);
        add(errors, prefix, f->name, msg);
}

/* Text value checks shared by body strings and query parameters. */
static bool
text_ok(const struct field *f, const char *s, const char *prefix, json_t **errors)
{
        size_t len = strlen(s);
        size_t max = f->max_len ? f->max_len : DEFAULT_MAX_LEN;

        switch (f->type) {
        case F_ID:
                if (id_valid(s, len))
                        return true;
                add(errors, prefix, f->name, "must be 1-64 characters of [A-Za-z0-9._:-]");
                return false;
        case F_SYMBOL:
                if (symbol_valid(s, len))
                        return true;
                add(errors, prefix, f->name, "must be 1-32 characters of [A-Za-z0-9._/-]");
                return false;
        case F_ENUM:
                if (enum_ok(f, s))
                        return true;
                enum_error(f, prefix, errors);
                return false;
        default:
                if (len <= max)
                        return true;
                add(errors, prefix, f->name, "is too long");
                return false;
        }
}

/* Each member is read with the request at hand: a body's numbers are read
 * from their literal text (req_number), never from a double. */
struct member {
        const struct req *r;
        const struct field *f;
        const json_t *v;
        const char *prefix;
        json_t **errors;
};

static void
parse_dec(const struct member *m, void *slot)
{
        const struct field *f = m->f;
        struct opt_dec *d = slot;
        enum dec_status s;
        const char *t;
        size_t n;
        int64_t x = 0;

        if (json_is_string(m->v))
                s = dec_parse(json_string_value(m->v), json_string_length(m->v), &x);
        else if (req_number(m->r, m->v, &t, &n))
                s = dec_from_json_number(t, n, &x);
        else
                s = DEC_ESYNTAX;
        if (s != DEC_OK) {
                add(m->errors, m->prefix, f->name, dec_message(s));
                return;
        }
        if (dec_rule_ok(f, x, m->prefix, m->errors))
                *d = (struct opt_dec){ .set = true, .v = x };
}

static void
parse_ts(const struct member *m, void *slot)
{
        struct opt_ts *t = slot;
        const char *text;
        size_t n;
        int64_t us = 0;
        bool ok;

        if (json_is_string(m->v))
                ok = ts_parse(json_string_value(m->v), json_string_length(m->v), &us);
        else if (req_number(m->r, m->v, &text, &n))
                ok = ts_from_json_number(text, n, &us);
        else
                ok = false;
        if (!ok) {
                add(m->errors, m->prefix, m->f->name,
                    "must be an RFC 3339 timestamp (\"2026-11-26T15:00:00Z\") or a number "
                    "of seconds since the Unix epoch");
                return;
        }
        *t = (struct opt_ts){ .set = true, .v = us };
}

static void
parse_member(const struct member *m, void *out)
{
        const struct field *f = m->f;
        const json_t *v = m->v;
        const char *prefix = m->prefix;
        json_t **errors = m->errors;
        void *slot = (char *)out + f->offset;

        switch (f->type) {
        case F_READONLY: add(errors, prefix, f->name, "is read-only and cannot be sent"); return;
        case F_DEC: parse_dec(m, slot); return;
        case F_TS: parse_ts(m, slot); return;
        case F_BOOL:
                if (!json_is_boolean(v)) {
                        add(errors, prefix, f->name, "must be true or false");
                        return;
                }
                *(struct opt_bool *)slot = (struct opt_bool){ .set = true, .v = json_is_true(v) };
                return;
        case F_OBJECT:
                if (!json_is_object(v)) {
                        add(errors, prefix, f->name, "must be a JSON object");
                        return;
                }
                *(struct opt_json *)slot =
                        (struct opt_json){ .set = true, .v = (json_t *)(uintptr_t)v };
                return;
        default:
                if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v)) {
                        add(errors, prefix, f->name, "must be a string");
                        return;
                }
                if (text_ok(f, json_string_value(v), prefix, errors))
                        *(struct opt_str *)slot =
                                (struct opt_str){ .set = true, .v = json_string_value(v) };
                return;
        }
}

bool
parse_object(const struct req *r, const json_t *obj, const struct field *fields, size_t nfields,
             void *out, const char *prefix, json_t **errors)
{
        size_t before = *errors ? json_array_size(*errors) : 0;
        const char *key;
        json_t *v;

        json_object_foreach((json_t *)(uintptr_t)obj, key, v)
        {
                const struct field *f = find_field(fields, nfields, key);

                if (f == NULL) {
                        add(errors, prefix, key, "is not a known field");
                        continue;
                }
                if (json_is_null(v) && f->type != F_READONLY)
                        continue; /* null means absent */
                parse_member(
                        &(struct member){
                                .r = r, .f = f, .v = v, .prefix = prefix, .errors = errors },
                        out);
        }
        for (size_t i = 0; i < nfields; i++) {
                const json_t *v2 = obj ? json_object_get(obj, fields[i].name) : NULL;

                if (fields[i].required && (v2 == NULL || json_is_null(v2)))
                        add(errors, prefix, fields[i].name, "is required");
        }
        return (*errors ? json_array_size(*errors) : 0) == before;
}

struct query_ctx {
        const struct field *fields;
        size_t nfields;
        bool paged;
        struct query_value *values;
        struct page *page;
        json_t **errors;
};

static void
query_page(struct query_ctx *q, const char *key, const char *value)
{
        if (strcmp(key, "limit") == 0) {
                char *end = NULL;
                long n = strtol(value, &end, 10);

                if (*value == '\0' || *end != '\0' || n < 1 || n > LIMIT_MAX)
                        problem_add(q->errors, "limit", "limit must be an integer from 1 to %d",
                                    LIMIT_MAX);
                else
                        q->page->limit = (int)n;
                return;
        }
        if (!cursor_decode(value, &q->page->cursor_key, q->page->cursor_id))
                problem_add(q->errors, "cursor",
                            "cursor is malformed: pass back next_cursor exactly as received");
        else
                q->page->has_cursor = true;
}

static void
query_ts(struct query_ctx *q, const char *key, const char *value, struct query_value *v)
{
        char buf[64];
        int64_t us;

        /* An unencoded '+' of an offset arrives as a space: put it back. */
        snprintf(buf, sizeof(buf), "%s", value);
        for (char *p = buf + 11; p < buf + strlen(buf); p++)
                if (*p == ' ')
                        *p = '+';
        if (strlen(value) < sizeof(buf) && ts_parse_any(buf, strlen(buf), &us))
                *v = (struct query_value){ .set = true, .num = us };
        else
                add(q->errors, "", key,
                    "must be an RFC 3339 timestamp or seconds since the Unix epoch");
}

static void
query_dec(struct query_ctx *q, const char *key, const char *value, struct query_value *v)
{
        int64_t x;
        enum dec_status s = dec_parse(value, strlen(value), &x);

        if (s != DEC_OK)
                add(q->errors, "", key, dec_message(s));
        else
                *v = (struct query_value){ .set = true, .num = x };
}

static void
query_bool(struct query_ctx *q, const char *key, const char *value, struct query_value *v)
{
        if (strcmp(value, "true") == 0 || strcmp(value, "false") == 0)
                *v = (struct query_value){ .set = true, .flag = value[0] == 't' };
        else
                add(q->errors, "", key, "must be true or false");
}

static void
query_param(struct query_ctx *q, const char *key, const char *value)
{
        const struct field *f;
        struct query_value *v;

        if (q->paged && (strcmp(key, "limit") == 0 || strcmp(key, "cursor") == 0)) {
                query_page(q, key, value ? value : "");
                return;
        }
        f = find_field(q->fields, q->nfields, key);
        if (f == NULL) {
                problem_add(q->errors, key, "unknown query parameter '%s'", key);
                return;
        }
        if (value == NULL || *value == '\0')
                return; /* "?status=" is the same as leaving it out */
        v = &q->values[f - q->fields];
        /* The type decides the member: a value is never stored as another. */
        switch (f->type) {
        case F_TS: query_ts(q, key, value, v); return;
        case F_DEC: query_dec(q, key, value, v); return;
        case F_BOOL: query_bool(q, key, value, v); return;
        case F_ID:
        case F_SYMBOL:
        case F_STRING:
        case F_ENUM:
                if (text_ok(f, value, "", q->errors))
                        *v = (struct query_value){ .set = true, .str = value };
                return;
        case F_OBJECT:
        case F_READONLY: break;
        }
        assert(!"a query parameter is text, a decimal, a timestamp or a bool");
}

bool
parse_query(const struct query *qs, const struct field *fields, size_t nfields, bool paged,
            struct query_value *ret_values, struct page *ret_page, json_t **errors)
{
        struct page page = { .limit = LIMIT_DEFAULT };
        struct query_ctx q = { .fields = fields,
                               .nfields = nfields,
                               .paged = paged,
                               .values = ret_values,
                               .page = &page,
                               .errors = errors };
        size_t before = *errors ? json_array_size(*errors) : 0;

        memset(ret_values, 0, nfields * sizeof(*ret_values));
        for (size_t i = 0; i < qs->n; i++)
                query_param(&q, qs->v[i].key, qs->v[i].value);
        *ret_page = page;
        return (*errors ? json_array_size(*errors) : 0) == before;
}

void
reply_invalid(struct req *r, json_t *errors)
{
        char detail[320];
        const json_t *first = json_array_get(errors, 0);
        const char *msg = first ? json_string_value(json_object_get(first, "message")) : NULL;
        size_t n = json_array_size(errors);

        if (n > 1)
                snprintf(detail, sizeof(detail), "%s (and %zu more problems: see errors)",
                         msg ? msg : "invalid request", n - 1);
        else
                snprintf(detail, sizeof(detail), "%s", msg ? msg : "invalid request");
        reply_problem(r, 400, detail, errors);
}

static void
write_next_cursor(struct jw *w, bool full, int64_t key, const char *id)
{
        char buf[CURSOR_BUFSZ];

        jw_key(w, "next_cursor");
        if (!full) {
                jw_null(w);
                return;
        }
        cursor_encode(key, id, buf);
        jw_str(w, buf);
}

void
list_page_begin(struct list_page *p)
{
        *p = (struct list_page){ .n = 0 };
        jw_init(&p->w);
        jw_obj(&p->w);
        jw_key(&p->w, "items");
        jw_arr(&p->w);
}

void
list_page_row(struct list_page *p, int64_t key, const char *id)
{
        p->n++;
        p->last_key = key;
        snprintf(p->last_id, sizeof(p->last_id), "%s", id);
}

void
list_page_reply(struct req *r, struct list_page *p, enum repo_status s, size_t limit)
{
        if (s != REPO_OK) {
                jw_clear(&p->w);
                reply_unavailable(r);
                return;
        }
        jw_end(&p->w);
        write_next_cursor(&p->w, p->n > 0 && p->n == limit, p->last_key, p->last_id);
        jw_end(&p->w);
        reply_jw(r, 200, &p->w);
}
