#!/usr/bin/env bash
# Which binding library the SDK's native module uses: builds the same probe with nanobind (PyPI, in
# build/venv) and pybind11 (Debian's pybind11-dev) and times the calls an SDK strategy makes on every
# bar (probe.py). docs/benchmarks.md ("SDK") records the figures.
#
#   bench/sdk_bindings/run.sh        (build/venv from scripts/install-deps.sh; apt-get install pybind11-dev)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
python=$root/build/venv/bin/python
out=$root/build/sdk-bindings-probe
cmake -S "$here" -B "$out" -G Ninja -DPython_EXECUTABLE="$python" >/dev/null
cmake --build "$out" >/dev/null
cd "$out" && PYTHONPATH=$out "$python" "$here/probe.py"
