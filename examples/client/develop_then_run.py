"""A strategy developed locally, then run by the service: the notebook path (docs/strategies.md).

The strategy is examples/strategies/my_cross/strategy.py. `backtestd.run` runs it here on the
engine; the same file in the server's strategy folder (`make run` serves examples/strategies/) runs
as a job through `backtestd.Client`; both give the same trades. The address and token come from
BACKTEST_SERVER / BACKTEST_TOKEN, else 127.0.0.1:50051 and var/admin.token.

    build/venv/bin/python examples/client/develop_then_run.py
"""
import os

import backtestd
from backtestd.loader import load

FOLDER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "strategies", "my_cross")
PARAMS = {"symbols": "EURUSD", "timeframe": "H1", "start_date": "2022-01-01",
          "end_date": "2022-07-01", "fast_period": 7}

# 1. Locally, as in a notebook.
MyCross = load(FOLDER)[0]
local = backtestd.run(MyCross, data="sample://", **PARAMS)
print(f"local:   {local.stats['trades']} trades, return {local.stats['return_pct']:.2f}%")

# 2. The same file, as the service's strategy `my_cross`.
with backtestd.Client() as client:
    print("server: ", client.get_strategy("my_cross").source_hash)
    run = client.run_backtest({"strategy": "my_cross", **PARAMS})
    status = run.wait()
    stats = client.get_result(run.job_id, parts=["stats"]).stats
    print(f"service: {stats.trades} trades, return {stats.return_pct:.2f}% ({status}, job {run.job_id})")
    raise SystemExit(0 if status == "finished" and stats.trades == local.stats["trades"] else 1)
