"""Converts what a backtrader bot's entry function returned into backtestd's result: the runner's
result dict (docs/strategies.md, "For the backtrader adapter"): backtest.v1.GetResultResponse's
field names and shapes, times in UTC epoch seconds, Python floats (NaN where a ratio is undefined),
plus `strategy` and `initial_equity`. `api_json` gives the API's JSON form of it (NaN as
"NaN"), which google.protobuf.json_format.ParseDict reads. Mapping and rules: docs/strategies.md,
"backtrader bots".

Reads backtrader's objects after the run and changes nothing in them: the bot's trades are what
backtrader made. Everything here runs once per job, after the bar loop.
"""

import bisect
import itertools
import math
import os
import sys

import backtrader as bt

from . import engine_stats
from .backtrader_chart import ema, line_values, zones
from .errors import AdapterError

_EPOCH_DAY = 719163  # bt.date2num(1970-01-01 00:00)
_STOPS = (bt.Order.Stop, bt.Order.StopLimit)
_TRAILS = (bt.Order.StopTrail, bt.Order.StopTrailLimit)


class Returned:
    """The pieces of a bot's return value: cerebro, its strategies, data feeds, the stats dict and
    the `data_indicators` the chart reads."""

    __slots__ = ("cerebro", "strategies", "datas", "stats", "data_indicators")


def unpack(returned):
    """Finds cerebro, strategies, datas, stats and data_indicators in what the entry returned: a
    Cerebro, a Strategy, a tuple/list of those with cerebro.run()'s list of strategies, a list of
    data feeds and a stats dict (the seed's shape), or a dict with the keys cerebro, strategies,
    datas, stats, data_indicators. AdapterError when no strategy can be found."""
    r = Returned()
    r.cerebro = r.strategies = r.datas = r.stats = r.data_indicators = None
    if isinstance(returned, dict) and ({"cerebro", "strategies", "strategy"} & returned.keys()):
        r.cerebro = returned.get("cerebro")
        strategies = returned.get("strategies", returned.get("strategy"))
        r.strategies = [strategies] if isinstance(strategies, bt.Strategy) else strategies
        r.datas = returned.get("datas")
        r.stats = returned.get("stats")
        r.data_indicators = returned.get("data_indicators")
    else:
        items = list(returned) if isinstance(returned, (tuple, list)) else [returned]
        if items and all(_is_run(x) for x in items):  # cerebro.run()'s list of runs
            if len(items) > 1:
                raise AdapterError(f"the entry returned {len(items)} optimization runs; a job is "
                                   "one run")
            items = [list(items[0])]
        for item in items:
            _classify(item, r)
    if r.cerebro is None and r.strategies:
        r.cerebro = r.strategies[0].cerebro
    if r.strategies is None and r.cerebro is not None:
        runs = getattr(r.cerebro, "runstrats", None) or []
        if len(runs) > 1:
            raise AdapterError(f"cerebro ran {len(runs)} optimization runs; a job is one run")
        r.strategies = list(runs[0]) if runs else None
    if not r.strategies:
        raise AdapterError(
            "the entry function returned no strategy that ran: expected a Cerebro after run(), "
            "cerebro.run()'s list of strategies, or a tuple/dict holding them "
            f"(got {type(returned).__name__})")
    if not all(isinstance(s, bt.Strategy) for s in r.strategies):
        raise AdapterError("the strategies returned are not backtrader Strategy objects "
                           "(optimization runs are not supported)")
    if r.datas is None:
        r.datas = list(r.strategies[0].datas)
    if not r.datas:
        raise AdapterError("the run has no data feed")
    if r.data_indicators is None:
        for owner in (r.cerebro, r.strategies[0]):
            r.data_indicators = getattr(owner, "data_indicators", None)
            if r.data_indicators is not None:
                break
    return r


def _is_run(x):
    return (isinstance(x, (list, tuple)) and bool(x)
            and all(isinstance(y, (bt.Strategy, bt.cerebro.OptReturn)) for y in x))


