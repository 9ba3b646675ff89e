#!/usr/bin/env bash
# The README's grpcurl session, command for command, against the built backtestd: list, describe,
# run a backtest, follow its log to the end, fetch the result, explain the run.
. "$(dirname "$0")/lib.sh"
grpcurl=$TOOLS/grpcurl

start_server "$WORK/s"
TOKEN=$(cat "$WORK/s/admin.token")
ADDR=$SERVER_ADDR
auth=(-H "authorization: Token $TOKEN")

check "list services" bash -c "'$grpcurl' -plaintext '$ADDR' list | grep -qx backtest.v1.TraceService"
check "describe RunBacktestRequest" bash -c "'$grpcurl' -plaintext '$ADDR' describe backtest.v1.RunBacktestRequest | grep -q 'params'"
check "a call without a token is UNAUTHENTICATED" bash -c "
  ! '$grpcurl' -plaintext -d '{}' '$ADDR' backtest.v1.BacktestService/ListJobs 2>'$WORK/unauth.err'
  grep -q Unauthenticated '$WORK/unauth.err'"

"$grpcurl" -plaintext "${auth[@]}" -d '{"params": {"strategy": "sma_cross", "symbols": "EURUSD",
    "timeframe": "H1", "start_date": "2022-01-01", "end_date": "2022-07-01"}}' \
  "$ADDR" backtest.v1.BacktestService/RunBacktest > "$WORK/run.json"
JOB=$(sed -n 's/.*"job_id": "\([0-9a-f]*\)".*/\1/p' "$WORK/run.json" | head -n1)
check "RunBacktest answers a job id" test -n "$JOB"

"$grpcurl" -plaintext "${auth[@]}" -max-time 120 -d "{\"job_id\": \"$JOB\"}" \
  "$ADDR" backtest.v1.BacktestService/StreamJobLog > "$WORK/log.json"
check "the followed log ends with finished" bash -c "grep -q '\"status\": \"finished\"' '$WORK/log.json'"
check "the log has progress" bash -c "grep -q '\"progress\"' '$WORK/log.json'"

"$grpcurl" -plaintext "${auth[@]}" -max-msg-sz 536870912 -d "{\"job_id\": \"$JOB\", \"max_candles\": 50}" \
  "$ADDR" backtest.v1.BacktestService/GetResult > "$WORK/result.json"
check "GetResult has candles, trades and stats" bash -c "
  grep -q '\"candles\"' '$WORK/result.json' && grep -q '\"trades\"' '$WORK/result.json' && grep -q '\"sharpe\"' '$WORK/result.json'"

"$grpcurl" -plaintext "${auth[@]}" -d "{\"job_id\": \"$JOB\"}" \
  "$ADDR" backtest.v1.TraceService/Explain > "$WORK/explain.json"
check "Explain of the whole run has a summary" bash -c "grep -q '\"summary\"' '$WORK/explain.json'"
finish
