"""Run statistics as the engine defines them (docs/engine.md, "Stats"; server/engine/stats), in
Python, for results made outside the engine (the backtrader adapter). Same definitions, not the
same arithmetic: the engine's one-pass variance over shifted returns and this two-pass one agree to
rounding, not bit for bit.

Input: the equity curve (one (time, value) point per timestamp), the closed trades (dicts with
backtest.v1.Trade's fields), bar counts and the first symbol's first and last close. Output: a
dict with backtest.v1.Stats's field names; undefined ratios are NaN.
"""

import math

NAN = float("nan")
SECONDS_PER_YEAR = 365.25 * 86400


def compute_stats(initial_equity, equity, trades, bars, exposed_bars, first_close, last_close,
                  start=None, end=None):
    """Stats of a run. `start` / `end` (epoch seconds) are used when there is no equity curve."""
    s = {}
    if equity:
        start, end = equity[0][0], equity[-1][0]
    start = start or 0
    end = end or 0
    s["start"] = start
    s["end"] = end
    s["duration_seconds"] = end - start
    s["bars"] = bars
    s["exposure_pct"] = 100.0 * exposed_bars / bars if bars > 0 else 0.0
    s["buy_hold_return_pct"] = ((last_close / first_close - 1.0) * 100.0
                                if first_close else NAN)
    s.update(equity_stats(initial_equity, equity, s["duration_seconds"]))
    s.update(trade_stats(trades))
    return s


def equity_stats(initial, equity, duration_seconds):
    """The equity half: final, peak, return, drawdowns, annualized ratios."""
    s = {
        "equity_final": equity[-1][1] if equity else initial,
        "equity_peak": initial,
        "max_drawdown_pct": 0.0,
        "avg_drawdown_pct": 0.0,
        "max_drawdown_duration_seconds": 0,
        "avg_drawdown_duration_seconds": 0,
        "return_ann_pct": NAN,
        "volatility_ann_pct": NAN,
        "sharpe": NAN,
        "sortino": NAN,
        "calmar": NAN,
    }
    s["return_pct"] = (s["equity_final"] / initial - 1.0) * 100.0 if initial else NAN
    if not equity:
        return s
    _drawdowns(initial, equity, s)
    years = duration_seconds / SECONDS_PER_YEAR
    values = [v for _, v in equity]
    n = len(values)
    if years <= 0 or n < 2 or initial <= 0 or min(values) <= 0:
        return s
    returns = [v / p - 1.0 for v, p in zip(values, [initial] + values[:-1])]
    per_year = n / years
    mean = sum(returns) / n
    deviations = [r - mean for r in returns]
    stdev = math.sqrt(sum([d * d for d in deviations]) / (n - 1))
    downside = math.sqrt(sum([r * r for r in returns if r < 0]) / n)
    s["return_ann_pct"] = ((s["equity_final"] / initial) ** (1.0 / years) - 1.0) * 100.0
    s["volatility_ann_pct"] = stdev * math.sqrt(per_year) * 100.0
    if stdev > 0:
        s["sharpe"] = mean / stdev * math.sqrt(per_year)
    if downside > 0:
        s["sortino"] = mean / downside * math.sqrt(per_year)
    if s["max_drawdown_pct"] < 0:
        s["calmar"] = s["return_ann_pct"] / abs(s["max_drawdown_pct"])
    return s


def _drawdowns(initial, equity, s):
    """Drawdown periods: from the peak left (the peak starts at the initial equity, at the first
    point's time) to the first point that regains it, or the end. Depth = lowest / peak − 1."""
    peak, peak_time = initial, equity[0][0]
    in_dd, low = False, 0.0
    depths, durations = [], []

    def close(until):
        depths.append(min(0.0, low / peak - 1.0) if peak > 0 else 0.0)
        durations.append(until - peak_time)

    for t, v in equity:
        if v >= peak:
            if in_dd:
                close(t)
                in_dd = False
            peak, peak_time = v, t
        elif not in_dd:
            low, in_dd = v, True
        elif v < low:
            low = v
    if in_dd:
        close(equity[-1][0])
    s["equity_peak"] = peak if peak > initial else initial
    if depths:
        s["max_drawdown_pct"] = min(depths) * 100.0
        s["avg_drawdown_pct"] = sum(depths) / len(depths) * 100.0
        s["max_drawdown_duration_seconds"] = max(durations)
        s["avg_drawdown_duration_seconds"] = round(sum(durations) / len(durations))


def trade_stats(trades):
    """The trade half: counts, win rate, best/worst/average, durations, profit factor, SQN."""
    n = len(trades)
    returns = [t["return_pct"] for t in trades]
    durations = [t["exit_time"] - t["entry_time"] for t in trades]
    pnls = [t["pnl"] for t in trades]
    s = {
        "trades": n,
        "best_trade_pct": max(returns) if n else NAN,
        "worst_trade_pct": min(returns) if n else NAN,
        "max_trade_duration_seconds": max(durations) if n else 0,
        "avg_trade_duration_seconds": round(sum(durations) / n) if n else 0,
        "expectancy": sum(pnls) / n if n else NAN,
        "sqn": NAN,
        "commission": sum(t["commission"] for t in trades),
        "pnl": sum(pnls),
        "long_stats": side_stats([t for t in trades if t["side"] == "long"]),
        "short_stats": side_stats([t for t in trades if t["side"] == "short"]),
    }
    every = side_stats(trades)
    s["win_rate_pct"] = every["win_rate_pct"]
    s["avg_trade_pct"] = every["avg_trade_pct"]
    s["profit_factor"] = every["profit_factor"]
    if n >= 2:
        mean = sum(pnls) / n
        var = sum((p - mean) ** 2 for p in pnls) / (n - 1)
        if var > 0:
            s["sqn"] = math.sqrt(n) * mean / math.sqrt(var)
    return s


def side_stats(trades):
    """backtest.v1.SideStats of some trades: a win is pnl > 0; profit factor NaN without losses."""
    n = len(trades)
    gross_profit = sum(t["pnl"] for t in trades if t["pnl"] > 0)
    gross_loss = -sum(t["pnl"] for t in trades if t["pnl"] < 0)
    return {
        "trades": n,
        "win_rate_pct": 100.0 * sum(1 for t in trades if t["pnl"] > 0) / n if n else NAN,
        "pnl": sum(t["pnl"] for t in trades),
        "avg_trade_pct": sum(t["return_pct"] for t in trades) / n if n else NAN,
        "profit_factor": gross_profit / gross_loss if gross_loss > 0 else NAN,
    }
