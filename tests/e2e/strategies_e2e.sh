#!/usr/bin/env bash
# Strategies from users with the built binaries (docs/strategies.md, docs/sandbox.md): a strategy
# folder added while backtestd runs appears in ListStrategies, runs from btctl with its log
# streaming live, and a cancel stops it; hostile strategies run as jobs, each ending as a failed
# job with a clear reason (a strategy printing 1 GB finishes with its output cut), the server
# unharmed and other jobs fine. bubblewrap and build/venv's SDK are required: without them this
# test fails.
. "$(dirname "$0")/lib.sh"
btctl=$BIN/btctl
grpcurl=$TOOLS/grpcurl
PY=$ROOT/build/venv/bin/python
check "bubblewrap is installed" command -v bwrap
check "the build's Python has the SDK" "$PY" -c "import backtestd"

DIR=$WORK/strategies
mkdir -p "$DIR"
chmod 755 "$WORK" "$DIR"
# The server the strategies go after: its database, token and environment. CPU limit 2 s per
# job, 1 GB of memory: the limits' ends come quickly.
export BACKTEST_E2E_SECRET=e2e-secret-$RANDOM$RANDOM
start_server "$WORK/srv" --strategy-dir "$DIR" --data-root "$ROOT/tests/golden" \
  --cpu-seconds 2 --memory-mb 1024 --cancel-grace-ms 500
