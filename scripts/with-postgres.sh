#!/usr/bin/env bash
# Run a command with a throwaway PostgreSQL server, its URL in BOTOPS_TEST_POSTGRES_URL.
#
# Installs PostgreSQL with apt-get when it is missing and we are root. Outside CI a machine
# without PostgreSQL still runs the suite (tests marked `postgres` are skipped); in CI
# (CI=true) a missing server is an error, so the multi-replica tests can never be silently
# skipped there.
set -euo pipefail

find_pg_bin() {
  ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1
}

pg_bin=$(find_pg_bin || true)
if [ -z "$pg_bin" ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "with-postgres: installing PostgreSQL" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq postgresql >/dev/null
  pg_bin=$(find_pg_bin || true)
fi
if [ -z "$pg_bin" ]; then
  if [ "${CI:-}" = "true" ]; then
    echo "with-postgres: PostgreSQL is not available and cannot be installed" >&2
    exit 1
  fi
  echo "with-postgres: no PostgreSQL; tests marked 'postgres' will be skipped" >&2
  exec "$@"
fi

work=$(mktemp -d /tmp/botops-pg.XXXXXX)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
as_pg=()
if [ "$(id -u)" = 0 ]; then  # PostgreSQL refuses to run as root
  id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres
  chown postgres "$work"
  as_pg=(runuser -u postgres --)
fi
cleanup() {
  "${as_pg[@]}" "$pg_bin/pg_ctl" -D "$work/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
"${as_pg[@]}" "$pg_bin/initdb" -D "$work/data" -U botops --auth=trust -E UTF8 >/dev/null
"${as_pg[@]}" "$pg_bin/pg_ctl" -D "$work/data" -l "$work/log" -w \
  -o "-p $port -k $work -c listen_addresses=127.0.0.1 -c fsync=off" start >/dev/null
export BOTOPS_TEST_POSTGRES_URL="postgresql+psycopg://botops@127.0.0.1:$port/postgres"
echo "with-postgres: PostgreSQL $("$pg_bin/postgres" --version | awk '{print $3}') on port $port" >&2
"$@"
