#!/usr/bin/env bash
# `make run`'s script (scripts/run.sh) against the built binaries, on ports of its own and a
# database in a private directory: it waits for health, prints a login link
# (http://HOST:PORT/?token=…) whose token the gateway accepts and whose page is the dashboard,
# and stops backtestd and the gateway on SIGTERM. What the dashboard does with the link is
# gateway/web/e2e/dashboard.mjs's part (browser_e2e.sh).
. "$(dirname "$0")/lib.sh"

for need in "$BIN/backtestd" "$BIN/backtest-gateway" "$TOOLS/grpcurl"; do
  [ -x "$need" ] || { echo "missing $need (make build)"; exit 1; }
done
# run.sh takes fixed addresses: two ports the kernel has just handed out and let go.
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
grpc_addr=127.0.0.1:$(free_port)
http_addr=127.0.0.1:$(free_port)

: >"$WORK/run.out"  # exists before the first poll reads it
BACKTEST_LISTEN=$grpc_addr GATEWAY_LISTEN=$http_addr BACKTEST_DB=$WORK/var/backtest.db \
  bash "$ROOT/scripts/run.sh" >"$WORK/run.out" 2>"$WORK/run.err" &
run_pid=$!
PIDS+=("$run_pid")

link=
deadline=$((SECONDS + 30))
while [ $SECONDS -lt $deadline ]; do
  link=$(sed -n 's|^ *dashboard: *\(http://[^ ]*\).*|\1|p' "$WORK/run.out")
  [ -n "$link" ] && break
  kill -0 "$run_pid" 2>/dev/null || break
  sleep 0.05
done
sed 's/^/     /' "$WORK/run.out"
check "run.sh prints the dashboard's address" test -n "$link"
token=$(cat "$WORK/var/admin.token" 2>/dev/null || true)
check "the address is a login link with the staff token" test "$link" = "http://$http_addr/?token=$token"

# The gateway may answer a moment after run.sh has printed its addresses.
gateway_ready() {
  local deadline=$((SECONDS + 20))
  while [ $SECONDS -lt $deadline ]; do
    curl -sf -o /dev/null --max-time 2 "http://$http_addr/readyz" && return 0
    sleep 0.05
  done
  return 1
}
check "the gateway answers" gateway_ready
check "the link opens the dashboard" bash -c "curl -sf --max-time 10 '$link' | grep -q 'id=\"token-box\"'"
check "the link's token is accepted" curl -sf --max-time 10 -o /dev/null \
  -H "authorization: Token ${link#*\?token=}" "http://$http_addr/api/params/"

kill -TERM "$run_pid"
stopped() {
  local deadline=$((SECONDS + 20))
  while [ $SECONDS -lt $deadline ]; do
    kill -0 "$run_pid" 2>/dev/null || break
    sleep 0.05
  done
  ! kill -0 "$run_pid" 2>/dev/null || return 1
  # Nothing run.sh started is left listening.
  ! curl -sf -o /dev/null --max-time 2 "http://$http_addr/healthz" &&
    ! "$TOOLS/grpcurl" -plaintext -max-time 2 "$grpc_addr" grpc.health.v1.Health/Check
}
check "SIGTERM stops run.sh, backtestd and the gateway" stopped
finish
