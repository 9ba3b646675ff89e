#!/usr/bin/env bash
# Validates deploy/ (Kubernetes manifests, container files, compose, systemd units) without
# kubectl, a cluster or a container engine: tests/e2e/deploy_validate.py with the project's venv
# (PyYAML and jsonschema from tests/requirements.txt).
set -euo pipefail
root=${BACKTEST_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
python=$root/build/venv/bin/python
"$python" -c 'import yaml, jsonschema' 2>/dev/null || {
  echo "$python lacks PyYAML or jsonschema (run scripts/install-deps.sh)"
  exit 1
}
exec "$python" "$root/tests/e2e/deploy_validate.py"
