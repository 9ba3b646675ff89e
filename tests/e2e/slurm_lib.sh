# Shared part of the Slurm tests (tests/e2e/slurm_*.sh): fault_lib.sh, and a one-node cluster of
# their own (tests/slurm/cluster.sh) started in $WORK/cluster with SLURM_CONF exported, stopped on
# exit with whatever the test started.
. "$(dirname "${BASH_SOURCE[0]}")/fault_lib.sh"
cluster=$WORK/cluster
slurm_cleanup() {
  bash "$ROOT/tests/slurm/cluster.sh" stop "$cluster" || true
  fault_cleanup
}
trap slurm_cleanup EXIT
eval "$(bash "$ROOT/tests/slurm/cluster.sh" start "$cluster")"
export SLURM_CONF
