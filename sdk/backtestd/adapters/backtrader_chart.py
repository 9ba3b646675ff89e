"""The chart's lines of a backtrader run: the EMA and the support/resistance zones of the first
data feed (docs/strategies.md, "backtrader bots"). Part of the result conversion
(backtrader_result.py)."""

import datetime
import math
import sys

import backtrader as bt

from .errors import AdapterError

_EPOCH_DAY = 719163  # bt.date2num(1970-01-01 00:00)
_EPOCH = datetime.datetime(1970, 1, 1)


def line_values(line, n):
    """The last n values of a line up to its current bar, oldest first (fewer when its buffer
    holds fewer: exactbars). The buffer's array can run past the current bar."""
    n = min(n, len(line), len(line.array))
    return list(line.get(size=n)) if n > 0 else []


def ema(r, data0, s0):
    """The EMA of the first data: data_indicators[0]['ema'] when present, else the strategy's
    first EMA indicator computed on that data. Empty when there is none."""
    ind = _data_entry(r.data_indicators, data0, 0, "ema")
    if ind is None:
        for cand in r.strategies[0]._lineiterators[bt.LineIterator.IndType]:
            if isinstance(cand, bt.indicators.ExponentialMovingAverage) and \
                    _feed_of(cand) is data0:
                ind = cand
                break
    if ind is None or not hasattr(ind, "lines"):
        return []
    values = line_values(ind.lines[0], len(s0.time))
    times = s0.time[-len(values):] if values else []
    return [{"time": t, "value": v} for t, v in zip(times, values) if v == v]


def _feed_of(ind):
    """The data feed an indicator is computed on (following indicators of indicators)."""
    clock, seen = ind, 0
    while clock is not None and seen < 32:
        if isinstance(clock, bt.AbstractDataBase):
            return clock
        owner = getattr(clock, "_owner", None)
        if isinstance(owner, bt.AbstractDataBase):
            return owner
        clock, seen = getattr(clock, "_clock", None), seen + 1
    return None


def _data_entry(data_indicators, data, i, key):
    """data_indicators[i][key] for a list, or [name or feed][key] for a dict; None if absent."""
    if data_indicators is None:
        return None
    entry = None
    if isinstance(data_indicators, dict):
        for k in (data, data._name, i):
            try:
                entry = data_indicators.get(k)
            except TypeError:
                entry = None
            if entry is not None:
                break
    elif isinstance(data_indicators, (list, tuple)) and len(data_indicators) > i:
        entry = data_indicators[i]
    if isinstance(entry, dict):
        return entry.get(key)
    return getattr(entry, key, None)


def zones(data_indicators, data0, symbol, s0):
    """Support/resistance segments of the first data from data_indicators[0]['breakout']: its
    zone records (a list, or a `zones` attribute), else its resistance/support lines."""
    brk = _data_entry(data_indicators, data0, 0, "breakout")
    if brk is None:
        return []
    records = brk if isinstance(brk, (list, tuple)) else getattr(brk, "zones", None)
    if isinstance(records, (list, tuple)):
        return [_record_zone(z, k, symbol, s0) for k, z in enumerate(records)]
    aliases = brk.lines.getlinealiases() if hasattr(brk, "lines") else ()
    if "resistance" not in aliases and "support" not in aliases:
        print("backtestd: data_indicators[0]['breakout'] has neither zone records nor "
              "resistance/support lines: no zones", file=sys.stderr)
        return []
    zones = []
    for kind, sign, extreme in (("resistance", 1, s0.high), ("support", -1, s0.low)):
        if kind in aliases:
            level = line_values(getattr(brk.lines, kind), len(s0.time))
            pad = len(s0.time) - len(level)
            zones += _line_zones(symbol, kind, sign, s0, extreme[pad:], level, pad)
    zones.sort(key=lambda z: (z["start"], z["end"], z["kind"]))
    return zones


def _line_zones(symbol, kind, sign, s0, extreme, level, pad):
    """Runs of one level: a run a close goes beyond is `broken` (from the bar that made the level
    to the breakout bar), the run still going at the last bar is `active`; the others (levels that
    left the window unbroken) are not drawn."""
    time, close = s0.time[pad:], s0.close[pad:]
    n, i, out = len(level), 0, []
    while i < n:
        lv = level[i]
        if lv != lv:
            i += 1
            continue
        j, broke = i, None
        while j < n and level[j] == lv:
            if broke is None and sign * (close[j] - lv) > 0:
                broke = j
            j += 1
        if broke is not None or j == n:
            start = i
            for k in range(i - 1, max(-1, i - 5000), -1):
                if extreme[k] == lv:
                    start = k
                    break
            end = broke if broke is not None else n - 1
            out.append({"symbol": symbol, "start": time[start], "end": time[end], "price": lv,
                        "kind": kind, "state": "broken" if broke is not None else "active"})
        i = j
    return out


_STATES = ("active", "broken", "inverted", "cancelled")


def _record_zone(z, k, symbol, s0):
    get = z.get if isinstance(z, dict) else (lambda key, d=None: getattr(z, key, d))
    where = f"data_indicators[0]['breakout'] zone {k}"
    kind, state = get("kind"), get("state", "broken")
    if kind not in ("support", "resistance"):
        raise AdapterError(f"{where}: kind must be support or resistance, got {kind!r}")
    if state not in _STATES:
        raise AdapterError(f"{where}: state must be one of {', '.join(_STATES)}, got {state!r}")
    ends = []
    for key in ("start", "end"):
        bar = get(f"{key}_bar")
        if bar is not None:
            ends.append(s0.time[min(max(int(bar), 0), len(s0.time) - 1)])
        else:
            ends.append(_epoch_of(get(key), f"{where}: {key}"))
    try:
        price = float(get("price"))
    except (TypeError, ValueError):
        raise AdapterError(f"{where}: price must be a number, got {get('price')!r}") from None
    return {"symbol": symbol, "start": ends[0], "end": ends[1], "price": price, "kind": kind,
            "state": state}


def _epoch_of(v, where):
    """Epoch seconds of a zone time: a datetime (naive = UTC), a backtrader date number
    (< 10^7), or epoch seconds."""
    if isinstance(v, datetime.datetime):
        if v.tzinfo is not None:
            return round(v.timestamp())
        return round((v - _EPOCH).total_seconds())
    if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
        return round((v - _EPOCH_DAY) * 86400.0) if abs(v) < 1e7 else round(v)
    raise AdapterError(f"{where}: must be a datetime, a backtrader date number or epoch seconds "
                       f"(or give {where.rsplit(' ', 1)[-1]}_bar), got {v!r}")
