#!/usr/bin/env bash
# A user's own quota set with `backtestd user limits` while the server runs: it applies from the
# user's next submission (RESOURCE_EXHAUSTED naming it), other users keep the server's, and
# `default` gives the server's back; bad values are refused naming the flag (docs/operations.md,
# "Quotas").
. "$(dirname "$0")/lib.sh"
start_server "$WORK/s" --workers 1
db=$WORK/s/backtest.db
cli() { "$BIN/backtestd" --db "$db" "$@"; }
token() { cli user add "$1" | sed -n 's/^token (shown once, keep it): //p'; }
alice=$(token alice)
bob=$(token bob)
# submit TOKEN: RunBacktest of a long minute-bar run; prints grpcurl's answer, or its error.
submit() {
  "$TOOLS/grpcurl" -plaintext -H "authorization: Token $1" -d '{"params": {"strategy": "sma_cross",
    "symbols": "EURUSD", "timeframe": "M1", "start_date": "2000-01-01", "end_date": "2026-01-01"}}' \
    "$SERVER_ADDR" backtest.v1.BacktestService/RunBacktest 2>&1 || true
}
check "alice submits (no limit anywhere)" grep -q '"job_id"' <<<"$(submit "$alice")"
check "limits set while the server runs" grep -qx 'alice: max_active_jobs=1 submissions_per_minute=default' \
  <<<"$(cli user limits alice --max-active-jobs 1)"
refused=$(submit "$alice")
check "alice's next submission is refused by her own limit" \
  grep -q 'the most allowed per user (1)' <<<"$refused"
check "… as RESOURCE_EXHAUSTED" grep -q 'Code: ResourceExhausted' <<<"$refused"
check "bob keeps the server's (none)" grep -q '"job_id"' <<<"$(submit "$bob")"
check "user list shows alice's limit" grep -qx 'alice max_active_jobs=1 submissions_per_minute=default' \
  <<<"$(cli user list)"
cli user limits alice --max-active-jobs default >/dev/null
check "default gives the server's back" grep -q '"job_id"' <<<"$(submit "$alice")"
check "a bad value is refused naming the flag" \
  grep -q -- '--submissions-per-minute: expected a number >= 0 (0: no limit) or "default", got "-3"' \
  <<<"$(cli user limits alice --submissions-per-minute -3 2>&1 || true)"
check "an unknown user is named" grep -q 'no user "nobody"' <<<"$(cli user limits nobody 2>&1 || true)"
finish
