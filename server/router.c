/* Routing (see http.h): the route of a request's method and path, and the
 * rules its table entry carries (server/routes.c), enforced here for every
 * route before its handler runs: the role, then the query parameters, then
 * the body. */
#include "server/http_internal.h"

#include "common/ids.h"
#include "common/log.h"
#include "server/auth.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const struct query_value *
req_arg(const struct req *r, const char *name)
{
        const struct route *rt = r->route;

        for (size_t i = 0; i < rt->nquery; i++)
                if (strcmp(rt->query[i].name, name) == 0)
                        return &r->args[i];
        assert(!"req_arg: not a query parameter of this route");
        return NULL;
}

const struct page *
req_page(const struct req *r)
{
        return &r->page;
}

/* Matches path against pattern; on success *ret_param is the decoded {param}
 * (heap, caller frees) or NULL. Returns false when the path does not match
 * or the param breaks its rules (such a URL is a 404). */
static bool
match(const struct route *rt, const char *path, char **ret_param)
{
        const char *open = strchr(rt->pattern, '{');
        const char *close, *suffix, *end;
        size_t prefix_len, plen, slen;
        bool ok;

        if (open == NULL) {
                *ret_param = NULL;
                return strcmp(rt->pattern, path) == 0;
        }
        prefix_len = (size_t)(open - rt->pattern);
        if (strncmp(rt->pattern, path, prefix_len) != 0)
                return false;
        close = strchr(open, '}');
        suffix = close + 1;
        slen = strlen(suffix);
        path += prefix_len;
        if (rt->param == PARAM_SYMBOL && slen == 0) {
                end = path + strlen(path); /* a symbol may hold '/' */
        } else {
                end = strchr(path, '/');
                if (end == NULL)
                        end = path + strlen(path);
        }
        if (strcmp(end, suffix) != 0)
                return false;
        plen = (size_t)(end - path);
        ok = rt->param == PARAM_SYMBOL ? symbol_valid(path, plen) : id_valid(path, plen);
        if (!ok)
                return false;
        *ret_param = strndup(path, plen);
        return *ret_param != NULL;
}

void
router_match(struct req *r, const char *path)
{
        size_t alen = 0;

        r->route_status = 404;
        for (size_t i = 0; i < r->srv->nroutes; i++) {
                const struct route *rt = &r->srv->routes[i];
                char *param = NULL;

                if (!match(rt, path, &param))
                        continue;
                if (r->route == NULL && rt->access > r->access)
                        r->access = rt->access; /* a 405 needs what the path needs */
                /* HEAD is served as GET; libmicrohttpd leaves out the body. */
                if (r->route == NULL &&
                    (strcmp(rt->method, r->method) == 0 ||
                     (strcmp(r->method, "HEAD") == 0 && strcmp(rt->method, "GET") == 0))) {
                        r->route = rt;
                        r->access = rt->access;
                        r->param = param;
                        r->route_status = 0;
                        continue;
                }
                free(param);
                if (strstr(r->allow, rt->method) == NULL &&
                    alen + strlen(rt->method) + 3 < sizeof(r->allow)) {
                        alen += (size_t)snprintf(r->allow + alen, sizeof(r->allow) - alen, "%s%s",
                                                 alen ? ", " : "", rt->method);
                }
        }
        if (r->route == NULL && alen > 0)
                r->route_status = 405;
        if (r->route_status == 404)
                r->access = ACCESS_READ; /* an unknown path tells nothing to strangers */
}

bool
router_table_ok(const struct route *routes, size_t n)
{
        for (size_t i = 0; i < n; i++)
                if (routes[i].access == ACCESS_UNSET) {
                        log_msg(LOG_ERROR, "http_start_failed", "route %s %s has no access rule",
                                routes[i].method, routes[i].pattern);
                        return false;
                }
        return true;
}

/* The least role the request needs: its route's rule (API.md, Auth). */
static enum auth_role
required_role(const struct req *r)
{
        switch (r->access) {
        case ACCESS_METRICS: return r->srv->protect_metrics ? AUTH_READ : AUTH_NONE;
        case ACCESS_READ: return AUTH_READ;
        case ACCESS_WRITE: return AUTH_WRITE;
        case ACCESS_ADMIN: return AUTH_ADMIN;
        default: return AUTH_NONE;
        }
}

/* Validates the query string against the route's rules into r->args and
 * r->page. Returns false after replying 400 naming each bad parameter. */
static bool
args_ok(struct req *r)
{
        const struct route *rt = r->route;
        json_t *errors = NULL;

        r->args = req_alloc(r, (rt->nquery > 0 ? rt->nquery : 1) * sizeof(*r->args));
        if (r->args == NULL) {
                reply_problem(r, 503, "out of memory", NULL);
                return false;
        }
        if (parse_query(&r->query, rt->query, rt->nquery, rt->paged, r->args, &r->page, &errors))
                return true;
        reply_invalid(r, errors);
        return false;
}

/* Returns false after replying 401 or 403. */
bool
router_authorize(struct req *r)
{
        enum auth_role need, have;
        char detail[160];

        if (r->srv->auth == NULL || (need = required_role(r)) == AUTH_NONE)
                return true;
        have = auth_check(r->srv->auth, MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND,
                                                                    MHD_HTTP_HEADER_AUTHORIZATION));
        if (have == AUTH_NONE) {
                reply_problem_header(r, 401,
                                     "a valid bearer token is required: send "
                                     "Authorization: Bearer <token>",
                                     NULL, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
                return false;
        }
        if (have < need) {
                snprintf(detail, sizeof(detail),
                         "this token has the %s role; %s %s needs the %s role",
                         auth_role_name(have), r->method, r->route ? r->route->pattern : r->path,
                         auth_role_name(need));
                reply_problem(r, 403, detail, NULL);
                return false;
        }
        return true;
}

void
router_dispatch(struct req *r)
{
        if (r->route_status == 404) {
                reply_problem(r, 404, "no such resource", NULL);
                return;
        }
        if (r->route_status == 405) {
                reply_method_not_allowed(r, r->allow);
                return;
        }
        if (!args_ok(r) || !body_parse(r))
                return;
        r->route->handler(r);
        if (!r->replied && !r->suspended) {
                log_msg(LOG_ERROR, "http_error", "handler for %s %s did not reply",
                        r->route->method, r->route->pattern);
                reply_problem(r, 503, "the request could not be completed", NULL);
        }
}
