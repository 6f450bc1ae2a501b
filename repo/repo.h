/* What every repo function returns, and the handful of types the repo layer
 * shares. repo/ is the only place SQL text lives; it takes and returns plain
 * C structs and never sees JSON or HTTP. */
#ifndef TRADESTORE_REPO_H
#define TRADESTORE_REPO_H

/* The database (db/db.h); request code passes it to repo's reads and never
 * holds a connection. */
struct db;
struct db_conn;

enum repo_status {
        REPO_OK = 0,
        REPO_NOT_FOUND,
        REPO_CONFLICT,
        REPO_INVALID,
        REPO_BUSY,
        REPO_ERROR,
};

#endif
