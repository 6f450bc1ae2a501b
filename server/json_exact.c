/* JSON documents whose numbers keep their literal text (see json_exact.h). */
#include "server/json_exact.h"

#include "common/jnum.h"
#include "common/jsonw.h"
#include "common/log.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

void
jx_numbers_clear(struct jx_numbers *nums)
{
        free(nums->v);
        *nums = (struct jx_numbers){ 0 };
}

static bool
numbers_add(struct jx_numbers *nums, size_t off, size_t len)
{
        if (nums->n == nums->cap) {
                size_t cap = nums->cap ? nums->cap * 2 : 16;
                struct jx_span *nv = realloc(nums->v, cap * sizeof(*nv));

                if (nv == NULL)
                        return false;
                nums->v = nv;
                nums->cap = cap;
        }
        nums->v[nums->n++] = (struct jx_span){ .off = (uint32_t)off, .len = (uint32_t)len };
        return true;
}

/* May a number token stand right after (before) this character? Only JSON's
 * structural characters and whitespace: a token glued to anything else is
 * left alone, for jansson to refuse. */
static bool
opens_value(char ch)
{
        return ch == '[' || ch == ',' || ch == ':' || ch == ' ' || ch == '\t' || ch == '\n' ||
               ch == '\r';
}

static bool
ends_value(char ch)
{
        return ch == ']' || ch == ',' || ch == '}' || ch == ' ' || ch == '\t' || ch == '\n' ||
               ch == '\r';
}

/* Records the number tokens of text into nums and blanks them in copy (a
 * copy of text) as "0" and spaces. False on out-of-memory. */
static bool
blank_numbers(const char *text, size_t len, char *copy, struct jx_numbers *nums)
{
        for (size_t i = 0; i < len; i++) {
                size_t n;

                if (text[i] == '"') { /* skip the string, escapes included */
                        for (i++; i < len && text[i] != '"'; i++)
                                if (text[i] == '\\')
                                        i++;
                        continue;
                }
                if ((i > 0 && !opens_value(text[i - 1])) || (n = jnum_scan(text + i, len - i)) == 0)
                        continue;
                if (i + n < len && !ends_value(text[i + n])) {
                        i += n - 1;
                        continue;
                }
                if (!numbers_add(nums, i, n))
                        return false;
                copy[i] = '0';
                memset(copy + i + 1, ' ', n - 1);
                i += n - 1;
        }
        return true;
}

/* Numbers each number node of v in document order, from *next on. */
static void
index_numbers(json_t *v, size_t *next)
{
        const char *key;
        json_t *x;
        size_t i;

        switch (json_typeof(v)) {
        case JSON_INTEGER: json_integer_set(v, (json_int_t)(*next)++); break;
        case JSON_OBJECT: json_object_foreach(v, key, x) index_numbers(x, next); break;
        case JSON_ARRAY: json_array_foreach(v, i, x) index_numbers(x, next); break;
        default: break;
        }
}

json_t *
jx_load(const char *text, size_t len, size_t flags, struct jx_numbers *ret_nums, json_error_t *err)
{
        char *copy;
        json_t *root;
        size_t seen = 0;

        jx_numbers_clear(ret_nums);
        ret_nums->text = text;
        copy = len <= UINT32_MAX ? malloc(len + 1) : NULL;
        if (copy == NULL) {
                memset(err, 0, sizeof(*err));
                strcpy(err->text, "out of memory");
                return NULL;
        }
        memcpy(copy, text, len);
        copy[len] = '\0';
        if (!blank_numbers(text, len, copy, ret_nums)) {
                free(copy);
                memset(err, 0, sizeof(*err));
                strcpy(err->text, "out of memory");
                return NULL;
        }
        root = json_loadb(copy, len, flags, err);
        free(copy);
        if (root == NULL)
                return NULL;
        index_numbers(root, &seen);
        /* Every token was blanked only in a value's place, so jansson made
         * exactly one integer node of each. Were that ever not so, numbers
         * would meet the wrong literals: refuse the document rather than
         * read a wrong value, in release builds too. */
        if (seen != ret_nums->n) {
                log_msg(LOG_ERROR, "json_numbers", "%zu number tokens but %zu number values",
                        ret_nums->n, seen);
                json_decref(root);
                memset(err, 0, sizeof(*err));
                strcpy(err->text, "numbers could not be read exactly");
                return NULL;
        }
        return root;
}

