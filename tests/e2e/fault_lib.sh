# Shared part of the fault tests (tests/e2e/fault_*.sh): lib.sh, the generated Python client, and
# run_fault DRIVER ARGS... to run tests/e2e/python/DRIVER with it. Servers the driver starts are
# listed in $FAULT_PIDS_FILE and killed on exit even if the driver itself was killed.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
python=$ROOT/build/venv/bin/python
[ -x "$python" ] || { echo "no $python (run scripts/install-deps.sh)"; exit 1; }
export PYTHONPATH=$ROOT/tests/e2e/python  # the client: backtestd, installed in build/venv
export FAULT_PIDS_FILE=$WORK/fault.pids
: >"$FAULT_PIDS_FILE"

fault_cleanup() {
  local pid
  while read -r pid; do kill -KILL "$pid" 2>/dev/null || true; done <"$FAULT_PIDS_FILE"
  cleanup
}
trap fault_cleanup EXIT

run_fault() {
  local driver=$1; shift
  "$python" "$ROOT/tests/e2e/python/$driver" "$@"
}
