# Shared helpers for the shell end-to-end tests. Source it; it sets ROOT, BIN, TOOLS, WORK and
# traps EXIT to stop what start_server started and remove WORK.
set -euo pipefail
ROOT=${BACKTEST_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
BIN=${BACKTEST_BIN_DIR:-$ROOT/build/bin}
TOOLS=$ROOT/build/tools/bin
WORK=$(mktemp -d "${TMPDIR:-/tmp}/backtestd-e2e-XXXXXX")
PIDS=()
passed=0
failed=0

cleanup() {
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

ok() { passed=$((passed + 1)); printf 'ok   %s\n' "$1"; }
fail() { failed=$((failed + 1)); printf 'FAIL %s\n' "$1"; }
# check NAME COMMAND...: runs the command, counts it.
check() {
  local name=$1; shift
  if "$@" >"$WORK/last.out" 2>&1; then ok "$name"; else fail "$name"; sed 's/^/     /' "$WORK/last.out"; fi
}
finish() {
  printf '%d passed, %d failed\n' "$passed" "$failed"
  [ "$failed" -eq 0 ]
}

# start_server DIR [ARGS...]: starts backtestd on 127.0.0.1 with an ephemeral port and a database
# in DIR; sets SERVER_PID and SERVER_ADDR once it is listening (polls its log with a deadline).
start_server() {
  local dir=$1; shift
  mkdir -p "$dir"
  : >"$dir/server.log"  # exists before the first poll reads it
  "$BIN/backtestd" --listen 127.0.0.1:0 --db "$dir/backtest.db" "$@" 2>"$dir/server.log" &
  SERVER_PID=$!
  PIDS+=("$SERVER_PID")
  local deadline=$((SECONDS + 20))
  SERVER_ADDR=
  while [ $SECONDS -lt $deadline ]; do
    SERVER_ADDR=$(sed -n 's/.*listening on \(127\.0\.0\.1:[0-9]*\).*/\1/p' "$dir/server.log" | head -n1)
    [ -n "$SERVER_ADDR" ] && return 0
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 0.05
  done
  echo "server did not start:"; cat "$dir/server.log"; return 1
}

# start_gateway BACKEND [FLAGS...]: starts backtest-gateway on 127.0.0.1:0 (the kernel picks the
# port), with /metrics on another 127.0.0.1:0, in front of BACKEND; sets GW (its base URL) and
# GW_METRICS (the /metrics URL) once /readyz answers 200 (polled with a deadline). Its log, access
# lines included, is $WORK/gateway.log.
start_gateway() {
  local backend=$1 log=$WORK/gateway.log
  shift
  : >"$log"
  "$BIN/backtest-gateway" --listen 127.0.0.1:0 --metrics-listen 127.0.0.1:0 --backend "$backend" "$@" 2>"$log" &
  PIDS+=("$!")
  local pid=$! deadline=$((SECONDS + 30))
  GW= GW_METRICS=
  while [ $SECONDS -lt $deadline ]; do
    [ -z "$GW" ] && GW=$(sed -n 's|.*url=\(http://127\.0\.0\.1:[0-9]*\)/.*|\1|p' "$log" | head -n1)
    [ -z "$GW_METRICS" ] && GW_METRICS=$(sed -n 's|.* metrics=\(http://127\.0\.0\.1:[0-9]*/metrics\).*|\1|p' "$log" | head -n1)
    if [ -n "$GW" ] && curl -sf -o /dev/null --max-time 2 "$GW/readyz"; then return 0; fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  echo "gateway did not become ready:"; cat "$log"; return 1
}