bool
jx_number(const struct jx_numbers *nums, const json_t *v, const char **ret_text, size_t *ret_len)
{
        json_int_t i;

        if (!json_is_integer(v))
                return false;
        i = json_integer_value(v);
        if (i < 0 || (size_t)i >= nums->n)
                return false;
        *ret_text = nums->text + nums->v[i].off;
        *ret_len = nums->v[i].len;
        return true;
}

/* ---- writing ---- */

static void
put_piece(void *cls, const char *s, size_t n)
{
        jw_text(cls, s, n);
}

static int
key_cmp(const void *a, const void *b)
{
        return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void write_value(struct jw *w, const json_t *v, const struct jx_numbers *nums,
                        enum jx_form form);

static void
write_member(struct jw *w, const json_t *obj, const char *key, bool first,
             const struct jx_numbers *nums, enum jx_form form)
{
        if (!first)
                jw_text(w, ",", 1);
        jw_text_str(w, key, strlen(key));
        jw_text(w, ":", 1);
        write_value(w, json_object_get(obj, key), nums, form);
}

static void
write_object(struct jw *w, const json_t *v, const struct jx_numbers *nums, enum jx_form form)
{
        size_t n = json_object_size(v), i = 0;
        const char **keys = NULL;
        const char *key;
        json_t *x;

        jw_text(w, "{", 1);
        if (form == JX_CANONICAL && n > 1) {
                keys = malloc(n * sizeof(*keys));
                if (keys == NULL) {
                        jw_fail(w);
                        return;
                }
        }
        json_object_foreach((json_t *)(uintptr_t)v, key, x)
        {
                if (keys != NULL)
                        keys[i] = key;
                else
                        write_member(w, v, key, i == 0, nums, form);
                i++;
        }
        if (keys != NULL) {
                qsort(keys, n, sizeof(*keys), key_cmp);
                for (i = 0; i < n; i++)
                        write_member(w, v, keys[i], i == 0, nums, form);
                free(keys);
        }
        jw_text(w, "}", 1);
}

static void
write_value(struct jw *w, const json_t *v, const struct jx_numbers *nums, enum jx_form form)
{
        const char *t;
        size_t n, i;
        json_t *x;

        switch (json_typeof(v)) {
        case JSON_OBJECT: write_object(w, v, nums, form); return;
        case JSON_ARRAY:
                jw_text(w, "[", 1);
                json_array_foreach(v, i, x)
                {
                        if (i > 0)
                                jw_text(w, ",", 1);
                        write_value(w, x, nums, form);
                }
                jw_text(w, "]", 1);
                return;
        case JSON_STRING: jw_text_str(w, json_string_value(v), json_string_length(v)); return;
        case JSON_TRUE: jw_text(w, "true", 4); return;
        case JSON_FALSE: jw_text(w, "false", 5); return;
        case JSON_NULL: jw_text(w, "null", 4); return;
        default:
                /* A number: only trees from jx_load reach here, whose
                 * numbers are all indexed. */
                if (!jx_number(nums, v, &t, &n)) {
                        assert(!"a number node without its literal");
                        jw_fail(w); /* never a number written as something else */
                } else if (form == JX_CANONICAL) {
                        jnum_canonical(t, n, put_piece, w);
                } else {
                        jw_text(w, t, n);
                }
                return;
        }
}

void
jx_write(struct jw *w, const json_t *v, const struct jx_numbers *nums, enum jx_form form)
{
        write_value(w, v, nums, form);
}
