#!/usr/bin/env bash
# The built backtestd boots, answers grpcurl through reflection and health, fails clearly on bad
# flags, an unusable database or a port in use, and stops cleanly on SIGTERM.
. "$(dirname "$0")/lib.sh"
grpcurl=$TOOLS/grpcurl

start_server "$WORK/a"
check "reflection lists the services" bash -c "
  out=\$('$grpcurl' -plaintext '$SERVER_ADDR' list)
  for s in backtest.v1.BacktestService backtest.v1.PresetService backtest.v1.TraceService grpc.health.v1.Health; do
    grep -qx \"\$s\" <<<\"\$out\" || { echo \"missing \$s in: \$out\"; exit 1; }
  done"
check "describe shows RunBacktest" bash -c "'$grpcurl' -plaintext '$SERVER_ADDR' describe backtest.v1.BacktestService | grep -q 'rpc RunBacktest'"
check "health is SERVING" bash -c "'$grpcurl' -plaintext '$SERVER_ADDR' grpc.health.v1.Health/Check | grep -q SERVING"
TOKEN=$(cat "$WORK/a/admin.token")
check "ListParams over reflection" bash -c "
  '$grpcurl' -plaintext -H 'authorization: Token $TOKEN' -d '{}' '$SERVER_ADDR' backtest.v1.BacktestService/ListParams > '$WORK/params.json'
  grep -q '\"name\": \"breakout_lookback_period\"' '$WORK/params.json' && grep -q '\"alias\": \"BACKTEST_FETCH_CSV_URL\"' '$WORK/params.json'"
check "a port in use is a one-line error" bash -c "
  ! '$BIN/backtestd' --listen '$SERVER_ADDR' --db '$WORK/b/backtest.db' 2>'$WORK/inuse.err'
  [ \$(grep -c '^backtestd: ' '$WORK/inuse.err') -eq 1 ] && grep -q 'cannot listen on' '$WORK/inuse.err'"
check "a bad flag is a one-line error" bash -c "
  ! '$BIN/backtestd' --no-such-flag 2>'$WORK/flag.err'
  [ \$(wc -l < '$WORK/flag.err') -eq 1 ] && grep -q 'no-such-flag' '$WORK/flag.err'"
check "an unusable database path is a one-line error" bash -c "
  touch '$WORK/plainfile'
  ! '$BIN/backtestd' --listen 127.0.0.1:0 --db '$WORK/plainfile/sub/backtest.db' 2>'$WORK/db.err'
  [ \$(grep -c '^backtestd: ' '$WORK/db.err') -eq 1 ] && grep -q 'cannot create directory' '$WORK/db.err'"
check "SIGTERM stops the server cleanly" bash -c "
  kill -TERM $SERVER_PID
  for i in \$(seq 100); do kill -0 $SERVER_PID 2>/dev/null || exit 0; sleep 0.05; done; exit 1"
wait "$SERVER_PID"; rc=$?
check "exit status 0 after SIGTERM" test "$rc" -eq 0
check "the database is intact" bash -c "[ \"\$(sqlite3 '$WORK/a/backtest.db' 'PRAGMA integrity_check')\" = ok ]"
finish
