#!/usr/bin/env bash
# ward's benchmark suite: ward (release build) against node-oidc-provider on the same machine,
# driven by the same load generator (wrk) at the same concurrency. Prints one Markdown table.
#
#   bench/run.sh [--postgres] [--duration 10s] [--concurrency 32] [--threads 2] [--no-peer]
#                [--only LIST] [--no-build] [--bin PATH]
#
# --only takes a comma list of scenario keys: cc,introspect,refresh,validate,signin,healthz.
# --bin runs that ward binary (another build, e.g. an older commit's) instead of building;
# it implies --no-build.
# See docs/benchmarks.md.
set -euo pipefail

DURATION=10s
CONC=32
THREADS=2
POSTGRES=0
PEER=1
ONLY=""
BUILD=1
WARD_BIN=""
while [ $# -gt 0 ]; do
  case "$1" in
    --postgres) POSTGRES=1 ;;
    --duration) DURATION="$2"; shift ;;
    --concurrency) CONC="$2"; shift ;;
    --threads) THREADS="$2"; shift ;;
    --no-peer) PEER=0 ;;
    --only) ONLY="$2"; shift ;;
    --no-build) BUILD=0 ;;
    --bin) WARD_BIN="$2"; BUILD=0; shift ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "bench: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done

BENCH_NAME=bench
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
WARD_PORT=${WARD_PORT:-18080}
PEER_PORT=${PEER_PORT:-13000}
WRK=${WRK:-wrk}
export BENCH_LUA_DIR="$BENCH_DIR/lua"

want() { [ -z "$ONLY" ] || [[ ",$ONLY," == *",$1,"* ]]; }
need "$WRK" wrk; need python3; need curl
[ "$PEER" = 1 ] && need node

bench_work ward-bench
ward_binary release

if [ "$PEER" = 1 ] && [ ! -d "$BENCH_DIR/peer/node_modules/oidc-provider" ]; then
  echo "bench: installing the peer (npm ci)..." >&2
  (cd "$BENCH_DIR/peer" && npm ci --silent --no-audit --no-fund)
fi

# --- ward --------------------------------------------------------------------------------
if [ "$POSTGRES" = 1 ]; then
  pg_database "ward_bench_$$"
  BACKEND=postgres
else
  DB_URL=""
  BACKEND=sqlite
fi
python3 "$BENCH_DIR/setup.py" config --port "$WARD_PORT" --data-dir "$WORK/ward-data" \
  ${DB_URL:+--database-url "$DB_URL"} > "$WORK/ward.toml"

