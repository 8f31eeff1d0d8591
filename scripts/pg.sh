#!/usr/bin/env bash
# A throwaway PostgreSQL 15 cluster for the tests: `scripts/pg.sh start DIR PORT` makes one under
# DIR (initdb), listening on 127.0.0.1:PORT only, and prints its URL; `scripts/pg.sh stop DIR`
# stops it and removes DIR; `scripts/pg.sh run DIR PORT -- CMD...` runs CMD with the cluster's URL
# in CONTINUUM_TEST_PG and stops the cluster afterwards, whatever CMD's outcome.
#
# Run as root, the server runs as the `postgres` system user (PostgreSQL refuses root); when that
# user cannot reach DIR (a home directory closed to others), the cluster lives in a temporary
# directory instead and DIR/cluster says where. Trust authentication is safe here: loopback only,
# and the cluster lives for one test run.
set -euo pipefail
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -n "$bin" ] || { echo "pg.sh: PostgreSQL is not installed (scripts/setup.sh installs it)" >&2; exit 1; }
cmd=${1:?start|stop|run}
dir=$(realpath -m "${2:?DIR}")
as_pg=()
[ "$(id -u)" -eq 0 ] && as_pg=(runuser -u postgres --)

stop_cluster() {
  local root
  root=$(cat "$dir/cluster" 2>/dev/null || true)
  if [ -n "$root" ] && [ -f "$root/data/postmaster.pid" ]; then
    "${as_pg[@]}" "$bin/pg_ctl" -D "$root/data" -m fast -w stop >/dev/null 2>&1 || true
  fi
  [ -n "$root" ] && [ "$root" != "$dir" ] && rm -rf "$root"
  rm -rf "$dir"
}

case "$cmd" in
  start)
    port=${3:?PORT}
    stop_cluster
    mkdir -p "$dir"
    root=$dir
    if [ "$(id -u)" -eq 0 ]; then
      chown postgres: "$dir"
      runuser -u postgres -- test -w "$dir" || root=$(mktemp -d /tmp/continuum-pg.XXXXXX)
      chown postgres: "$root"
    fi
    echo "$root" > "$dir/cluster.tmp" && mv "$dir/cluster.tmp" "$dir/cluster"
    "${as_pg[@]}" "$bin/initdb" -D "$root/data" -U continuum --auth=trust -E UTF8 --locale=C.UTF-8 >"$root/initdb.log" 2>&1 ||
      { cat "$root/initdb.log" >&2; exit 1; }
    "${as_pg[@]}" "$bin/pg_ctl" -D "$root/data" -l "$root/server.log" -w -t 60 \
      -o "-c listen_addresses=127.0.0.1 -p $port -k $root -c max_connections=400 -c shared_buffers=128MB" start >/dev/null ||
      { cat "$root/server.log" >&2; exit 1; }
    echo "postgres://continuum@127.0.0.1:$port/postgres"
    ;;
  stop)
    stop_cluster
    ;;
  run)
    port=${3:?PORT}
    [ "${4:-}" = "--" ] || { echo "pg.sh run DIR PORT -- CMD..." >&2; exit 2; }
    shift 4
    url=$("$0" start "$dir" "$port")
    trap '"$0" stop "$dir"' EXIT
    echo "pg.sh: PostgreSQL for the tests at $url"
    CONTINUUM_TEST_PG=$url "$@"
    ;;
  *) echo "pg.sh start DIR PORT | stop DIR | run DIR PORT -- CMD..." >&2; exit 2 ;;
esac
