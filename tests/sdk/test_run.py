"""backtestd.run: data from URLs, DataFrames and arrays; orders with stops and targets through the
engine's broker; callbacks; log lines; overlays; errors."""
import os

import numpy as np
import pytest

import backtestd
from backtestd import Int, Strategy

HOUR = 3600


def bars(closes, start=1_700_000_000 // HOUR * HOUR):
    closes = np.asarray(closes, dtype=float)
    opens = np.concatenate([[closes[0]], closes[:-1]])
    return {"time": start + HOUR * np.arange(len(closes)), "open": opens,
            "high": np.maximum(opens, closes) + 0.5, "low": np.minimum(opens, closes) - 0.5,
            "close": closes}


class Bracket(Strategy):
    """Buys on bar 0 with a stop and a target; logs fills; draws a line, a zone and a note."""

    def on_start(self):
        self.fills = []

    def on_bar(self, bar):
        self.plot("mid", (bar.high + bar.low) / 2)
        if bar.index == 0:
            self.buy(2, stop=bar.close - 3, target=bar.close + 2.5, reason="bracket")
            self.zone(bar.close + 2.5, kind="resistance", start=bar.time, end=bar.time + 5 * HOUR)
            self.mark("go", side="buy")

    def on_fill(self, fill):
        self.fills.append((fill.kind, fill.side, fill.price, fill.exit_reason))
        self.log("filled", fill.kind, fill.price)

    def on_stop(self):
        self.log("fills", len(self.fills))


def test_stop_target_fills_callbacks_and_overlays():
    r = backtestd.run(Bracket, data=bars([100, 100, 101, 103, 102, 101]), symbols="SPX",
                      timeframe="H1")
    t = r.trades_raw
    assert list(t["side"]) == ["long"]
    assert t["entry_price"][0] == 100 and t["exit_reason"][0] == "target"
    assert t["exit_price"][0] == 102.5 and t["size"][0] == 2
    assert t["stop"][0] == 97 and t["target"][0] == 102.5
    assert any(line.endswith("SPX filled entry 100.0") for line in r.log)
    assert "fills 2" in r.log
    assert len(r.lines("SPX")["mid"]["time"]) == 6
    assert r.zones[0]["kind"] == "resistance" and r.zones[0]["price"] == 102.5
    notes = [m for m in r.markers if m["kind"] == "note"]
    assert notes and notes[0]["reason"] == "go"
    assert r.reason_count("bracket") == 1 and r.reason_count("exit_target") == 1


def test_pandas_results():
    import pandas as pd  # in tests/requirements.txt
    r = backtestd.run(Bracket, data=bars([100, 100, 101, 103, 102, 101]), symbols="SPX",
                      timeframe="H1")
    assert isinstance(r.trades, pd.DataFrame) and isinstance(r.equity, pd.Series)
    assert str(r.equity.index.tz) == "UTC" and len(r.equity) == 6
    assert r.stats["trades"] == 1
    assert r.candles("SPX")["close"].iloc[-1] == 101


class Raises(Strategy):
    def on_bar(self, bar):
        if bar.index == 3:
            raise ZeroDivisionError("on purpose")


def test_the_strategys_exception_reaches_the_caller():
    with pytest.raises(ZeroDivisionError, match="on purpose") as e:
        backtestd.run(Raises, data=bars(range(1, 10)), timeframe="H1")
    assert any(f.name == "on_bar" for f in __import__("traceback").extract_tb(e.value.__traceback__))


def test_bad_data_names_the_row():
    b = bars([1, 2, 3])
    b["high"][1] = 0
    with pytest.raises(ValueError, match="row 1: high < low"):
        backtestd.run(Bracket, data=b, timeframe="H1")


def test_objects_kept_past_the_run_say_so():
    kept = {}

    class Keeper(Strategy):
        def on_start(self):
            kept["sma"] = self.sma(2)

        def on_bar(self, bar):
            kept["bar"] = bar

    backtestd.run(Keeper, data=bars([1, 2, 3]), timeframe="H1")
    assert np.isnan(kept["sma"].value) and kept["sma"].ready is False
    with pytest.raises(RuntimeError, match="the run is over"):
        kept["bar"].close


def test_several_symbols_share_one_account(root):
    class Both(Strategy):
        period = Int(5)

        def on_start(self):
            self.avg = self.sma(self.period)

        def on_bar(self, bar):
            if self.avg.ready and self.position == 0:
                self.buy(1, reason=f"first_{bar.symbol.lower()}")

    r = backtestd.run(Both, symbols=["EURUSD", "XAGUSD"], timeframe="H4",
                      start_date="2022-01-03", end_date="2022-02-01")
    assert set(r.trades_raw["symbol"]) == {"EURUSD", "XAGUSD"}
    assert r.reason_count("first_eurusd") == 1 and r.reason_count("first_xagusd") == 1


def test_the_wheel_is_in_build(root):
    wheels = [f for f in os.listdir(os.path.join(root, "build")) if f.startswith("backtestd-")
              and f.endswith(".whl")]
    assert f"backtestd-{backtestd.__version__}-" in " ".join(wheels)


def test_signal_data_kept_past_the_run_stays_valid():
    kept = {}

    class Keeps(Strategy):
        def signals(self, data):
            kept["close"] = data.close
            return {"entries": np.zeros(len(data), dtype=bool)}

    r = backtestd.run(Keeps, data=bars([1, 2, 3, 4]), symbols="SPX", timeframe="H1")
    assert list(kept["close"]) == [1, 2, 3, 4] and r.stats_raw["trades"] == 0
