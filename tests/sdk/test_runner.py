"""`python -m backtestd.runner`: a job of an SDK strategy through the runner protocol (a hello, a
ServerMessage with the RunSpec on stdin, numbered RunnerEvent frames on the events fd ending with
the RunEnd, written by the engine's C++ code; a cancel on stdin), its failures, `describe`, and
result dicts (the backtrader adapter's) turned into result frames."""
import json
import os
import struct
import subprocess
import sys
import textwrap
import threading
import time

import pytest

import backtestd
from backtestd import _native, runner
from conftest import ROOT

STRATEGY = textwrap.dedent('''
    """SMA crossover, from a strategy folder."""
    from backtestd import Float, Int, Strategy


    class MyCross(Strategy):
        fast_period = Int(10, min=1, help="Fast SMA")
        slow_period = Int(30, min=2, help="Slow SMA")
        size = Float(1, min=0, min_exclusive=True, alias="SIZE")
        fail_at = Int(-1, help="Raise on this bar (tests)")

        def on_start(self):
            self.cross = self.crossover(self.sma(self.fast_period), self.sma(self.slow_period))

        def on_bar(self, bar):
            if bar.index == self.fail_at:
                raise ZeroDivisionError("on purpose")
            c = self.cross.value
            if c > 0:
                self.buy(self.size, reason="cross_up")
            elif c < 0:
                self.sell(self.size, reason="cross_down")
            self.plot("close_line", bar.close)
''')


@pytest.fixture(scope="module")
def pb(tmp_path_factory):
    """backtest.runner.v1 generated for Python (grpcio-tools): the protocol read independently."""
    out = tmp_path_factory.mktemp("pb")
    subprocess.run([sys.executable, "-m", "grpc_tools.protoc", "-I", os.path.join(ROOT, "protos"),
                    f"--python_out={out}", "backtest/runner/v1/runner.proto"], check=True)
    sys.path.insert(0, str(out))
    from backtest.runner.v1 import runner_pb2
    return runner_pb2


@pytest.fixture
def folder(tmp_path):
    d = tmp_path / "my_cross"
    d.mkdir()
    (d / "strategy.py").write_text(STRATEGY)
    return d


def frames(data, pb, check_seq=False):
    """The events, heartbeats left out (one may come after the last event); with check_seq,
    each is numbered one more than the one before, from 1."""
    out, k, seq = [], 0, 0
    while k < len(data):
        (n,) = struct.unpack_from("<I", data, k)
        e = pb.RunnerEvent()
        e.ParseFromString(data[k + 4:k + 4 + n])
        if check_seq:
            seq += 1
            assert e.seq == seq
        if e.WhichOneof("event") != "heartbeat":
            out.append(e)
        k += 4 + n
    return out


def spec_frame(pb, spec, version=2):
    """The server's first message: the spec, with the protocol version the server speaks."""
    spec.protocol_version = version
    payload = pb.ServerMessage(spec=spec).SerializeToString()
    return struct.pack("<I", len(payload)) + payload


def cancel_frame(pb):
    payload = pb.ServerMessage(cancel=pb.CancelRequest(reason="test")).SerializeToString()
    return struct.pack("<I", len(payload)) + payload