def _classify(item, r):
    if isinstance(item, bt.Cerebro):
        r.cerebro = item
    elif isinstance(item, bt.Strategy):
        r.strategies = [item]
    elif isinstance(item, dict):
        if r.stats is None:
            r.stats = item
    elif isinstance(item, (list, tuple)) and item:
        if all(isinstance(x, bt.Strategy) for x in item):
            r.strategies = list(item)
        elif all(_is_run(x) for x in item) or any(isinstance(x, bt.cerebro.OptReturn)
                                                  for x in item):
            raise AdapterError("the entry returned optimization runs; a job is one run")
        elif all(isinstance(x, bt.AbstractDataBase) for x in item):
            r.datas = list(item)


def to_result(returned, strategy):
    """The result dict of a finished run of STRATEGY (see the module docstring)."""
    r = unpack(returned)
    data0 = r.datas[0]
    symbols = [_symbol(d, i) for i, d in enumerate(r.datas)]
    series = {id(d): _Series(d) for d in r.datas}
    s0 = series[id(data0)]
    trades, labels = _trades(r.strategies, series, symbols, r.datas)
    equity = _equity(r.strategies[0], s0)
    broker = r.cerebro.broker if r.cerebro is not None else r.strategies[0].broker
    initial = getattr(broker, "startingcash", None) or broker.p.cash
    counted = [d for d in r.datas if not isinstance(d, bt.DataClone)] or [data0]
    bars = sum(len(series[id(d)].time) for d in counted)
    stats = engine_stats.compute_stats(
        initial, equity, trades, bars, _exposed_bars(trades),
        s0.close[0] if s0.close else 0.0, s0.close[-1] if s0.close else 0.0,
        start=s0.time[0] if s0.time else 0, end=s0.time[-1] if s0.time else 0)
    if not equity:
        # No Broker/Value observer (stdstats=False): the broker's final value still is known.
        final = broker.getvalue()
        stats["equity_final"] = final
        stats["equity_peak"] = max(initial, final)
        stats["return_pct"] = (final / initial - 1.0) * 100.0 if initial else float("nan")
    return {
        "strategy": strategy,
        "initial_equity": float(initial),
        "symbol": symbols[0],
        "symbols": _unique(symbols),
        "candles": s0.candles(),
        "ema": ema(r, data0, s0),
        "zones": zones(r.data_indicators, data0, symbols[0], s0),
        "markers": _markers(trades, labels),
        "trades": trades,
        "equity": [{"time": t, "value": v} for t, v in equity],
        "stats": stats,
    }


def api_json(result):
    """The result as the API's result JSON (GetResultResponse): without the runner's own keys
    (strategy, initial_equity), with total_candles, NaN and infinities as "NaN"/"Infinity"."""
    d = {k: v for k, v in result.items() if k not in ("strategy", "initial_equity")}
    d["total_candles"] = len(result["candles"])
    return json_mapping(d)


def json_mapping(v):
    """V with NaN and infinities as the protobuf JSON mapping writes them ("NaN", "Infinity",
    "-Infinity"); everything else unchanged."""
    if isinstance(v, float):
        if v != v:
            return "NaN"
        if v in (math.inf, -math.inf):
            return "Infinity" if v > 0 else "-Infinity"
        return v
    if isinstance(v, dict):
        return {k: json_mapping(x) for k, x in v.items()}
    if isinstance(v, list):
        return [json_mapping(x) for x in v]
    return v


# --- series -----------------------------------------------------------------------------------

