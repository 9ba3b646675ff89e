"""The vectorized mode: what a strategy's signals(data) returns, checked and handed to the engine.

`data` has numpy arrays `time`, `open`, `high`, `low`, `close`, `volume` over every bar of one
symbol — warm-up bars first, so indicators are ready where the run starts — and `first_kept`
(the index of the run's first bar), `symbol`, `pip`. signals() returns arrays of the same length:

    return {"entries": cross > 0, "short_entries": cross < 0}          # or (entries, exits)

keys: `entries` (go long; an open short is reversed at the same fill), `exits` (close a long),
`short_entries`, `short_exits`, `size` (a number or an array), `stop`, `target` (price arrays,
NaN: none), `entry_reason`, `short_entry_reason`, `exit_reason` (the decision codes counted and
shown on markers). Signals on warm-up bars are ignored. Each order fills at the next bar's open,
exactly as buy()/sell()/close() from on_bar would.
"""

import numpy as np

_FLAGS = ("entries", "exits", "short_entries", "short_exits")
_KEYS = set(_FLAGS) | {"size", "stop", "target", "entry_reason", "short_entry_reason",
                       "exit_reason"}


class Data:
    """One symbol's bars (read-only numpy views of the engine's arrays)."""

    def __init__(self, d):
        self.symbol = d["symbol"]
        self.first_kept = d["first_kept"]
        self.pip = d["pip"]
        self.time = d["time"]
        self.open = d["open"]
        self.high = d["high"]
        self.low = d["low"]
        self.close = d["close"]
        self.volume = d["volume"]

    def __len__(self):
        return len(self.time)


def _flags(name, value, n):
    if value is None:
        return None
    a = np.asarray(value)
    if a.shape != (n,):
        raise ValueError(f"signals: {name} has shape {a.shape}, the data ({n},)")
    if a.dtype == np.bool_:
        return np.ascontiguousarray(a).view(np.uint8)
    return np.ascontiguousarray(a != 0).view(np.uint8)


def _prices(name, value, n):
    if value is None:
        return None
    a = np.ascontiguousarray(value, dtype=np.float64)
    if a.shape != (n,):
        raise ValueError(f"signals: {name} has shape {a.shape}, the data ({n},)")
    return a


def set_signals(strategy, session, sym):
    data = Data(session.data(sym))
    out = strategy.signals(data)
    if isinstance(out, tuple):
        if len(out) != 2:
            raise ValueError("signals: a tuple is (entries, exits)")
        out = {"entries": out[0], "exits": out[1]}
    if not isinstance(out, dict):
        raise ValueError("signals: must return a dict of arrays or a tuple (entries, exits)")
    unknown = set(out) - _KEYS
    if unknown:
        raise ValueError(f"signals: unknown keys {sorted(unknown)} (known: {sorted(_KEYS)})")
    n = len(data)
    size = out.get("size", 1.0)
    size_array = None
    size_value = 1.0
    if np.ndim(size) == 0:
        size_value = float(size)
    else:
        size_array = _prices("size", size, n)
    session.set_signals(sym, *(_flags(k, out.get(k), n) for k in _FLAGS), size_array, size_value,
                        _prices("stop", out.get("stop"), n), _prices("target", out.get("target"), n),
                        str(out.get("entry_reason", "") or ""),
                        str(out.get("short_entry_reason", "") or ""),
                        str(out.get("exit_reason", "") or ""))
