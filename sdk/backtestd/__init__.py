"""backtestd: strategies in Python on the backtestd engine (docs/strategies.md).

    import backtestd
    from backtestd import Strategy, Int, Float

    class SmaCross(Strategy):
        fast_period = Int(10, min=1)
        slow_period = Int(30, min=2)

        def on_start(self):
            self.cross = self.crossover(self.sma(self.fast_period), self.sma(self.slow_period))

        def on_bar(self, bar):
            if self.cross.value > 0:
                self.buy(1, reason="cross_up")
            elif self.cross.value < 0:
                self.sell(1, reason="cross_down")

    result = backtestd.run(SmaCross, data="sample://", symbols="EURUSD", timeframe="H1")

The same file, in a folder of the server's strategy folder, runs as a job of the service:

    with backtestd.Client("127.0.0.1:50051", token_file="var/admin.token") as client:
        run = client.run_backtest({"strategy": "sma_cross_sdk", "symbols": "EURUSD"})
        print(run.wait(), client.get_result(run.job_id).stats.sharpe)

``Client`` (backtestd.client, gRPC) is imported when first named, so a strategy's runner never
loads gRPC.
"""

from backtestd._version import __version__
from backtestd.params import Bool, Choice, Float, Int, Param, ParamError, Text
from backtestd.result import Result
from backtestd.run import run
from backtestd.strategy import Strategy
from backtestd import ta

# The service client's names, from backtestd.client on first use (PEP 562).
_CLIENT_NAMES = frozenset({"BacktestError", "Client", "Event", "FINAL_STATUSES", "ResultColumns",
                           "Run", "to_dict", "values_to_dict"})


def __getattr__(name):
    if name in _CLIENT_NAMES:
        from backtestd import client
        return getattr(client, name)
    raise AttributeError(f"module 'backtestd' has no attribute {name!r}")


__all__ = ["BacktestError", "Bool", "Choice", "Client", "Float", "Int", "Param", "ParamError",
           "Result", "Strategy", "Text", "__version__", "run", "ta"]
