/* Opaque list cursors for keyset pagination on (int64 key, text id).
 *
 * A cursor names the last row of a page: base64url without padding of
 * "<key>:<id>", key in decimal. Clients treat it as opaque; the server
 * decodes it strictly and treats anything malformed as a 400. The id is an
 * id (1-64 of [A-Za-z0-9._:-]) or, for lists keyed by symbol or asset, a
 * symbol (1-32 of [A-Za-z0-9._/-]), so any mix of those characters is
 * accepted up to 64. */
#ifndef TRADESTORE_CURSOR_H
#define TRADESTORE_CURSOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CURSOR_BUFSZ 160
#define CURSOR_ID_BUFSZ 65

/* Writes the NUL-terminated cursor for (key, id) into buf and returns its
 * length. id must be NUL-terminated, 1-64 characters of [A-Za-z0-9._:/-];
 * any other id writes "" and returns 0. */
size_t cursor_encode(int64_t key, const char *id, char buf[CURSOR_BUFSZ]);

/* Decodes the NUL-terminated cursor s. False for anything malformed: longer
 * than any cursor cursor_encode makes, not strict base64url without padding,
 * no ':', a key that is not canonical decimal int64 text, or a bad id. Reads
 * at most CURSOR_BUFSZ bytes of s. Writes *ret_key and ret_id (NUL-
 * terminated) only on success. */
bool cursor_decode(const char *s, int64_t *ret_key, char ret_id[CURSOR_ID_BUFSZ]);

#endif
