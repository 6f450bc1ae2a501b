/* The route table: every endpoint of the API and its handler. */
#ifndef TRADESTORE_ROUTES_H
#define TRADESTORE_ROUTES_H

#include <stddef.h>

struct route;

/* The static table (borrowed, lives forever) and its length. */
const struct route *routes_table(size_t *ret_count);

#endif
