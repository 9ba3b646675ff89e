"""Fixtures of the adapter tests: the adapters on sys.path, the API's messages generated from
protos/ into a private dir, and deterministic CSV data.

The adapters import nothing of the backtestd package but each other, while the package's own
__init__ needs the built native module; so the tests put sdk/backtestd/adapters under a `backtestd`
package of their own (PACKAGE_PATH, a temporary folder) and test the sources as they are."""

import atexit
import os
import shutil
import subprocess
import sys
import tempfile

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HERE = os.path.dirname(os.path.abspath(__file__))
SR_BOT = os.path.join(ROOT, "examples", "strategies", "sr_bot")
PROBE = os.path.join(HERE, "bots", "probe_bot")

PACKAGE_PATH = tempfile.mkdtemp(prefix="backtestd-adapters-pkg-")
atexit.register(shutil.rmtree, PACKAGE_PATH, True)
os.mkdir(os.path.join(PACKAGE_PATH, "backtestd"))
with open(os.path.join(PACKAGE_PATH, "backtestd", "__init__.py"), "w") as f:
    f.write('"""backtestd, reduced to its adapters for their tests."""\n')
os.symlink(os.path.join(ROOT, "sdk", "backtestd", "adapters"),
           os.path.join(PACKAGE_PATH, "backtestd", "adapters"))
for path in (PACKAGE_PATH, HERE):
    if path not in sys.path:
        sys.path.insert(0, path)


@pytest.fixture(scope="session")
def pb(tmp_path_factory):
    """backtest.v1's generated messages (backtest_service_pb2), made with grpcio-tools."""
    out = tmp_path_factory.mktemp("gen")
    protos = os.path.join(ROOT, "protos")
    files = sorted(os.path.join(protos, "backtest", "v1", f)
                   for f in os.listdir(os.path.join(protos, "backtest", "v1"))
                   if f.endswith(".proto"))
    subprocess.run([sys.executable, "-m", "grpc_tools.protoc", "-I", protos,
                    f"--python_out={out}"] + files, check=True)
    sys.path.insert(0, str(out))
    from backtest.v1 import backtest_service_pb2
    return backtest_service_pb2


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory):
    """A folder with XAGUSD_H1.csv (6000 bars) and EURUSD_H1.csv (4000 bars)."""
    import walk_csv
    folder = tmp_path_factory.mktemp("data")
    walk_csv.write_csv(str(folder / "XAGUSD_H1.csv"), 6000)
    walk_csv.write_csv(str(folder / "EURUSD_H1.csv"), 4000, seed=7)
    return str(folder)


@pytest.fixture(scope="session")
def sr_result(data_dir):
    """The example bot's result on XAGUSD_H1.csv from 2021-01-01, its data served over HTTP."""
    from backtestd.adapters import backtrader as adapter
    return adapter.run_folder(SR_BOT, {"start_date": "2021-01-01"}, data_dir=data_dir)


def probe(data_dir, **params):
    """The probe bot run through the adapter: (what it returned, the result dict)."""
    from backtestd.adapters import backtrader as adapter
    from backtestd.adapters.backtrader_result import to_result
    m = adapter.load_manifest(PROBE)
    returned = adapter.call(m, adapter.resolve(m, params), data_dir=data_dir)
    return returned, to_result(returned, "probe_bot")