class _Series:
    """A data feed's bars as plain lists, with epoch-second times."""

    def __init__(self, data):
        self.data = data
        n = len(data)
        lines = data.lines
        raw = line_values(lines.datetime, n)
        if len(raw) < n:
            print(f"backtestd: {data._name or 'data'}: backtrader kept only the last {len(raw)} "
                  f"of {n} bars (exactbars); candles and bar indexes cover those", file=sys.stderr)
        self.offset = n - len(raw)  # bars before the first one kept
        self.raw_time = raw
        if data._timeframe >= bt.TimeFrame.Days:
            # backtrader stamps daily bars at the session end (23:59:59.999989) or at midnight:
            # the bar is the day its stamp falls in.
            self.time = [(math.floor(x) - _EPOCH_DAY) * 86400 for x in raw]
        else:
            self.time = [round((x - _EPOCH_DAY) * 86400.0) for x in raw]
        m = len(raw)
        self.open = line_values(lines.open, m)
        self.high = line_values(lines.high, m)
        self.low = line_values(lines.low, m)
        self.close = line_values(lines.close, m)
        self.volume = line_values(lines.volume, m)

    def candles(self):
        return [{"time": t, "open": o, "high": h, "low": lo, "close": c,
                 "volume": v if v == v else 0.0}
                for t, o, h, lo, c, v in zip(self.time, self.open, self.high, self.low,
                                             self.close, self.volume)]

    def index(self, dt):
        """The bar index of backtrader datetime `dt` (the bar at or before it)."""
        return max(0, bisect.bisect_right(self.raw_time, dt) - 1)

    def epoch(self, dt):
        if self.data._timeframe >= bt.TimeFrame.Days:
            return (math.floor(dt) - _EPOCH_DAY) * 86400
        return round((dt - _EPOCH_DAY) * 86400.0)


def _symbol(data, i):
    if data._name:
        return data._name
    name = data.p.dataname
    if isinstance(name, str) and name:
        return os.path.splitext(os.path.basename(name))[0]
    return f"data{i}"


def _unique(items):
    return list(dict.fromkeys(items))


# --- trades -----------------------------------------------------------------------------------

class _Open:
    """A trade being replayed from the fills (backtrader's Trade.update, step by step)."""

    __slots__ = ("data", "seq", "order", "size", "price", "max_size", "pnl", "commission",
                 "entry_dt", "exits", "closing", "comminfo", "long")

    def __init__(self, data, seq, order, dt):
        self.data, self.seq, self.order, self.entry_dt = data, seq, order, dt
        self.size = self.price = self.max_size = self.pnl = self.commission = 0.0
        self.long = True
        self.exits = []       # (size, price, order ref) of the closing fills
        self.closing = None   # (order, exbit) of the last closing fill
        self.comminfo = order.comminfo

    def update(self, size, price, commission, comminfo):
        """Trade.update's arithmetic, in its order, so pnl is backtrader's to the bit."""
        old = self.size
        self.commission += commission
        self.size += size
        if not old:
            self.long = self.size > 0
        if abs(self.size) > abs(old):
            self.price = (old * self.price + size * price) / self.size
        else:
            self.pnl += comminfo.profitandloss(-size, self.price, price)
        self.max_size = max(self.max_size, abs(self.size))


def _trades(strategies, series, symbols, datas):
    """Every trade of the run as backtest.v1.Trade dicts, in order of entry, ids from 1. Trades
    still open at the end are closed at the last close (exit reason end_of_data)."""
    symbol_of = {id(d): s for d, s in zip(datas, symbols)}
    done = []
    for k, strat in enumerate(strategies):
        notes = list(strat._orders) + list(strat._orderspending)
        orders = {}
        for o in notes:
            orders[o.ref] = o  # the latest notification of each order
        index = _OrderIndex(orders)
        for rec in _replay(notes, k):
            done.append((rec, index))
    done.sort(key=lambda x: x[0].seq)
    trades, labels = [], []
    for i, (rec, index) in enumerate(done, start=1):
        s = series.get(id(rec.data)) or _Series(rec.data)
        series[id(rec.data)] = s
        trades.append(_trade(i, rec, index, s, symbol_of.get(id(rec.data), rec.data._name)))
        exit_label = _info(rec.closing[0], "reason") if rec.closing and not rec.size else None
        labels.append((_info(rec.order, "reason") or rec.order.getordername().lower(),
                       str(exit_label) if exit_label else trades[-1]["exit_reason"]))
    return trades, labels


