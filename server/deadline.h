/* Whole-phase deadlines for client connections, which libmicrohttpd 0.9.75
 * does not have: its timeout is one of inactivity, so a client that sends a
 * byte a second (slowloris) keeps a connection forever.
 *
 * Like HAProxy's `timeout http-request`, the header deadline runs from the
 * moment a connection is ready for a request (accepted, or its previous
 * answer sent) to the end of the request's headers, so it also bounds how
 * long a kept-alive connection may idle. A body must then arrive at
 * min_body_rate bytes a second on average, after a grace of the header
 * deadline. While the server works on a request (its turn) nothing is
 * timed. A sweeper thread checks every connection four times a second and
 * cuts a late one with shutdown(2); libmicrohttpd then sees the socket end
 * and closes the connection itself. */
#ifndef TRADESTORE_SERVER_DEADLINE_H
#define TRADESTORE_SERVER_DEADLINE_H

#include <stddef.h>

struct deadlines;
struct conn_watch;

/* Starts the sweeper. header_s > 0; min_body_rate in bytes a second, 0 for
 * none. Caller owns the result (deadlines_stop). NULL on failure. */
struct deadlines *deadlines_start(int header_s, int min_body_rate);

/* Stops the sweeper and frees d; every watch must have been removed.
 * Accepts NULL. */
void deadlines_stop(struct deadlines *d);

/* Starts watching socket fd, in the header phase. NULL on out-of-memory
 * (the connection is then not timed). Remove it before fd is closed. */
struct conn_watch *deadlines_add(struct deadlines *d, int fd);
void deadlines_remove(struct deadlines *d, struct conn_watch *w);

/* Phase changes; each accepts NULL. */
void conn_watch_head(struct conn_watch *w);                 /* waiting for a request, from now */
void conn_watch_body(struct conn_watch *w);                 /* receiving a body, from now */
void conn_watch_busy(struct conn_watch *w);                 /* the server's turn: untimed */
void conn_watch_body_bytes(struct conn_watch *w, size_t n); /* n more body bytes */

/* Connections cut so far for each reason. */
void deadlines_counts(struct deadlines *d, unsigned long *ret_header, unsigned long *ret_body);

#endif
