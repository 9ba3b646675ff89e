#!/usr/bin/env bash
# The Slurm runner backend against a real one-node cluster (tests/slurm/cluster.sh; Slurm and
# munge come from scripts/install-deps.sh): jobs as job steps, cancel, kill -9 and restart
# (tests/e2e/python/slurm_backend.py; docs/runner-backends.md).
. "$(dirname "$0")/fault_lib.sh"
cluster=$WORK/cluster
slurm_cleanup() {
  bash "$ROOT/tests/slurm/cluster.sh" stop "$cluster" || true
  fault_cleanup
}
trap slurm_cleanup EXIT
eval "$(bash "$ROOT/tests/slurm/cluster.sh" start "$cluster")"
export SLURM_CONF
run_fault slurm_backend.py "$WORK"
