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
"""

from backtestd._version import __version__
from backtestd.params import Bool, Choice, Float, Int, Param, ParamError, Text
from backtestd.result import Result
from backtestd.run import run
from backtestd.strategy import Strategy
from backtestd import ta

__all__ = ["Bool", "Choice", "Float", "Int", "Param", "ParamError", "Result", "Strategy", "Text",
           "__version__", "run", "ta"]
