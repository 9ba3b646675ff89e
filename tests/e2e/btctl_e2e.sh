#!/usr/bin/env bash
# btctl against the built backtestd: run (--wait, --follow, progress bar on a terminal, exit codes
# by end state), status, jobs, logs (--from-seq, resuming through a connection-dropping proxy),
# result formats, cancel, presets, trace, explain, params, and the error exit codes.
. "$(dirname "$0")/lib.sh"
btctl=$BIN/btctl
python=$ROOT/build/venv/bin/python
[ -x "$python" ] || python=python3

start_server "$WORK/s" --data-root "$WORK"
export BACKTEST_SERVER=$SERVER_ADDR
BACKTEST_TOKEN=$(cat "$WORK/s/admin.token")
export BACKTEST_TOKEN
small=(-p strategy=sma_cross -p symbols=EURUSD -p timeframe=H1
       -p start_date=2022-01-01 -p end_date=2022-07-01)
# Minute bars over decades: runs long enough to be cancelled.
long=(-p symbols=EURUSD -p timeframe=M1 -p start_date=2000-01-01 -p end_date=2026-01-01)
out=$WORK/out
err=$WORK/err

# rc WANT COMMAND...: runs the command (stdout to $out, stderr to $err) and wants that exit code.
rc() {
  local want=$1; shift
  local got=0
  "$@" >"$out" 2>"$err" || got=$?
  [ "$got" -eq "$want" ] || { echo "exit code $got, want $want"; cat "$out" "$err"; return 1; }
}
has() { grep -Eq -- "$1" "${2:-$out}" || { echo "no /$1/ in:"; cat "${2:-$out}"; return 1; }; }
json_get() { "$python" -c "import json,sys; d=json.load(open(sys.argv[1])); print($2)" "$1"; }

# --- run ----------------------------------------------------------------------------------------
run_wait() {
  rc 0 "$btctl" run "${small[@]}" --wait &&
    [ "$(wc -l <"$out")" -eq 1 ] && has '^[0-9a-f]{16,}$' && has 'finished' "$err"
}
check "run --wait exits 0 when the job finished and prints only its id" run_wait
JOB=$(head -n1 "$out")

run_follow_pipe() {
  rc 0 "$btctl" run "${small[@]}" --follow && has '^[0-9a-f]{16,}$' &&
    has '^ +1 [0-9T:.-]+Z status +queued' && has 'progress running' &&
    has 'status +finished$' && ! grep -q $'\r' "$out" && ! grep -q $'\033' "$out"
}
check "run --follow streams the log, no bar or colour into a pipe" run_follow_pipe

run_follow_tty() {
  # A terminal (script(1) gives one): the bar is drawn in place and has an ETA.
  local cmd
  cmd=$(printf '%q ' "$btctl" run -p symbols=EURUSD -p timeframe=M1 -p start_date=2020-01-01 \
    -p end_date=2022-01-01 --follow)
  TERM=xterm script -qfec "$cmd" /dev/null >"$out" 2>&1 </dev/null &&
    has $'\r\\[#*\\.*\\] +[0-9.]+%' && has 'ETA' && has 'finished'
}
check "run --follow on a terminal draws a progress bar with an ETA" run_follow_tty

run_follow_json() {
  rc 0 "$btctl" run "${small[@]}" --follow --json &&
    head -n1 "$out" | grep -q '"job_id"' && tail -n1 "$out" | grep -q '"status":"finished"'
}
check "run --follow --json prints the answer and events as JSON lines" run_follow_json

# --- status, jobs ---------------------------------------------------------------------------------
check "status shows the finished job" bash -c "
  '$btctl' status $JOB | grep -Eq '^status +finished' && '$btctl' status $JOB | grep -Eq '^job +$JOB'"
status_json() {
  rc 0 "$btctl" status "$JOB" --json && has '"job_id": "'"$JOB" && has '"last_seq"' &&
    [ "$(json_get "$out" 'd["job"]["params"]["strategy"]')" = sma_cross ]
}
check "status --json is the job with proto field names" status_json
check "status --params lists every parameter" bash -c "'$btctl' status $JOB --params | grep -Eq '^  fast_period +10'"
jobs_list() {
  rc 0 "$btctl" jobs && has '^JOB +STATUS' && has "^$JOB +finished" &&
    rc 0 "$btctl" jobs --limit 1 && [ "$(wc -l <"$out")" -eq 2 ] &&
    rc 0 "$btctl" jobs --status failed && [ ! -s "$out" ]
}
check "jobs lists jobs; --limit and --status filter" jobs_list

