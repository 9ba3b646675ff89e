#!/usr/bin/env bash
# Hundreds of malformed and hostile requests through the REST bridge: each a clear 4xx naming the
# problem, never a 5xx; the service stays up; nothing is stored (tests/e2e/python/bad_input.py).
. "$(dirname "$0")/lib.sh"
start_server "$WORK/s"
start_gateway "$SERVER_ADDR"
python3 "$ROOT/tests/e2e/python/bad_input.py" "$GW" "$(cat "$WORK/s/admin.token")"