def _replay(notes, k):
    """Replays the fills of one strategy's order notifications as Strategy._addnotification does:
    per (data, tradeid), a fill's closing part reduces the open trade (closing it at zero), its
    opening part opens the next one. Returns closed and still-open trades."""
    current, out = {}, []
    for n, order in enumerate(notes):
        if not order.executed.size:
            continue
        data = order.data._compensate if order.data._compensate is not None else order.data
        key = (id(data), order.tradeid)
        ex = order.executed
        for b, bit in enumerate(itertools.islice(ex.exbits, ex.p1, ex.p2)):
            if bit is None:
                break
            seq = (bit.dt, k, n, b)  # by time, then strategy, then notification
            if bit.closed:
                rec = current.get(key) or _Open(data, seq, order, bit.dt)
                current[key] = rec
                rec.update(bit.closed, bit.price, bit.closedcomm, order.comminfo)
                rec.exits.append((abs(bit.closed), bit.price, order.ref))
                rec.closing = (order, bit)
                if not rec.size:
                    out.append(rec)
                    del current[key]
            if bit.opened:
                rec = current.get(key)
                if rec is None:
                    rec = current[key] = _Open(data, seq, order, bit.dt)
                rec.update(bit.opened, bit.price, bit.openedcomm, order.comminfo)
                if not rec.size:
                    out.append(rec)
                    del current[key]
    out.extend(rec for rec in current.values() if rec.size)
    return out


def _trade(trade_id, rec, index, s, symbol):
    long = rec.long
    entry_bar = s.index(rec.entry_dt)
    if rec.size:  # still open at the end: closed at the last close, as the engine does
        exit_price = s.close[-1]
        pnl = rec.pnl + rec.comminfo.profitandloss(rec.size, rec.price, exit_price)
        exit_dt, reason, exit_bar = s.raw_time[-1], "end_of_data", len(s.time) - 1
    else:
        order, bit = rec.closing
        if all(ref == order.ref for _, _, ref in rec.exits):
            # Closed by one order: its fill price as backtrader reports it (executed.price, an
            # average that can differ from the fill's own price in the last digit).
            exit_price = order.executed.price
        else:
            exit_price = sum(z * p for z, p, _ in rec.exits) / sum(z for z, _, _ in rec.exits)
        pnl = rec.pnl
        exit_dt, reason, exit_bar = bit.dt, _exit_reason(order, bit, long), s.index(bit.dt)
    stop, target = _stop_target(rec, index, long, exit_dt)
    net = pnl - rec.commission
    mult = getattr(rec.comminfo.p, "mult", 1.0) or 1.0
    notional = rec.price * rec.max_size * mult
    return {
        "id": trade_id,
        "symbol": symbol,
        "side": "long" if long else "short",
        "entry_time": s.epoch(rec.entry_dt),
        "entry_price": rec.price,
        "exit_time": s.epoch(exit_dt),
        "exit_price": exit_price,
        "size": rec.max_size,
        "stop": stop,
        "target": target,
        "pnl": net,
        "return_pct": net / notional * 100.0 if notional else 0.0,
        "exit_reason": reason,
        "bars_held": exit_bar - entry_bar,
        "commission": rec.commission,
        "entry_bar": entry_bar + s.offset,
        "exit_bar": exit_bar + s.offset,
    }


def _info(order, key):
    info = getattr(order, "info", None)
    return info[key] if info is not None and key in info else None


def _exit_reason(order, bit, long):
    """From the closing order: a fill that also opened the other side → reversal; stop orders →
    stop, or stop_gap when filled beyond the stop price; trailing stops → stop; limit orders →
    target; anything else (market, close orders: the bot's own decision) → signal."""
    if bit.opened:
        return "reversal"
    if order.exectype in _STOPS:
        stop = order.created.price
        beyond = bit.price < stop if long else bit.price > stop
        return "stop_gap" if beyond else "stop"
    if order.exectype in _TRAILS:
        return "stop"
    if order.exectype == bt.Order.Limit:
        return "target"
    return "signal"


