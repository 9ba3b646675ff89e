#!/usr/bin/env bash
# Sweeps through btctl against the built backtestd (docs/sweeps.md): the count before running,
# a sweep run to its end, its summary, rows best first, a row opened as a job with the row's
# stats; then kill -9 of the server in the middle of a sweep and a restart on the same database:
# the sweep is queued again and resumes, its rows until then kept (not run again), to its end.
. "$(dirname "$0")/lib.sh"
btctl=$BIN/btctl
python=$ROOT/build/venv/bin/python
[ -x "$python" ] || python=python3

start_server "$WORK/s"
export BACKTEST_SERVER=$SERVER_ADDR
BACKTEST_TOKEN=$(cat "$WORK/s/admin.token")
export BACKTEST_TOKEN
base=(-p strategy=sma_cross -p symbols=EURUSD -p timeframe=H1 -p start_date=2022-01-01
      -p end_date=2023-01-01)
ranges=(-r fast_period=5:20:5 -r slow_period=10,30 -c "fast_period < slow_period"
        --objective return_pct)
out=$WORK/out
err=$WORK/err
json_get() { "$python" -c "import json,sys; d=json.load(open(sys.argv[1])); print($2)" "$1"; }

dry_run() {
  "$btctl" sweep run "${base[@]}" "${ranges[@]}" --dry-run >"$out" &&
    grep -qx '5 combinations (grid of 8)' "$out"
}
check "sweep run --dry-run prints the combination count" dry_run

run_wait() {
  "$btctl" sweep run "${base[@]}" "${ranges[@]}" --wait >"$out" 2>"$err" &&
    grep -Eq '^[0-9a-f]{32}$' "$out" && grep -q finished "$err"
}
check "sweep run --wait runs every combination to the end" run_wait
SWEEP=$(head -n1 "$out")

show() {
  "$btctl" sweep show "$SWEEP" >"$out" && grep -q "finished, 5 of 5 combinations (0 failed)" "$out" &&
    grep -q '^best: row ' "$out" && grep -q '^distribution of 5 rows' "$out"
}
check "sweep show: progress, best row, distribution" show

rows_and_open() {
  "$btctl" sweep rows "$SWEEP" --json >"$out" &&
    [ "$(json_get "$out" 'len(d["rows"])')" -eq 5 ] &&
    local row return_pct job
  row=$(json_get "$out" 'd["rows"][0]["row"]')
  return_pct=$(json_get "$out" 'repr(d["rows"][0]["stats"]["return_pct"])')
  [ "$(json_get "$out" 'd["rows"][0]["objective"] >= d["rows"][-1]["objective"]')" = True ] &&
    job=$("$btctl" sweep open "$SWEEP" "$row") || return 1
  for _ in $(seq 1 600); do  # until the job has finished (a deadline, not a sleep to wait)
    "$btctl" result "$job" --format json >"$out" 2>/dev/null && break
    sleep 0.05
  done
  [ "$(json_get "$out" 'repr(d["stats"]["return_pct"])')" = "$return_pct" ]
}
check "sweep rows best first; the best row opened as a job has its stats" rows_and_open

bad_range() {
  ! "$btctl" sweep run "${base[@]}" -r symbols=EURUSD 2>"$err" &&
    grep -q 'ranges\[0\].name: symbols cannot vary' "$err"
}
check "a bad range is refused naming the field" bad_range

# --- kill -9 of the server in the middle of a sweep -------------------------------------------
kill_mid_sweep() {
  "$btctl" sweep run -p strategy=sma_cross -p symbols=EURUSD -p timeframe=M1 \
    -p start_date=2015-01-01 -p end_date=2016-01-01 -r fast_period=2:60 -r slow_period=61:120 \
    >"$out" 2>"$err" || return 1
  local id done_before
  id=$(head -n1 "$out")
  for _ in $(seq 1 600); do  # until some rows are stored (a deadline, not a sleep to wait)
    "$btctl" sweep show "$id" --json >"$out" 2>/dev/null &&
      done_before=$(json_get "$out" 'd["sweep"].get("rows_done", 0)') &&
      [ "${done_before:-0}" -gt 0 ] && break
    sleep 0.05
  done
  [ "${done_before:-0}" -gt 0 ] || { echo "no rows stored"; return 1; }
  kill -9 "$SERVER_PID"
  wait "$SERVER_PID" 2>/dev/null
  start_server "$WORK/s" || return 1
  export BACKTEST_SERVER=$SERVER_ADDR
  "$btctl" sweep show "$id" --json >"$out" || return 1
  [ "$(json_get "$out" 'd["sweep"]["rows_done"] >= '"$done_before"'')" = True ] || return 1
  local status=
  for _ in $(seq 1 1200); do  # until it ends (a deadline, not a sleep to wait)
    "$btctl" sweep show "$id" --json >"$out" 2>/dev/null &&
      status=$(json_get "$out" 'd["sweep"]["job"]["status"]') &&
      case $status in finished|failed|cancelled) break ;; esac
    sleep 0.05
  done
  [ "$status" = finished ] &&
    [ "$(json_get "$out" 'd["sweep"]["rows_done"] == d["sweep"]["combinations"] and d["sweep"]["rows_failed"] == 0')" = True ] &&
    "$btctl" logs "$id" >"$out" 2>&1 && grep -q "queued again: the sweep resumes" "$out" &&
    grep -Eq ", [1-9][0-9]* stored before" "$out"
}
check "kill -9 mid-sweep: after the restart the sweep resumes with its rows kept, to its end" kill_mid_sweep
finish
