"""The backtrader adapter: its result on the example bot and a probe bot, validated against
backtest.v1.GetResultResponse; trades against what backtrader itself reported; environment,
import, data serving, log streaming, return shapes and errors."""

import csv
import json
import os
import shutil
import subprocess
import sys
import textwrap
import time

import pytest
from google.protobuf import json_format

from conftest import PACKAGE_PATH, PROBE, SR_BOT, probe
from backtestd.adapters import backtrader as adapter
from backtestd.adapters.backtrader_result import api_json
from backtestd.adapters.errors import AdapterError

EPOCH_DAY = 719163


def epoch(num):
    return round((num - EPOCH_DAY) * 86400)


def validate(pb, result):
    """The result's API form read as the API's message (unknown fields are errors)."""
    return json_format.ParseDict(dict(api_json(result), job_id="job"), pb.GetResultResponse())


def read_csv(path):
    with open(path) as f:
        return [(int(r[0]), *map(float, r[1:6])) for r in list(csv.reader(f))[1:]]


def test_example_result_has_the_api_shape(pb, data_dir, sr_result):
    r = sr_result
    msg = validate(pb, r)
    assert (msg.symbol, list(msg.symbols), msg.total_candles) == ("XAGUSD", ["XAGUSD"], 6000)
    assert (r["strategy"], r["initial_equity"]) == ("sr_bot", 1e8)
    rows = read_csv(os.path.join(data_dir, "XAGUSD_H1.csv"))
    assert [tuple(c.values()) for c in r["candles"]] == rows
    times = [c["time"] for c in r["candles"]]
    assert len(r["ema"]) == 6000 - 39 and [p["time"] for p in r["ema"]] == times[39:]
    assert [p["time"] for p in r["equity"]] == times

    trades = r["trades"]
    assert len(trades) >= 10
    assert [t["id"] for t in trades] == list(range(1, len(trades) + 1))
    assert [t["entry_time"] for t in trades] == sorted(t["entry_time"] for t in trades)
    for t in trades:
        assert times[t["entry_bar"]] == t["entry_time"] and times[t["exit_bar"]] == t["exit_time"]
        assert t["bars_held"] == t["exit_bar"] - t["entry_bar"] >= 0
        sign = 1 if t["side"] == "long" else -1
        assert t["exit_reason"] in ("stop", "stop_gap", "target", "signal", "end_of_data")
        if t["exit_reason"] != "end_of_data":
            # The bot's OCO pair, created after the entry fill: stop below, target above (long).
            assert sign * (t["entry_price"] - t["stop"]) > 0 < sign * (t["target"]
                                                                       - t["entry_price"])
        if t["exit_reason"] == "stop":  # backtrader's executed price: the stop, to rounding
            assert t["exit_price"] == pytest.approx(t["stop"], rel=1e-12)
        if t["exit_reason"] == "target":  # a limit fills at the open when that is better
            assert sign * (t["exit_price"] - t["target"]) >= 0
        assert t["pnl"] == pytest.approx(sign * (t["exit_price"] - t["entry_price"]) * t["size"])
        assert t["return_pct"] == pytest.approx(t["pnl"] / (t["entry_price"] * t["size"]) * 100)

    markers = r["markers"]
    assert len(markers) == 2 * len(trades)
    assert [m["time"] for m in markers] == sorted(m["time"] for m in markers)
    by_trade = {(m["trade_id"], m["kind"]): m for m in markers}
    for t in trades:
        entry, exit_ = by_trade[(t["id"], "entry")], by_trade[(t["id"], "exit")]
        assert (entry["time"], entry["price"]) == (t["entry_time"], t["entry_price"])
        assert (exit_["time"], exit_["price"], exit_["reason"]) == \
            (t["exit_time"], t["exit_price"], t["exit_reason"])  # no label on the bot's exits
        assert entry["side"] == ("buy" if t["side"] == "long" else "sell") != exit_["side"]
        assert entry["reason"] == f"retest_{t['side']}"  # the bot's order.addinfo(reason=…)

    states = [z["state"] for z in r["zones"]]
    assert set(states) == {"broken", "inverted", "cancelled", "active"}
    assert states.count("inverted") == len(trades)  # every entry came from an inverted setup
    assert states.count("active") == 2
    for z in r["zones"]:
        assert times[0] <= z["start"] <= z["end"] <= times[-1] and z["symbol"] == "XAGUSD"


