#!/usr/bin/env bash
# backtest-engine-cli end to end (tests/e2e/python/engine_cli.py): a 40k-bar CSV with thousands of
# trades (the JSON written on two threads) read back whole and consistent, the same twice, the
# same trades with and without --digest (markers built or not), and a bad CSV named by line.
. "$(dirname "$0")/lib.sh"
check "engine CLI output" \
  python3 "$ROOT/tests/e2e/python/engine_cli.py" "$BIN/backtest-engine-cli" "$WORK"
finish
