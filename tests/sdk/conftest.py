"""The SDK's tests run the backtestd package installed in build/venv (the build installs its
wheel there) against the built engine CLI where they compare with the built-in strategies."""
import json
import os
import subprocess
import sys

import pytest

ROOT = os.environ.get("BACKTEST_SOURCE_DIR") or os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
BIN = os.environ.get("BACKTEST_BIN_DIR") or os.path.join(ROOT, "build", "bin")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def engine_cli(*params, csv=None):
    """The built-in strategy run by backtest-engine-cli (with its digest), as JSON."""
    cmd = [os.path.join(BIN, "backtest-engine-cli"), "--digest"]
    if csv:
        cmd += ["--csv", csv]
    for p in params:
        cmd += ["--param", p]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


@pytest.fixture
def root():
    return ROOT