unset BACKTEST_E2E_SECRET
SECRET=$(tr '\0' '\n' <"/proc/$SERVER_PID/environ" | sed -n 's/^BACKTEST_E2E_SECRET=//p')
PORT=${SERVER_ADDR##*:}
export BACKTEST_SERVER=$SERVER_ADDR
BACKTEST_TOKEN=$(cat "$WORK/srv/admin.token")
export BACKTEST_TOKEN
out=$WORK/out
err=$WORK/err
window=(-p symbols=EURUSD -p timeframe=H1 -p start_date=2022-01-01 -p end_date=2022-03-01)

# strategy NAME [BODY_FILE]: writes DIR/NAME/strategy.py (stdin: the class's body), whole, then
# moved into place, readable by the sandbox's user.
strategy() {
  local name=$1 tmp=$WORK/$1.tmp
  mkdir -p "$tmp"
  {
    printf 'import glob, os, socket, sys, time\n\nfrom backtestd import Float, Int, Strategy\n\n\n'
    printf 'class %s(Strategy):\n' "$(echo "$name" | sed -E 's/(^|_)([a-z])/\U\2/g')"
    cat
  } >"$tmp/strategy.py"
  chmod 755 "$tmp"
  chmod 644 "$tmp/strategy.py"
  mv "$tmp" "$DIR/$name"
}
# listed NAME: ListStrategies has it (polled: the folder is scanned every 2 s).
listed() {
  local deadline=$((SECONDS + 30))
  while [ $SECONDS -lt $deadline ]; do
    "$grpcurl" -plaintext -H "authorization: Token $BACKTEST_TOKEN" -d '{}' "$SERVER_ADDR" \
      backtest.v1.StrategyService/ListStrategies >"$WORK/list.json" 2>&1 &&
      grep -q "\"name\": \"$1\"" "$WORK/list.json" && return 0
    sleep 0.2
  done
  echo "$1 not listed:"; cat "$WORK/list.json"; return 1
}
# error_of JOB: the job's error (btctl status --json).
error_of() { "$btctl" status "$1" --json | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["job"].get("error", ""))'; }
status_of() { "$btctl" status "$1" --json | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["job"]["status"])'; }
# ends_failed NAME PATTERN: runs strategy NAME to its end; it failed, its error matches PATTERN
# (grep -E), and nothing it printed says BREACH.
ends_failed() {
  local name=$1 pattern=$2 id rc=0
  id=$("$btctl" run -p strategy="$name" "${window[@]}" --wait 2>"$err") || rc=$?
  [ "$rc" -eq 1 ] || { echo "btctl run exit code $rc, want 1 (failed)"; cat "$err"; return 1; }
  error_of "$id" >"$out"
  grep -Eq -- "$pattern" "$out" || { echo "error of $name: $(cat "$out")"; return 1; }
  "$btctl" logs "$id" >"$WORK/$name.log"
  if grep -q BREACH "$WORK/$name.log"; then grep BREACH "$WORK/$name.log"; return 1; fi
}

# --- a folder added while the server runs: listed, run from btctl, live log, cancel -------------
strategy my_cross <<'EOF'
    """SMA crossover, printing a line per 100 bars and sleeping a little on each bar."""
    fast_period = Int(10, min=1)
    slow_period = Int(30, min=2)
    pause = Float(0.0, min=0)

    def on_start(self):
        self.cross = self.crossover(self.sma(self.fast_period), self.sma(self.slow_period))

    def on_bar(self, bar):
        if bar.index % 100 == 0:
            print("bar", bar.index)
        time.sleep(self.pause)
        if self.cross.value > 0:
            self.buy(1)
        elif self.cross.value < 0:
            self.sell(1)
EOF
check "a folder added while the server runs appears in ListStrategies" listed my_cross

run_follow() {
  "$btctl" run -p strategy=my_cross "${window[@]}" --follow >"$out" 2>"$err" &&
    grep -Eq 'stdout +bar 100$' "$out" && grep -Eq 'status +finished$' "$out"
}
check "btctl run --follow runs it; its stdout is in the job's log" run_follow

live_log_and_cancel() {
  # 0.02 s a bar over ~1,000 bars: a line every 2 s, the run 20 s. The first line arrives while
  # the job runs; then the cancel stops it.
  local id fifo=$WORK/follow
  id=$("$btctl" run -p strategy=my_cross -p pause=0.02 "${window[@]}") || return 1
  "$btctl" logs "$id" --follow >"$fifo" 2>&1 &
  local follower=$! deadline=$((SECONDS + 30))
  until grep -Eq 'stdout +bar 100$' "$fifo"; do
    [ $SECONDS -lt $deadline ] || { echo "no live line:"; cat "$fifo"; kill $follower; return 1; }
    sleep 0.1
  done
  [ "$(status_of "$id")" = running ] || { echo "not running when its line came"; return 1; }
  "$btctl" cancel "$id" >/dev/null || return 1
  wait $follower || true
  [ "$(status_of "$id")" = cancelled ] || { echo "status $(status_of "$id")"; return 1; }
  grep -Eq 'status +cancelled' "$fifo" || { echo "no cancelled status in:"; tail -5 "$fifo"; return 1; }
}
check "its log streams live (btctl logs --follow) and a cancel stops it" live_log_and_cancel

# --- hostile strategies, as jobs ----------------------------------------------------------------
strategy opens_socket <<EOF
    def on_start(self):
        for address in (("127.0.0.1", $PORT), ("1.1.1.1", 443)):
            try:
                socket.create_connection(address, timeout=5)
                print("BREACH connected to", address)
            except OSError as e:
                print("refused", address, e)
        socket.socket(socket.AF_INET, socket.SOCK_STREAM)
EOF
strategy reads_secrets <<EOF
    def on_start(self):
        for path in ("$WORK/srv/backtest.db", "$WORK/srv/admin.token", "/proc/$SERVER_PID/environ"):
            try:
                open(path, "rb").read(16)
                print("BREACH read", path)
            except OSError as e:
                print("denied", path, e)
        open("/etc/shadow").read()
EOF
strategy reads_environment <<EOF
    def on_start(self):
        if "$SECRET" in repr(dict(os.environ)):
            print("BREACH in os.environ")
        for path in glob.glob("/proc/*/environ"):
            try:
                if b"$SECRET" in open(path, "rb").read():
                    print("BREACH in", path)
            except OSError:
                pass
        raise RuntimeError("the server's environment is nowhere in sight")
EOF
strategy writes_outside <<EOF
    def on_start(self):
        with open("/tmp/scratch", "w") as f:
            f.write("the private tmp is writable")
        try:
            open("$WORK/pwned", "w").write("x")
            print("BREACH wrote $WORK/pwned")
        except OSError as e:
            print("denied", e)
        open("/strategy/pwned", "w").write("x")
EOF
strategy allocates_10gb <<'EOF'
    def on_start(self):
        self.block = bytearray(10 << 30)
EOF
strategy loops_forever <<'EOF'
    def on_start(self):
        while True:
            pass
EOF
strategy prints_1gb <<'EOF'
    def on_start(self):
        chunk = ("x" * 1023 + "\n") * 4096  # 4 MB a write: 1 GB in 256
        for _ in range(256):
            sys.stdout.write(chunk)
EOF
strategy raises_in_init <<'EOF'
    def __init__(self):
        raise ValueError("refusing to start")
EOF
strategy broken_param <<'EOF'
    fast_period = Int(0, min=1)
EOF
strategy fork_bomb <<'EOF'
    def on_start(self):
        while True:
            try:
                os.fork()
            except OSError:
                pass
EOF
for name in opens_socket reads_secrets reads_environment writes_outside allocates_10gb \
    loops_forever prints_1gb raises_in_init fork_bomb; do
  check "$name is listed" listed "$name"
done

check "a socket: refused (no network in the sandbox)" \
  ends_failed opens_socket 'PermissionError: \[Errno 13\] Permission denied'
check "/etc/shadow, the database, the token, the server's environ: not there" \
  ends_failed reads_secrets "in on_start: FileNotFoundError: .*'/etc/shadow'"
check "the server's environment: nowhere in sight" \
  ends_failed reads_environment "RuntimeError: the server's environment is nowhere in sight"
check "writes outside its tmp: read-only" \
  ends_failed writes_outside "OSError: \[Errno 30\] Read-only file system: '/strategy/pwned'"
check "nothing was written outside" test ! -e "$WORK/pwned" -a ! -e "$DIR/writes_outside/pwned"
check "10 GB: the memory limit (MemoryError)" ends_failed allocates_10gb 'in on_start: MemoryError'
check "an endless loop: the CPU limit" ends_failed loops_forever 'CPU time limit of 2 s exceeded'
check "an exception in __init__: the traceback's last frame" \
  ends_failed raises_in_init 'strategy.py:[0-9]+ in __init__: ValueError: refusing to start'

print_1gb() {
  local id
  id=$("$btctl" run -p strategy=prints_1gb "${window[@]}" --wait 2>"$err") || { cat "$err"; return 1; }
  "$btctl" logs "$id" >"$out"
  grep -Eq 'were dropped: [0-9]+ more lines' "$out" && [ "$(wc -c <"$out")" -lt $((64 << 20)) ]
}
check "1 GB to stdout: the job finishes, its kept output bounded, the rest counted" print_1gb

broken_param() {
  local rc=0 want='strategy.py:[0-9]+ in <module>: ParamError: fast_period: default 0 is below min 1'
  listed broken_param || return 1
  # (grpcurl may write < and > as \u003c, \u003e)
  grep -Eq '"error": "strategy.py:[0-9]+ in .{1,8}module.{1,8}: ParamError: fast_period: default 0 is below min 1"' \
    "$WORK/list.json" || { echo "no error listed"; cat "$WORK/list.json"; return 1; }
  "$btctl" run -p strategy=broken_param "${window[@]}" >"$out" 2>"$err" || rc=$?
  [ "$rc" -eq 1 ] && grep -Eq "strategy broken_param cannot run: $want \(FAILED_PRECONDITION\)" "$err" ||
    { echo "btctl run: exit $rc"; cat "$err"; return 1; }
  grep -q 'fast_period: default 0 is below min 1' "$WORK/srv/server.log"
}
check "a broken parameter declaration: listed with its error (file, line), refused at submission with it, the reason logged" \
  broken_param

fork_bomb() {
  # The bomb, then an SDK job and a built-in one on the other worker while it runs: they finish
  # (each worker's sandboxes run as a uid of their own, whose process count the bomb does not
  # fill).
  local bomb other rc=0
  bomb=$("$btctl" run -p strategy=fork_bomb "${window[@]}") || return 1
  until [ "$(status_of "$bomb")" != queued ]; do sleep 0.1; done
  other=$("$btctl" run -p strategy=my_cross "${window[@]}" --wait 2>"$err") || rc=$?
  [ "$rc" -eq 0 ] || { echo "the SDK job beside it: exit $rc"; cat "$err"; error_of "$other"; return 1; }
  other=$("$btctl" run -p strategy=sma_cross "${window[@]}" --wait 2>"$err") || rc=$?
  [ "$rc" -eq 0 ] || { echo "the other job: exit $rc"; cat "$err"; return 1; }
  # Its first process reaches its 2 s of CPU after ~64 × 2 s / 2 cores of wall time alone, several
  # times that while other work shares the cores.
  local deadline=$((SECONDS + 420))
  until [ "$(status_of "$bomb")" = failed ]; do
    [ $SECONDS -lt $deadline ] || { echo "bomb still $(status_of "$bomb")"; return 1; }
    sleep 0.5
  done
  error_of "$bomb" | grep -q 'CPU time limit of 2 s exceeded'
}
check "a fork bomb: bounded by the process limit, ended by the CPU limit; an SDK and a built-in job beside it finish" \
  fork_bomb

# --- afterwards ---------------------------------------------------------------------------------
check "the server is healthy" "$btctl" health
check "it still runs a strategy of the folder" \
  "$btctl" run -p strategy=my_cross "${window[@]}" --wait
check "and a built-in one" "$btctl" run -p strategy=sr_breakout "${window[@]}" --wait
check "its database passes integrity_check" \
  bash -c "[ \"\$(sqlite3 '$WORK/srv/backtest.db' 'PRAGMA integrity_check')\" = ok ]"
no_bomb_left() {
  # The workers' sandbox users (1900000000 + worker, docs/sandbox.md) keep their fork servers
  # (one each) and nothing else; describe's (65534) nothing.
  [ "$(id -u)" -eq 0 ] || return 0
  local users=65534,1900000000,1900000001 deadline=$((SECONDS + 10))
  while [ $SECONDS -lt $deadline ]; do
    [ "$(pgrep -u $users -c || true)" -le 2 ] && return 0
    sleep 0.1
  done
  ps -o pid,uid,args -u $users; return 1
}
check "no process of the bomb is left" no_bomb_left
finish
