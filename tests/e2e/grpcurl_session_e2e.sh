#!/usr/bin/env bash
# The README's grpcurl session ("Running the server by hand"), line for line, against the built
# backtestd: list, describe, health, a call without a token, the parameters, run a backtest, follow
# its log to the end, fetch the result, explain the run. Every line below must appear verbatim in
# README.md (so the two cannot drift apart); each is run with eval, with $grpcurl, $ADDR and
# $TOKEN pointing at this test's grpcurl and server.
. "$(dirname "$0")/lib.sh"

start_server "$WORK/s"
grpcurl=$TOOLS/grpcurl
ADDR=$SERVER_ADDR
TOKEN=$(cat "$WORK/s/admin.token")

# The session, as README.md shows it (a quoted heredoc: no expansion here, eval does it below).
mapfile -t session <<'SESSION'
$grpcurl -plaintext $ADDR list
$grpcurl -plaintext $ADDR describe backtest.v1.RunBacktestRequest
$grpcurl -plaintext $ADDR grpc.health.v1.Health/Check
$grpcurl -plaintext -d '{}' $ADDR backtest.v1.BacktestService/ListJobs    # no token: Unauthenticated
auth="authorization: Token $TOKEN"
$grpcurl -plaintext -H "$auth" -d '{"strategy": "sma_cross"}' $ADDR backtest.v1.BacktestService/ListParams
JOB=$($grpcurl -plaintext -H "$auth" -d '{"params": {"strategy": "sma_cross", "symbols": "EURUSD", "timeframe": "H1", "start_date": "2022-01-01", "end_date": "2022-07-01"}}' $ADDR backtest.v1.BacktestService/RunBacktest | tee /dev/stderr | sed -n 's/.*"job_id": "\([0-9a-f]*\)".*/\1/p' | head -n1)
$grpcurl -plaintext -H "$auth" -max-time 120 -d "{\"job_id\": \"$JOB\"}" $ADDR backtest.v1.BacktestService/StreamJobLog
$grpcurl -plaintext -H "$auth" -max-msg-sz 536870912 -d "{\"job_id\": \"$JOB\", \"max_candles\": 50}" $ADDR backtest.v1.BacktestService/GetResult
$grpcurl -plaintext -H "$auth" -d "{\"job_id\": \"$JOB\"}" $ADDR backtest.v1.TraceService/Explain
SESSION

readme_shows_session() {
  local line missing=0
  for line in "${session[@]}"; do
    grep -Fxq -- "$line" "$ROOT/README.md" || { echo "not in README.md: $line"; missing=1; }
  done
  return "$missing"
}
check "README.md shows this session, line for line" readme_shows_session

# Run the session as a reader would, in a scratch directory; step N's output is in stepN.out.
cd "$WORK"
step=0
for line in "${session[@]}"; do
  step=$((step + 1))
  code=0
  eval "$line" >"$WORK/step$step.out" 2>&1 || code=$?
  echo "$code" >"$WORK/step$step.rc"
done
out() { cat "$WORK/step$1.out"; }
ok_step() { [ "$(cat "$WORK/step$1.rc")" -eq 0 ] || { echo "step $1 exited $(cat "$WORK/step$1.rc"):"; out "$1"; return 1; }; }

check "list names the three services" bash -c "grep -qx backtest.v1.TraceService '$WORK/step1.out' &&
  grep -qx backtest.v1.BacktestService '$WORK/step1.out' && grep -qx backtest.v1.PresetService '$WORK/step1.out'"
check "describe RunBacktestRequest shows params" bash -c "grep -q 'params' '$WORK/step2.out'"
check "health is SERVING without a token" bash -c "grep -q '\"status\": \"SERVING\"' '$WORK/step3.out'"
check "a call without a token is UNAUTHENTICATED" bash -c "
  [ \"\$(cat '$WORK/step4.rc')\" -ne 0 ] && grep -q Unauthenticated '$WORK/step4.out'"
check "ListParams with the token lists fast_period" bash -c "grep -q '\"name\": \"fast_period\"' '$WORK/step6.out'"
check "RunBacktest answers a job id" bash -c "[ -n '$JOB' ] && grep -q '\"status\": \"queued\"' '$WORK/step7.out'"
check "the followed log ends with finished" bash -c "grep -q '\"status\": \"finished\"' '$WORK/step8.out'"
check "the log has progress" bash -c "grep -q '\"progress\"' '$WORK/step8.out'"
check "GetResult has candles, trades and stats" bash -c "
  grep -q '\"candles\"' '$WORK/step9.out' && grep -q '\"trades\"' '$WORK/step9.out' && grep -q '\"sharpe\"' '$WORK/step9.out'"
check "Explain of the whole run has a summary" bash -c "grep -q '\"summary\"' '$WORK/step10.out'"
check "every step but the unauthenticated one exited 0" bash -c "
  for s in 1 2 3 5 6 7 8 9 10; do [ \"\$(cat '$WORK/step'\$s'.rc')\" -eq 0 ] || { echo step \$s; exit 1; }; done"
finish
