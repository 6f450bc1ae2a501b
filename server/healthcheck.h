/* The client behind `tradestore healthcheck`: one GET /health against a
 * running server, for container HEALTHCHECKs and liveness probes.
 *
 * It is a plain POSIX socket client on purpose: the runtime image carries no
 * curl and the binary must not link libcurl just to ask itself one question. */
#ifndef TRADESTORE_HEALTHCHECK_H
#define TRADESTORE_HEALTHCHECK_H

/* How long `tradestore healthcheck` waits in all, unless told otherwise:
 * below the 5 s timeout the Dockerfile gives the HEALTHCHECK. */
#define HEALTHCHECK_TIMEOUT_MS 3000

/* Sends "GET /health" to host:port and reads the status line of the answer.
 * host is the server's listen address: the wildcards 0.0.0.0 and :: (and
 * NULL or "") are probed on the loopback address of that family instead;
 * a name is resolved with getaddrinfo and each address tried in turn.
 * timeout_ms bounds connecting, sending and reading together (the name
 * lookup is not bounded by it); 0 or less means HEALTHCHECK_TIMEOUT_MS.
 * Returns 0 when the status is 200; otherwise 1, after writing one line to
 * stderr that says why (connection refused, timeout, status N, ...). Writes
 * nothing on success. Thread-safe; owns nothing after it returns. */
int healthcheck_run(const char *host, int port, int timeout_ms);

#endif
