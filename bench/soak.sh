#!/usr/bin/env bash
# Issue 25's mixed soak: ward under a steady mix of sign-ins, refresh rotations, validations (JWT
# and API token), proxied HTTP GETs and POSTs and proxied WebSockets (short ones opened, echoed
# and closed, and long ones held open) for 20 minutes; ward's RSS must stay within 10 % of its
# post-warm-up median and no request may fail. Prints a Markdown table; exit code 1 on FAIL.
#
#   bench/soak.sh [--postgres] [--duration 20m] [--warmup 3m] [--rate 1] [--bin PATH]
#                 [--no-build] [--verbose] [--keep]
#
# Durations take s, m or h. --bin runs that ward binary (e.g. the profiling build) instead of
# building one with `cargo build --release -p ward`. --rate multiplies every rate of the mix
# (the default is about 62 operations a second). The driver is bench/soak.py (aiohttp, pinned,
# installed into a venv under /tmp on first use); see docs/benchmarks.md, "Soak".
set -euo pipefail

DURATION=20m
WARMUP=3m
RATE=1
POSTGRES=0
BUILD=1
WARD_BIN=""
EXTRA=()
secs() { # 20m -> 1200
  case "$1" in
    *h) echo $(( ${1%h} * 3600 )) ;;
    *m) echo $(( ${1%m} * 60 )) ;;
    *s) echo "${1%s}" ;;
    *) echo "$1" ;;
  esac
}
while [ $# -gt 0 ]; do
  case "$1" in
    --postgres) POSTGRES=1 ;;
    --duration) DURATION="$2"; shift ;;
    --warmup) WARMUP="$2"; shift ;;
    --rate) RATE="$2"; shift ;;
    --no-build) BUILD=0 ;;
    --bin) WARD_BIN="$2"; BUILD=0; shift ;;
    --verbose) EXTRA+=(--verbose) ;;
    --keep) EXTRA+=(--keep) ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) echo "soak: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done

BENCH_NAME=soak
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
VENV=${SOAK_VENV:-/tmp/ward-soak-venv}
AIOHTTP_VERSION=3.14.5

ward_binary release

if ! "$VENV/bin/python" -c "import aiohttp, sys; sys.exit(aiohttp.__version__ != '$AIOHTTP_VERSION')" 2>/dev/null; then
  echo "soak: installing aiohttp $AIOHTTP_VERSION into $VENV..." >&2
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet "aiohttp==$AIOHTTP_VERSION"
fi

ARGS=(--bin "$WARD_BIN" --duration "$(secs "$DURATION")" --warmup "$(secs "$WARMUP")"
  --rate "$RATE" --port "${SOAK_PORT:-18090}" --backend-port "${SOAK_BACKEND_PORT:-18091}")
if [ "$POSTGRES" = 1 ]; then
  pg_database "ward_soak_$$"
  ARGS+=(--database-url "$DB_URL" --backend-name PostgreSQL)
fi

"$VENV/bin/python" "$BENCH_DIR/soak.py" "${ARGS[@]}" "${EXTRA[@]}"
