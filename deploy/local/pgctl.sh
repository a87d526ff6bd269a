#!/usr/bin/env bash
# A private PostgreSQL under a directory of our own, using Debian's server binaries and
# touching no system service. Used by `make run` (deploy/local/run.sh) and by the
# integration tests.
#
#   pgctl.sh init  DIR          initdb into DIR/data (superuser "tern", trust auth on
#                               loopback and the socket in DIR)
#   pgctl.sh start DIR PORT     start on 127.0.0.1:PORT, socket in DIR; creates db "tern"
#   pgctl.sh stop  DIR          fast shutdown (waits)
#   pgctl.sh kill  DIR          immediate shutdown, as a crash would
#
# PostgreSQL refuses to run as root; as root the server runs as the "postgres" user that
# Debian's package creates. TERN_PG_FSYNC=off makes throwaway test clusters faster.
set -euo pipefail

cmd=${1:?usage: pgctl.sh init|start|stop|kill DIR [PORT]}
dir=${2:?DIR missing}
port=${3:-}

bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
[ -n "$bindir" ] || { echo "pgctl: PostgreSQL server binaries not found (make deps)" >&2; exit 1; }

as_pg() {
  if [ "$(id -u)" = 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

case "$cmd" in
  init)
    mkdir -p "$dir"
    if [ "$(id -u)" = 0 ]; then chown postgres: "$dir"; fi
    chmod 0755 "$dir"
    if [ ! -f "$dir/data/PG_VERSION" ]; then
      as_pg "$bindir/initdb" -D "$dir/data" -U tern --auth=trust -E UTF8 --locale=C.UTF-8 \
        >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; exit 1; }
    fi
    ;;
  start)
    [ -n "$port" ] || { echo "pgctl: start needs a PORT" >&2; exit 1; }
    opts="-p $port -k $dir -c listen_addresses=127.0.0.1 -c max_connections=200"
    if [ "${TERN_PG_FSYNC:-on}" = off ]; then
      opts="$opts -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    fi
    as_pg "$bindir/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t 60 -o "$opts" start \
      >/dev/null || { tail -n 20 "$dir/postgres.log" >&2; exit 1; }
    if ! as_pg "$bindir/psql" -h "$dir" -p "$port" -U tern -d postgres -tAc \
        "SELECT 1 FROM pg_database WHERE datname = 'tern'" | grep -q 1; then
      as_pg "$bindir/createdb" -h "$dir" -p "$port" -U tern tern
    fi
    ;;
  stop)
    if [ -f "$dir/data/postmaster.pid" ]; then
      as_pg "$bindir/pg_ctl" -D "$dir/data" -m fast -w -t 60 stop >/dev/null || true
    fi
    ;;
  kill)
    if [ -f "$dir/data/postmaster.pid" ]; then
      as_pg "$bindir/pg_ctl" -D "$dir/data" -m immediate -w -t 60 stop >/dev/null || true
    fi
    ;;
  *)
    echo "pgctl: unknown command $cmd" >&2
    exit 1
    ;;
esac
