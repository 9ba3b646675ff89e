#!/usr/bin/env bash
# Fault: an http:// data server that accepts and never answers, or answers too slowly. With
# --data-timeout-ms 2000 the job fails naming the URL and the timeout; other jobs run meanwhile
# (tests/e2e/python/fault_data_timeout.py; docs/reliability.md, "Faults").
. "$(dirname "$0")/fault_lib.sh"
run_fault fault_data_timeout.py "$WORK/s"
