#!/usr/bin/env bash
# A throwaway PostgreSQL server on loopback, for the store tests and bench/store_load.py.
#
#   .ci/postgres.sh start [--install]   prints "URL DATADIR" (postgresql://rlhf@127.0.0.1:PORT/rlhf)
#   .ci/postgres.sh stop DATADIR        stops it and removes DATADIR
#
# Uses Debian's server binaries (/usr/lib/postgresql/*/bin, or pg_ctl on PATH); with
# --install, `apt-get install -y postgresql` first when there are none. PostgreSQL refuses
# to run as root: as root, the server runs as the `postgres` system user (created if
# missing). Trust authentication on 127.0.0.1 only; the data lives in a temp folder.
set -euo pipefail

pg_bin() {
    if command -v pg_ctl >/dev/null 2>&1 && command -v initdb >/dev/null 2>&1; then
        dirname "$(readlink -f "$(command -v pg_ctl)")"
        return
    fi
    ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1
}

as_owner() {  # run a server command as a user PostgreSQL accepts
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

case "${1:-}" in
start)
    BIN="$(pg_bin)"
    if [ -z "$BIN" ] || [ ! -x "$BIN/initdb" ]; then
        if [ "${2:-}" != "--install" ]; then
            echo "no PostgreSQL server binaries (initdb, pg_ctl) found" >&2
            exit 3
        fi
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq >&2
        apt-get install -y -qq postgresql >&2
        BIN="$(pg_bin)"
    fi
    if [ "$(id -u)" = 0 ] && ! id postgres >/dev/null 2>&1; then
        useradd --system --user-group --no-create-home --shell /usr/sbin/nologin postgres
    fi
    DIR="$(mktemp -d /tmp/rlhf-pg.XXXXXX)"
    chmod 755 "$DIR"
    [ "$(id -u)" = 0 ] && chown postgres: "$DIR"
    PORT="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
    as_owner "$BIN/initdb" -D "$DIR/data" -U rlhf --auth=trust -E UTF8 >"$DIR/initdb.log" 2>&1 \
        || { cat "$DIR/initdb.log" >&2; exit 1; }
    as_owner "$BIN/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w -t 60 \
        -o "-c listen_addresses=127.0.0.1 -p $PORT -k $DIR -c max_connections=200" start >&2 \
        || { cat "$DIR/server.log" >&2; exit 1; }
    as_owner "$BIN/psql" -q -h 127.0.0.1 -p "$PORT" -U rlhf -d postgres -c "CREATE DATABASE rlhf" >&2
    echo "postgresql://rlhf@127.0.0.1:$PORT/rlhf $DIR"
    ;;
stop)
    DIR="${2:?usage: $0 stop DATADIR}"
    BIN="$(pg_bin)"
    as_owner "$BIN/pg_ctl" -D "$DIR/data" -m fast -w stop >&2 || true
    rm -rf "$DIR"
    ;;
*)
    echo "usage: $0 start [--install] | stop DATADIR" >&2
    exit 2
    ;;
esac