# --- logs ---------------------------------------------------------------------------------------
"$btctl" logs "$JOB" --json >"$WORK/all.jsonl"
N=$(wc -l <"$WORK/all.jsonl")
logs_from_seq() {
  rc 0 "$btctl" logs "$JOB" --json --from-seq 5 &&
    head -n1 "$out" | grep -q '"seq":5,' && [ "$(wc -l <"$out")" -eq $((N - 4)) ] &&
    rc 0 "$btctl" logs "$JOB" --from-seq "$N" && [ "$(wc -l <"$out")" -eq 1 ] &&
    has "^ *$N .*status +finished"
}
check "logs --from-seq N starts at seq N ($N events)" logs_from_seq

logs_resume() {
  # Every connection of the first three is cut after 6 KB: btctl resumes each time from the last
  # seq + 1, and prints every event exactly once.
  "$python" "$ROOT/tests/e2e/python/drop_proxy.py" --upstream "$SERVER_ADDR" \
    --port-file "$WORK/proxy.addr" --cut-bytes 6000 --cuts 3 &
  PIDS+=($!)
  local deadline=$((SECONDS + 10))
  while [ ! -s "$WORK/proxy.addr" ] && [ $SECONDS -lt $deadline ]; do sleep 0.05; done
  rc 0 "$btctl" --server "$(cat "$WORK/proxy.addr")" logs "$JOB" --follow --json &&
    cmp -s "$out" "$WORK/all.jsonl" && [ "$(grep -c 'resuming from seq' "$err")" -eq 3 ] ||
    { echo "resumed log differs or did not resume 3 times:"; cat "$err"; return 1; }
}
check "logs --follow resumes by itself after dropped connections" logs_resume

# --- result ---------------------------------------------------------------------------------------
result_formats() {
  rc 0 "$btctl" result "$JOB" && has '^STAT +VALUE' && has '^sharpe ' && has '^long_stats\.trades ' &&
    has '^digest +[0-9a-f]{64}$' || return 1
  rc 0 "$btctl" result "$JOB" --format json || return 1
  cp "$out" "$WORK/result.json"
  local trades
  trades=$(json_get "$WORK/result.json" 'len(d["trades"])')
  [ "$trades" -gt 0 ] && [ "$(json_get "$WORK/result.json" 'len(d["candles"])')" -gt 0 ] &&
    [ "$(json_get "$WORK/result.json" 'd["stats"]["trades"]')" = "$trades" ] || return 1
  rc 0 "$btctl" result "$JOB" --format csv && has '^id,symbol,side,entry_time,' &&
    [ "$(wc -l <"$out")" -eq $((trades + 1)) ] || return 1
  rc 0 "$btctl" result "$JOB" --format json --max-candles 7 &&
    [ "$(json_get "$out" 'len(d["candles"])')" -eq 7 ]
}
check "result: stats table, full JSON, trades as CSV" result_formats
check "result --format xml is a usage error (3)" rc 3 "$btctl" result "$JOB" --format xml

# --- compare ------------------------------------------------------------------------------------
CJOB=$("$btctl" run "${small[@]}" -p fast_period=14 --wait 2>/dev/null)
compare_tables() {
  rc 0 "$btctl" compare "$JOB" "$CJOB" && has "^1 +$JOB +sma_cross" && has "^2 +$CJOB" &&
    has '^PARAMETER +#1 +#2' && has '^fast_period +10 +14' && has '^STATISTIC +#1 +#2 +DIFF' &&
    has '^long_stats\.trades ' && has '^equity: 2 curves on [0-9]+ times' &&
    rc 0 "$btctl" compare "$JOB" "$CJOB" --differing && ! has '^bars ' >/dev/null
}
check "compare prints the jobs, the parameters that differ and the statistics" compare_tables
compare_json() {
  rc 0 "$btctl" compare "$JOB,$CJOB" --json --max-points 40 &&
    [ "$(json_get "$out" 'len(d["equity"]["times"])')" = 40 ] &&
    [ "$(json_get "$out" '[p["name"] for p in d["differing_params"]]')" = "['fast_period']" ]
}
check "compare --json is the answer (ids may be comma-separated)" compare_json
compare_csv() {
  rc 0 "$btctl" compare "$JOB" "$CJOB" --equity --max-points 10 && has "^time,$JOB,$CJOB\$" &&
    [ "$(wc -l <"$out")" -eq 11 ] && has '^2022-0[0-9-]+T[0-9:]+Z,[0-9.]+,[0-9.]+$'
}
check "compare --equity prints the aligned curves as CSV" compare_csv
check "compare of one job is a usage error (3) naming jobs" bash -c "
  '$btctl' compare $JOB 2>&1 >/dev/null; test \$? -eq 3 && '$btctl' compare $JOB 2>&1 | grep -q 'jobs: compare 2 to 8'"

