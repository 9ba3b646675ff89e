#!/usr/bin/env bash
# The security sweep: every RPC (gRPC) and every HTTP path of the contract (through the gateway)
# without a token, with wrong and revoked ones and with another user's → UNAUTHENTICATED/401 or
# NOT_FOUND/404 as PRODUCT.md "Auth" says; staff sees all; 10k job ids are 32 random hex digits;
# no token appears in the server or gateway log, the runners' captured output or the database;
# oversized bodies and messages are refused cleanly (tests/e2e/python/security.py).
. "$(dirname "$0")/lib.sh"
python=$ROOT/build/venv/bin/python
[ -x "$python" ] || { echo "no $python (run scripts/install-deps.sh)"; exit 1; }

# Debug logging: whatever the server logs about requests, a token must not be in it.
start_server "$WORK/s" --log-level debug
main_addr=$SERVER_ADDR
db=$WORK/s/backtest.db
# new_user NAME [--staff]: prints the token `backtestd user add` shows once.
new_user() {
  "$BIN/backtestd" --db "$db" user add "$@" | sed -n 's/^token (shown once, keep it): //p'
}
alice=$(new_user alice)
bob=$(new_user bob)
carol=$(new_user carol --staff)
dave=$(new_user dave)
"$BIN/backtestd" --db "$db" user revoke "$dave" >/dev/null
for t in "$alice" "$bob" "$carol" "$dave"; do [ -n "$t" ] || { echo "user add printed no token"; exit 1; }; done
printf '{"admin": "%s", "alice": "%s", "bob": "%s", "carol": "%s", "dave": "%s"}\n' \
  "$(cat "$WORK/s/admin.token")" "$alice" "$bob" "$carol" "$dave" >"$WORK/tokens.json"
start_gateway "$main_addr"
# A second server only makes job ids: one worker (held by a fetch that never ends), a long queue.
start_server "$WORK/ids" --workers 1 --queue-size 20000 --log-level debug \
  --data-allow-network 127.0.0.1  # its one worker is held by a local data server that never answers
GRPCURL=$TOOLS/grpcurl PYTHONPATH=$ROOT/tests/e2e/python \
  "$python" "$ROOT/tests/e2e/python/security.py" "$main_addr" "$GW" "$db" "$WORK/tokens.json" \
  "$SERVER_ADDR" "$(cat "$WORK/ids/admin.token")" "$WORK/s/server.log" "$WORK/gateway.log" \
  "$WORK/ids/server.log"