def test_example_stats_follow_the_engine_definitions(sr_result):
    r, s = sr_result, sr_result["stats"]
    trades, equity = r["trades"], [p["value"] for p in sr_result["equity"]]
    assert s["trades"] == len(trades) and s["bars"] == 6000
    assert s["pnl"] == pytest.approx(sum(t["pnl"] for t in trades))
    assert s["equity_final"] == equity[-1]
    assert s["return_pct"] == pytest.approx((equity[-1] / 1e8 - 1) * 100)
    assert s["equity_peak"] == max(1e8, max(equity))
    peak, worst = 1e8, 0.0
    for v in equity:
        peak = max(peak, v)
        worst = min(worst, v / peak - 1)
    assert s["max_drawdown_pct"] == pytest.approx(worst * 100)
    wins = [t for t in trades if t["pnl"] > 0]
    assert s["win_rate_pct"] == pytest.approx(100 * len(wins) / len(trades))
    exposed = set()
    for t in trades:
        exposed.update(range(t["entry_bar"], t["exit_bar"] + 1))
    assert s["exposure_pct"] == pytest.approx(100 * len(exposed) / 6000)
    closes = [c["close"] for c in r["candles"]]
    assert s["buy_hold_return_pct"] == pytest.approx((closes[-1] / closes[0] - 1) * 100)
    assert (s["start"], s["end"]) == (r["candles"][0]["time"], r["candles"][-1]["time"])
    for key in ("sharpe", "sortino", "return_ann_pct", "volatility_ann_pct", "sqn"):
        assert isinstance(s[key], float) and s[key] == s[key], key
    longs = [t for t in trades if t["side"] == "long"]
    assert s["long_stats"]["trades"] == len(longs)
    assert s["long_stats"]["trades"] + s["short_stats"]["trades"] == len(trades)


def test_probe_trades_are_what_backtrader_reported(pb, data_dir):
    returned, r = probe(data_dir)
    validate(pb, r)
    closed, fills = returned["stats"]["closed"], returned["stats"]["fills"]
    trades = r["trades"]
    assert [t["exit_reason"] for t in trades[-1:]] == ["end_of_data"]
    assert len(trades) == len(closed) + 1
    by_exit = sorted(trades[:-1], key=lambda t: (t["exit_time"], t["id"]))
    for t, c in zip(by_exit, closed):  # notify_trade's order: by close
        assert (t["entry_time"], t["exit_time"]) == (epoch(c["dtopen"]), epoch(c["dtclose"]))
        assert (t["entry_price"], t["pnl"], t["commission"]) == \
            (c["price"], c["pnlcomm"], c["commission"])
        assert (t["side"] == "long", t["bars_held"]) == (c["long"], c["barlen"])
        assert any(epoch(dt) == t["exit_time"] and p == t["exit_price"] for dt, p, _ in fills)
    reasons = {t["exit_reason"] for t in trades}
    assert {"stop", "target", "reversal", "signal", "end_of_data"} <= reasons
    for t in trades:
        if t["exit_reason"] in ("stop", "stop_gap", "target"):  # bracket children
            sign = 1 if t["side"] == "long" else -1
            assert t["size"] == 10
            assert t["stop"] == pytest.approx(t["entry_price"] - sign * 0.08, abs=1e-9)
            assert t["target"] == pytest.approx(t["entry_price"] + sign * 0.12, abs=1e-9)
        if t["exit_reason"] == "stop_gap":
            assert sign * (t["stop"] - t["exit_price"]) > 0
    rev = next(t for t in trades if t["exit_reason"] == "reversal")
    after = trades[rev["id"]]  # the trade the reversal opened, at the same fill
    assert (after["entry_time"], after["side"], after["size"]) == (rev["exit_time"], "short", 5)
    assert after["entry_price"] == pytest.approx(rev["exit_price"], rel=1e-12)
    at_reversal = [m for m in r["markers"] if m["time"] == rev["exit_time"]]
    assert [(m["kind"], m["trade_id"]) for m in at_reversal] == \
        [("exit", rev["id"]), ("entry", after["id"])]
    last = trades[-1]
    closes = [c["close"] for c in r["candles"]]
    assert (last["size"], last["exit_price"], last["exit_bar"]) == (3, closes[-1], len(closes) - 1)
    assert [m["reason"] for m in r["markers"] if m["trade_id"] == last["id"]] == \
        ["late", "end_of_data"]
    assert r["stats"]["commission"] == pytest.approx(sum(t["commission"] for t in trades))
    value = returned["cerebro"].broker.getvalue()
    assert r["equity"][-1]["value"] == r["stats"]["equity_final"] == value
    # Open at the end: marked at the last close, no exit commission (backtrader's broker value).
    assert 100000 + r["stats"]["pnl"] == pytest.approx(value)