# --- cancel ---------------------------------------------------------------------------------------
cancel_running() {
  "$btctl" run "${long[@]}" --wait >"$WORK/long.out" 2>"$WORK/long.err" &
  local waiter=$! deadline=$((SECONDS + 20)) job=""
  while [ $SECONDS -lt $deadline ]; do
    job=$(head -n1 "$WORK/long.out" 2>/dev/null || true)
    [ -n "$job" ] && "$btctl" status "$job" | grep -Eq '^status +running' && break
    sleep 0.1
  done
  rc 0 "$btctl" cancel "$job" || return 1
  local got=0
  wait "$waiter" || got=$?
  [ "$got" -eq 2 ] || { echo "run --wait exited $got, want 2 (cancelled)"; cat "$WORK/long.err"; return 1; }
  grep -q cancelled "$WORK/long.err" && "$btctl" status "$job" | grep -Eq '^status +cancelled' &&
    rc 1 "$btctl" cancel "$job" && has 'FAILED_PRECONDITION' "$err"
}
check "cancel stops a running job; run --wait exits 2; cancelling again exits 1" cancel_running

run_failed() {
  mkdir -p "$WORK/nodata"
  rc 1 "$btctl" run -p "data_source=file://$WORK/nodata" --wait && has 'failed .*: no data for' "$err"
}
check "run --wait exits 1 when the job failed, with its error" run_failed

# --- presets -------------------------------------------------------------------------------------
presets() {
  rc 0 "$btctl" presets save e2e -p rr=3 -p symbols=EURUSD -p strategy=sma_cross -p timeframe=H4 &&
    has '^created preset e2e' || return 1
  rc 0 "$btctl" presets save e2e -p rr=3 -p symbols=EURUSD -p strategy=sma_cross -p timeframe=D1 &&
    has '^replaced preset e2e' || return 1
  rc 0 "$btctl" presets list && has '^e2e$' || return 1
  rc 0 "$btctl" presets get e2e && has '^rr +3$' && has '^timeframe +D1$' || return 1
  rc 0 "$btctl" presets get e2e --json && has '"name": "e2e"' || return 1
  local job
  rc 0 "$btctl" run --preset e2e -p start_date=2022-01-01 -p end_date=2022-06-01 --wait || return 1
  job=$(head -n1 "$out")
  rc 0 "$btctl" status "$job" --json &&
    [ "$(json_get "$out" 'd["job"]["params"]["rr"]')" = 3 ] &&
    [ "$(json_get "$out" 'd["job"]["preset"]')" = e2e ] || return 1
  rc 0 "$btctl" presets delete e2e && rc 1 "$btctl" presets get e2e && has 'NOT_FOUND' "$err" &&
    rc 1 "$btctl" presets delete e2e
}
check "presets save/list/get/delete, and run --preset" presets

# --- trace, explain -------------------------------------------------------------------------------
rc 0 "$btctl" run -p strategy=sr_breakout -p symbols=EURUSD -p timeframe=H1 \
  -p start_date=2022-01-01 -p end_date=2022-07-01 -p trace_enabled=true --wait
