# tradestore's container image, in two stages: a Debian bookworm stage that
# builds the release binary with meson, and a bookworm-slim stage that runs it
# with only the shared libraries it links, as a non-root user, with the
# database and its backups on the /data volume.
#
#   docker build -t tradestore .
#   docker run -d --name tradestore -v tradestore-data:/data -p 8080:8080 tradestore
#
# Written for plain `docker build` and buildah alike: no BuildKit-only syntax
# (no COPY --link, no RUN heredocs, no cache mounts).

# ---- build -----------------------------------------------------------------
FROM debian:bookworm AS build

# The toolchain and -dev packages first, so editing a source file does not
# re-download them. The tests are not built here (-Dtests=disabled).
ARG DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
        gcc libc6-dev pkg-config meson ninja-build python3 \
        libmicrohttpd-dev libjansson-dev libsqlite3-dev libyaml-dev libpq-dev \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /src
COPY . .

# Only the server binary: the test executables need a test environment.
RUN meson setup build --buildtype=release -Db_ndebug=true -Dtests=disabled \
 && ninja -C build tradestore \
 && strip --strip-unneeded build/tradestore

# ---- run -------------------------------------------------------------------
FROM debian:bookworm-slim

# The runtime halves of the -dev packages above, nothing else: no curl, no
# shell tools beyond the base; `tradestore healthcheck` is the probe.
ARG DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
        libmicrohttpd12 libjansson4 libsqlite3-0 libyaml-0-2 libpq5 \
 && rm -rf /var/lib/apt/lists/*

# A fixed uid/gid, so a bind-mounted host folder can be chowned to match
# (chown -R 10001:10001 ./data). /data is created here, owned by that user,
# so a new named volume starts out with that ownership too.
RUN groupadd --system --gid 10001 tradestore \
 && useradd --system --uid 10001 --gid tradestore --home-dir /data \
        --no-create-home --shell /usr/sbin/nologin tradestore \
 && mkdir -p /data/backups \
 && chown -R tradestore:tradestore /data

COPY --from=build /src/build/tradestore /usr/local/bin/tradestore
# Fails the build if a shared library is missing from the list above.
RUN ["tradestore", "version"]

ENV DB_PATH=/data/tradestore.db \
    DB_BACKUP_DIR=/data/backups \
    HTTP_HOST=0.0.0.0 \
    HTTP_PORT=8080

VOLUME ["/data"]
WORKDIR /data
USER 10001:10001
EXPOSE 8080

# serve finishes the requests in flight on SIGTERM (up to 30 s) and exits 0;
# give it that long: docker stop -t 35, or stop_grace_period in compose.
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["tradestore", "healthcheck"]

ENTRYPOINT ["tradestore"]
CMD ["serve"]
