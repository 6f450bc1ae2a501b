/* The capped body reader (see http.h): a request's body is buffered up to
 * server.max_body_bytes, and past that counted and dropped for a 413; a
 * POST, PUT or PATCH body must be a JSON object sent as application/json. */
#include "server/http_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static bool
has_body_method(const char *m)
{
        return strcmp(m, "POST") == 0 || strcmp(m, "PUT") == 0 || strcmp(m, "PATCH") == 0;
}

static bool
is_json_type(const char *ct)
{
        size_t n = strlen("application/json");

        if (ct == NULL)
                return false;
        while (*ct == ' ')
                ct++;
        if (strncasecmp(ct, "application/json", n) != 0)
                return false;
        ct += n;
        while (*ct == ' ')
                ct++;
        return *ct == '\0' || *ct == ';';
}

void
body_too_large(struct req *r)
{
        char detail[128];

        snprintf(detail, sizeof(detail), "request body exceeds the limit of %zu bytes",
                 r->srv->max_body);
        reply_problem(r, 413, detail, NULL);
}

/* Buffers a body chunk, or counts and drops it once the body is too large.
 * A dropped body is read to its end, however long: libmicrohttpd 0.9.75
 * cannot answer before then, and the client is owed its 413 (API.md). It
 * costs no memory; the connection limits and timeouts bound how long a
 * client may keep sending. Returns false when the connection should be
 * closed. */
bool
body_append(struct req *r, const char *data, size_t len)
{
        if (r->too_large) {
                r->dropped += len;
                return true;
        }
        if (r->body_len + len > r->srv->max_body) {
                /* libmicrohttpd 0.9.75 refuses a response queued while the
                 * body is still arriving (MHD_queue_response returns MHD_NO),
                 * so the 413 is queued after the last chunk (access_handler);
                 * the rest is read and dropped, never buffered. */
                r->too_large = true;
                r->dropped = r->body_len + len;
                free(r->body);
                r->body = NULL;
                r->body_len = 0;
                return true;
        }
        if (r->body_len + len + 1 > r->body_cap) {
                size_t cap = r->body_cap ? r->body_cap : 1024;
                char *nb;

                while (cap < r->body_len + len + 1)
                        cap *= 2;
                nb = realloc(r->body, cap);
                if (nb == NULL) {
                        r->too_large = true; /* 413 after the last chunk */
                        return true;
                }
                r->body = nb;
                r->body_cap = cap;
        }
        memcpy(r->body + r->body_len, data, len);
        r->body_len += len;
        r->body[r->body_len] = '\0';
        return true;
}

/* Parses the body for POST/PUT/PATCH. Returns false after replying. */
bool
body_parse(struct req *r)
{
        const char *ct =
                MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
        json_error_t jerr;
        char detail[320];

        if (!has_body_method(r->method) || (r->body_len == 0 && ct == NULL))
                return true;
        if (!is_json_type(ct)) {
                reply_problem(r, 415,
                              "the request body must be sent with "
                              "Content-Type: application/json",
                              NULL);
                return false;
        }
        if (r->body_len == 0)
                return true;
        /* Numbers keep their literal text (json_exact.h): an exact decimal
         * sent as a JSON number is read from its digits, never a double. */
        r->json = jx_load(r->body, r->body_len, JSON_REJECT_DUPLICATES, &r->numbers, &jerr);
        if (r->json == NULL) {
                snprintf(detail, sizeof(detail), "malformed JSON at line %d column %d: %s",
                         jerr.line, jerr.column, jerr.text);
                reply_problem(r, 400, detail, NULL);
                return false;
        }
        if (!json_is_object(r->json)) {
                reply_problem(r, 400, "the request body must be a JSON object", NULL);
                return false;
        }
        return true;
}
