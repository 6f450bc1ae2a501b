/* Identifier rules and UUIDv7 generation.
 *
 * Ids (quote_id, order_id, fill_id, event_id) are 1-64 characters of
 * [A-Za-z0-9._:-]; symbols and assets are 1-32 characters of
 * [A-Za-z0-9._/-]. When a client sends no id, the server makes an RFC 9562
 * UUIDv7, whose text sorts by creation time. */
#ifndef TRADESTORE_IDS_H
#define TRADESTORE_IDS_H

#include <stdbool.h>
#include <stddef.h>

#define ID_MAX_LEN 64
#define SYMBOL_MAX_LEN 32
#define ID_BUFSZ (ID_MAX_LEN + 1)         /* an id and its NUL */
#define SYMBOL_BUFSZ (SYMBOL_MAX_LEN + 1) /* a symbol or asset and its NUL */
#define ID_UUID_BUFSZ 37

/* True when len bytes of s (no NUL needed) are a valid id. */
bool id_valid(const char *s, size_t len);

/* True when len bytes of s (no NUL needed) are a valid symbol or asset. */
bool symbol_valid(const char *s, size_t len);

/* Writes a new lowercase UUIDv7 ("xxxxxxxx-xxxx-7xxx-[89ab]xxx-xxxxxxxxxxxx",
 * NUL-terminated) into buf: 48 bits of Unix milliseconds, then a 12-bit
 * counter that keeps ids made by one thread in creation order (even within
 * one millisecond or if the clock steps back), then 62 random bits from
 * getrandom(2). Thread-safe (the state is per thread) and safe across
 * fork (a child never repeats its parent's random bits). Aborts only if the
 * kernel can give no random bytes at all, as no safe id can then be made. */
void id_uuidv7(char buf[ID_UUID_BUFSZ]);

#endif
