#!/usr/bin/env bash
# Fault: a runner SIGKILLed mid-job. The job fails naming the signal, its followers get the final
# status, other jobs finish with unchanged results, the server keeps serving
# (tests/e2e/python/fault_runner_kill.py; docs/reliability.md, "Faults").
. "$(dirname "$0")/fault_lib.sh"
run_fault fault_runner_kill.py "$WORK/s"