def test_probe_lines_make_zones_and_the_ema_is_found(data_dir):
    returned, r = probe(data_dir)
    strat = returned["cerebro"].runstrats[0][0]
    ema = list(strat.ema.lines.ema.get(size=len(strat.ema)))
    assert [p["value"] for p in r["ema"]] == ema[19:]  # the EMA, not the SMA before it
    candles = r["candles"]
    index = {c["time"]: i for i, c in enumerate(candles)}
    zones = r["zones"]
    assert {z["state"] for z in zones} == {"broken", "active"}
    for z in zones:
        sign = 1 if z["kind"] == "resistance" else -1
        start, end = index[z["start"]], index[z["end"]]
        assert start < end or z["state"] == "active"
        made = candles[start]["high" if sign > 0 else "low"]
        assert made == z["price"]  # the bar that made the level
        if z["state"] == "broken":  # the bar that closed beyond it
            assert sign * (candles[end]["close"] - z["price"]) > 0
        else:
            assert end == len(candles) - 1


def test_without_a_broker_observer_the_final_value_still_counts(pb, data_dir):
    returned, r = probe(data_dir, stdstats=False)
    validate(pb, r)
    s = r["stats"]
    assert r["equity"] == []
    assert s["equity_final"] == returned["cerebro"].broker.getvalue()
    assert s["sharpe"] != s["sharpe"] and s["max_drawdown_pct"] == 0.0
    assert api_json(r)["stats"]["sharpe"] == "NaN"
    assert s["trades"] == len(r["trades"]) > 100


def test_environment_import_and_stdout_for_one_job(data_dir, monkeypatch):
    monkeypatch.setenv("PROBE_UNSET", "outer")
    monkeypatch.delenv("PROBE_LEVEL", raising=False)
    cwd, path = os.getcwd(), list(sys.path)
    first, _ = probe(data_dir, level=7)
    second, _ = probe(data_dir, PROBE_LEVEL="9")
    assert first["stats"]["level_at_import"] == "7"
    # Imported afresh, after the job's environment was set.
    assert (second["stats"]["level_at_import"], second["stats"]["level_at_call"]) == ("9", "9")
    assert second["stats"]["unset_at_call"] == "<unset>"  # optional and empty: unset
    assert second["stats"]["cwd"] == PROBE
    assert second["stats"]["line_buffering"] is True
    assert os.environ["PROBE_UNSET"] == "outer" and "PROBE_LEVEL" not in os.environ
    assert (os.getcwd(), sys.path) == (cwd, path)


