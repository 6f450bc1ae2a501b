/* The statement caches of both backends (sqlite.c, postgres.c) key a statement
 * by the address of its static SQL text, in an open-addressed table whose
 * size is a power of two. This is the slot to start probing at. */
#ifndef TRADESTORE_SLOT_H
#define TRADESTORE_SLOT_H

#include <stddef.h>
#include <stdint.h>

static inline size_t
db_slot_index(const char *sql, size_t nslots)
{
        uintptr_t k = (uintptr_t)sql;

        k ^= k >> 17;
        k *= (uintptr_t)0x9E3779B97F4A7C15ull;
        return (size_t)(k >> 7) & (nslots - 1);
}

#endif
