"""sr_bot: a support/resistance breakout-and-retest bot for backtrader, in the seed's shape.

Plain backtrader, nothing of backtestd imported: `backtesting(**args)` takes the run's arguments
(symbols, timeframe, window, spread) and reads its settings from the environment (RR,
INITIAL_EQUITY, RISK_PER_TRADE, …, BACKTEST_FETCH_CSV_URL), as the seed's `main.backtesting()`
does. It returns `(cerebro, strategies, datas, stats)`; `cerebro.data_indicators[i]['breakout']`
holds the support/resistance indicator of data i, whose `zones` are the chart's segments: each
breakout's broken level, each setup's flipped level (inverted when it entered, else cancelled) and
the last window's levels (active).

The rules (a bot, not backtestd's `sr_breakout` contract):
- R / S: highest high / lowest low of the previous `BREAKOUT_LOOKBACK_PERIOD` bars.
- A close beyond R by ≥ `BREAKOUT_MIN_STRENGTH_ATR`·ATR(14), on the EMA's side, makes a setup at
  the broken level. It inverts once a close is `ZONE_INVERSION_MARGIN_ATR`·ATR past the level, is
  cancelled by a close `SR_CANCELLATION_THRESHOLD_ATR`·ATR back through it, and expires after the
  lookback. After inversion, a bar that touches the level and closes on the setup's side buys
  (sells) at the next open.
- On the fill: stop = min(level, retest low) − `SL_BUFFER_ATR`·ATR (widened to
  `MIN_RISK_DISTANCE_ATR`·ATR), target = fill + `RR`·risk, as an OCO pair of stop and limit
  orders; size = value·`RISK_PER_TRADE` / risk.
- Spread: backtrader's fixed slippage of `spread_pips` pips on every fill.

Data: `BACKTEST_FETCH_CSV_URL` is an http(s) base answering
`GET {base}/ohlc?symbol=&timeframe=&start=&end=` with CSV, or `file:///dir` holding
`SYMBOL_TIMEFRAME.csv` or `SYMBOL.csv`. CSV columns: time (epoch seconds or ISO 8601), open, high,
low, close, optional volume; a header line is optional.
"""

import csv
import datetime
import io
import math
import os
import urllib.parse
import urllib.request

import backtrader as bt

TIMEFRAMES = {
    "M1": (bt.TimeFrame.Minutes, 1), "M5": (bt.TimeFrame.Minutes, 5),
    "M15": (bt.TimeFrame.Minutes, 15), "M30": (bt.TimeFrame.Minutes, 30),
    "H1": (bt.TimeFrame.Minutes, 60), "H4": (bt.TimeFrame.Minutes, 240),
    "D1": (bt.TimeFrame.Days, 1), "W1": (bt.TimeFrame.Weeks, 1),
}
_EPOCH = datetime.datetime(1970, 1, 1)


def env_float(name, default):
    return float(os.environ.get(name, default))


def env_int(name, default):
    return int(float(os.environ.get(name, default)))


class RowsFeed(bt.feeds.DataBase):
    """Bars from a list of (epoch, open, high, low, close, volume) rows."""

    params = (("rows", ()),)

    def start(self):
        super().start()
        self._next_row = iter(self.p.rows).__next__

    def _load(self):
        try:
            t, o, h, lo, c, v = self._next_row()
        except StopIteration:
            return False
        self.lines.datetime[0] = bt.date2num(_EPOCH + datetime.timedelta(seconds=t))
        self.lines.open[0] = o
        self.lines.high[0] = h
        self.lines.low[0] = lo
        self.lines.close[0] = c
        self.lines.volume[0] = v
        self.lines.openinterest[0] = 0.0
        return True


class Breakout(bt.Indicator):
    """Resistance and support: the highest high and lowest low of the previous `period` bars.
    `zones` collects the chart's segments (start, end, price, kind, state) as the strategy makes
    and ends its setups."""

    lines = ("resistance", "support")
    params = (("period", 48),)
    plotinfo = dict(subplot=False)

    def __init__(self):
        self.lines.resistance = bt.ind.Highest(self.data.high(-1), period=self.p.period)
        self.lines.support = bt.ind.Lowest(self.data.low(-1), period=self.p.period)
        self.zones = []

    def extreme_ago(self, level, side):
        """How many bars ago the earliest bar of the window that made `level` was."""
        prices = self.data.high if side == "long" else self.data.low
        return max(k for k in range(1, self.p.period + 1) if prices[-k] == level)

    def add_zone(self, start, end, price, kind, state):
        self.zones.append(dict(start=start, end=end, price=price, kind=kind, state=state))


