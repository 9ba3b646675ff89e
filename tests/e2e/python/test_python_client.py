"""End-to-end test of the Python client, backtestd.Client, against the built backtestd.

The server runs on 127.0.0.1 with an ephemeral port and a database in a private temp dir; the
client is the backtestd package the build installs into build/venv (the interpreter that runs
this, tests/e2e/python_client_e2e.sh). The client's old name, backtestd_client, is checked to be
the same objects.
"""

import datetime
import os
import pathlib
import re
import shutil
import struct
import subprocess
import sys
import time

import grpc
import pytest

ROOT = pathlib.Path(os.environ.get("BACKTEST_SOURCE_DIR", pathlib.Path(__file__).parents[3]))
BIN = pathlib.Path(os.environ.get("BACKTEST_BIN_DIR", ROOT / "build" / "bin"))

import backtestd  # noqa: E402
from backtestd import BacktestError, Client  # noqa: E402
from backtestd.client import to_dict, values_to_dict  # noqa: E402

SMALL_RUN = {"strategy": "sma_cross", "symbols": "EURUSD", "timeframe": "H1",
             "start_date": "2022-01-01", "end_date": "2022-07-01"}
# Minute bars over years: long enough to be cancelled while it runs.
LONG_RUN = {"symbols": "EURUSD", "timeframe": "M1", "start_date": "2000-01-01",
            "end_date": "2026-01-01"}


class Server:
    def __init__(self, workdir: pathlib.Path, *args: str):
        self.dir = workdir
        self.log = open(workdir / "server.log", "wb")
        self.proc = subprocess.Popen(
            [str(BIN / "backtestd"), "--listen", "127.0.0.1:0", "--db",
             str(workdir / "backtest.db"), *args], stderr=self.log, stdout=subprocess.DEVNULL)
        self.address = self._wait_listening(deadline=time.monotonic() + 20)
        self.token = (workdir / "admin.token").read_text().strip()

    def _wait_listening(self, deadline: float) -> str:
        while time.monotonic() < deadline:
            text = (self.dir / "server.log").read_text(errors="replace")
            match = re.search(r"listening on (127\.0\.0\.1:\d+)", text)
            if match:
                return match.group(1)
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        self.stop()
        raise RuntimeError("backtestd did not start:\n" +
                           (self.dir / "server.log").read_text(errors="replace"))

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    s = Server(tmp_path_factory.mktemp("backtestd"))
    yield s
    s.stop()


@pytest.fixture(scope="module")
def client(server):
    with Client(server.address, server.token) as c:
        yield c


@pytest.fixture(scope="module")
def finished_job(client):
    """A small finished sma_cross run, followed through the package."""
    run = client.run_backtest(SMALL_RUN)
    events = list(run)
    return run, events


def test_run_follow_yields_every_event_once_in_order(finished_job):
    run, events = finished_job
    assert re.fullmatch(r"[0-9a-f]{16,}", run.job_id)
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    kinds = {e.kind for e in events}
    assert {"log", "progress", "status"} <= kinds
    assert events[-1].kind == "status" and events[-1].data.status == "finished"
    assert run.status == "finished"
    assert events[0].time.tzinfo is not None


def test_result_has_candles_trades_and_stats(client, finished_job):
    run, _ = finished_job
    result = client.get_result(run.job_id)
    assert result.job_id == run.job_id
    assert len(result.candles) == result.total_candles > 0
    assert len(result.trades) == result.stats.trades > 0
    assert len(result.equity) > 0
    assert len(result.digest) == 64
    assert client.get_result(run.job_id, max_candles=10).candles[-1] == result.candles[-1]
    assert len(client.get_result(run.job_id, max_candles=10).candles) == 10
    assert run.result(max_candles=1).digest == result.digest