def run_job(pb, folder, params, source_hash=None, timeout=120, version=2):
    values = _native.validate_params({"symbols": "EURUSD", "timeframe": "H1",
                                      "start_date": "2022-01-03", "end_date": "2022-03-01"},
                                     int(time.time()))
    values.update(params)
    spec = pb.RunSpec(job_id="j1", params=values, heartbeat_interval_ms=200,
                      external_strategy=pb.ExternalStrategy(
                          kind="sdk", path=str(folder),
                          source_hash=source_hash or backtestd.loader.source_hash(str(folder))))
    r, w = os.pipe()
    proc = subprocess.Popen([sys.executable, "-m", "backtestd.runner", "--events-fd", str(w)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            pass_fds=(w,))
    os.close(w)
    proc.stdin.write(spec_frame(pb, spec, version))
    proc.stdin.close()
    chunks = []
    with os.fdopen(r, "rb") as events:
        while True:
            b = events.read(65536)
            if not b:
                break
            chunks.append(b)
    proc.wait(timeout=timeout)
    return (proc.returncode, frames(b"".join(chunks), pb, check_seq=True),
            proc.stderr.read().decode())


def test_a_job_runs_and_equals_the_local_run(pb, folder):
    import backtestd.loader  # noqa: F401
    code, events, err = run_job(pb, folder, {"strategy": "my_cross", "fast_period": "7",
                                             "size": "2"})
    assert code == 0, err
    kinds = [e.WhichOneof("event") for e in events]
    assert kinds[0] == "hello" and events[0].hello.protocol_version == 2
    assert kinds[-2:] == ["result", "end"] and "log" in kinds and "progress" in kinds
    assert events[-1].end.outcome == pb.RunEnd.OUTCOME_FINISHED
    result = events[-2].result
    cls, name, _ = backtestd.loader.load(str(folder))
    local = backtestd.run(cls, symbols="EURUSD", timeframe="H1", start_date="2022-01-03",
                          end_date="2022-03-01", fast_period=7, size=2)
    assert result.strategy == "my_cross" and local.strategy == "my_cross"
    assert len(local.trades_raw["id"]) > 5 and local.trades_raw["size"][0] == 2
    # The same result, bit for bit (whatever the frame's layout of trades and candles).
    assert result.digest == local.digest
    assert [line.name for line in result.series[0].lines] == ["close_line"]


def test_a_strategy_exception_is_a_failure_with_its_last_frame(pb, folder):
    code, events, _ = run_job(pb, folder, {"strategy": "my_cross", "fail_at": "3"})
    assert code == 1
    failure = events[-1].end
    assert failure.outcome == pb.RunEnd.OUTCOME_FAILED and failure.code == "strategy"
    line = STRATEGY.splitlines().index(
        '            raise ZeroDivisionError("on purpose")') + 1
    assert failure.message == f"strategy.py:{line} in on_bar: ZeroDivisionError: on purpose"


def test_bad_values_and_changed_folders_are_refused(pb, folder):
    code, events, _ = run_job(pb, folder, {"strategy": "my_cross", "fast_period": "0"})
    assert code == 1 and events[-1].end.code == "invalid_argument"
    assert events[-1].end.message.startswith("fast_period: must be >= 1")
    code, events, _ = run_job(pb, folder, {"strategy": "my_cross"}, source_hash="sha256:00")
    assert code == 1 and "changed since the job was submitted" in events[-1].end.message


def test_a_server_of_another_protocol_version_is_refused(pb, folder):
    code, events, _ = run_job(pb, folder, {"strategy": "my_cross"}, version=1)
    assert code == 1 and [e.WhichOneof("event") for e in events] == ["hello", "end"]
    assert events[-1].end.outcome == pb.RunEnd.OUTCOME_FAILED
    assert "protocol version 1, this runner version 2" in events[-1].end.message


def test_describe(folder):
    out = subprocess.run([sys.executable, "-m", "backtestd.describe", str(folder)],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    d = json.loads(out.stdout)
    assert d["name"] == "my_cross" and d["kind"] == "sdk" and d["mode"] == "callback"
    assert d["description"] == "SMA crossover, from a strategy folder."
    assert d["sdk_version"] == backtestd.__version__
    assert d["source_hash"].startswith("sha256:") and len(d["source_hash"]) == 71
    p = {x["name"]: x for x in d["parameters"]}
    assert p["size"]["alias"] == "SIZE" and p["size"]["group"] == "my_cross"
    assert p["fast_period"]["min"] == 1 and p["fast_period"]["default"] == "10"
    (folder / "strategy.py").write_text(STRATEGY.replace("Int(10, min=1", "Int(0, min=1"))
    out = subprocess.run([sys.executable, "-m", "backtestd.describe", str(folder)],
                         capture_output=True, text=True)
    assert out.returncode == 1
    # The error names the file and the line declaring the parameter.
    assert json.loads(out.stdout) == {
        "error": "strategy.py:7 in <module>: ParamError: fast_period: default 0 is below min 1"}


RESULT = {
    "strategy": "bt_bot", "symbol": "XAGUSD",
    "candles": [{"time": 3600 * k, "open": 1.0 + k, "high": 2.0 + k, "low": 0.5 + k,
                 "close": 1.5 + k, "volume": 10} for k in range(5)],
    "ema": [{"time": 3600 * k, "value": 1.2 + k} for k in range(5)],
    "zones": [{"start": 0, "end": 7200, "price": 1.8, "kind": "resistance", "state": "broken"}],
    "markers": [{"time": 3600, "side": "buy", "kind": "entry", "price": 2.0, "reason": "x",
                 "trade_id": 1}],
    "trades": [{"id": 1, "side": "long", "entry_time": 3600, "entry_price": 2.0,
                "exit_time": 10800, "exit_price": 4.0, "size": 1, "pnl": 2.0,
                "exit_reason": "signal", "entry_bar": 1, "exit_bar": 3}],
    "equity": [{"time": 3600 * k, "value": 100.0 + (k >= 3) * 2} for k in range(5)],
    "initial_equity": 100.0,
}


def test_result_dicts_become_result_frames(pb):
    data = runner.encode_result(RESULT)
    (event,) = frames(data, pb)  # a result frame alone (not numbered: the writer numbers)
    r = event.result
    assert r.strategy == "bt_bot" and r.series[0].symbol == "XAGUSD"
    assert r.stats.trades == 1 and r.stats.equity_final == 102.0  # computed by the engine
    assert r.series[0].zones[0].state == "broken" and len(r.digest) == 64
    assert runner.encode_result(RESULT) == data  # deterministic
    bad = json.loads(json.dumps(RESULT))
    bad["trades"][0]["exit_reason"] = "lunch"
    with pytest.raises(ValueError, match=r"^trades\[0\]\.exit_reason: must be one of stop, "):
        runner.encode_result(bad)


def test_the_runner_is_warm_before_its_spec(pb, folder):
    """Started ahead of a job, the runner has imported the SDK and numpy while it waits."""
    r, w = os.pipe()
    proc = subprocess.Popen([sys.executable, "-m", "backtestd.runner", "--events-fd", str(w)],
                            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, pass_fds=(w,))
    os.close(w)
    try:
        deadline = time.monotonic() + 60
        maps = ""
        while time.monotonic() < deadline:
            with open(f"/proc/{proc.pid}/maps") as f:
                maps = f.read()
            if "_multiarray_umath" in maps and "backtestd/_native" in maps:
                break
            time.sleep(0.01)  # polling the process's state, with a deadline
        assert "_multiarray_umath" in maps and "backtestd/_native" in maps
        assert proc.poll() is None  # waiting for its spec
    finally:
        proc.stdin.close()  # no spec: the server went away
        proc.wait(timeout=60)
        os.close(r)
    assert proc.returncode == 1


def test_a_runner_for_a_backtrader_job_has_imported_backtrader_before_its_spec(pb):
    """--kind backtrader: the adapter, and with it backtrader, is imported while it waits."""
    r, w = os.pipe()
    proc = subprocess.Popen([sys.executable, "-m", "backtestd.runner", "--events-fd", str(w),
                             "--kind", "backtrader"],
                            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, pass_fds=(w,), text=True,
                            env=dict(os.environ, PYTHONPROFILEIMPORTTIME="1"))
    os.close(w)
    deadline = threading.Timer(60, proc.stdin.close)  # no spec: it exits, and stderr ends
    deadline.start()
    try:
        # Python writes a line per import statement as it finishes it: read until backtrader's
        # (the adapter's own import, by importlib, writes none).
        seen = False
        for line in proc.stderr:
            if line.split("|")[-1].strip() == "backtrader":
                seen = True
                break
        assert seen
        assert proc.poll() is None  # still waiting for its spec
    finally:
        deadline.cancel()
        if not proc.stdin.closed:
            proc.stdin.close()
        proc.stderr.close()
        proc.wait(timeout=60)
        os.close(r)
    assert proc.returncode == 1


WAITER = textwrap.dedent('''
    import os
    import time

    from backtestd import Strategy, Text


    class Waiter(Strategy):
        """Stops at bar 5 until the test says go (the test cancels the job meanwhile)."""
        folder = Text("")

        def on_bar(self, bar):
            if bar.index == 5:
                open(os.path.join(self.folder, "started"), "w").close()
                deadline = time.monotonic() + 60
                while not os.path.exists(os.path.join(self.folder, "go")):
                    assert time.monotonic() < deadline, "never told to go"
                    time.sleep(0.01)
''')


@pytest.mark.parametrize("how", ["cancel_request", "sigterm"])
def test_a_cancel_request_or_sigterm_cancels_the_job(pb, tmp_path, how):
    import signal
    folder = tmp_path / "waiter"
    folder.mkdir()
    (folder / "strategy.py").write_text(WAITER)
    values = _native.validate_params({"symbols": "EURUSD", "timeframe": "H1",
                                      "start_date": "2022-01-03", "end_date": "2022-03-01"},
                                     int(time.time()))
    values.update({"strategy": "waiter", "folder": str(tmp_path)})
    spec = pb.RunSpec(job_id="j2", params=values, external_strategy=pb.ExternalStrategy(
        kind="sdk", path=str(folder)))
    r, w = os.pipe()
    proc = subprocess.Popen([sys.executable, "-m", "backtestd.runner", "--events-fd", str(w)],
                            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, pass_fds=(w,))
    os.close(w)
    proc.stdin.write(spec_frame(pb, spec))
    proc.stdin.flush()
    deadline = time.monotonic() + 60
    while not (tmp_path / "started").exists():
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.01)  # polling the strategy's signal, with a deadline
    if how == "sigterm":
        proc.send_signal(signal.SIGTERM)
    else:  # the server's cancel, on the runner's stdin (before any signal)
        proc.stdin.write(cancel_frame(pb))
        proc.stdin.flush()
    # The strategy polls for "go" every 10 ms: the runner has taken the cancel by then.
    (tmp_path / "go").touch()
    with os.fdopen(r, "rb") as f:
        events = frames(f.read(), pb, check_seq=True)
    proc.stdin.close()
    proc.wait(timeout=60)
    assert proc.returncode == 1
    assert events[-1].end.outcome == pb.RunEnd.OUTCOME_CANCELLED
    assert events[-1].end.code == "cancelled"
