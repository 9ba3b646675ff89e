"""A test bot for the backtrader adapter: bracket orders with commission, a reversal by
order_target_size, a position left open at the end, resistance/support lines without zone
records, an EMA only among the strategy's indicators, and what it saw of its environment.
Returns {"cerebro": …, "stats": …}."""

import datetime
import os
import sys

import backtrader as bt

LEVEL_AT_IMPORT = os.environ.get("PROBE_LEVEL")  # read when the module is imported


class Levels(bt.Indicator):
    lines = ("resistance", "support")
    params = (("period", 24),)

    def __init__(self):
        self.lines.resistance = bt.ind.Highest(self.data.high(-1), period=self.p.period)
        self.lines.support = bt.ind.Lowest(self.data.low(-1), period=self.p.period)


class Probe(bt.Strategy):
    params = (("every", 40), ("reverse_at", 500))

    def __init__(self):
        self.sma = bt.ind.SMA(self.data.close, period=10)
        self.ema = bt.ind.EMA(self.data.close, period=20)
        self.cerebro.data_indicators = [{"breakout": Levels(self.data)}]
        self.closed = []     # what notify_trade saw of each closed trade
        self.fills = []      # (datetime number, price, size) of every fill
        self.side = 1

    def next(self):
        n, last = len(self.data), self.data.buflen()
        if n == self.p.reverse_at:
            self.order_target_size(target=5)
        elif n == self.p.reverse_at + 20:
            self.order_target_size(target=-5)
        elif n == self.p.reverse_at + 40:
            self.close()
        elif n == last - 30 and not self.position:
            self.buy(size=3).addinfo(reason="late")
        elif (n < self.p.reverse_at or n > self.p.reverse_at + 60) and n < last - 60 \
                and n % self.p.every == 0 and not self.position:
            c = self.data.close[0]
            bracket = self.buy_bracket if self.side > 0 else self.sell_bracket
            bracket(size=10, stopprice=c - self.side * 0.08, limitprice=c + self.side * 0.12)
            self.side = -self.side

    def notify_order(self, order):
        if order.status == order.Completed:
            self.fills.append((order.executed.dt, order.executed.price, order.executed.size))

    def notify_trade(self, trade):
        if trade.isclosed:
            self.closed.append(dict(dtopen=trade.dtopen, dtclose=trade.dtclose, price=trade.price,
                                    pnl=trade.pnl, pnlcomm=trade.pnlcomm,
                                    commission=trade.commission, long=trade.long,
                                    barlen=trade.barlen))


def backtesting(data, symbol="XAGUSD", stdstats=True, commission=0.001):
    print("probe: stdout line", flush=False)
    print("probe: stderr line", file=sys.stderr)
    cerebro = bt.Cerebro(stdstats=stdstats)
    cerebro.broker.setcash(100000.0)
    cerebro.broker.setcommission(commission=commission)
    feed = bt.feeds.GenericCSVData(
        dataname=os.path.join(data, f"{symbol}_H1.csv"), dtformat=lambda x: datetime.datetime(
            1970, 1, 1) + datetime.timedelta(seconds=int(x)),
        timeframe=bt.TimeFrame.Minutes, compression=60, openinterest=-1)
    cerebro.adddata(feed, name=symbol)
    cerebro.addstrategy(Probe)
    strat = cerebro.run()[0]
    return {"cerebro": cerebro, "stats": {
        "level_at_import": LEVEL_AT_IMPORT,
        "level_at_call": os.environ.get("PROBE_LEVEL"),
        "unset_at_call": os.environ.get("PROBE_UNSET", "<unset>"),
        "line_buffering": getattr(sys.stdout, "line_buffering", None),
        "cwd": os.getcwd(),
        "closed": strat.closed,
        "fills": strat.fills,
    }}
