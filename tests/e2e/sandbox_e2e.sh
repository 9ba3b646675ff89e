#!/usr/bin/env bash
# User strategies are untrusted (docs/sandbox.md). Hostile programs (tests/e2e/sandbox/) run in
# the sandbox through sandbox_run, which uses the server's own code (Sandbox::Detect, Build,
# RunnerProcess::Spawn) with the build's Python: each ends as a failure with a clear reason and
# breaches nothing (a program that gets through prints BREACH); nothing of the sandbox's user is
# left running; a backtestd running beside them, whose database, token and environment they go
# after, is unharmed. Printing 1 GB is bounded by the kept-output budget instead (the job path's).
# bubblewrap is required (scripts/install-deps.sh installs it): without it this test fails.
. "$(dirname "$0")/lib.sh"
PY=$ROOT/build/venv/bin/python
RUN=$BIN/sandbox_run
HOSTILE=$ROOT/tests/e2e/sandbox
# A user and group of their own for these runs (when run as root), so that counting the
# sandbox's processes counts these only.
SB_UID=$((61000 + RANDOM % 4000))
LIMITS=(--uid "$SB_UID" --gid "$SB_UID" --cpu-seconds 5 --memory-mb 1024 --processes 16
  --file-size-mb 16 --tmp-mb 64 --timeout-s 60 --strategy-dir "$HOSTILE")

check "bubblewrap is installed" command -v bwrap
check "the build's Python is there" test -x "$PY"

