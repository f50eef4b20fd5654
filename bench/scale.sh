#!/usr/bin/env bash
# ward at scale: the same scenarios on a small and a large seeded database, in one run, and the
# large/small ratio of p50 and p99 (the goal: within 20 %). See docs/benchmarks.md,
# "Scale: 1k vs 1M".
#
#   bench/scale.sh [--postgres] [--users 1000000] [--small 1000] [--duration 5s]
#                  [--concurrency 32] [--threads 2] [--large-db URL] [--no-build]
#
# SCALE_BIN=path runs that binary instead of building one (use with --no-build).
# Each database is seeded by bench/seed_scale.py (bulk SQL: N users, 10 N sessions with their
# refresh tokens, N API tokens, 10 N audit events). --large-db reuses an already seeded large
# database (sqlite://PATH or postgres://…) instead of seeding one (seeding 1M takes minutes).
set -euo pipefail

DURATION=5s
CONC=32
THREADS=2
POSTGRES=0
LARGE=1000000
SMALL=1000
LARGE_DB=""
BUILD=1
while [ $# -gt 0 ]; do
  case "$1" in
    --postgres) POSTGRES=1 ;;
    --users) LARGE="$2"; shift ;;
    --small) SMALL="$2"; shift ;;
    --duration) DURATION="$2"; shift ;;
    --concurrency) CONC="$2"; shift ;;
    --threads) THREADS="$2"; shift ;;
    --large-db) LARGE_DB="$2"; shift ;;
    --no-build) BUILD=0 ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) echo "scale: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done

BENCH_NAME=scale
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
WARD_PORT=${WARD_PORT:-18081}
WRK=${WRK:-wrk}
export BENCH_LUA_DIR="$BENCH_DIR/lua"

need "$WRK" wrk; need python3; need curl; need sqlite3 sqlite3
[ "$POSTGRES" = 1 ] && need psql postgresql-client

bench_work ward-scale
# The servers by database size (their pids are in PIDS too, for the cleanup on exit).
declare -A PID
# SCALE_BIN overrides the binary (e.g. a `--profile profiling` build, with --no-build).
WARD_BIN="${SCALE_BIN:-}"
ward_binary release

sql() { # URL SQL -> one value
  case "$1" in
    sqlite:*) sqlite3 "${1#sqlite://}" "$2" ;;
    *) psql "$1" -qAtc "$2" ;;
  esac
}

# seed SIZE -> sets DB_URL and SEED_LINE
seed() {
  local n="$1"
  if [ "$POSTGRES" = 1 ]; then
    pg_database "ward_scale_${n}_$$"
  else
    mkdir -p "$WORK/db-$n"
    DB_URL="sqlite://$WORK/db-$n/ward.db"
  fi
  SEED_LINE=$(python3 "$BENCH_DIR/seed_scale.py" --ward "$WARD_BIN" --db "$DB_URL" --users "$n" \
    --admin-email "$ADMIN_EMAIL" --admin-password "$ADMIN_PASSWORD")
  echo "scale: seeded $SEED_LINE" >&2
}

ROWS=()
declare -A P50 P99 RPS REST PEAK SEEDS

declare -A PORT CRED USERS_AFTER AUDIT_BEFORE ADMIN_TOKEN

