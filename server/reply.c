/* The reply funnel (see http.h): every answer of the service, JSON or an
 * RFC 9457 problem, is queued here, with its request id and, while the
 * server stops, Connection: close. */
#include "server/http_internal.h"

#include "common/jsonw.h"
#include "common/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *
http_status_title(unsigned status)
{
        switch (status) {
        case 200: return "OK";
        case 201: return "Created";
        case 204: return "No Content";
        case 400: return "Bad Request";
        case 401: return "Unauthorized";
        case 403: return "Forbidden";
        case 404: return "Not Found";
        case 405: return "Method Not Allowed";
        case 409: return "Conflict";
        case 413: return "Content Too Large";
        case 414: return "URI Too Long";
        case 415: return "Unsupported Media Type";
        case 422: return "Unprocessable Content";
        case 429: return "Too Many Requests";
        case 431: return "Request Header Fields Too Large";
        case 500: return "Internal Server Error";
        case 501: return "Not Implemented";
        case 503: return "Service Unavailable";
        default: return "Error";
        }
}

/* Makes s valid UTF-8 in place: every byte that does not belong to a
 * well-formed sequence becomes '?'. Client text reaches error messages (an
 * unknown field's name, cut short by snprintf, a query parameter decoded
 * from %ff), and jansson refuses invalid UTF-8. */
static void
utf8_sanitize(char *s)
{
        unsigned char *p = (unsigned char *)s;

        while (*p != '\0') {
                size_t n = *p < 0x80             ? 1
                           : (*p & 0xE0) == 0xC0 ? 2
                           : (*p & 0xF0) == 0xE0 ? 3
                           : (*p & 0xF8) == 0xF0 ? 4
                                                 : 0;
                bool ok = n > 0 && !(n == 2 && *p < 0xC2) && !(n == 4 && *p > 0xF4);

                for (size_t i = 1; ok && i < n; i++)
                        ok = (p[i] & 0xC0) == 0x80;
                if (ok && n == 3)
                        ok = !(*p == 0xE0 && p[1] < 0xA0) && !(*p == 0xED && p[1] >= 0xA0);
                if (ok && n == 4)
                        ok = !(*p == 0xF0 && p[1] < 0x90) && !(*p == 0xF4 && p[1] >= 0x90);
                if (!ok) {
                        *p++ = '?';
                        continue;
                }
                p += n;
        }
}

void
problem_add(json_t **errors, const char *field, const char *fmt, ...)
{
        char name[256];
        char msg[512];
        json_t *e;
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        snprintf(name, sizeof(name), "%s", field);
        utf8_sanitize(name);
        utf8_sanitize(msg);
        if (*errors == NULL)
                *errors = json_array();
        if (*errors == NULL)
                return;
        e = json_pack("{s:s, s:s}", "field", name, "message", msg);
        if (e == NULL) /* out of memory: the entry must still be counted */
                e = json_pack("{s:s, s:s}", "field", "?", "message", "invalid field");
        json_array_append_new(*errors, e);
}

static void
queue(struct req *r, unsigned status, const char *ctype, char *buf, size_t len, const char *hname,
      const char *hvalue)
{
        struct MHD_Response *resp;

        if (r->replied) {
                free(buf);
                return;
        }
        resp = MHD_create_response_from_buffer(len, buf, MHD_RESPMEM_MUST_FREE);
        if (resp == NULL) {
                free(buf);
                return;
        }
        if (ctype != NULL)
                MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
        if (hname != NULL)
                MHD_add_response_header(resp, hname, hvalue);
        MHD_add_response_header(resp, "X-Request-Id", r->request_id);
        if (atomic_load(&r->srv->draining))
                MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
        if (MHD_queue_response(r->conn, status, resp) != MHD_YES)
                log_msg(LOG_WARN, "http_error", "libmicrohttpd refused the %u response to %s %s",
                        status, r->method, r->path);
        MHD_destroy_response(resp);
        r->replied = true;
        r->status = status;
        r->bytes = len;
}

/* Queues what w holds as the body (w is emptied). */
static void
reply_written(struct req *r, unsigned status, const char *ctype, struct jw *w, const char *hname,
              const char *hvalue)
{
        size_t len = 0;
        char *text = jw_take(w, &len);

        if (text == NULL) {
                log_msg(LOG_ERROR, "http_error", "out of memory writing a response");
                queue(r, 503, NULL, NULL, 0, NULL, NULL);
                return;
        }
        queue(r, status, ctype, text, len, hname, hvalue);
}

void
reply_jw(struct req *r, unsigned status, struct jw *w)
{
        reply_written(r, status, "application/json", w, NULL, NULL);
}

/* The errors problem_add gathered: [{"field", "message"}, ...]. */
static void
write_errors(struct jw *w, const json_t *errors)
{
        const json_t *e;
        size_t i;

        jw_key(w, "errors");
        jw_arr(w);
        json_array_foreach(errors, i, e)
        {
                jw_obj(w);
                jw_kstr(w, "field", json_string_value(json_object_get(e, "field")));
                jw_kstr(w, "message", json_string_value(json_object_get(e, "message")));
                jw_end(w);
        }
        jw_end(w);
}

void
reply_text(struct req *r, unsigned status, const char *ctype, char *text, size_t len)
{
        queue(r, status, ctype, text, len, NULL, NULL);
}

void
reply_empty(struct req *r, unsigned status)
{
        queue(r, status, NULL, NULL, 0, NULL, NULL);
}

void
reply_problem_header(struct req *r, unsigned status, const char *detail, json_t *errors,
                     const char *hname, const char *hvalue)
{
        char text[512];
        struct jw w;

        /* Every 503 says when to try again. A full disk is the one 503 a
         * client cannot fix by retrying soon: a minute, not a second. */
        if (status == 503 && hname == NULL) {
                hname = "Retry-After";
                hvalue = "1";
        }
        if (status == 503 && db_disk_full(req_app(r)->db)) {
                detail = DB_DISK_FULL_DETAIL;
                if (strcmp(hname, "Retry-After") == 0)
                        hvalue = "60";
        }
        snprintf(text, sizeof(text), "%s", detail);
        utf8_sanitize(text); /* client text may be in it: the body must be UTF-8 */
        jw_init(&w);
        jw_obj(&w);
        jw_kstr(&w, "type", "about:blank");
        jw_kstr(&w, "title", http_status_title(status));
        jw_kint(&w, "status", status);
        jw_kstr(&w, "detail", text);
        if (errors != NULL)
                write_errors(&w, errors);
        jw_end(&w);
        json_decref(errors);
        reply_written(r, status, "application/problem+json", &w, hname, hvalue);
}

void
reply_problem(struct req *r, unsigned status, const char *detail, json_t *errors)
{
        reply_problem_header(r, status, detail, errors, NULL, NULL);
}

void
reply_unavailable(struct req *r)
{
        reply_problem(r, 503, "database unavailable, retry", NULL);
}

/* 503 for a write the writer's full queue refused (DB_OVERLOADED). */
void
reply_overloaded(struct req *r)
{
        char detail[200];

        snprintf(detail, sizeof(detail),
                 "overloaded: %d writes are already waiting for the database "
                 "(database.max_write_queue); nothing was written, retry after 1 s",
                 r->srv->max_write_queue);
        reply_problem(r, 503, detail, NULL);
}

void
reply_method_not_allowed(struct req *r, const char *allow)
{
        char detail[160];

        snprintf(detail, sizeof(detail), "method %s is not allowed here; allowed: %s", r->method,
                 allow);
        reply_problem_header(r, 405, detail, NULL, MHD_HTTP_HEADER_ALLOW, allow);
}
