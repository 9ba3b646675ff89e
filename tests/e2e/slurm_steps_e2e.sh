#!/usr/bin/env bash
# Strategy-folder jobs, Explain's replays and sweeps as Slurm steps on a real one-node cluster
# (tests/slurm/cluster.sh; tests/e2e/python/slurm_steps.py), each compared with the local
# backend's: the same trades, digests, answers and sweep rows; the sandbox on the node; a sweep's
# steps cancelled, killed and resumed. bubblewrap and build/venv's SDK are required.
command -v bwrap >/dev/null || { echo "FAIL bubblewrap is not installed"; exit 1; }
. "$(dirname "$0")/slurm_lib.sh"
run_fault slurm_steps.py "$WORK"
