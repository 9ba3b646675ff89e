#!/usr/bin/env bash
# backtestd's /metrics (--metrics-listen) scraped with prometheus_client's parser while jobs run,
# fail and stream (tests/e2e/python/metrics.py).
. "$(dirname "$0")/fault_lib.sh"
run_fault metrics.py "$WORK"
