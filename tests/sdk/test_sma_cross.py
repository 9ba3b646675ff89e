"""The SDK's sma_cross is the built-in sma_cross: the same trades, and — named sma_cross, counting
the same reasons — the same result digest, on sample:// data and on CSV files."""
import os

import numpy as np
import pytest

import backtestd
from conftest import ROOT, engine_cli
from strategies import SmaCross, SmaCrossArrays, SmaCrossVectorized

SAMPLE = dict(symbols="EURUSD", timeframe="M15", start_date="2022-01-03", end_date="2022-03-01")


def cli_params(d):
    return [f"{k}={v}" for k, v in d.items()] + ["strategy=sma_cross"]


def same_trades(result, builtin):
    t = result.trades_raw
    assert len(t["id"]) == len(builtin["trades"]) > 0
    for k, b in enumerate(builtin["trades"]):
        assert t["side"][k] == b["side"]
        assert t["entry_time"][k] == b["entry_time"]
        assert t["exit_time"][k] == b["exit_time"]
        assert t["entry_price"][k] == b["entry_price"]
        assert t["exit_price"][k] == b["exit_price"]
        assert t["exit_reason"][k] == b["exit_reason"]


@pytest.mark.parametrize("strategy", [SmaCross, SmaCrossVectorized, SmaCrossArrays])
def test_sample_data_equals_builtin(strategy):
    builtin = engine_cli(*cli_params(SAMPLE))
    r = backtestd.run(strategy, **SAMPLE)
    same_trades(r, builtin)
    assert r.stats_raw["equity_final"] == builtin["final_equity"]
    assert r.digest == builtin["digest"]


@pytest.mark.parametrize("strategy", [SmaCross, SmaCrossVectorized, SmaCrossArrays])
def test_csv_data_equals_builtin(strategy):
    golden = os.path.join(ROOT, "tests", "golden")
    params = dict(data_source=f"file://{golden}", symbols="XAGUSD", timeframe="H1",
                  start_date="1900-01-01", fast_period=7, slow_period=21)
    builtin = engine_cli(*cli_params(params))
    r = backtestd.run(strategy, **params)
    same_trades(r, builtin)
    assert r.digest == builtin["digest"]


def test_vectorized_equals_callback_on_many_bars():
    params = dict(symbols="XAGUSD", timeframe="M1", start_date="2021-01-04",
                  end_date="2021-03-01", size=2.5)
    a = backtestd.run(SmaCross, **params)
    b = backtestd.run(SmaCrossVectorized, **params)
    assert a.stats_raw["trades"] > 500
    assert a.digest == b.digest
    for col in ("entry_time", "exit_time", "entry_price", "exit_price", "pnl"):
        assert np.array_equal(a.trades_raw[col], b.trades_raw[col])


def test_dataframe_data_equals_file_data():
    import pandas as pd  # in tests/requirements.txt
    path = os.path.join(ROOT, "tests", "golden", "XAGUSD_H1.csv")
    df = pd.read_csv(path)
    from_file = backtestd.run(SmaCross, data=f"file://{os.path.dirname(path)}", symbols="XAGUSD",
                              timeframe="H1", start_date="1900-01-01")
    from_frame = backtestd.run(SmaCross, data=df, symbols="XAGUSD", timeframe="H1")
    assert from_frame.digest == from_file.digest


def test_vectorized_equals_callback_on_several_symbols_and_traced():
    # Several symbols and traced runs take the per-bar loop in both modes.
    for extra in ({"symbols": ["EURUSD", "XAGUSD"]}, {"symbols": "EURUSD", "trace_enabled": True}):
        params = dict(timeframe="M15", start_date="2022-01-03", end_date="2022-02-01", **extra)
        a = backtestd.run(SmaCross, **params)
        b = backtestd.run(SmaCrossVectorized, **params)
        assert a.stats_raw["trades"] > 20
        assert a.digest == b.digest


def test_ta_values():
    """ta's arrays are the engine's per-bar values: exact SMAs (ties where the closes make them),
    sma_cross equal to the crossover of the SMA arrays, NaN until ready."""
    from backtestd import ta
    x = np.array([1.0, 2.0, 3.0, 3.0, 2.0, 1.0, 1.0, 3.0, 5.0, 0.1, 0.2, 0.3])
    s2 = ta.sma(x, 2)
    assert np.isnan(s2[0]) and s2[1] == 1.5 and s2[-1] == 0.25
    import math
    assert ta.sma(np.array([0.1, 0.2, 0.3]), 3)[2] == math.fsum([0.1, 0.2, 0.3]) / 3
    assert list(ta.crossover(np.array([1.0, 2.0, 2.0, 1.0]), np.array([1.5, 1.5, 2.0, 1.5]))) == \
        [0, 1, 0, -1]
    r = backtestd.run(SmaCross, symbols="XAGUSD", timeframe="M1", start_date="2021-01-04",
                      end_date="2021-01-20")
    close = r.candles("XAGUSD")["close"].to_numpy()
    for f, s in ((10, 30), (3, 7), (20, 21)):
        assert np.array_equal(ta.sma_cross(close, f, s), ta.crossover(ta.sma(close, f), ta.sma(close, s)))
    assert ta.highest(x, 3)[4] == 3.0 and np.isnan(ta.highest(x, 3)[1])
    assert ta.lowest(x, 3)[6] == 1.0
    assert np.isnan(ta.rsi(x, 3)[2]) and 0 <= ta.rsi(x, 3)[-1] <= 100

