"""The example bot through the adapter makes exactly the trades it makes under plain backtrader:
the same bot run in a process of its own as its users run it (plain_backtrader.py), compared
with the adapter's result field by field, floats bit for bit."""

import datetime
import json
import os
import subprocess
import sys

import pytest

from conftest import HERE, SR_BOT
from backtestd.adapters import backtrader as adapter

CASES = {
    "defaults": ({"start_date": "2021-01-01"}, {}, {}),
    "tuned": ({"start_date": "2021-01-01", "RR": 3, "breakout_lookback_period": 24,
               "ema_length": "20", "sl_buffer_atr": 0.5, "spread_pips": 2},
              {"spread_pips": 2.0},
              {"RR": "3", "BREAKOUT_LOOKBACK_PERIOD": "24", "EMA_LENGTH": "20",
               "SL_BUFFER_ATR": "0.5"}),
    "two_symbols": ({"start_date": "2021-01-01", "symbols": "XAGUSD,EURUSD",
                     "initial_equity": 5e7}, {"symbols": ["XAGUSD", "EURUSD"]},
                    {"INITIAL_EQUITY": "50000000"}),
}


def plain_run(data_dir, args, env):
    args = dict({"start_date": "2021-01-01"}, **args)
    env = dict(env, BACKTEST_FETCH_CSV_URL=f"file://{data_dir}")
    p = subprocess.run([sys.executable, os.path.join(HERE, "plain_backtrader.py"), SR_BOT,
                        json.dumps(args), json.dumps(env)],
                       capture_output=True, text=True, timeout=300, check=True)
    return json.loads(p.stdout.splitlines()[-1])


def epoch(iso):
    return int(datetime.datetime.fromisoformat(iso).replace(
        tzinfo=datetime.timezone.utc).timestamp())


@pytest.mark.parametrize("case", list(CASES))
def test_trades_identical_to_plain_backtrader(data_dir, case):
    params, args, env = CASES[case]
    plain = plain_run(data_dir, args, env)
    result = adapter.run_folder(SR_BOT, params, data_dir=data_dir)
    closed = [t for t in result["trades"] if t["exit_reason"] != "end_of_data"]
    ours = sorted(((t["symbol"], t["entry_time"]), t) for t in closed)
    theirs = sorted(((t["symbol"], epoch(t["entry_time"])), t) for t in plain["trades"])
    assert len(ours) == len(theirs) >= 10
    for (_, a), (_, b) in zip(ours, theirs):
        assert (a["symbol"], a["side"], a["entry_time"], a["exit_time"]) == \
            (b["symbol"], b["side"], epoch(b["entry_time"]), epoch(b["exit_time"]))
        assert (a["entry_price"], a["exit_price"], a["pnl"], a["commission"], a["bars_held"]) == \
            (b["entry_price"], b["exit_price"], b["pnlcomm"], b["commission"], b["bars"])
    # A position still open at the end is the adapter's end_of_data trade; backtrader values it
    # at the last close, and so does the result's final equity.
    for t in result["trades"]:
        if t["exit_reason"] == "end_of_data":
            assert all(o["entry_time"] < t["entry_time"] for o in closed
                       if o["symbol"] == t["symbol"])
    assert result["stats"]["equity_final"] == plain["value"]
    if case == "two_symbols":
        assert {t["symbol"] for t in closed} == {"XAGUSD", "EURUSD"}