class Setup:
    __slots__ = ("side", "level", "bar", "time", "inverted")

    def __init__(self, side, level, bar, time):
        self.side, self.level, self.bar, self.time = side, level, bar, time
        self.inverted = False


class SrBreakout(bt.Strategy):
    params = (
        ("rr", 2.0), ("risk_per_trade", 0.0001), ("lookback", 48), ("min_strength_atr", 0.2),
        ("inversion_margin_atr", 1.0), ("cancel_atr", 0.2), ("sl_buffer_atr", 0.3),
        ("min_risk_atr", 0.5), ("ema_length", 40),
    )

    def __init__(self):
        self.inds = {}
        for d in self.datas:
            self.inds[d] = dict(
                atr=bt.ind.ATR(d, period=14),
                ema=bt.ind.EMA(d.close, period=self.p.ema_length),
                breakout=Breakout(d, period=self.p.lookback),
            )
        # The seed's shape: the chart reads cerebro.data_indicators[*]['breakout'].
        self.cerebro.data_indicators = [self.inds[d] for d in self.datas]
        self.setups = {d: None for d in self.datas}
        self.plans = {}        # entry order ref -> (data, side, stop level, ATR at the trigger)
        self.exit_fills = {}   # data -> price of the last exit fill
        self.closed_trades = []

    def log(self, d, text):
        print(f"{d.datetime.datetime(0).isoformat()} {d._name} {text}")

    def next(self):
        for d in self.datas:
            self.bar(d)

    def bar(self, d):
        ind = self.inds[d]
        atr, ema = ind["atr"][0], ind["ema"][0]
        r, s = ind["breakout"].resistance[0], ind["breakout"].support[0]
        if any(math.isnan(x) for x in (atr, ema, r, s)):
            return
        close = d.close[0]
        setup = self.setups[d]
        if setup is not None:
            self.setups[d] = self.follow(d, setup, atr)
        if close > r and close - r >= self.p.min_strength_atr * atr and close > ema:
            self.breakout(d, Setup("long", r, len(d), d.datetime.datetime(0)))
        elif close < s and s - close >= self.p.min_strength_atr * atr and close < ema:
            self.breakout(d, Setup("short", s, len(d), d.datetime.datetime(0)))

    def breakout(self, d, new):
        old = self.setups[d]
        if old is not None and old.side == new.side and old.inverted:
            return  # an inverted setup waits for its retest
        if old is not None:
            self.end_setup(d, old, "cancelled")
        self.setups[d] = new
        brk = self.inds[d]["breakout"]
        start = d.datetime.datetime(-brk.extreme_ago(new.level, new.side))
        brk.add_zone(start, new.time, new.level,
                     "resistance" if new.side == "long" else "support", "broken")
        self.log(d, f"breakout {new.side} level={new.level:.5f}")

    def end_setup(self, d, setup, state):
        """The flipped level's segment, from the breakout to this bar."""
        self.inds[d]["breakout"].add_zone(setup.time, d.datetime.datetime(0), setup.level,
                                          "support" if setup.side == "long" else "resistance",
                                          state)

    def follow(self, d, setup, atr):
        """Cancellation, trigger, expiry, inversion; returns the setup still pending, or None."""
        sign = 1 if setup.side == "long" else -1
        close, level = d.close[0], setup.level
        if sign * (level - close) > self.p.cancel_atr * atr:
            self.log(d, f"setup {setup.side} cancelled")
            self.end_setup(d, setup, "cancelled")
            return None
        touched = d.low[0] <= level if sign > 0 else d.high[0] >= level
        if setup.inverted and touched and sign * (close - level) > 0:
            flat = not self.getposition(d).size and not any(p[0] is d
                                                            for p in self.plans.values())
            if flat:
                self.enter(d, setup, atr)
            self.end_setup(d, setup, "inverted" if flat else "cancelled")
            return None
        if len(d) - setup.bar >= self.p.lookback:
            self.end_setup(d, setup, "cancelled")
            return None
        if sign * (close - level) >= self.p.inversion_margin_atr * atr:
            setup.inverted = True
        return setup

    def enter(self, d, setup, atr):
        if setup.side == "long":
            stop = min(setup.level, d.low[0]) - self.p.sl_buffer_atr * atr
            risk = max(d.close[0] - stop, self.p.min_risk_atr * atr)
            order = self.buy(data=d, size=self.broker.getvalue() * self.p.risk_per_trade / risk)
        else:
            stop = max(setup.level, d.high[0]) + self.p.sl_buffer_atr * atr
            risk = max(stop - d.close[0], self.p.min_risk_atr * atr)
            order = self.sell(data=d, size=self.broker.getvalue() * self.p.risk_per_trade / risk)
        order.addinfo(reason=f"retest_{setup.side}")
        self.plans[order.ref] = (d, setup.side, stop, atr)
        self.log(d, f"retest {setup.side} level={setup.level:.5f} stop={stop:.5f}")

    def stop(self):
        for d in self.datas:
            if self.setups[d] is not None:
                self.end_setup(d, self.setups[d], "cancelled")
            brk = self.inds[d]["breakout"]
            now = d.datetime.datetime(0)
            for side, level, kind in (("long", brk.resistance[0], "resistance"),
                                      ("short", brk.support[0], "support")):
                if not math.isnan(level):
                    start = d.datetime.datetime(-brk.extreme_ago(level, side))
                    brk.add_zone(start, now, level, kind, "active")

    def notify_order(self, order):
        if order.status in (order.Submitted, order.Accepted):
            return
        plan = self.plans.pop(order.ref, None)
        if order.status != order.Completed:
            if plan is not None:
                self.log(order.data, f"entry order {order.getstatusname()}")
            return
        if plan is None:
            self.exit_fills[order.data] = order.executed.price
            return
        d, side, stop, atr = plan
        fill, size = order.executed.price, abs(order.executed.size)
        sign = 1 if side == "long" else -1
        if sign * (fill - stop) <= 0:
            self.log(d, f"filled {fill:.5f} beyond the stop {stop:.5f}: closing")
            self.close(data=d)
            return
        risk = max(sign * (fill - stop), self.p.min_risk_atr * atr)
        stop = fill - sign * risk
        target = fill + sign * self.p.rr * risk
        exit_order = self.sell if sign > 0 else self.buy
        stop_order = exit_order(data=d, size=size, exectype=bt.Order.Stop, price=stop)
        exit_order(data=d, size=size, exectype=bt.Order.Limit, price=target, oco=stop_order)
        self.log(d, f"ENTRY {side} {size:.4f} @ {fill:.5f} stop={stop:.5f} target={target:.5f}")

    def notify_trade(self, trade):
        if not trade.isclosed:
            return
        d = trade.data
        record = dict(
            symbol=d._name, side="long" if trade.long else "short",
            entry_time=bt.num2date(trade.dtopen).isoformat(), entry_price=trade.price,
            exit_time=bt.num2date(trade.dtclose).isoformat(), exit_price=self.exit_fills.get(d),
            pnl=trade.pnl, pnlcomm=trade.pnlcomm, commission=trade.commission,
            bars=trade.barlen,
        )
        self.closed_trades.append(record)
        self.log(d, f"EXIT {record['side']} @ {record['exit_price']:.5f} pnl={trade.pnlcomm:.2f}")


