# What the benchmark scripts in bench/ share; each sources it after reading its arguments, with
# BENCH_NAME set to the name its messages start with.
#
#   bench_work PREFIX      a fresh work directory in $WORK, removed on exit with everything
#                          the script registered: processes in PIDS, databases in PGDBS
#   pg_database NAME       creates a PostgreSQL database (dropped on exit) and sets DB_URL
#   ward_binary PROFILE    builds ward with cargo when BUILD=1 (unless WARD_BIN is set) and
#                          sets WARD_BIN to the binary, which must exist
# shellcheck shell=bash

BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$BENCH_DIR")"
BENCH_NAME="${BENCH_NAME:-bench}"

# The credentials of every benchmark's ward (bench/setup.py writes them into its ward.toml).
ADMIN_EMAIL="admin@bench.local"
ADMIN_PASSWORD="bench-admin-password"
SECRET="bench-secret-0123456789"
BASIC="Basic $(printf 'bench:%s' "$SECRET" | base64 | tr -d '\n')"

now_ms() { date +%s%3N; }
now_ns() { date +%s%N; }
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
need() { # COMMAND [DEBIAN_PACKAGE]
  command -v "$1" >/dev/null && return 0
  echo "$BENCH_NAME: $1 is required${2:+ (apt-get install -y $2)}" >&2
  exit 1
}

PIDS=()
PGDBS=()
WORK=""
bench_cleanup() {
  for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  for d in "${PGDBS[@]:-}"; do
    [ -n "$d" ] && psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE IF EXISTS $d" >/dev/null 2>&1 || true
  done
  if [ -n "$WORK" ]; then rm -rf "$WORK"; fi
}
trap bench_cleanup EXIT

bench_work() { WORK="$(mktemp -d "/tmp/$1.XXXXXX")"; }

pg_database() {
  need psql postgresql-client
  psql -h 127.0.0.1 -U postgres -qc "CREATE DATABASE $1" >/dev/null
  PGDBS+=("$1")
  DB_URL="postgres://postgres@127.0.0.1:5432/$1"
}

ward_binary() {
  local profile="$1"
  if [ -z "${WARD_BIN:-}" ]; then
    if [ "${BUILD:-1}" = 1 ]; then
      echo "$BENCH_NAME: building ward ($profile)..." >&2
      (cd "$ROOT" && cargo build --profile "$profile" --locked -p ward --bin ward --quiet)
    fi
    WARD_BIN="${CARGO_TARGET_DIR:-$ROOT/target}/$profile/ward"
  fi
  [ -x "$WARD_BIN" ] || { echo "$BENCH_NAME: no ward binary at $WARD_BIN" >&2; exit 1; }
}