def test_data_reaches_the_bot_by_http_file_and_dir(data_dir, tmp_path, capsys, sr_result):
    capsys.readouterr()
    bot = tmp_path / "sr_bot"
    shutil.copytree(SR_BOT, bot, ignore=shutil.ignore_patterns("__pycache__"))
    toml = bot / "strategy.toml"
    toml.write_text(toml.read_text().replace('serve = "http"', 'serve = "file"'))
    by_file = adapter.run_folder(str(bot), {"start_date": "2021-01-01"}, data_dir=data_dir)
    out = capsys.readouterr().out
    assert f"XAGUSD H1: 6000 bars from file://{data_dir}" in out
    assert by_file["trades"] == sr_result["trades"]  # the http-served run of the fixture
    adapter.run_folder(SR_BOT, {"start_date": "2021-01-01", "max_candles": 100}, data_dir=data_dir)
    assert "XAGUSD H1: 100 bars from http://backtestd-data.invalid" in capsys.readouterr().out
    returned, r = probe(data_dir)  # serve = "dir": a plain path as a keyword argument
    assert len(r["candles"]) == 6000
    # Without data_dir a file:/// value is served too; anything else reaches the bot unchanged.
    by_url = adapter.run_folder(SR_BOT, {"start_date": "2021-01-01",
                                         "BACKTEST_FETCH_CSV_URL": f"file://{data_dir}"})
    assert "from http://backtestd-data.invalid" in capsys.readouterr().out
    assert by_url["trades"] == sr_result["trades"]
    with pytest.raises(ValueError, match="sample:// data exists only inside backtestd"):
        adapter.run_folder(SR_BOT, {})
    with pytest.raises(AdapterError, match="not a directory"):
        adapter.run_folder(SR_BOT, {}, data_dir=str(tmp_path / "missing"))


def test_two_symbols(pb, data_dir):
    r = adapter.run_folder(SR_BOT, {"symbols": "XAGUSD,EURUSD", "start_date": "2021-01-01"},
                    data_dir=data_dir)
    validate(pb, r)
    assert (r["symbol"], r["symbols"], len(r["candles"])) == ("XAGUSD", ["XAGUSD", "EURUSD"],
                                                              6000)
    assert {t["symbol"] for t in r["trades"]} == {"XAGUSD", "EURUSD"}
    assert [t["entry_time"] for t in r["trades"]] == sorted(t["entry_time"] for t in r["trades"])
    assert {z["symbol"] for z in r["zones"]} == {"XAGUSD"}
    assert r["stats"]["bars"] == 10000


SMA_BOT = """
import datetime, os
import backtrader as bt

class Cross(bt.Strategy):
    params = (("unused", 0),)

    def __init__(self):
        self.cross = bt.ind.CrossOver(bt.ind.SMA(period=10), bt.ind.SMA(period=30))
    def next(self):
        if self.cross[0] > 0:
            self.order_target_size(target=1)
        elif self.cross[0] < 0:
            self.order_target_size(target=-1)

def feed(data):
    return bt.feeds.GenericCSVData(
        dataname=os.path.join(data, "XAGUSD_H1.csv"), openinterest=-1,
        dtformat=lambda x: datetime.datetime(1970, 1, 1) + datetime.timedelta(seconds=int(x)),
        timeframe=bt.TimeFrame.Minutes, compression=60)

def backtesting(data, shape):
    cerebro = bt.Cerebro()
    cerebro.adddata(feed(data), name="XAGUSD")
    if shape == "optimize":
        cerebro.optstrategy(Cross, unused=[1, 2])
        return cerebro.run(maxcpus=1)
    if shape == "raise":
        raise RuntimeError("the bot failed")
    cerebro.addstrategy(Cross)
    strategies = cerebro.run()
    return {
        "cerebro": cerebro,
        "list": strategies,
        "strategy": strategies[0],
        "tuple": (cerebro, strategies, cerebro.datas, {"n": 1}),
        "dict": {"strategies": strategies, "stats": {"n": 1}},
        "none": None,
    }[shape]
"""