class _OrderIndex:
    """A strategy's orders by bracket parent, and by data in order of creation time."""

    def __init__(self, orders):
        self.children, by_data = {}, {}
        for o in orders.values():
            if o.parent is not None:
                self.children.setdefault(o.parent.ref, []).append(o)
            by_data.setdefault(id(o.data), []).append((o.created.dt, o.ref, o))
        self.by_data = {k: sorted(v, key=lambda x: x[:2]) for k, v in by_data.items()}
        self.times = {k: [x[0] for x in v] for k, v in self.by_data.items()}

    def created_between(self, data, lo, hi):
        """Orders on DATA created at or after LO and at or before HI (backtrader times)."""
        times = self.times.get(id(data), [])
        rows = self.by_data.get(id(data), [])[bisect.bisect_left(times, lo):
                                               bisect.bisect_right(times, hi)]
        return [o for _, _, o in rows]


def _stop_target(rec, index, long, exit_dt):
    """Stop and target of a trade (0 when none): the entry order's info (stop=…, target=…), else
    its bracket's children, else the first stop and limit orders on the other side created on the
    trade's data while it was open."""
    entry = rec.order
    stop, target = _info(entry, "stop"), _info(entry, "target")
    if stop is not None or target is not None:
        return float(stop or 0.0), float(target or 0.0)
    children = index.children.get(entry.ref)
    if not children:
        children = sorted(
            (o for o in index.created_between(entry.data, rec.entry_dt, exit_dt)
             if o.isbuy() != long and o.ref != entry.ref),
            key=lambda o: o.ref)
    for o in children:
        if stop is None and o.exectype in _STOPS + _TRAILS:
            stop = o.created.price
        elif target is None and o.exectype == bt.Order.Limit:
            target = o.created.price
    return float(stop or 0.0), float(target or 0.0)


def _exposed_bars(trades):
    """Symbol-bars with a position: for each symbol, the union of [entry bar, exit bar] (the
    engine counts the bars a position is open at the close, and the bars it enters or exits in)."""
    total = 0
    for name in {t["symbol"] for t in trades}:
        spans = sorted((t["entry_bar"], t["exit_bar"]) for t in trades if t["symbol"] == name)
        last = -1
        for a, b in spans:
            a = max(a, last + 1)
            if b >= a:
                total += b - a + 1
                last = b
    return total


def _markers(trades, labels):
    """An entry and an exit marker per trade, in time order (an exit before an entry at the
    same time, as at a reversal). Reasons: the order's own label (order.addinfo(reason=…)), else
    the entry order's type (market, limit, …) and the trade's exit reason."""
    out = []
    for t, (entry_reason, exit_reason) in zip(trades, labels):
        buy_first = t["side"] == "long"
        out.append((t["entry_time"], 1, t["id"], {
            "symbol": t["symbol"], "time": t["entry_time"], "side": "buy" if buy_first else "sell",
            "kind": "entry", "price": t["entry_price"], "reason": entry_reason,
            "trade_id": t["id"]}))
        out.append((t["exit_time"], 0, t["id"], {
            "symbol": t["symbol"], "time": t["exit_time"], "side": "sell" if buy_first else "buy",
            "kind": "exit", "price": t["exit_price"], "reason": exit_reason,
            "trade_id": t["id"]}))
    out.sort(key=lambda x: x[:3])
    return [m for *_, m in out]


# --- equity -----------------------------------------------------------------------------------

def _equity(strat, s0):
    """The broker's value at each bar's close, from the strategy's Broker or Value observer (on
    by default: cerebro's stdstats); empty without one."""
    for obs in strat.observers:
        if isinstance(obs, (bt.observers.Broker, bt.observers.Value)):
            values = line_values(obs.lines.value, len(obs))
            raw = line_values(strat.lines.datetime, len(obs))
            n = min(len(values), len(raw))
            raw, values = raw[len(raw) - n:], values[len(values) - n:]
            if raw == s0.raw_time[len(s0.raw_time) - n:]:  # the strategy's clock is data 0
                times = s0.time[len(s0.time) - n:]
            else:
                times = [s0.epoch(t) for t in raw]
            points = list(zip(times, values))
            if any(v != v for v in values):  # NaN before the observer's first value
                points = [(t, v) for t, v in points if v == v]
            return points
    return []
