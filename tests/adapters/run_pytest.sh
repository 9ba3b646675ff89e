#!/usr/bin/env bash
# The adapters' tests (tests/adapters, pytest) with the project's venv: the backtrader adapter's
# manifest, its result against backtest.v1 and the runner's frame encoder (the SDK package that
# `make build` installs), and its trades against plain backtrader. A missing venv, backtrader,
# grpcio-tools or SDK package is a failure, not a skip; so is pytest's "no tests collected" (exit 5).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
python=$root/build/venv/bin/python
[ -x "$python" ] || { echo "no $python (run scripts/install-deps.sh)"; exit 1; }
"$python" -c 'import backtrader, grpc_tools' ||
  { echo "$python lacks backtrader or grpcio-tools (run scripts/install-deps.sh)"; exit 1; }
work=$(mktemp -d "${TMPDIR:-/tmp}/backtestd-adapters-XXXXXX")
trap 'rm -rf "$work"' EXIT
rc=0
# No bytecode written into the source tree (strategy folders are read-only in the sandbox).
PYTHONDONTWRITEBYTECODE=1 "$python" -m pytest -q -ra -p no:cacheprovider \
  --basetemp="$work/pytest" "$root/tests/adapters" || rc=$?
if [ "$rc" -eq 5 ]; then echo "pytest collected no tests"; exit 1; fi
exit "$rc"
