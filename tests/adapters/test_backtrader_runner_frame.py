"""The adapter's result dicts through the built package's encode_result: the native module's
conversion of a result dict into the runner's result frame (docs/strategies.md, "For the
backtrader adapter"), which rejects a key of the wrong type or an unknown word."""

import os
import pickle
import subprocess
import sys

from conftest import probe

ENCODE = """
import pickle, sys
try:
    from backtestd import runner
except ImportError as e:
    sys.exit(f"the built backtestd package is not in this venv (make build): {e}")
for name, result in pickle.load(open(sys.argv[1], "rb")).items():
    frame = runner.encode_result(result)
    print(name, len(frame))
"""


def test_results_encode_into_the_runners_result_frame(tmp_path, data_dir, sr_result):
    results = {"sr_bot": sr_result}
    for stdstats in (True, False):
        _, results[f"probe_{stdstats}"] = probe(data_dir, stdstats=stdstats)
    path = tmp_path / "results.pkl"
    path.write_bytes(pickle.dumps(results))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    p = subprocess.run([sys.executable, "-c", ENCODE, str(path)], capture_output=True, text=True,
                       env=env, cwd=str(tmp_path), timeout=120)
    assert p.returncode == 0, p.stderr
    sizes = dict(line.split() for line in p.stdout.splitlines())
    assert set(sizes) == set(results) and all(int(n) > 1000 for n in sizes.values())
