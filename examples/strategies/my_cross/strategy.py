"""SMA crossover: long above, short below (docs/strategies.md's first strategy)."""
from backtestd import Float, Int, Strategy


class MyCross(Strategy):
    fast_period = Int(10, min=1, help="Fast SMA length")
    slow_period = Int(30, min=2, help="Slow SMA length")
    size = Float(1, min=0, min_exclusive=True, alias="SIZE", help="Units per position")

    def on_start(self):
        self.cross = self.crossover(self.sma(self.fast_period), self.sma(self.slow_period))

    def on_bar(self, bar):
        if self.cross.value > 0:
            self.buy(self.size, reason="cross_up")
        elif self.cross.value < 0:
            self.sell(self.size, reason="cross_down")
