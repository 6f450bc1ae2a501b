/* Bearer tokens with roles (see auth.h). */
#include "server/auth.h"

#include "common/sha256.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_TOKENS 64

struct token {
        enum auth_role role;
        unsigned char digest[SHA256_DIGEST_LEN];
};

struct auth {
        struct token tokens[MAX_TOKENS];
        size_t n;
};

const char *
auth_role_name(enum auth_role role)
{
        switch (role) {
        case AUTH_READ: return "read";
        case AUTH_WRITE: return "write";
        case AUTH_ADMIN: return "admin";
        default: return "none";
        }
}

static int
hex_digest(const char *hex, size_t len, unsigned char out[SHA256_DIGEST_LEN])
{
        if (len != SHA256_HEX_LEN)
                return -1;
        for (size_t i = 0; i < SHA256_DIGEST_LEN; i++) {
                unsigned v = 0;

                for (size_t k = 0; k < 2; k++) {
                        char ch = (char)tolower((unsigned char)hex[2 * i + k]);

                        if (ch >= '0' && ch <= '9')
                                v = v * 16 + (unsigned)(ch - '0');
                        else if (ch >= 'a' && ch <= 'f')
                                v = v * 16 + (unsigned)(ch - 'a' + 10);
                        else
                                return -1;
                }
                out[i] = (unsigned char)v;
        }
        return 0;
}

/* Parses one "role:token" or "role:sha256:HEX" entry of length len. */
static int
parse_entry(const char *e, size_t len, struct token *ret, size_t index, char *err, size_t errlen)
{
        const char *colon = memchr(e, ':', len);
        size_t rlen = colon ? (size_t)(colon - e) : len;
        const char *secret;
        size_t slen;

        if (colon == NULL || colon + 1 == e + len) {
                snprintf(err, errlen, "auth.tokens: entry %zu must be role:token", index + 1);
                return -1;
        }
        if (rlen == 4 && strncmp(e, "read", 4) == 0)
                ret->role = AUTH_READ;
        else if (rlen == 5 && strncmp(e, "write", 5) == 0)
                ret->role = AUTH_WRITE;
        else if (rlen == 5 && strncmp(e, "admin", 5) == 0)
                ret->role = AUTH_ADMIN;
        else {
                /* The text is not echoed: with role and token swapped it is
                 * the token. */
                snprintf(err, errlen,
                         "auth.tokens: entry %zu has an unknown role (allowed: read, write, "
                         "admin; the form is role:token)",
                         index + 1);
                return -1;
        }
        secret = colon + 1;
        slen = len - rlen - 1;
        if (slen > 7 && strncmp(secret, "sha256:", 7) == 0) {
                if (hex_digest(secret + 7, slen - 7, ret->digest) != 0) {
                        snprintf(err, errlen,
                                 "auth.tokens: entry %zu: sha256: must be followed by 64 hex "
                                 "digits",
                                 index + 1);
                        return -1;
                }
                return 0;
        }
        sha256(secret, slen, ret->digest);
        return 0;
}

int
auth_new(const char *spec, struct auth **ret_auth, char *err, size_t errlen)
{
        struct auth *a;
        const char *p = spec;

        if (spec == NULL || *spec == '\0') {
                *ret_auth = NULL;
                return 0;
        }
        a = calloc(1, sizeof(*a));
        if (a == NULL) {
                snprintf(err, errlen, "out of memory");
                return -1;
        }
        while (*p != '\0') {
                const char *end = strchr(p, ',');
                size_t len = end ? (size_t)(end - p) : strlen(p);

                while (len > 0 && *p == ' ') {
                        p++;
                        len--;
                }
                while (len > 0 && p[len - 1] == ' ')
                        len--;
                if (a->n == MAX_TOKENS) {
                        snprintf(err, errlen, "auth.tokens: at most %d tokens", MAX_TOKENS);
                        goto fail;
                }
                if (parse_entry(p, len, &a->tokens[a->n], a->n, err, errlen) != 0)
                        goto fail;
                a->n++;
                p += len;
                while (*p == ' ')
                        p++;
                if (*p == ',')
                        p++;
        }
        *ret_auth = a;
        return 0;
fail:
        auth_free(a);
        return -1;
}

void
auth_free(struct auth *a)
{
        if (a == NULL)
                return;
        /* Scrub the digests: they are as good as the tokens to an attacker
         * who can replay the hash comparison. */
        memset(a, 0, sizeof(*a));
        free(a);
}

enum auth_role
auth_check(const struct auth *a, const char *authorization)
{
        unsigned char digest[SHA256_DIGEST_LEN];
        enum auth_role role = AUTH_NONE;
        const char *tok;

        if (authorization == NULL || strncasecmp(authorization, "Bearer ", 7) != 0)
                return AUTH_NONE;
        tok = authorization + 7;
        while (*tok == ' ')
                tok++;
        if (*tok == '\0')
                return AUTH_NONE;
        sha256(tok, strlen(tok), digest);
        for (size_t i = 0; i < a->n; i++) {
                unsigned char diff = 0;

                for (size_t k = 0; k < SHA256_DIGEST_LEN; k++)
                        diff |= (unsigned char)(digest[k] ^ a->tokens[i].digest[k]);
                /* No early exit: every token costs the same whether it matches. */
                if (diff == 0 && a->tokens[i].role > role)
                        role = a->tokens[i].role;
        }
        return role;
}