def small_bot(tmp_path, main=SMA_BOT, entry="main:backtesting"):
    bot = tmp_path / "small_bot"
    bot.mkdir(exist_ok=True)
    (bot / "main.py").write_text(main)
    (bot / "strategy.toml").write_text(textwrap.dedent(f"""
        kind = "backtrader"
        entry = "{entry}"
        [data]
        parameter = "data"
        serve = "dir"
        [[parameters]]
        name = "data"
        type = "string"
        default = ""
        optional = true
        destination = "arg"
        [[parameters]]
        name = "shape"
        type = "choice"
        choices = ["cerebro", "list", "strategy", "tuple", "dict", "none", "optimize", "raise"]
        default = "cerebro"
        destination = "arg"
        [[parameters]]
        name = "marker"
        type = "string"
        default = "set"
        alias = "SMALL_BOT_MARKER"
        destination = "env"
    """))
    return str(bot)


def test_every_return_shape_gives_the_same_result(pb, tmp_path, data_dir, capsys):
    bot = small_bot(tmp_path)
    results = {shape: adapter.run_folder(bot, {"shape": shape}, data_dir=data_dir)
               for shape in ("cerebro", "list", "strategy", "tuple", "dict")}
    first = results["cerebro"]
    validate(pb, first)
    assert len(first["trades"]) > 50 and first["ema"] == [] and first["zones"] == []
    assert {t["exit_reason"] for t in first["trades"]} == {"reversal", "end_of_data"}
    assert {m["reason"] for m in first["markers"]} == {"market", "reversal", "end_of_data"}
    for shape, r in results.items():
        assert r == first, shape
    assert capsys.readouterr().out.count("backtestd: the bot's stats: {\"n\": 1}") == 2


def test_errors(tmp_path, data_dir):
    bot = small_bot(tmp_path)
    with pytest.raises(AdapterError, match="returned no strategy that ran"):
        adapter.run_folder(bot, {"shape": "none"}, data_dir=data_dir)
    with pytest.raises(AdapterError, match="optimization runs; a job is one run"):
        adapter.run_folder(bot, {"shape": "optimize"}, data_dir=data_dir)
    with pytest.raises(RuntimeError, match="the bot failed"):
        adapter.run_folder(bot, {"shape": "raise"}, data_dir=data_dir)
    assert "SMALL_BOT_MARKER" not in os.environ  # restored after the exception
    with pytest.raises(adapter.ManifestError, match="shape: must be one of"):
        adapter.run_folder(bot, {"shape": "square"}, data_dir=data_dir)
    with pytest.raises(adapter.ManifestError, match="entry: main.py has no function 'run'"):
        adapter.run_folder(small_bot(tmp_path, entry="main:run"), {}, data_dir=data_dir)
    with pytest.raises(ModuleNotFoundError):
        adapter.run_folder(small_bot(tmp_path, entry="nomodule:run"), {}, data_dir=data_dir)


def cli(*args, **kwargs):
    env = dict(os.environ, PYTHONPATH=PACKAGE_PATH)
    return subprocess.run([sys.executable, "-m", "backtestd.adapters.backtrader", *args],
                          capture_output=True, text=True, env=env, timeout=120, **kwargs)


def test_command_line(pb, tmp_path, data_dir):
    out = tmp_path / "result.json"
    p = cli(SR_BOT, "--data-dir", data_dir, "start_date=2021-01-01", "RR=3", "--out", str(out))
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert lines[0].startswith("XAGUSD H1: 6000 bars from http://backtestd-data.invalid")
    assert lines[-2].startswith("done: ") and lines[-1].startswith("backtestd: the bot's stats:")
    validate(pb, json.loads(out.read_text()))
    p = cli("--describe", SR_BOT)
    assert p.returncode == 0 and json.loads(p.stdout)["name"] == "sr_bot"
    p = cli(SR_BOT, "rr=0")
    assert (p.returncode, p.stderr.strip()) == (2, "error: rr: must be > 0, got 0")


WAITING_BOT = """
import os, sys, time
def backtesting(go):
    print("first line")
    deadline = time.monotonic() + 30
    while not os.path.exists(go) and time.monotonic() < deadline:
        time.sleep(0.01)
    print("go seen" if os.path.exists(go) else "no go", file=sys.stderr)
    return None
"""


