/* SHA-256 (FIPS 180-4), small and self-contained.
 *
 * Used to fingerprint migration scripts so that an applied migration that was
 * edited afterwards is noticed. Not constant-time and not meant for secrets. */
#ifndef TRADESTORE_SHA256_H
#define TRADESTORE_SHA256_H

#include <stddef.h>

#define SHA256_DIGEST_LEN 32
#define SHA256_HEX_LEN 64

/* Writes the 32-byte digest of data[0..len) to out. data may be NULL when
 * len is 0. */
void sha256(const void *data, size_t len, unsigned char out[SHA256_DIGEST_LEN]);

/* Writes the digest of data[0..len) to out as 64 lower-case hex digits and a
 * terminating NUL. */
void sha256_hex(const void *data, size_t len, char out[SHA256_HEX_LEN + 1]);

#endif
