#!/usr/bin/env bash
# Faults of log subscribers: one that never reads is cut off with RESOURCE_EXHAUSTED naming the seq
# to resume from while the job and other readers go on; 200 clients that disconnect mid-stream
# leave no threads, files or memory behind (tests/e2e/python/fault_streams.py;
# docs/reliability.md, "Faults").
. "$(dirname "$0")/fault_lib.sh"
run_fault fault_streams.py "$WORK/s"
