/* Bearer-token authentication with roles (see ../shared/API.md, Auth).
 * Tokens are kept only as SHA-256 digests and compared in constant time. */
#ifndef TRADESTORE_AUTH_H
#define TRADESTORE_AUTH_H

#include <stddef.h>

/* Ordered: a role allows everything a lower one does. */
enum auth_role { AUTH_NONE = 0, AUTH_READ, AUTH_WRITE, AUTH_ADMIN };

struct auth;

/* Parses spec, "role:token,role:sha256:HEX,..." (roles read, write, admin).
 * An empty spec means no authentication: *ret_auth is NULL and 0 is
 * returned. On a malformed spec returns -1 with a message in err that never
 * contains a token. Caller owns *ret_auth: auth_free. */
int auth_new(const char *spec, struct auth **ret_auth, char *err, size_t errlen);
void auth_free(struct auth *a);

/* The role of the token in an Authorization header value ("Bearer TOKEN"),
 * or AUTH_NONE when it is missing, malformed or unknown. Every configured
 * token is compared, in constant time, whatever matches. */
enum auth_role auth_check(const struct auth *a, const char *authorization);

/* "read", "write", "admin". */
const char *auth_role_name(enum auth_role role);

#endif
