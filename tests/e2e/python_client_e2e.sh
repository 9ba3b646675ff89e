#!/usr/bin/env bash
# The Python client end to end: runs tests/e2e/python with the project's venv (where the build
# installs the backtestd package, backtestd.Client with it) against the built backtestd. pytest's
# "no tests collected" (exit 5) is a failure too.
. "$(dirname "$0")/lib.sh"
python=$ROOT/build/venv/bin/python
[ -x "$python" ] || { echo "no $python (run scripts/install-deps.sh)"; exit 1; }

rc=0
"$python" -m pytest -q -p no:cacheprovider \
  --basetemp="$WORK/pytest" "$ROOT/tests/e2e/python" || rc=$?
if [ "$rc" -eq 5 ]; then echo "pytest collected no tests"; exit 1; fi
exit "$rc"
