#!/usr/bin/env bash
# A graceful stop: SIGTERM drains (services NOT_SERVING, submissions refused, running jobs finish,
# queued ones stay queued), past the grace or at a second signal they are stopped; SIGINT stops at
# once (tests/e2e/python/drain.py; docs/operations.md, "Stopping").
. "$(dirname "$0")/fault_lib.sh"
run_fault drain.py "$WORK"
