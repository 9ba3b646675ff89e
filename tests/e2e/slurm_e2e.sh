#!/usr/bin/env bash
# The Slurm runner backend against a real one-node cluster (tests/slurm/cluster.sh; Slurm and
# munge come from scripts/install-deps.sh): jobs as job steps, cancel, kill -9 and restart
# (tests/e2e/python/slurm_backend.py; docs/runner-backends.md).
. "$(dirname "$0")/slurm_lib.sh"
run_fault slurm_backend.py "$WORK"
