"""Runs a backtest on backtestd, shows its progress, prints its statistics. The address and token
come from BACKTEST_SERVER / BACKTEST_TOKEN, else 127.0.0.1:50051 and var/admin.token."""
from backtestd import Client

with Client() as client:
    run = client.run_backtest({"strategy": "sma_cross", "symbols": "EURUSD", "timeframe": "H1",
                               "start_date": "2022-01-01", "end_date": "2022-07-01"})
    print("job", run.job_id)
    for event in run:
        if event.kind == "progress":
            print(f"\r{event.data.fraction:6.1%} {event.data.stage:8}", end="", flush=True)
        elif event.kind == "status":
            print(f"\rstatus {event.data.status} {event.data.error}".rstrip())
    stats = client.get_result(run.job_id, parts=["stats"]).stats
    print(f"{run.status}: {stats.trades} trades, return {stats.return_pct:.2f}%, sharpe {stats.sharpe:.2f}")
    raise SystemExit(0 if run.status == "finished" else 1)