def test_columns_carry_the_points_values_bit_for_bit(client, finished_job):
    """get_columns (the packed layout) gives the per-point answer's values as columns of floats,
    for the whole run and for a window merged on the server."""
    run, _ = finished_job
    bits = lambda xs: [struct.pack("<d", float(x)) for x in xs]
    for window, decimal in [({}, True), ({}, False),
                            ({"max_candles": 50, "max_points": 7, "trades_in_window": True}, True),
                            ({"max_candles": 50, "max_points": 7, "trades_in_window": True}, False)]:
        points = client.get_result(run.job_id, **window)
        cols = client.get_columns(run.job_id, decimal_columns=decimal, **window)
        # The sample data's times and prices are short decimals: sent as such when asked for.
        packed = cols.response.packed
        for name in ("times", "opens", "closes", "equity_times"):
            assert packed.HasField(name + "_decimal") == decimal, name
            assert (len(getattr(packed, name)) == 0) == decimal, name
        assert len(cols.time) == len(points.candles) > 0
        for name in ("time", "open", "high", "low", "close", "volume"):
            assert bits(getattr(cols, name)) == bits(getattr(c, name) for c in points.candles)
        for line, t, v in [("equity", cols.equity_time, cols.equity_value),
                           ("ema", cols.ema_time, cols.ema_value)]:
            assert bits(t) == bits(p.time for p in getattr(points, line))
            assert bits(v) == bits(p.value for p in getattr(points, line))
        # The trades and markers came as columns: rebuilt, the same messages.
        assert len(cols.response.trades) == len(cols.response.markers) == 0
        assert cols.response.packed.HasField("trades")
        assert len(cols.trades) == len(points.trades) and len(cols.markers) == len(points.markers)
        assert window or len(cols.trades) > 0
        assert list(cols.trades) == list(points.trades)
        assert list(cols.markers) == list(points.markers)
        assert cols.trades == points.trades and cols.markers == points.markers
        assert cols.trades[-1:] == list(points.trades[-1:])
        assert cols.trades[1:3] == list(points.trades[1:3])
        assert [t.SerializeToString() for t in cols.trades] == [
            t.SerializeToString() for t in points.trades]
        messages = client.get_columns(run.job_id, decimal_columns=decimal, packed_trades=False,
                                      **window)
        assert not messages.response.packed.HasField("trades")
        assert list(messages.trades) == list(points.trades)
        assert list(messages.markers) == list(points.markers)
        assert cols.response.candles_per_point == points.candles_per_point
    merged = client.get_columns(run.job_id, max_candles=50, max_points=7)
    assert merged.response.candles_per_point == 8 and len(merged.close) == 7
    assert run.columns(parts=["stats"]).response.stats == client.get_result(run.job_id).stats


def test_result_numbers_follow_the_api_policy(client, finished_job):
    """Times and durations are whole floats, counts and indexes ints (docs/api.md); to_dict
    gives JSON numbers for all of them, as the REST bridge does."""
    run, _ = finished_job
    result = client.get_result(run.job_id, max_candles=5)
    trade, stats = result.trades[0], result.stats
    for t in [result.candles[0].time, trade.entry_time, trade.exit_time, stats.start, stats.end,
              stats.duration_seconds, stats.max_trade_duration_seconds]:
        assert isinstance(t, float) and t == int(t), t
    assert stats.end - stats.start == stats.duration_seconds > 0
    assert datetime.datetime.fromtimestamp(stats.start, datetime.timezone.utc).year >= 2021
    for n in [trade.id, trade.bars_held, trade.entry_bar, trade.exit_bar, stats.trades, stats.bars,
              result.total_candles]:
        assert isinstance(n, int) and not isinstance(n, bool), n
    d = to_dict(result)
    assert d["candles"][0]["time"] == result.candles[0].time
    assert d["trades"][0]["id"] == trade.id and d["stats"]["trades"] == stats.trades
    assert all(not isinstance(v, str) or v == "NaN" for v in d["stats"].values()), d["stats"]


def test_job_listing_and_status(client, finished_job):
    run, _ = finished_job
    job = client.get_job(run.job_id)
    assert job.status == "finished"
    assert values_to_dict(job.params)["strategy"] == "sma_cross"
    assert run.job_id in [j.job_id for j in client.list_jobs(status="finished")]


def test_follow_log_from_seq_resumes_where_asked(client, finished_job):
    run, events = finished_job
    resumed = list(client.follow_log(run.job_id, from_seq=5))
    assert [e.seq for e in resumed] == [e.seq for e in events[4:]]


def test_follow_log_with_batched_lines_has_every_line_once(client, finished_job):
    run, events = finished_job
    batched = list(client.follow_log(run.job_id, batch_log_lines=True))
    assert any(e.kind == "log_batch" for e in batched)
    lines = [line.text for e in batched if e.kind == "log_batch" for line in e.data.lines]
    assert lines == [e.data.text for e in events if e.kind == "log"]
    assert batched[-1].kind == "status" and batched[-1].data.status == "finished"
    # Resumed inside a batch: the lines from there on.
    middle = next(e for e in events if e.kind == "log" and e.seq > events[0].seq + 1)
    resumed = list(client.follow_log(run.job_id, from_seq=middle.seq, batch_log_lines=True))
    resumed_lines = [line.text for e in resumed if e.kind == "log_batch" for line in e.data.lines]
    assert resumed_lines == [e.data.text for e in events if e.kind == "log" and e.seq >= middle.seq]


