#!/usr/bin/env bash
# Throughput of a TCP route (SPEC §2.17): bytes/s through `ward tunnel` against a direct TCP
# connection to the same service, in the same run, both directions. Release build of the one
# binary (server and CLI), socat as the TCP service and the direct client.
#
#   bench/tunnel.sh [--bytes N] [--runs N] [--profile release|profiling] [--no-build]
#
# --profile profiling is release with line tables, for `perf record` (same optimisation).
# download: the service sends N bytes from /dev/zero and closes; the client writes them to
#           /dev/null (direct: socat; tunnel: `ward tunnel /tcp/source > /dev/null`).
# upload:   the client sends a file of N bytes (sparse: zeros) from its standard input; the
#           service reads to the end and closes (direct: `socat - TCP:… < file`; tunnel:
#           `ward tunnel /tcp/sink < file`).
# Times include starting the client and, for the tunnel, opening the WebSocket; with 1 GiB that
# is well under 5 % of a run. Also counts the CPU time of every process of a transfer. Prints a
# Markdown table. See docs/benchmarks.md#tcp-tunnel.
set -euo pipefail

BYTES=$((1024 * 1024 * 1024))
RUNS=3
BUILD=1
PROFILE=release
while [ $# -gt 0 ]; do
  case "$1" in
    --bytes) BYTES="$2"; shift ;;
    --runs) RUNS="$2"; shift ;;
    --profile) PROFILE="$2"; shift ;;
    --no-build) BUILD=0 ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    *) echo "tunnel bench: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done

BENCH_NAME="tunnel bench"
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
need socat socat; need python3 python3; need curl curl

WARD_BIN=""
ward_binary "$PROFILE"
bench_work ward-tunnel-bench

WARD_PORT=$(free_port); SOURCE_PORT=$(free_port); SINK_PORT=$(free_port)
python3 "$BENCH_DIR/setup.py" config --port "$WARD_PORT" --data-dir "$WORK/ward-data" \
  --tcp-route "/tcp/source=127.0.0.1:$SOURCE_PORT" --tcp-route "/tcp/sink=127.0.0.1:$SINK_PORT" \
  > "$WORK/ward.toml"

# The services: one sends BYTES and closes, one swallows everything (a connection each).
socat -u -b 262144 "OPEN:/dev/zero,readbytes=$BYTES" "TCP-LISTEN:$SOURCE_PORT,bind=127.0.0.1,reuseaddr,fork" &
SOURCE_PID=$!; PIDS+=($!)
socat -u -b 262144 "TCP-LISTEN:$SINK_PORT,bind=127.0.0.1,reuseaddr,fork" OPEN:/dev/null &
SINK_PID=$!; PIDS+=($!)

WARD_LOG=warn "$WARD_BIN" server --config "$WORK/ward.toml" > "$WORK/ward.log" 2>&1 &
WARD_PID=$!; PIDS+=($!)
for _ in $(seq 1 600); do
  curl -sf -o /dev/null "http://127.0.0.1:$WARD_PORT/readyz" && break
  sleep 0.05
done
mkdir -p "$WORK/creds"
python3 "$BENCH_DIR/setup.py" ward "$WARD_PORT" "$WORK/creds" 1 "$ADMIN_EMAIL" "$ADMIN_PASSWORD" bench "$SECRET"
export WARD_TOKEN; WARD_TOKEN="$(tr -d '\n' < "$WORK/creds/api_token")"
export WARD_URL="http://127.0.0.1:$WARD_PORT" WARD_CONFIG_DIR="$WORK/cli" HOME="$WORK"