# The server the hostile programs go after: its database, token and environment.
export BACKTEST_E2E_SECRET=e2e-secret-$RANDOM$RANDOM
start_server "$WORK/srv"
PORT=${SERVER_ADDR##*:}

# run NAME [sandbox_run flags] -- PROGRAM ARGS: the JSON in $WORK/NAME.json, the kept lines in
# $WORK/NAME.log.
run() {
  local name=$1; shift
  "$RUN" --log "$WORK/$name.log" "$@" >"$WORK/$name.json" 2>"$WORK/$name.err" || true
}
field() { jq -r ".$2" "$WORK/$1.json"; }
# No process of the sandbox's user left (polled: the kernel reaps a killed namespace promptly).
none_left() {
  [ "$(id -u)" -eq 0 ] || return 0
  local deadline=$((SECONDS + 10))
  while [ $SECONDS -lt $deadline ]; do
    pgrep -u "$SB_UID" >/dev/null || return 0
    sleep 0.05
  done
  echo "left running:"; ps -o pid,uid,args -u "$SB_UID"; return 1
}
# ended NAME REASON_REGEX: failed, its reason matches, no BREACH, nothing left running.
ended() {
  local name=$1 pattern=$2
  if [ "$(field "$name" end)" != failed ] || ! field "$name" reason | grep -Eq "$pattern"; then
    cat "$WORK/$name.json" "$WORK/$name.err"; return 1
  fi
  if grep -q BREACH "$WORK/$name.log"; then grep BREACH "$WORK/$name.log"; return 1; fi
  none_left
}

run network "${LIMITS[@]}" -- "$PY" network.py "$PORT"
check "network: every socket refused (loopback to backtestd, outside, IPv6, netlink, packet)" bash -c "
  $(declare -f field ended none_left); WORK='$WORK' SB_UID=$SB_UID
  ended network 'exited with code 1: PermissionError: \[Errno 13\] Permission denied' &&
  [ \$(grep -Ec '^stderr: (tcp|udp|netlink|packet).*Permission denied$' '$WORK/network.log') -eq 6 ]"

run read_secrets "${LIMITS[@]}" -- "$PY" read_secrets.py \
  "$WORK/srv/backtest.db" "$WORK/srv/admin.token" "$SERVER_PID"
check "secrets: /etc/shadow, the database, the token, the server's /proc are not there" bash -c "
  $(declare -f field ended none_left); WORK='$WORK' SB_UID=$SB_UID
  ended read_secrets \"FileNotFoundError: \\[Errno 2\\] No such file or directory: '/etc/shadow'\" &&
  grep -q \"'$WORK/srv/backtest.db'\" '$WORK/read_secrets.log' &&
  grep -q \"'$WORK/srv/admin.token'\" '$WORK/read_secrets.log'"

run environment "${LIMITS[@]}" -- "$PY" environment.py BACKTEST_E2E_SECRET
check "environment: the server's is nowhere in sight" bash -c "
  $(declare -f field ended none_left); WORK='$WORK' SB_UID=$SB_UID
  ended environment 'RuntimeError: BACKTEST_E2E_SECRET is nowhere in sight' &&
  ! grep -q '$BACKTEST_E2E_SECRET' '$WORK/environment.log' '$WORK/environment.json'"

run write_outside "${LIMITS[@]}" -- "$PY" write_outside.py "$WORK/pwned"
check "writes: only the private /tmp is writable" bash -c "
  $(declare -f field ended none_left); WORK='$WORK' SB_UID=$SB_UID
  ended write_outside \"OSError: \\[Errno 30\\] Read-only file system: '/strategy/pwned'\" &&
  [ ! -e '$WORK/pwned' ] && [ ! -e '$HOSTILE/pwned' ]"

# The fork bomb's processes, counted from outside while it runs: never past its limit of 8.
run fork_bomb "${LIMITS[@]}" --processes 8 --cpu-seconds 1 -- "$PY" fork_bomb.py &
bomb=$!
most=0
while kill -0 "$bomb" 2>/dev/null; do
  n=$(pgrep -c -u "$SB_UID" || true)
  [ "$n" -gt "$most" ] && most=$n
  sleep 0.02
done
wait "$bomb"
check "fork bomb: at most 8 processes, ended by the CPU limit, none left" bash -c "
  $(declare -f field ended none_left); WORK='$WORK' SB_UID=$SB_UID
  ended fork_bomb '^CPU time limit of 1 s exceeded' &&
  { [ \$(id -u) -ne 0 ] || [ $most -le 8 ]; } || { echo 'most processes seen: $most'; exit 1; }"
echo "     (fork bomb: at most $most processes seen, $(field fork_bomb wall_seconds) s)"

run memory "${LIMITS[@]}" -- "$PY" memory.py
check "10 GB: MemoryError under the 1024 MB address-space limit" bash -c "
  $(declare -f field ended none_left); WORK='$WORK' SB_UID=$SB_UID
  ended memory 'exited with code 1: MemoryError'"

run cpu_loop "${LIMITS[@]}" --cpu-seconds 1 -- "$PY" cpu_loop.py
check "endless loop: the CPU time limit" bash -c "
  $(declare -f field ended none_left); WORK='$WORK' SB_UID=$SB_UID
  ended cpu_loop '^CPU time limit of 1 s exceeded' &&
  jq -e '.cpu_seconds > 0.5' '$WORK/cpu_loop.json' >/dev/null"

run big_file "${LIMITS[@]}" -- "$PY" big_file.py
check "one huge file in /tmp: the 16 MB file size limit" bash -c "
  $(declare -f field ended none_left); WORK='$WORK' SB_UID=$SB_UID
  ended big_file 'exited with code 1: OSError: \[Errno 27\] File too large'"

run fill_tmp "${LIMITS[@]}" -- "$PY" fill_tmp.py 8
check "many files in /tmp: its 64 MB size" bash -c "
  $(declare -f field ended none_left); WORK='$WORK' SB_UID=$SB_UID
  ended fill_tmp 'exited with code 1: OSError: \[Errno 28\] No space left on device'"

# 1 GB of stdout: the first 4 MB (or 10,000 lines) kept as lines, the rest counted, not stored.
run print_1gb "${LIMITS[@]}" --max-lines 10000 --max-bytes 4194304 -- "$PY" print_1gb.py
check "1 GB of stdout: 4 MB kept, every other byte counted and dropped" bash -c "
  $(declare -f none_left); SB_UID=$SB_UID
  jq -e '.end == \"ok\" and .kept_bytes <= 4194304 and .stdout_lines <= 10000
    and .kept_bytes + .dropped_bytes == 1047552 * 1024
    and .stdout_lines + .dropped_lines == 1048576' '$WORK/print_1gb.json' >/dev/null ||
    { cat '$WORK/print_1gb.json'; exit 1; }
  [ \$(wc -c < '$WORK/print_1gb.log') -lt 5000000 ] && none_left"
echo "     (1 GB of stdout: $(field print_1gb wall_seconds) s)"

# The sandbox dies with its parent: sandbox_run killed with SIGKILL takes the sleeper with it.
"$RUN" "${LIMITS[@]}" -- "$PY" -c 'import time; time.sleep(600)' >/dev/null 2>&1 &
parent=$!
check "killed parent: the sandbox dies with it" bash -c "
  $(declare -f none_left); SB_UID=$SB_UID
  [ \$(id -u) -ne 0 ] && exit 0
  deadline=\$((SECONDS + 10))
  until pgrep -u $SB_UID >/dev/null; do [ \$SECONDS -lt \$deadline ] || exit 1; sleep 0.02; done
  kill -KILL $parent && none_left"
wait "$parent" 2>/dev/null || true

run refused --bwrap "$WORK/no-such-bwrap" -- "$PY" -c pass
check "without bubblewrap: refused, saying why and what to do" bash -c "
  [ \"\$(jq -r .end '$WORK/refused.json')\" = refused ] &&
  jq -r .reason '$WORK/refused.json' | grep -q 'bubblewrap is not installed' &&
  jq -r .reason '$WORK/refused.json' | grep -q -- '--unsafe-no-sandbox'"

# Unsandboxed, the command sees what the server's user sees; only its own environment is scrubbed.
run unsafe --bwrap "$WORK/no-such-bwrap" --unsafe-no-sandbox -- \
  "$PY" -c 'import os, sys; sys.exit("BACKTEST_E2E_SECRET" in os.environ)'
check "--unsafe-no-sandbox: runs unsandboxed, with a scrubbed environment" bash -c "
  jq -e '.end == \"ok\" and .sandboxed == false' '$WORK/unsafe.json' >/dev/null"

check "backtestd beside them is unharmed: healthy, runs a job, its database intact" bash -c "
  kill -0 $SERVER_PID &&
  '$TOOLS/grpcurl' -plaintext '$SERVER_ADDR' grpc.health.v1.Health/Check | grep -q SERVING &&
  '$BIN/btctl' --server '$SERVER_ADDR' --token \"\$(cat '$WORK/srv/admin.token')\" run \
    -p strategy=sma_cross -p max_candles=500 --wait >/dev/null &&
  [ \"\$(sqlite3 '$WORK/srv/backtest.db' 'PRAGMA integrity_check')\" = ok ]"
if start_server "$WORK/unsafe-srv" --unsafe-no-sandbox >"$WORK/unsafe-srv.out" 2>&1; then
  ok "backtestd accepts --unsafe-no-sandbox"
else
  fail "backtestd accepts --unsafe-no-sandbox"; sed 's/^/     /' "$WORK/unsafe-srv.out"
fi
check "nothing of the sandbox's user is left" none_left
finish
