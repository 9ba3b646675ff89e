#!/usr/bin/env bash
# Hundreds of malformed and hostile requests straight over gRPC (every RPC of backtest.v1), CSV
# files that are malformed in every way we know behind a file:// data source, and an http:// data
# server that sends garbage, too little, too much or nothing: each a clear error naming the problem
# (and for data, the file or URL and line); the server stays up, a canary job and preset come
# through intact, and the database holds no half-written rows (tests/e2e/python/grpc_bad_input.py).
. "$(dirname "$0")/lib.sh"
python=$ROOT/build/venv/bin/python
[ -x "$python" ] || { echo "no $python (run scripts/install-deps.sh)"; exit 1; }
mkdir -p "$WORK/data"
# A fetch that stalls fails after 3 s when the server has the flag (else it is only cancelled).
# Its CSV files are in $WORK/data, its data server on this machine's loopback.
args=(--workers 2 --memory-mb 512 --data-root "$WORK/data" --data-allow-network 127.0.0.1)
flag=
if "$BIN/backtestd" --help | grep -q -- --data-timeout-ms; then
  args+=(--data-timeout-ms 3000)
  flag=--timeout-flag
fi
start_server "$WORK/s" "${args[@]}"
rc=0
PYTHONPATH=$ROOT/tests/e2e/python "$python" "$ROOT/tests/e2e/python/grpc_bad_input.py" \
  "$SERVER_ADDR" "$(cat "$WORK/s/admin.token")" "$WORK/s/backtest.db" "$WORK/data" $flag || rc=$?
if ! kill -0 "$SERVER_PID" 2>/dev/null; then
  echo "FAIL the server died"; tail -n 20 "$WORK/s/server.log"; exit 1
fi
exit "$rc"
