#!/usr/bin/env bash
# Fault: kill -9 of the server with 10 jobs running and 10 queued, then a restart on
# the same database: nothing finished is lost, nothing stays running, the database is ok
# (tests/e2e/python/fault_server_kill.py; docs/reliability.md, "Faults").
. "$(dirname "$0")/fault_lib.sh"
run_fault fault_server_kill.py "$WORK/s"