def pip_size(symbol):
    s = symbol.upper()
    if s.startswith("XAU") or (len(s) == 6 and s.endswith("JPY")):
        return 0.01
    if s.startswith("XAG"):
        return 0.001
    return 0.0001 if len(s) == 6 and s.isalpha() else 0.01


def parse_time(text):
    text = text.strip()
    if text.lstrip("-").isdigit():
        t = int(text)
        return t // 1000 if abs(t) >= 10 ** 11 else t
    t = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    if t.tzinfo is not None:
        t = t.astimezone(datetime.timezone.utc).replace(tzinfo=None)
    return int((t - _EPOCH).total_seconds())


def fetch_csv(base, symbol, timeframe, start, end):
    """The CSV text for one symbol from BACKTEST_FETCH_CSV_URL."""
    if base.startswith(("http://", "https://")):
        query = urllib.parse.urlencode(dict(symbol=symbol, timeframe=timeframe, start=start,
                                            end=end))
        with urllib.request.urlopen(f"{base.rstrip('/')}/ohlc?{query}", timeout=300) as r:
            return r.read().decode("utf-8")
    if base.startswith("file://"):
        folder = urllib.parse.unquote(urllib.parse.urlparse(base).path)
        for name in (f"{symbol}_{timeframe}.csv", f"{symbol}.csv"):
            path = os.path.join(folder, name)
            if os.path.exists(path):
                with open(path, encoding="utf-8") as f:
                    return f.read()
        raise FileNotFoundError(f"no {symbol}_{timeframe}.csv or {symbol}.csv in {folder}")
    raise ValueError(f"BACKTEST_FETCH_CSV_URL: {base!r} is neither http(s):// nor file:// "
                     "(sample:// data exists only inside backtestd, which serves it to the bot)")