def test_the_bots_lines_stream_while_it_runs(tmp_path):
    """The bot prints a line and waits for a file the test creates only once that line has
    arrived through the pipe: with block buffering it would arrive at exit, 30 s later."""
    bot = tmp_path / "waiting_bot"
    bot.mkdir()
    (bot / "main.py").write_text(WAITING_BOT)
    go = tmp_path / "go"
    (bot / "strategy.toml").write_text(textwrap.dedent(f"""
        kind = "backtrader"
        entry = "main:backtesting"
        [[parameters]]
        name = "go"
        type = "string"
        default = "{go}"
        destination = "arg"
    """))
    env = dict(os.environ, PYTHONPATH=PACKAGE_PATH)
    proc = subprocess.Popen([sys.executable, "-m", "backtestd.adapters.backtrader", str(bot)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        started = time.monotonic()
        first = proc.stdout.readline()
        assert first == "first line\n"
        assert proc.poll() is None and time.monotonic() - started < 25
        go.write_text("")
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert "go seen" in err
    assert "returned no strategy that ran" in err and proc.returncode == 2


class FakeChannel:
    """The runner's Channel as the adapter uses it: log lines recorded."""

    def __init__(self):
        self.logs = []

    def log(self, level, text):
        self.logs.append((level, text))


def spec_for(data_dir, **params):
    """A RunSpec dict as the runner gives it: the validated canonical parameter set (common
    parameters the bot does not declare included), the strategy folder and the data policy."""
    values = {"strategy": "sr_bot", "symbols": "XAGUSD", "timeframe": "H1",
              "start_date": "2021-01-01T00:00:00Z", "end_date": "2030-01-01T00:00:00Z",
              "max_candles": "", "data_source": f"file://{data_dir}", "rr": "2",
              "trace_enabled": "false", "trace_sampling": "1"}
    values.update(params)
    return {"job_id": "j1", "params": values,
            # The source hash is the runner's to check (backtestd.runner), not the adapter's.
            "external_strategy": {"kind": "backtrader", "path": SR_BOT,
                                  "entry": "main:backtesting", "source_hash": ""},
            "data_policy": {"file_roots": [os.path.dirname(data_dir)]}}


def test_the_runner_entry(pb, data_dir, sr_result):
    channel = FakeChannel()
    r = adapter.run(spec_for(data_dir), channel)
    validate(pb, r)
    assert r["trades"] == sr_result["trades"]
    assert channel.logs[-1][0] == "info"
    assert channel.logs[-1][1].startswith("backtestd: the bot's stats: {")
    camel = spec_for(data_dir, rr="3")
    camel["externalStrategy"] = camel.pop("external_strategy")
    camel["dataPolicy"] = {"fileRoots": camel.pop("data_policy")["file_roots"]}
    assert adapter.run(camel, FakeChannel())["trades"] != sr_result["trades"]


@pytest.mark.parametrize("change, error, words", [
    ({"data_source": "sample://"}, AdapterError, ["data_source", "'sample://'", "file:///"]),
    ({"data_source": "https://example.com/data"}, AdapterError, ["data_source", "not implemented"]),
    ({"data_source": "file:///etc"}, AdapterError, ["/etc is outside the folders"]),
    ({"rr": "-1"}, adapter.ManifestError, ["rr: must be > 0"]),
])
def test_the_runner_entry_refuses(data_dir, change, error, words):
    with pytest.raises(error) as e:
        adapter.run(spec_for(data_dir, **change), FakeChannel())
    for w in words:
        assert w in str(e.value), str(e.value)


def test_the_runner_entry_checks_the_policy_and_the_entry(data_dir):
    spec = spec_for(data_dir)
    spec["data_policy"] = {}
    with pytest.raises(AdapterError, match="outside the folders this job may read"):
        adapter.run(spec, FakeChannel())
    spec = spec_for(data_dir)
    spec["external_strategy"]["entry"] = "main:other"
    with pytest.raises(adapter.ManifestError, match="submitted for 'main:other'"):
        adapter.run(spec, FakeChannel())

