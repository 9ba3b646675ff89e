"""backtestd.run: a local run of a strategy on the engine the service uses (the notebook path)."""

import math
import time

import numpy as np

from backtestd import _native
from backtestd.params import ParamError, engine_param_names
from backtestd.result import Result
from backtestd.strategy import Strategy, bind


def run(strategy, data=None, symbols=None, timeframe=None, *, digest=True, max_log_lines=1000,
        trace_max_rows=None, **params):
    """Runs `strategy` (a Strategy subclass) and returns its Result.

    data: None (the data_source parameter, default sample://), a data_source URL (`sample://`,
    `file:///dir`, `https://…`), a pandas DataFrame (columns open, high, low, close[, volume],
    times in a `time` column or a DatetimeIndex), or {symbol: DataFrame or {column: array}}.
    symbols: a name or a list; timeframe: M1 … W1. params: the strategy's own parameters (by name
    or alias) and any of the run's (start_date, initial_equity, spread_pips, trace_enabled, …,
    docs/strategies.md). Given data runs from its first bar unless start_date says otherwise.
    Raises ParamError (a ValueError) naming a bad parameter, ValueError for bad data, and the
    strategy's own exception when it raises.
    """
    if not (isinstance(strategy, type) and issubclass(strategy, Strategy)):
        raise TypeError("run: strategy must be a Strategy subclass")
    values, rest = strategy.parse_params(params)
    engine = _engine_params(rest)
    frames = None
    if isinstance(data, str):
        engine["data_source"] = data
    elif data is not None:
        frames = _frames(data, symbols)
        engine.setdefault("start_date", "1900-01-01")
        if symbols is None:
            symbols = list(frames)
    if symbols is not None:
        engine["symbols"] = symbols if isinstance(symbols, str) else ",".join(symbols)
    if timeframe is not None:
        engine["timeframe"] = timeframe

    def start(session):
        bind(strategy, values, session)

    out = _native.run(start, strategy.strategy_name(), engine, frames, int(time.time()),
                      digest=digest, max_log_lines=max_log_lines,
                      trace_max_rows=0 if trace_max_rows is None else int(trace_max_rows))
    return Result(out, values)


def _text(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"not a finite number: {value}")
        return _native.format_number(value)
    if isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value)
    return str(value)


def _engine_params(given):
    known = engine_param_names()
    out = {}
    for key, value in given.items():
        if key.lower() not in known:
            raise ParamError(f"{key}: no such parameter (neither the strategy's nor the run's)")
        out[key] = "" if value is None else _text(value)
    return out


_TIME_COLUMNS = ("time", "date", "datetime", "timestamp", "ts")


def _epoch_seconds(values):
    """Times as UTC epoch seconds: numbers (seconds, or milliseconds when 12+ digits), numpy
    datetimes, or anything pandas reads as a time (naive times are UTC)."""
    a = np.asarray(values)
    if np.issubdtype(a.dtype, np.number):
        a = a.astype(np.int64)
        return a // 1000 if len(a) and abs(int(a[0])) >= 10**11 else a
    if np.issubdtype(a.dtype, np.datetime64):
        return a.astype("datetime64[s]").astype(np.int64)
    import pandas as pd
    return pd.DatetimeIndex(pd.to_datetime(values, utc=True)).as_unit("s").asi8


def _columns_of(frame):
    """A DataFrame or a mapping of arrays → {time, open, high, low, close, volume} arrays."""
    try:
        import pandas as pd
    except ImportError:
        pd = None
    if pd is not None and isinstance(frame, pd.DataFrame):
        cols = {str(c).lower(): c for c in frame.columns}
        tname = next((cols[n] for n in _TIME_COLUMNS if n in cols), None)
        if tname is not None:
            times = _epoch_seconds(frame[tname])
        elif isinstance(frame.index, pd.DatetimeIndex):
            times = _epoch_seconds(frame.index)
        else:
            raise ValueError("data: a DataFrame needs a time column or a DatetimeIndex")
        get = lambda n: frame[cols[n]].to_numpy(dtype=np.float64) if n in cols else None  # noqa: E731
    elif isinstance(frame, dict):
        cols = {str(c).lower(): c for c in frame}
        tname = next((cols[n] for n in _TIME_COLUMNS if n in cols), None)
        if tname is None:
            raise ValueError("data: needs a time column")
        times = _epoch_seconds(frame[tname])
        get = lambda n: np.asarray(frame[cols[n]], dtype=np.float64) if n in cols else None  # noqa: E731
    else:
        raise ValueError("data: a DataFrame, a dict of arrays, a URL, or {symbol: one of those}")
    out = {"time": np.ascontiguousarray(times, dtype=np.int64)}
    for name in ("open", "high", "low", "close"):
        col = get(name)
        if col is None:
            raise ValueError(f"data: no {name} column")
        out[name] = np.ascontiguousarray(col)
    vol = get("volume")
    out["volume"] = None if vol is None else np.ascontiguousarray(vol)
    return out


def _frames(data, symbols):
    if isinstance(data, dict) and data and all(
            not isinstance(v, (list, tuple, np.ndarray)) and hasattr(v, "__len__") and
            not _is_column(v) for v in data.values()):
        return {str(k).upper(): _columns_of(v) for k, v in data.items()}
    if symbols is not None and not isinstance(symbols, str) and len(symbols) != 1:
        raise ValueError("data: one frame for several symbols; give {symbol: frame}")
    sym = symbols if isinstance(symbols, str) else (symbols[0] if symbols else "DATA")
    return {sym.upper(): _columns_of(data)}


def _is_column(v):
    try:
        import pandas as pd
        return isinstance(v, pd.Series)
    except ImportError:
        return False
