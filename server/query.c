/* A request's query string (see query.h). */
#include "server/query.h"

#include <stdlib.h>
#include <string.h>

static int
hex_value(char ch)
{
        if (ch >= '0' && ch <= '9')
                return ch - '0';
        if (ch >= 'a' && ch <= 'f')
                return ch - 'a' + 10;
        if (ch >= 'A' && ch <= 'F')
                return ch - 'A' + 10;
        return -1;
}

/* Decodes s in place: '+' is a space, %XX a byte; a '%' not followed by
 * two hex digits stays as it is. A decoded NUL ends the string. */
static void
unescape(char *s)
{
        char *out = s;

        for (; *s != '\0'; s++) {
                int hi, lo;

                if (*s == '+') {
                        *out++ = ' ';
                } else if (*s == '%' && (hi = hex_value(s[1])) >= 0 &&
                           (lo = hex_value(s[2])) >= 0) {
                        *out++ = (char)(hi * 16 + lo);
                        s += 2;
                } else {
                        *out++ = *s;
                }
        }
        *out = '\0';
}

void
query_clear(struct query *q)
{
        free(q->text);
        memset(q, 0, sizeof(*q));
}

enum query_status
query_parse(const char *s, size_t len, struct query *ret, const char **ret_key)
{
        char *seg, *next;

        query_clear(ret);
        if (len > QUERY_MAX_BYTES)
                return QUERY_TOO_LONG;
        ret->text = malloc(len + 1);
        if (ret->text == NULL)
                return QUERY_NO_MEMORY;
        memcpy(ret->text, s, len);
        ret->text[len] = '\0';
        for (seg = ret->text; seg != NULL; seg = next) {
                char *eq;

                next = strchr(seg, '&');
                if (next != NULL)
                        *next++ = '\0';
                if (*seg == '\0')
                        continue;
                if (ret->n == QUERY_MAX_PARAMS)
                        return QUERY_TOO_MANY;
                eq = strchr(seg, '=');
                if (eq != NULL) {
                        *eq++ = '\0';
                        unescape(eq);
                }
                unescape(seg);
                ret->v[ret->n++] = (struct query_param){ .key = seg, .value = eq };
        }
        /* At most QUERY_MAX_PARAMS^2 / 2 comparisons of short keys. */
        for (size_t i = 1; i < ret->n; i++)
                for (size_t j = 0; j < i; j++)
                        if (strcmp(ret->v[i].key, ret->v[j].key) == 0) {
                                *ret_key = ret->v[i].key;
                                return QUERY_TWICE;
                        }
        return QUERY_OK;
}

const char *
query_get(const struct query *q, const char *key)
{
        for (size_t i = 0; i < q->n; i++)
                if (strcmp(q->v[i].key, key) == 0)
                        return q->v[i].value;
        return NULL;
}
