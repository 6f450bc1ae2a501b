/* JSON documents whose numbers keep their literal text.
 *
 * jansson parses the document's structure, but it would read every number
 * into a double or a json_int_t: 0.1 would come back as 0.10000000000000001,
 * 123456789012345678901234567890 would be refused as too big, and an exact
 * decimal sent as a JSON number would be rounded before we saw it. So before
 * jansson sees the text, a pre-pass records every number token in document
 * order and overwrites it, in a copy, with "0" and spaces (same length, so
 * jansson's line and column in errors stay true). After parsing, a walk in
 * document order (jansson keeps object members in insertion order, and
 * JSON_REJECT_DUPLICATES or not, each token is one node) sets each number
 * node's integer value to the index of its literal in a jx_numbers table.
 *
 * So a number node of such a tree means nothing by itself: read it only
 * with jx_number (its literal) and write the tree only with jx_write. */
#ifndef TRADESTORE_SERVER_JSON_EXACT_H
#define TRADESTORE_SERVER_JSON_EXACT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

struct jw;

/* The literals of a tree's numbers, as offsets into the parsed text (which
 * must outlive the table's use). */
struct jx_numbers {
        const char *text;
        size_t n;
        size_t cap;
        struct jx_span {
                uint32_t off;
                uint32_t len;
        } * v;
};

/* Parses text (len bytes, at most UINT32_MAX) with jansson's flags; the
 * numbers' literals go to *ret_nums (cleared first; clear it with
 * jx_numbers_clear whatever the result). A new reference, or NULL with *err
 * filled as json_loadb fills it. */
json_t *jx_load(const char *text, size_t len, size_t flags, struct jx_numbers *ret_nums,
                json_error_t *err);

void jx_numbers_clear(struct jx_numbers *nums);

/* The literal text of number node v of a tree that jx_load made with nums
 * (borrowed; not NUL-terminated). False when v is not such a node. */
bool jx_number(const struct jx_numbers *nums, const json_t *v, const char **ret_text,
               size_t *ret_len);

enum jx_form {
        JX_AS_SENT,   /* members in their order, numbers as their literals */
        JX_CANONICAL, /* members sorted by key (bytewise), numbers in jnum_canonical form */
};

/* Appends v as compact JSON text to w (with jw_text: not as a jw value).
 * Two trees have equal JX_CANONICAL texts exactly when they hold the same
 * members, strings and numbers (0.10 and 1e-1 are the same number). A
 * failure (out of memory) is left in w for jw_take to report. */
void jx_write(struct jw *w, const json_t *v, const struct jx_numbers *nums, enum jx_form form);

#endif