# load SIZE KEY SCRIPT [ENV=VALUE...]: wrk against SIZE's server, its RSS sampled every 100 ms.
load() {
  local size="$1" key="$2" script="$3" out line peak=0 rss pid="${PID[$1]}"
  shift 3
  out="$WORK/wrk-$key-$size.out"
  env "$@" BENCH_THREADS="$THREADS" "$WRK" -t "$THREADS" -c "$CONC" -d "$DURATION" \
    --timeout 10s -s "$BENCH_LUA_DIR/$script" "http://127.0.0.1:${PORT[$size]}" > "$out" 2>&1 &
  local wrk_pid=$!
  while kill -0 "$wrk_pid" 2>/dev/null; do
    rss=$(rss_kb "$pid"); [ "${rss:-0}" -gt "$peak" ] && peak=$rss
    sleep 0.1
  done
  wait "$wrk_pid" || true
  [ "$peak" -gt "${PEAK[$size]:-0}" ] && PEAK[$size]=$peak
  line=$(grep '^BENCH ' "$out" | tail -1 | cut -d' ' -f2-)
  if [ -z "$line" ]; then echo "scale: wrk failed for $key at $size:" >&2; cat "$out" >&2; return; fi
  read -r rps p50 p99 errs < <(python3 -c '
import json, sys
r = json.loads(sys.argv[1])
rps = r["requests"] / (r["duration_us"] / 1e6)
print("%.0f %.2f %.2f %d" % (rps, r["p50_us"] / 1000, r["p99_us"] / 1000, r["errors"]))' "$line")
  # Two runs per size (see scenario): the mean of the two.
  if [ -n "${P50[$key/$size]:-}" ]; then
    read -r rps p50 p99 < <(python3 -c 'import sys; a = list(map(float, sys.argv[1:])); print("%.0f %.2f %.2f" % ((a[0] + a[3]) / 2, (a[1] + a[4]) / 2, (a[2] + a[5]) / 2))' \
      "${RPS[$key/$size]}" "${P50[$key/$size]}" "${P99[$key/$size]}" "$rps" "$p50" "$p99")
  fi
  RPS["$key/$size"]=$rps; P50["$key/$size"]=$p50; P99["$key/$size"]=$p99
  [ "$errs" != 0 ] && echo "scale: $errs errors in $key at $size (see $out)" >&2 && cat "$out" >&2
  true
}

# start SIZE DB_URL PORT: ward on the database, credentials, cursors in the middle of the lists.
start() {
  local size="$1" url="$2" port="$3" creds="$WORK/creds-$1"
  PORT[$size]=$port; CRED[$size]=$creds
  # Keys sealed under another data directory's master key (a reused database's last run): ward
  # makes new ones.
  sql "$url" "DELETE FROM signing_keys; DELETE FROM ssh_ca_keys" >/dev/null
  # The admin's sessions from a reused database's last run: each run starts with the same number
  # (setup.py's), so that `GET /api/sessions` lists as many at both sizes.
  sql "$url" "DELETE FROM refresh_tokens WHERE session_id IN (SELECT id FROM sessions WHERE user_id = (SELECT id FROM users WHERE email = '$ADMIN_EMAIL')); DELETE FROM sessions WHERE user_id = (SELECT id FROM users WHERE email = '$ADMIN_EMAIL')" >/dev/null
  python3 "$BENCH_DIR/setup.py" config --port "$port" --data-dir "$WORK/data-$size" \
    --database-url "$url" > "$WORK/ward-$size.toml"
  WARD_LOG=${WARD_LOG:-info} "$WARD_BIN" server --config "$WORK/ward-$size.toml" \
    > "$WORK/ward-$size.log" 2>&1 &
  PID[$size]=$!
  PIDS+=("$!")
  for _ in $(seq 1 6000); do
    curl -sf -o /dev/null "http://127.0.0.1:$port/readyz" && break
    kill -0 "${PID[$size]}" 2>/dev/null || { tail -20 "$WORK/ward-$size.log" >&2; exit 1; }
    sleep 0.01
  done
  mkdir -p "$creds"
  python3 "$BENCH_DIR/setup.py" ward "$port" "$creds" "$(( CONC * 4 ))" \
    "$ADMIN_EMAIL" "$ADMIN_PASSWORD" bench "$SECRET"
  # An admin API token for the admin lists (setup.py's is scoped to containers:read).
  ADMIN_TOKEN[$size]=$(curl -sf -H "Cookie: $(cat "$creds/session_cookie")" \
    -H 'Content-Type: application/json' -d '{"name":"scale","scopes":["admin:read"]}' \
    "http://127.0.0.1:$port/api/tokens" | python3 -c 'import json,sys; t=json.load(sys.stdin); print(t.get("token") or t["secret"])')
  # Cursors in the middle of the lists: a page deep in them costs what the first page costs.
  USERS_AFTER[$size]=$(sql "$url" "SELECT created_at || '.' || email FROM users WHERE email = 'user$(( size / 2 ))@scale.example'")
  AUDIT_BEFORE[$size]=$(sql "$url" "SELECT at || '.' || seq FROM audit_events WHERE seq = $(( size * 5 ))")
}

# scenario KEY SCRIPT ENV...: small, large, large, small, back to back, each size's figure the
# mean of its two runs (so that the machine's drift falls on both alike). @CRED@ (the credentials directory), @API@, @JWT@,
# @CSRF@, @CSRFC@ (setup.py's API token, access token and CSRF pair), @ADMIN@ (an admin:read
# API token), @AFTER@ and @BEFORE@ (cursors) in ENV are replaced per size.
scenario() {
  local key="$1" script="$2" size args a
  shift 2
  local order=("$SMALL" "$LARGE" "$LARGE" "$SMALL")
  # A refresh token is spent by its run: the second run would present spent ones (reuse).
  [ "$key" = refresh ] && order=("$SMALL" "$LARGE")
  for size in "${order[@]}"; do
    args=()
    for a in "$@"; do
      a=${a//@CRED@/${CRED[$size]}}
      a=${a//@API@/$(cat "${CRED[$size]}/api_token")}
      a=${a//@JWT@/$(cat "${CRED[$size]}/access_token")}
      a=${a//@CSRF@/$(cat "${CRED[$size]}/csrf")}
      a=${a//@CSRFC@/$(cat "${CRED[$size]}/csrf_cookie")}
      a=${a//@ADMIN@/${ADMIN_TOKEN[$size]}}
      a=${a//@AFTER@/${USERS_AFTER[$size]/@/%40}}
      a=${a//@BEFORE@/${AUDIT_BEFORE[$size]}}
      args+=("$a")
    done
    load "$size" "$key" "$script" "${args[@]}"
  done
}

BACKEND=$([ "$POSTGRES" = 1 ] && echo postgres || echo sqlite)
echo "scale: $BACKEND, $SMALL vs $LARGE users, $DURATION per scenario, $CONC connections" >&2
seed "$SMALL"; SEEDS[$SMALL]="$SEED_LINE"; SMALL_DB="$DB_URL"
if [ -n "$LARGE_DB" ]; then
  DB_URL="$LARGE_DB"; SEEDS[$LARGE]="(seeded before: $LARGE_DB)"
else
  seed "$LARGE"; SEEDS[$LARGE]="$SEED_LINE"
fi
LARGE_URL="$DB_URL"
start "$SMALL" "$SMALL_DB" "$WARD_PORT"
start "$LARGE" "$LARGE_URL" "$(( WARD_PORT + 1 ))"
sleep 1
REST[$SMALL]=$(rss_kb "${PID[$SMALL]}"); REST[$LARGE]=$(rss_kb "${PID[$LARGE]}")

scenario validate_api get.lua BENCH_PATH=/api/auth/validate "BENCH_AUTH=Bearer @API@"
scenario validate_jwt get.lua BENCH_PATH=/api/auth/validate "BENCH_AUTH=Bearer @JWT@"
scenario users get.lua BENCH_PATH=/api/admin/users "BENCH_AUTH=Bearer @ADMIN@"
scenario users_deep get.lua "BENCH_PATH=/api/admin/users?after=@AFTER@" "BENCH_AUTH=Bearer @ADMIN@"
scenario audit get.lua BENCH_PATH=/api/admin/audit "BENCH_AUTH=Bearer @ADMIN@"
scenario audit_deep get.lua "BENCH_PATH=/api/admin/audit?before=@BEFORE@" "BENCH_AUTH=Bearer @ADMIN@"
scenario sessions get.lua BENCH_PATH=/api/sessions "BENCH_AUTH=Bearer @ADMIN@"
scenario admin_sessions get.lua "BENCH_PATH=/api/admin/sessions?limit=50" "BENCH_AUTH=Bearer @ADMIN@"
scenario refresh refresh.lua BENCH_PATH=/oauth/token "BENCH_AUTH=$BASIC" "BENCH_TOKENS=@CRED@/refresh_tokens"
scenario signin post_form.lua BENCH_PATH=/login/password "BENCH_COOKIE=ward_csrf=@CSRFC@" \
  "BENCH_BODY=csrf_token=@CSRF@&email=${ADMIN_EMAIL/@/%40}&password=$ADMIN_PASSWORD&return_to=%2F"
kill "${PID[$SMALL]}" "${PID[$LARGE]}"; wait 2>/dev/null || true

ratio() { python3 -c "import sys; a,b=sys.argv[1:]; print(f'{float(a)/float(b):.2f}' if a and b and float(b) else 'n/a')" "${1:-}" "${2:-}"; }
echo
echo "ward ($BACKEND), $SMALL vs $LARGE users, $DURATION per scenario, $CONC connections, $(nproc) cores"
echo
echo "| scenario | req/s $SMALL | p50 ms $SMALL | p99 ms $SMALL | req/s $LARGE | p50 ms $LARGE | p99 ms $LARGE | p50 ratio | p99 ratio |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
for k in validate_api validate_jwt refresh signin users users_deep audit audit_deep sessions admin_sessions; do
  s="$k/$SMALL"; l="$k/$LARGE"
  echo "| $k | ${RPS[$s]:-} | ${P50[$s]:-} | ${P99[$s]:-} | ${RPS[$l]:-} | ${P50[$l]:-} | ${P99[$l]:-} | $(ratio "${P50[$l]:-}" "${P50[$s]:-}") | $(ratio "${P99[$l]:-}" "${P99[$s]:-}") |"
done
echo
echo "| database | seed | RSS at rest MB | peak RSS under load MB |"
echo "|---|---|---:|---:|"
for n in "$SMALL" "$LARGE"; do
  echo "| $n users | ${SEEDS[$n]} | $(( ${REST[$n]:-0} / 1024 )) | $(( ${PEAK[$n]:-0} / 1024 )) |"
done
echo
# Size per user and per session, from the large database: each table with its indexes.
if [ "$POSTGRES" = 1 ]; then
  SZ() { sql "$LARGE_URL" "SELECT pg_total_relation_size('$1')"; }
else
  SZ() { sql "$LARGE_URL" "SELECT COALESCE(SUM(pgsize), 0) FROM dbstat WHERE name = '$1' OR name IN (SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = '$1')"; }
fi
python3 - "$LARGE" "$(SZ users)" "$(SZ sessions)" "$(SZ refresh_tokens)" "$(SZ api_tokens)" "$(SZ audit_events)" <<'PY'
import sys
n, users, sessions, refresh, tokens, audit = map(int, sys.argv[1:])
print("| size (table + its indexes) | bytes per row |")
print("|---|---:|")
print(f"| user | {users / n:.0f} |")
print(f"| session (with its refresh token) | {(sessions + refresh) / (10 * n):.0f} |")
print(f"| API token | {tokens / n:.0f} |")
print(f"| audit event | {audit / (10 * n):.0f} |")
PY
