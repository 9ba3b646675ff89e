"""Strategies the tests run: sma_cross written on the SDK, both modes."""
from backtestd import Float, Int, Strategy, ta


class SmaCross(Strategy):
    """The reference SMA crossover (10/30, one position), as the built-in sma_cross."""

    name = "sma_cross"
    fast_period = Int(10, min=1, help="Fast SMA length")
    slow_period = Int(30, min=2, help="Slow SMA length")
    size = Float(1, min=0, min_exclusive=True, help="Units per position")

    def on_start(self):
        self.cross = self.crossover(self.sma(self.fast_period), self.sma(self.slow_period))

    def on_bar(self, bar):
        c = self.cross.value
        if c > 0:
            self.buy(self.size, reason="cross_up")
        elif c < 0:
            self.sell(self.size, reason="cross_down")


class SmaCrossVectorized(Strategy):
    """The same decisions as arrays (ta.sma_cross: the SMAs' crossover in one pass)."""

    name = "sma_cross"
    fast_period = Int(10, min=1)
    slow_period = Int(30, min=2)
    size = Float(1, min=0, min_exclusive=True)

    def signals(self, data):
        cross = ta.sma_cross(data.close, self.fast_period, self.slow_period)
        return {"entries": cross > 0, "short_entries": cross < 0, "size": self.size,
                "entry_reason": "cross_up", "short_entry_reason": "cross_down"}


class SmaCrossArrays(SmaCrossVectorized):
    """The same again from the SMA arrays themselves."""

    def signals(self, data):
        cross = ta.crossover(ta.sma(data.close, self.fast_period),
                             ta.sma(data.close, self.slow_period))
        return {"entries": cross > 0, "short_entries": cross < 0, "size": self.size,
                "entry_reason": "cross_up", "short_entry_reason": "cross_down"}

