#!/usr/bin/env bash
# Starts backtestd on its embedded defaults (SQLite under var/, sample:// data, the strategies of
# examples/strategies/ run by build/venv's Python) and, when it is built, the REST gateway with
# the dashboard; prints the addresses; stops both on Ctrl-C.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
listen=${BACKTEST_LISTEN:-127.0.0.1:50051}
http=${GATEWAY_LISTEN:-127.0.0.1:8080}
db=${BACKTEST_DB:-var/backtest.db}
mkdir -p "$(dirname "$db")"

pids=()
stop() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
}
trap stop EXIT INT TERM

strategies=${BACKTEST_STRATEGY_DIR:-examples/strategies}
build/bin/backtestd --listen "$listen" --db "$db" --strategy-dir "$strategies" &
pids+=($!)
# Wait for health with a deadline.
for _ in $(seq 200); do
  if build/tools/bin/grpcurl -plaintext -max-time 1 "$listen" grpc.health.v1.Health/Check \
      >/dev/null 2>&1; then
    break
  fi
  kill -0 "${pids[0]}" 2>/dev/null || { echo "backtestd did not start" >&2; exit 1; }
  sleep 0.05
done

if [ -x build/bin/backtest-gateway ]; then
  build/bin/backtest-gateway --listen "$http" --backend "$listen" &
  pids+=($!)
fi

token_file="$(dirname "$db")/admin.token"
token=
[ -f "$token_file" ] && token=$(cat "$token_file")
echo
echo "backtestd is up."
echo "  gRPC:       $listen   (grpcurl -plaintext $listen list)"
if [ -x build/bin/backtest-gateway ]; then
  # The login link (Jupyter's convention): the dashboard stores the token and drops it from the
  # address. The token is URL-safe base64 with a prefix, so it goes in as it is.
  if [ -n "$token" ]; then
    echo "  dashboard:  http://$http/?token=$token"
  else
    echo "  dashboard:  http://$http/"
  fi
  echo "  REST:       http://$http/api/params/"
fi
if [ -n "$token" ]; then
  echo "  token:      $token   (Authorization: Token …; stored in $token_file)"
fi
echo "Press Ctrl-C to stop."
wait "${pids[0]}"
