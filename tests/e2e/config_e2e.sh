#!/usr/bin/env bash
# backtestd's configuration end to end: a TOML file, environment variables (BACKTEST_* and the
# seed's BOTS_TRACE_*) and flags, flags > environment > file > defaults; `backtestd config`
# prints each value's source; a server started from the file listens and stores where it says;
# an unknown key or a bad value stops it with one line naming the key.
. "$(dirname "$0")/lib.sh"

cat >"$WORK/backtestd.toml" <<TOML
listen = "127.0.0.1:0"
db = "$WORK/fromfile/backtest.db"
[jobs]
workers = 3
queue_size = 9
[trace]
max_rows = 111
[log]
level = "debug"
TOML

BOTS_TRACE_MAX_ROWS=222 BACKTEST_QUEUE_SIZE=10 BOTS_TRACE_ENABLED_DEFAULT=true \
  "$BIN/backtestd" --config "$WORK/backtestd.toml" --queue-size 11 config >"$WORK/effective.toml"
check "config: file value and its source" grep -qx "workers = 3  # file $WORK/backtestd.toml" "$WORK/effective.toml"
check "config: the seed's variable over the file" grep -qx "max_rows = 222  # env BOTS_TRACE_MAX_ROWS" "$WORK/effective.toml"
check "config: BOTS_TRACE_ENABLED_DEFAULT" grep -qx "enabled_default = true  # env BOTS_TRACE_ENABLED_DEFAULT" "$WORK/effective.toml"
check "config: a flag over the environment" grep -qx "queue_size = 11  # flag --queue-size" "$WORK/effective.toml"
check "config: defaults say so" grep -qx "memory_mb = 2048  # default" "$WORK/effective.toml"
check "config: BACKTEST_CONFIG names the file" bash -c "
  BACKTEST_CONFIG='$WORK/backtestd.toml' '$BIN/backtestd' config | grep -qx \"level = 'debug'  # file $WORK/backtestd.toml\""

# The printed configuration is a config file itself: the server starts from it.
sed -i 's/^max_rows = .*/max_rows = 333/' "$WORK/effective.toml"
check "config: the printed file reads back" bash -c "
  '$BIN/backtestd' --config '$WORK/effective.toml' config | grep -qx \"max_rows = 333  # file $WORK/effective.toml\""
: >"$WORK/fromfile.log"
"$BIN/backtestd" --config "$WORK/backtestd.toml" 2>"$WORK/fromfile.log" &
PIDS+=("$!")
check "serve: listens and opens the database the file names" bash -c "
  for i in \$(seq 400); do
    grep -q 'listening on 127.0.0.1:' '$WORK/fromfile.log' && [ -f '$WORK/fromfile/backtest.db' ] && exit 0
    sleep 0.05
  done
  cat '$WORK/fromfile.log'; exit 1"

check "deploy/backtestd.toml reads" bash -c "
  '$BIN/backtestd' --config '$ROOT/deploy/backtestd.toml' config >'$WORK/deploy.out' &&
  grep -qx \"keep_days = 90  # file $ROOT/deploy/backtestd.toml\" '$WORK/deploy.out' &&
  grep -qx \"listen = '127.0.0.1:9090'  # file $ROOT/deploy/backtestd.toml\" '$WORK/deploy.out'"

printf '[jobs]\nwrokers = 3\n' >"$WORK/typo.toml"
check "an unknown key is a one-line error naming it" bash -c "
  ! '$BIN/backtestd' --config '$WORK/typo.toml' --listen 127.0.0.1:0 --db '$WORK/t/backtest.db' 2>'$WORK/typo.err'
  [ \$(wc -l <'$WORK/typo.err') -eq 1 ] && grep -q 'line 2: unknown key jobs.wrokers' '$WORK/typo.err'
  [ ! -e '$WORK/t/backtest.db' ]"
check "a bad environment value is a one-line error naming it" bash -c "
  ! BOTS_TRACE_SAMPLING=zero '$BIN/backtestd' config 2>'$WORK/env.err'
  [ \$(wc -l <'$WORK/env.err') -eq 1 ] && grep -q 'trace.sampling from env BOTS_TRACE_SAMPLING' '$WORK/env.err'"
check "a bad file value is a one-line error naming it" bash -c "
  printf '[log]\nlevel = \"loud\"\n' >'$WORK/bad.toml'
  ! '$BIN/backtestd' --config '$WORK/bad.toml' config 2>'$WORK/bad.err'
  [ \$(wc -l <'$WORK/bad.err') -eq 1 ] && grep -q 'log.level from file' '$WORK/bad.err'"
finish