def test_not_following_yields_the_history_so_far(client, finished_job):
    run, events = finished_job
    again = client.run_backtest(SMALL_RUN, follow=False)
    assert again.wait() == "finished"
    assert [e.seq for e in again] == list(range(1, len(events) + 1))


def test_explain_whole_run_and_one_bar(client):
    run = client.run_backtest({**SMALL_RUN, "strategy": "sr_breakout", "trace_enabled": True})
    assert run.wait() == "finished"
    whole = client.explain(run.job_id)
    assert whole.summary
    assert not whole.HasField("bar_index")
    bar = client.explain(run.job_id, bar_index=100)
    assert bar.HasField("bar_index") and bar.bar_index == 100
    assert bar.summary
    page = client.query_trace(run.job_id, bar_index=100, limit=5)
    assert page.count > 0 and 0 < len(page.items) <= 5
    assert all(row.bar_index == 100 for row in page.items)


def test_presets_round_trip_and_run_from_preset(client):
    assert client.save_preset("py-e2e", {"rr": 3, "symbols": "EURUSD"}) is True
    assert client.save_preset("py-e2e", {"rr": 3, "symbols": "EURUSD", "strategy": "sma_cross",
                                         "timeframe": "D1"}) is False
    assert "py-e2e" in client.list_presets()
    values = client.get_preset("py-e2e")
    assert values["rr"] == 3 and values["symbols"] == "EURUSD"
    run = client.run_backtest({"start_date": "2022-01-01", "end_date": "2022-03-01"},
                              preset="py-e2e")
    assert run.wait() == "finished"
    assert values_to_dict(client.get_job(run.job_id).params)["rr"] == 3
    client.delete_preset("py-e2e")
    with pytest.raises(BacktestError) as err:
        client.get_preset("py-e2e")
    assert err.value.code == grpc.StatusCode.NOT_FOUND


def test_compare_runs_side_by_side(client, finished_job):
    run, _ = finished_job
    other = client.run_backtest({**SMALL_RUN, "fast_period": 14})
    list(other)
    assert other.status == "finished"
    answer = client.compare_runs([run.job_id, other.job_id], max_points=100)
    assert [j.job_id for j in answer.jobs] == [run.job_id, other.job_id]
    assert [(p.name, list(p.values)) for p in answer.differing_params] == [("fast_period", ["10", "14"])]
    trades = next(r for r in answer.stats if r.name == "trades")
    assert trades.values[0] == client.get_result(run.job_id, parts=["stats"]).stats.trades
    assert trades.differences[1] == trades.values[1] - trades.values[0]
    assert len(answer.equity.times) == 100 < answer.equity.total_times
    assert [c.job_id for c in answer.equity.curves] == [run.job_id, other.job_id]
    with pytest.raises(BacktestError) as err:
        client.compare_runs([run.job_id])
    assert err.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert err.value.message.startswith("jobs:")


def test_sweep_rows_and_an_opened_row(client):
    base = {k: v for k, v in SMALL_RUN.items() if k not in ("fast_period", "slow_period")}
    ranges = {"fast_period": [5, 10], "slow_period": {"start": 20, "stop": 30, "step": 10}}
    counted = client.run_sweep(base, ranges, objective="return_pct", dry_run=True)
    assert (counted.combinations, counted.grid_size, counted.sweep_id) == (4, 4, "")
    started = client.run_sweep(base, ranges, objective="return_pct")
    assert list(client.follow_log(started.sweep_id))[-1].data.status == "finished"
    sweep = client.get_sweep(started.sweep_id)
    assert (sweep.rows_done, sweep.combinations) == (4, 4)
    rows = client.sweep_rows(started.sweep_id, limit=3)
    assert len(rows) == 4 and rows[0].row == sweep.best.row
    assert [r.objective for r in rows] == sorted((r.objective for r in rows), reverse=True)
    job_id = client.open_sweep_row(started.sweep_id, rows[0].row)
    assert client.open_sweep_row(started.sweep_id, rows[0].row) == job_id
    assert list(client.follow_log(job_id))[-1].data.status == "finished"
    assert client.get_result(job_id, parts=["stats"]).stats.return_pct == rows[0].stats.return_pct
    with pytest.raises(BacktestError) as err:
        client.run_sweep(base, {"symbols": ["EURUSD"]})
    assert err.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert err.value.message.startswith("ranges[0].name")