# Each transfer is timed (wall clock) and its CPU time counted: the client's (user + system,
# from /usr/bin/time), the socat services' (their forked connection handlers, reaped into the
# listeners' cutime/cstime) and, for the tunnel, ward server's. CPU per GiB moves much less than
# wall-clock time on a shared machine, so it supports the ratio.
# Both upload clients read the same file (sparse, BYTES long) on standard input.
UPLOAD="$WORK/upload.bin"
truncate -s "$BYTES" "$UPLOAD"
# Read once before timing: the first read of a sparse file maps its holes (an 8 GiB file took
# 24 s, a tenth of the cached rate), which made every set's first direct upload an outlier.
cat "$UPLOAD" > /dev/null
export WARD_BIN SOURCE_PORT SINK_PORT UPLOAD
direct_down='socat -u -b 262144 "TCP:127.0.0.1:$SOURCE_PORT" OPEN:/dev/null'
tunnel_down='"$WARD_BIN" tunnel /tcp/source < /dev/null > /dev/null'
direct_up='socat -u -b 262144 - "TCP:127.0.0.1:$SINK_PORT" < "$UPLOAD"'
tunnel_up='"$WARD_BIN" tunnel /tcp/sink < "$UPLOAD" > /dev/null'
# A download must deliver all the bytes: count them once each way.
got=$(socat -u "TCP:127.0.0.1:$SOURCE_PORT" - | wc -c)
[ "$got" = "$BYTES" ] || { echo "tunnel bench: direct download gave $got bytes" >&2; exit 1; }
got=$("$WARD_BIN" tunnel /tcp/source < /dev/null | wc -c)
[ "$got" = "$BYTES" ] || { echo "tunnel bench: tunnel download gave $got bytes" >&2; cat "$WORK/ward.log" >&2; exit 1; }

ticks() { awk '{print $14 + $15 + $16 + $17}' "/proc/$1/stat"; }
HZ=$(getconf CLK_TCK)
# measure CMD -> "wall_ms cpu_ms"
measure() {
  local t0 s0 w0 client wall s1 w1
  s0=$(( $(ticks "$SOURCE_PID") + $(ticks "$SINK_PID") )); w0=$(ticks "$WARD_PID")
  t0=$(now_ns)
  client=$( { /usr/bin/time -f "%U %S" bash -c "$1" > /dev/null; } 2>&1 | tail -1 )
  wall=$(( ($(now_ns) - t0) / 1000000 ))
  sleep 0.3 # the services reap their connection's handler
  s1=$(( $(ticks "$SOURCE_PID") + $(ticks "$SINK_PID") )); w1=$(ticks "$WARD_PID")
  local ward=$(( w1 - w0 ))
  case "$1" in *tunnel*) ;; *) ward=0 ;; esac
  python3 -c "u, s = '$client'.split(); print($wall, round((float(u) + float(s)) * 1000 + ($s1 - $s0 + $ward) * 1000 / $HZ))"
}

mib=$(python3 -c "print($BYTES / 1048576)")
rate() { python3 -c "print(f'{$mib / ($1 / 1000):.0f}')"; }
echo "tunnel bench: $mib MiB per transfer, $RUNS runs each, $(nproc) cores, load: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
echo "| direction | run | direct TCP | through \`ward tunnel\` | ratio | CPU direct / tunnel (all processes) | CPU ratio |"
echo "|---|---|---|---|---|---|---|"
for dir in down up; do
  for run in $(seq 1 "$RUNS"); do
    dcmd="direct_$dir"; tcmd="tunnel_$dir"
    read -r d dc <<< "$(measure "${!dcmd}")"
    read -r t tc <<< "$(measure "${!tcmd}")"
    dr=$(rate "$d"); tr_=$(rate "$t")
    ratio=$(python3 -c "print(f'{100 * $d / $t:.0f} %')")
    cratio=$(python3 -c "print(f'{100 * $dc / $tc:.0f} %')")
    label=$([ "$dir" = down ] && echo "download (service → client)" || echo "upload (client → service)")
    echo "| $label | $run | $dr MiB/s ($d ms) | $tr_ MiB/s ($t ms) | $ratio | $dc / $tc ms | $cratio |"
  done
done
