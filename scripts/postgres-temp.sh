#!/usr/bin/env bash
# A throwaway PostgreSQL server for tests: a new cluster in DIR listening on 127.0.0.1:PORT (and a
# socket in DIR), trust authentication, superuser `memory3`, durability off (tests only).
#
#   scripts/postgres-temp.sh start DIR PORT   # prints the store URL: postgres://memory3@127.0.0.1:PORT/postgres
#   scripts/postgres-temp.sh stop DIR
#
# The server holds none of the caller's descriptors (a caller reading this script's output through a
# pipe sees it end). PostgreSQL refuses to run as root: as root the server runs as the `postgres` user (Debian's
# postgresql package makes it). Needs initdb, pg_ctl and postgres on PATH or in
# /usr/lib/postgresql/*/bin (Debian: apt-get install postgresql-15).
set -euo pipefail
command="${1:-}"
dir="${2:-}"
if [[ -z "$command" || -z "$dir" ]]; then
  echo "usage: $0 start DIR PORT | stop DIR" >&2
  exit 2
fi
bin=""
if ! command -v initdb >/dev/null 2>&1; then
  bin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)"
  if [[ -z "$bin" ]]; then echo "postgres-temp: no initdb found (apt-get install postgresql-15)" >&2; exit 3; fi
  bin="$bin/"
fi
as_owner() {
  if [[ "$(id -u)" == 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}
case "$command" in
  start)
    port="${3:?usage: $0 start DIR PORT}"
    mkdir -p "$dir"
    if [[ "$(id -u)" == 0 ]]; then
      chown postgres "$dir"
      if ! runuser -u postgres -- test -w "$dir"; then
        echo "postgres-temp: the postgres user cannot reach $dir (a parent directory is private)" >&2
        exit 1
      fi
    fi
    if [[ ! -f "$dir/data/PG_VERSION" ]]; then
      as_owner "${bin}initdb" -D "$dir/data" -U memory3 -A trust -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 \
        || { cat "$dir/initdb.log" >&2; exit 1; }
    fi
    as_owner "${bin}pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
      -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
      start </dev/null >"$dir/pg_ctl.log" 2>&1 || { cat "$dir/pg_ctl.log" "$dir/server.log" >&2; exit 1; }
    echo "postgres://memory3@127.0.0.1:$port/postgres"
    ;;
  stop)
    if [[ -f "$dir/data/postmaster.pid" ]]; then
      as_owner "${bin}pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
    fi
    ;;
  *)
    echo "usage: $0 start DIR PORT | stop DIR" >&2
    exit 2
    ;;
esac
