#!/usr/bin/env bash
# The data access policy against the built backtestd, tried as a hostile user would
# (tests/e2e/python/data_access.py): file:// outside the data root, symlinks out of it (to a file
# that would parse as candles), '..' after percent-decoding, /proc and /dev, http(s):// to link-local,
# private and loopback addresses by literal, by DNS name and by redirect; staff's wider root; the
# REST bridge's answer. Every refusal names data_source and reads the same for files that exist.
. "$(dirname "$0")/lib.sh"
python=$ROOT/build/venv/bin/python
[ -x "$python" ] || { echo "no $python (run scripts/install-deps.sh)"; exit 1; }
mkdir -p "$WORK/data/sub" "$WORK/staff" "$WORK/outside"
# Data servers bind 127.0.0.2, the one network allowed; 127.0.0.1 stays refused.
start_server "$WORK/s" --data-root "$WORK/data" --staff-data-root "$WORK/staff" \
  --data-allow-network 127.0.0.2/32 --data-timeout-ms 5000
start_gateway "$SERVER_ADDR"
user=$("$BIN/backtestd" --db "$WORK/s/backtest.db" user add mallory | sed -n 's/^token (shown once, keep it): //p')
PYTHONPATH=$ROOT/tests/e2e/python "$python" "$ROOT/tests/e2e/python/data_access.py" \
  "$SERVER_ADDR" "$GW" "$(cat "$WORK/s/admin.token")" "$user" "$WORK"