wait_ready() { # URL PID -> prints ms since $2 started (caller sets T0)
  local url="$1" pid="$2"
  for _ in $(seq 1 3000); do
    if curl -sf -o /dev/null "$url"; then echo $(( $(now_ms) - T0 )); return 0; fi
    kill -0 "$pid" 2>/dev/null || { echo "bench: server exited:" >&2; tail -5 "$WORK"/*.log >&2; return 1; }
    sleep 0.005
  done
  echo "bench: $url not ready" >&2; return 1
}

T0=$(now_ms)
WARD_LOG=${WARD_LOG:-info} "$WARD_BIN" server --config "$WORK/ward.toml" > "$WORK/ward.log" 2>&1 &
WARD_PID=$!
PIDS+=("$WARD_PID")
WARD_READY_MS=$(wait_ready "http://127.0.0.1:$WARD_PORT/readyz" "$WARD_PID")
sleep 1
WARD_IDLE_KB=$(rss_kb "$WARD_PID")

POOL=$(( CONC * 4 ))
mkdir -p "$WORK/ward-creds" "$WORK/peer-creds"
python3 "$BENCH_DIR/setup.py" ward "$WARD_PORT" "$WORK/ward-creds" "$POOL" \
  "$ADMIN_EMAIL" "$ADMIN_PASSWORD" bench "$SECRET"

if [ "$PEER" = 1 ]; then
  T0=$(now_ms)
  node "$BENCH_DIR/peer/server.js" "$PEER_PORT" "$SECRET" > "$WORK/peer.log" 2>&1 &
  PEER_PID=$!
  PIDS+=("$PEER_PID")
  PEER_READY_MS=$(wait_ready "http://127.0.0.1:$PEER_PORT/.well-known/openid-configuration" "$PEER_PID")
  sleep 1
  PEER_IDLE_KB=$(rss_kb "$PEER_PID")
  python3 "$BENCH_DIR/setup.py" peer "$PEER_PORT" "$WORK/peer-creds" "$POOL" bench "$SECRET"
fi

# --- load --------------------------------------------------------------------------------
ROWS=()
declare -A RPS P99

# run KEY LABEL SERVER PID PORT SCRIPT CONC THREADS [ENV=VALUE...]
# Runs wrk with the RSS of PID sampled every 100 ms; appends a row.
run() {
  local key="$1" label="$2" server="$3" pid="$4" port="$5" script="$6" conc="$7" threads="$8"
  shift 8
  local out="$WORK/wrk-$key-$server.out" peak=0 rss
  env "$@" BENCH_THREADS="$threads" "$WRK" -t "$threads" -c "$conc" -d "$DURATION" \
    --timeout 10s -s "$BENCH_LUA_DIR/$script" "http://127.0.0.1:$port" > "$out" 2>&1 &
  local wrk_pid=$!
  while kill -0 "$wrk_pid" 2>/dev/null; do
    rss=$(rss_kb "$pid"); [ "${rss:-0}" -gt "$peak" ] && peak=$rss
    sleep 0.1
  done
  wait "$wrk_pid" || true
  record "$key" "$label" "$server" "$out" "$peak"
}

record() {
  local key="$1" label="$2" server="$3" out="$4" peak="$5" line
  line=$(grep '^BENCH ' "$out" | tail -1 | cut -d' ' -f2-)
  if [ -z "$line" ]; then
    echo "bench: wrk failed for $label ($server):" >&2; cat "$out" >&2
    ROWS+=("| $label | $server | failed | | | | |"); return
  fi
  local row
  row=$(python3 - "$line" "$peak" <<'PY'
import json, sys
r = json.loads(sys.argv[1]); peak = int(sys.argv[2])
rps = r["requests"] / (r["duration_us"] / 1e6)
print(f'{rps:.0f}\t{r["p50_us"]/1000:.2f}\t{r["p99_us"]/1000:.2f}\t{r["errors"]}\t{peak/1024:.1f}')
PY
)
  IFS=$'\t' read -r rps p50 p99 errs mb <<<"$row"
  RPS["$key/$server"]=$rps
  P99["$key/$server"]=$p99
  ROWS+=("| $label | $server | $rps | $p50 | $p99 | $errs | $mb |")
}

na() { ROWS+=("| $1 | $2 | n/a | | | | |"); }

ward_cred() { cat "$WORK/ward-creds/$1"; }
peer_cred() { cat "$WORK/peer-creds/$1"; }
W=(ward "$WARD_PID" "$WARD_PORT")

echo "bench: ward on $BACKEND, $DURATION per scenario, $CONC connections, $THREADS wrk threads" >&2

# The baseline runs first and last; ratios use the mean of the two (the machine's load drifts).
if want healthz; then
  run healthz "6. /healthz (baseline, first)" "${W[@]}" get.lua "$CONC" "$THREADS" BENCH_PATH=/healthz
fi
if want cc; then
  run cc "1. client_credentials (JWT)" "${W[@]}" post_form.lua "$CONC" "$THREADS" \
    BENCH_PATH=/oauth/token BENCH_AUTH="$BASIC" \
    BENCH_BODY="grant_type=client_credentials&scope=containers:read"
  [ "$PEER" = 1 ] && run cc "1. client_credentials (JWT)" peer "$PEER_PID" "$PEER_PORT" \
    post_form.lua "$CONC" "$THREADS" BENCH_PATH=/token BENCH_AUTH="$BASIC" \
    BENCH_BODY="grant_type=client_credentials&scope=containers:read"
fi
if want introspect; then
  run introspect "2. introspection" "${W[@]}" post_form.lua "$CONC" "$THREADS" \
    BENCH_PATH=/oauth/introspect BENCH_AUTH="$BASIC" BENCH_BODY="token=$(ward_cred access_token)"
  [ "$PEER" = 1 ] && run introspect "2. introspection" peer "$PEER_PID" "$PEER_PORT" \
    post_form.lua "$CONC" "$THREADS" BENCH_PATH=/token/introspection BENCH_AUTH="$BASIC" \
    BENCH_BODY="token=$(peer_cred cc_token)"
fi
if want refresh; then
  run refresh "3. refresh_token (rotation)" "${W[@]}" refresh.lua "$CONC" "$THREADS" \
    BENCH_PATH=/oauth/token BENCH_AUTH="$BASIC" BENCH_TOKENS="$WORK/ward-creds/refresh_tokens"
  [ "$PEER" = 1 ] && run refresh "3. refresh_token (rotation)" peer "$PEER_PID" "$PEER_PORT" \
    refresh.lua "$CONC" "$THREADS" BENCH_PATH=/token BENCH_AUTH="$BASIC" \
    BENCH_TOKENS="$WORK/peer-creds/refresh_tokens"
fi
if want validate; then
  run validate_api "4a. validate, API token" "${W[@]}" get.lua "$CONC" "$THREADS" \
    BENCH_PATH=/api/auth/validate BENCH_AUTH="Bearer $(ward_cred api_token)"
  [ "$PEER" = 1 ] && na "4a. validate, API token" peer
  run validate_jwt "4b. validate, JWT" "${W[@]}" get.lua "$CONC" "$THREADS" \
    BENCH_PATH=/api/auth/validate BENCH_AUTH="Bearer $(ward_cred access_token)"
  [ "$PEER" = 1 ] && na "4b. validate, JWT" peer
fi
if want signin; then
  CSRF=$(ward_cred csrf)
  SIGNIN_ENV=(BENCH_PATH=/login/password BENCH_COOKIE="ward_csrf=$(ward_cred csrf_cookie)"
    BENCH_BODY="csrf_token=$CSRF&email=${ADMIN_EMAIL/@/%40}&password=$ADMIN_PASSWORD&return_to=%2F")
  run signin "5a. password sign-in" "${W[@]}" post_form.lua "$CONC" "$THREADS" "${SIGNIN_ENV[@]}"
  [ "$PEER" = 1 ] && na "5a. password sign-in" peer
  # 5b/5c: validate (JWT) again, as in 4b, while sign-ins run at the same time.
  run signin_bg "5b. sign-ins alongside 5c" "${W[@]}" post_form.lua "$CONC" 1 "${SIGNIN_ENV[@]}" &
  BG=$!
  sleep 0.2
  run validate_busy "5c. validate, JWT, during 5b" "${W[@]}" get.lua "$CONC" "$THREADS" \
    BENCH_PATH=/api/auth/validate BENCH_AUTH="Bearer $(ward_cred access_token)"
  wait "$BG" || true
  # The background run's row was recorded in a subshell: record it again here.
  record signin_bg "5b. sign-ins alongside 5c" ward "$WORK/wrk-signin_bg-ward.out" 0
  [ "$PEER" = 1 ] && na "5c. validate, JWT, during 5b" peer
fi

if want healthz; then
  run healthz2 "6. /healthz (baseline, last)" "${W[@]}" get.lua "$CONC" "$THREADS" BENCH_PATH=/healthz
fi

# --- report ------------------------------------------------------------------------------
ratio() { # A B -> A/B with two decimals, or n/a
  python3 -c "import sys; a,b=sys.argv[1:]; print(f'{float(a)/float(b):.2f}' if a and b and float(b) else 'n/a')" "${1:-}" "${2:-}"
}
echo
echo "ward ($BACKEND) vs node-oidc-provider $(node -p "require('$BENCH_DIR/peer/node_modules/oidc-provider/package.json').version" 2>/dev/null || echo '?'): $DURATION, $CONC connections, $(nproc) cores"
echo
echo "| scenario | server | req/s | p50 ms | p99 ms | errors | peak RSS MB |"
echo "|---|---|---:|---:|---:|---:|---:|"
for r in "${ROWS[@]}"; do echo "$r"; done
echo
H=$(python3 -c "import sys; v=[float(x) for x in sys.argv[1:] if x]; print(sum(v)/len(v) if v else '')" "${RPS[healthz/ward]:-}" "${RPS[healthz2/ward]:-}")
echo "| ratio | value |"
echo "|---|---:|"
[ "$PEER" = 1 ] && echo "| client_credentials ward / peer | $(ratio "${RPS[cc/ward]:-}" "${RPS[cc/peer]:-}") |"
echo "| client_credentials ward / healthz | $(ratio "${RPS[cc/ward]:-}" "$H") |"
[ "$PEER" = 1 ] && echo "| introspection ward / peer | $(ratio "${RPS[introspect/ward]:-}" "${RPS[introspect/peer]:-}") |"
echo "| introspection ward / healthz | $(ratio "${RPS[introspect/ward]:-}" "$H") |"
[ "$PEER" = 1 ] && echo "| refresh ward / peer | $(ratio "${RPS[refresh/ward]:-}" "${RPS[refresh/peer]:-}") |"
echo "| validate (API token) / healthz | $(ratio "${RPS[validate_api/ward]:-}" "$H") |"
echo "| validate (JWT) / healthz | $(ratio "${RPS[validate_jwt/ward]:-}" "$H") |"
echo "| validate p99 during sign-ins / idle p99 | $(ratio "${P99[validate_busy/ward]:-}" "${P99[validate_jwt/ward]:-}") |"
echo
echo "| start-up | ward | peer |"
echo "|---|---:|---:|"
echo "| ready after (ms) | $WARD_READY_MS | ${PEER_READY_MS:-n/a} |"
echo "| idle RSS (MB) | $(python3 -c "print(f'{$WARD_IDLE_KB/1024:.1f}')") | $( [ "$PEER" = 1 ] && python3 -c "print(f'{$PEER_IDLE_KB/1024:.1f}')" || echo n/a) |"