def load_rows(text, start, end, max_candles):
    rows = []
    for line in csv.reader(io.StringIO(text)):
        if not line or not line[0].strip():
            continue
        try:
            t = parse_time(line[0])
        except ValueError:
            if not rows:
                continue  # a header
            raise
        if (start is not None and t < start) or (end is not None and t >= end):
            continue
        o, h, lo, c = (float(x) for x in line[1:5])
        rows.append((t, o, h, lo, c, float(line[5]) if len(line) > 5 else 0.0))
    return rows[-max_candles:] if max_candles else rows


def backtesting(symbols=("XAGUSD",), timeframe="H1", start_date="2021-11-26 13:10",
                end_date=None, max_candles=None, spread_pips=0.0):
    if isinstance(symbols, str):
        symbols = [s.strip() for s in symbols.split(",") if s.strip()]
    if os.environ.get("MODE", "backtest") != "backtest":
        raise ValueError(f"MODE={os.environ['MODE']!r}: this bot only backtests")
    base = os.environ.get("BACKTEST_FETCH_CSV_URL", "sample://")
    start = parse_time(start_date) if start_date else None
    end = parse_time(end_date) if end_date else None
    tf, compression = TIMEFRAMES[timeframe]

    cerebro = bt.Cerebro()
    cerebro.broker.setcash(env_float("INITIAL_EQUITY", 100_000_000))
    if spread_pips:
        cerebro.broker.set_slippage_fixed(spread_pips * pip_size(symbols[0]), slip_open=True)
    for symbol in symbols:
        rows = load_rows(fetch_csv(base, symbol, timeframe, start_date or "", end_date or ""),
                         start, end, max_candles)
        if not rows:
            raise ValueError(f"no bars for {symbol} {timeframe} in the window")
        print(f"{symbol} {timeframe}: {len(rows)} bars from {base}")
        cerebro.adddata(RowsFeed(rows=rows, timeframe=tf, compression=compression), name=symbol)
    cerebro.addstrategy(
        SrBreakout,
        rr=env_float("RR", 2), risk_per_trade=env_float("RISK_PER_TRADE", 0.0001),
        lookback=env_int("BREAKOUT_LOOKBACK_PERIOD", 48),
        min_strength_atr=env_float("BREAKOUT_MIN_STRENGTH_ATR", 0.2),
        inversion_margin_atr=env_float("ZONE_INVERSION_MARGIN_ATR", 1),
        cancel_atr=env_float("SR_CANCELLATION_THRESHOLD_ATR", 0.2),
        sl_buffer_atr=env_float("SL_BUFFER_ATR", 0.3),
        min_risk_atr=env_float("MIN_RISK_DISTANCE_ATR", 0.5),
        ema_length=env_int("EMA_LENGTH", 40),
    )
    strategies = cerebro.run()
    strat = strategies[0]
    trades = strat.closed_trades
    wins = sum(1 for t in trades if t["pnlcomm"] > 0)
    start_value = cerebro.broker.startingcash
    stats = {
        "trades": len(trades),
        "wins": wins,
        "win_rate": 100.0 * wins / len(trades) if trades else 0.0,
        "final_value": cerebro.broker.getvalue(),
        "return_pct": (cerebro.broker.getvalue() / start_value - 1) * 100,
    }
    print(f"done: {stats['trades']} trades, final value {stats['final_value']:.2f}")
    return cerebro, strategies, cerebro.datas, stats