TJOB=$(head -n1 "$out")
trace() {
  rc 0 "$btctl" trace "$TJOB" --bar-index 100 --limit 5 && has '^ *SEQ +BAR +TIME' &&
    [ "$(wc -l <"$out")" -le 6 ] && [ "$(awk 'NR>1 && $2!=100' "$out" | wc -l)" -eq 0 ] &&
    has '^rows 1-[1-5] of [0-9]+' "$err" || return 1
  rc 0 "$btctl" trace "$TJOB" --section signal --kind check --limit 3 &&
    [ "$(awk 'NR>1 && ($5!="signal" || $6!="check")' "$out" | wc -l)" -eq 0 ] || return 1
  rc 0 "$btctl" trace "$TJOB" --limit 2 --offset 3 --json && has '"items"' && has '"count"' &&
    [ "$(json_get "$out" 'd["items"][0]["seq"]')" = 4 ] || return 1
  local ts
  ts=$(json_get "$out" 'd["items"][0]["ts"]')
  rc 0 "$btctl" trace "$TJOB" --ts "$ts" --symbol EURUSD --limit 1 && has 'EURUSD'
}
check "trace filters: --bar-index --section --kind --ts --symbol --limit --offset" trace
explain() {
  rc 0 "$btctl" explain "$TJOB" && has '^REASON +COUNT +SAMPLE BARS' || return 1
  rc 0 "$btctl" explain "$TJOB" --bar-index 100 && has '^bar 100 ' || return 1
  local ts
  ts=$(json_get <("$btctl" explain "$TJOB" --bar-index 100 --json) 'd["ts"]')
  rc 0 "$btctl" explain "$TJOB" --ts "$ts" && has '^bar 100 ' || return 1
  rc 0 "$btctl" explain "$TJOB" --bar-index 100 --include signal &&
    ! has '^indicators:$' >/dev/null || return 1
  rc 3 "$btctl" explain "$TJOB" --bar-index 1 --ts 0
}
check "explain: the whole run, --bar-index, --ts, --include" explain

# --- params ---------------------------------------------------------------------------------------
params() {
  rc 0 "$btctl" params && has '^NAME +ALIAS +TYPE +GROUP +DEFAULT' && has '^rr +RR +double +risk +2 ' &&
    has '^timeframe .*M1\|M5' || return 1
  rc 0 "$btctl" params --strategy sma_cross && has '^fast_period ' && ! has '^ema_length ' >/dev/null &&
    rc 0 "$btctl" params --json && has '"params"'
}
check "params: the registry as a table" params

# --- errors and exit codes ------------------------------------------------------------------------
check "a bad value exits 3 with the server's message naming the parameter" bash -c "
  '$btctl' run -p rr=-1 2>'$err'; [ \$? -eq 3 ] && grep -q 'rr: must be' '$err' && grep -q INVALID_ARGUMENT '$err'"
check "an unknown parameter exits 3 naming it" bash -c "
  '$btctl' run -p no_such_param=1 2>'$err'; [ \$? -eq 3 ] && grep -q 'no_such_param' '$err'"
check "a malformed --param exits 3" bash -c "
  '$btctl' run -p rr 2>'$err'; [ \$? -eq 3 ] && grep -q 'NAME=VALUE' '$err'"
check "no token exits 3 and says where a token comes from" bash -c "
  cd '$WORK' && env -u BACKTEST_TOKEN '$btctl' jobs 2>'$err'; [ \$? -eq 3 ] && grep -q 'no token' '$err'"
check "a wrong token exits 3 (UNAUTHENTICATED)" bash -c "
  '$btctl' --token nope jobs 2>'$err'; [ \$? -eq 3 ] && grep -q UNAUTHENTICATED '$err'"
check "an unknown job exits 1 (NOT_FOUND)" bash -c "
  '$btctl' status 0123456789abcdef 2>'$err'; [ \$? -eq 1 ] && grep -q NOT_FOUND '$err'"
check "an unreachable server exits 3" bash -c "
  '$btctl' --server 127.0.0.1:1 --timeout 5 jobs 2>'$err'; [ \$? -eq 3 ] && grep -q 'cannot reach' '$err'"
check "health answers SERVING without a token" bash -c "
  env -u BACKTEST_TOKEN '$btctl' --token-file /nonexistent health | grep -qx SERVING"
check "an unknown subcommand exits 3" bash -c "'$btctl' frobnicate 2>/dev/null; [ \$? -eq 3 ]"
check "the token file var/admin.token relative to the working directory" bash -c "
  mkdir -p '$WORK/cwd/var' && cp '$WORK/s/admin.token' '$WORK/cwd/var/' && cd '$WORK/cwd' &&
  env -u BACKTEST_TOKEN '$btctl' jobs --limit 1 | grep -q '^JOB'"
check "--token-file and global flags after the subcommand" bash -c "
  env -u BACKTEST_TOKEN -u BACKTEST_SERVER '$btctl' jobs --limit 1 --server '$SERVER_ADDR' \
    --token-file '$WORK/s/admin.token' | grep -q '^JOB'"
finish
