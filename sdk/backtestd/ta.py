"""The engine's indicators over whole numpy arrays, for vectorized strategies (signals()).

Values are those the on_bar indicators give on the same bars (an SMA is the exact mean, as
backtrader computes it), so a vectorized strategy decides as its on_bar twin does:
`sma`, `ema`, `rsi`, `atr`, `highest`, `lowest`, `crossover` (int8: +1 / -1 / 0), and
`sma_cross(x, fast, slow)`: `crossover(sma(x, fast), sma(x, slow))` without the SMA arrays (the
built-in sma_cross's scan: running sums, the exact means only near ties), several times faster.
"""

from backtestd._native.ta import (atr, crossover, ema, highest, lowest, rsi, sma,  # noqa: F401
                                  sma_cross)