def test_bad_parameter_is_invalid_argument_naming_it(client):
    with pytest.raises(BacktestError) as err:
        client.run_backtest({"rr": -1})
    assert err.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert "rr" in err.value.message


def test_wrong_token_is_unauthenticated(server):
    with Client(server.address, "not-a-token") as c:
        with pytest.raises(BacktestError) as err:
            c.list_params()
    assert err.value.code == grpc.StatusCode.UNAUTHENTICATED


def test_cancel_a_running_job(client):
    run = client.run_backtest(LONG_RUN, follow=False)
    for event in client.follow_log(run.job_id):
        if event.kind == "status" and event.data.status == "running":
            break
    job = client.cancel(run.job_id)
    assert job.status in ("running", "cancelled")
    assert run.wait() == "cancelled"


def test_params_registry(client):
    names = [p.name for p in client.list_params()]
    assert "rr" in names and "strategy" in names
    assert all(p.strategy in ("", "sma_cross") for p in client.list_params("sma_cross"))


def test_example_script_runs(server):
    env = dict(os.environ, BACKTEST_SERVER=server.address, BACKTEST_TOKEN=server.token,
               PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    done = subprocess.run([sys.executable, str(ROOT / "examples/client/run_backtest.py")],
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "finished:" in done.stdout and "trades" in done.stdout


def test_old_import_name_is_the_same_client():
    import backtestd_client
    from backtestd_client._gen.backtest.v1 import job_pb2
    assert backtestd_client.Client is backtestd.Client is backtestd.client.Client
    assert backtestd_client.BacktestError is BacktestError
    assert job_pb2 is backtestd._gen.backtest.v1.job_pb2 is backtestd_client.job_pb2
    import backtestd_client.client
    assert backtestd_client.client is backtestd.client


def test_runner_does_not_import_grpc():
    """The sandboxed runner imports backtestd: the client (gRPC) comes only when named."""
    code = ("import sys, backtestd, backtestd.runner; "
            "assert 'grpc' not in sys.modules and 'backtestd.client' not in sys.modules; "
            "backtestd.Client; assert 'grpc' in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


@pytest.fixture(scope="module")
def strategy_server(tmp_path_factory):
    """A server whose strategy folder holds examples/strategies/my_cross, readable by the
    sandbox's user."""
    work = tmp_path_factory.mktemp("backtestd-strategies")
    folder = work / "strategies"
    shutil.copytree(ROOT / "examples" / "strategies" / "my_cross", folder / "my_cross")
    for path in (work, folder, folder / "my_cross"):
        path.chmod(0o755)
    (folder / "my_cross" / "strategy.py").chmod(0o644)
    s = Server(work, "--strategy-dir", str(folder))
    yield s
    s.stop()


def test_a_strategy_developed_locally_runs_the_same_through_the_service(strategy_server):
    """The notebook path: the strategy file run by backtestd.run here, then as the service's
    folder strategy through backtestd.Client: the same trades, bit for bit, and the same digest."""
    from backtestd.loader import load
    params = {"symbols": "EURUSD", "timeframe": "H1", "start_date": "2022-01-01",
              "end_date": "2022-07-01", "fast_period": 7, "size": 2}
    cls = load(str(ROOT / "examples" / "strategies" / "my_cross"))[0]
    local = backtestd.run(cls, data="sample://", **params)
    with backtestd.Client(strategy_server.address, strategy_server.token) as client:
        deadline = time.monotonic() + 60
        while not any(s.name == "my_cross" for s in client.list_strategies()):
            assert time.monotonic() < deadline, "my_cross never listed"
            time.sleep(0.2)
        info = client.get_strategy("my_cross")
        assert info.kind == "sdk" and info.source_hash.startswith("sha256:") and not info.error
        run = client.run_backtest({"strategy": "my_cross", **params})
        assert run.wait() == "finished", client.get_job(run.job_id).error
        assert client.get_job(run.job_id).strategy_source_hash == info.source_hash
        result = client.get_result(run.job_id)
    served = [(t.entry_time, t.exit_time, t.entry_price, t.exit_price, t.size, t.pnl, t.side)
              for t in result.trades]
    trades = local.trades
    mine = [(int(trades["entry_time"][i].timestamp()), int(trades["exit_time"][i].timestamp()),
             trades["entry_price"][i], trades["exit_price"][i], trades["size"][i],
             trades["pnl"][i], trades["side"][i]) for i in range(len(trades))]
    assert len(mine) == local.stats["trades"] > 10
    assert served == mine
    assert result.digest == local.digest
