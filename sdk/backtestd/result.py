"""The result of a run: what the service's GetResult answers, as Python objects.

Without pandas: `trades` is {column: numpy array or list}, `equity` {time, value} arrays, `stats` a
dict. With pandas installed: `trades` a DataFrame, `equity` a Series (UTC DatetimeIndex), `stats` a
Series. Always: `candles(symbol)`, `lines(symbol)`, `zones`, `markers`, `reasons`, `log`, `trace`
(rows as dicts, payloads parsed), `explain(bar_index)`, `digest`, `strategy`, `params`.
"""

import json


def _pandas():
    try:
        import pandas as pd
        return pd
    except ImportError:
        return None


class Result:
    def __init__(self, raw, params):
        self._raw = raw
        self.params = dict(params)
        self.strategy = raw["strategy"]
        self.digest = raw["digest"]
        self.symbols = [s["symbol"] for s in raw["symbols"]]
        self._markers = None
        self.zones = [z for s in raw["symbols"] for z in s["zones"]]
        self.reasons = raw["reasons"]
        self.log = [text for _, text in raw["logs"]]
        self.log_levels = [level for level, _ in raw["logs"]]
        self.trace_truncated = raw["trace_truncated"]
        pd = _pandas()
        if pd is not None:
            t = dict(raw["trades"])
            for col in ("entry_time", "exit_time"):
                t[col] = pd.to_datetime(t[col], unit="s", utc=True)
            self.trades = pd.DataFrame(t)
            self._equity = None
            self.stats = pd.Series({k: v for k, v in raw["stats"].items()
                                    if not isinstance(v, dict)}, name=self.strategy)
            self.stats_by_side = {k: raw["stats"][k] for k in ("long_stats", "short_stats")}
        else:
            self.trades = raw["trades"]
            self._equity = None
            self.stats = raw["stats"]
            self.stats_by_side = {k: raw["stats"][k] for k in ("long_stats", "short_stats")}
        self._trace = None

    @property
    def markers(self):
        """Entry, exit and note markers as dicts (symbol, time, side, kind, price, reason,
        trade_id); `markers_raw` has them as columns."""
        if self._markers is None:
            m = self.markers_raw
            keys = list(m)
            self._markers = [dict(zip(keys, (m[k][i] for k in keys)))
                             for i in range(len(m["time"]))]
            for d in self._markers:
                d["time"], d["price"], d["trade_id"] = (int(d["time"]), float(d["price"]),
                                                        int(d["trade_id"]))
        return self._markers

    @property
    def markers_raw(self):
        """The markers as columns (made from the engine's result when first read)."""
        if "markers" not in self._raw:
            self._raw["markers"] = self._raw["lazy"].markers()
        return self._raw["markers"]

    @property
    def equity_raw(self):
        """The equity curve as {time, value} arrays (made when first read)."""
        if "equity" not in self._raw:
            self._raw["equity"] = self._raw["lazy"].equity()
        return self._raw["equity"]

    @property
    def equity(self):
        """The equity curve: a Series (UTC times) with pandas, else {time, value} arrays."""
        if self._equity is None:
            pd = _pandas()
            eq = self.equity_raw
            self._equity = eq if pd is None else pd.Series(
                eq["value"], index=pd.to_datetime(eq["time"], unit="s", utc=True), name="equity")
        return self._equity

    @property
    def run_seconds(self):
        """The engine's wall time for the run (RunBacktest: loading, warm-up, bars, stats)."""
        return self._raw["run_seconds"]

    @property
    def run_cpu_seconds(self):
        """The same in CPU time of the run's thread."""
        return self._raw["run_cpu_seconds"]

    @property
    def trades_raw(self):
        """The trades as {column: numpy array or list}, with or without pandas."""
        return self._raw["trades"]

    @property
    def stats_raw(self):
        return self._raw["stats"]

    def _symbol(self, symbol):
        for s in self._raw["symbols"]:
            if symbol is None or s["symbol"] == symbol:
                return s
        raise KeyError(f"no symbol {symbol} in this run")

    def candles(self, symbol=None):
        """The run's bars of a symbol (default the first): DataFrame, or {column: array}."""
        c = self._symbol(symbol)["candles"]
        pd = _pandas()
        if pd is None:
            return c
        return pd.DataFrame({k: v for k, v in c.items() if k != "time"},
                            index=pd.to_datetime(c["time"], unit="s", utc=True))

    def lines(self, symbol=None):
        """{name: {time, value}} of the lines the strategy plotted (the EMA as `ema`)."""
        s = self._symbol(symbol)
        out = dict(s["lines"])
        if len(s["ema"]["time"]):
            out["ema"] = s["ema"]
        return out

    @property
    def trace(self):
        """The decision trace: rows {seq, bar_index, ts, symbol, section, kind, payload}."""
        if self._trace is None:
            self._trace = [dict(seq=r[0], bar_index=r[1], ts=r[2], symbol=r[3], section=r[4],
                                kind=r[5], payload=json.loads(r[6])) for r in self._raw["trace"]]
        return self._trace

    def explain(self, bar_index, symbol=None):
        """What Explain answers for one bar: its verdict and its rows grouped by section."""
        rows = [r for r in self.trace
                if r["bar_index"] == bar_index and (symbol is None or r["symbol"] == symbol)]
        verdict = None
        sections = {}
        for r in rows:
            sections.setdefault(r["section"], []).append(r)
            if "verdict" in r["payload"]:
                verdict = r["payload"]
        return {"bar_index": bar_index, "verdict": verdict["verdict"] if verdict else None,
                "code": verdict["code"] if verdict else None, "sections": sections}

    def reason_count(self, code):
        return next((r["count"] for r in self.reasons if r["reason"] == code), 0)

    def __repr__(self):
        s = self._raw["stats"]
        return (f"<Result {self.strategy}: {s['trades']} trades, return {s['return_pct']:.2f}%, "
                f"final equity {s['equity_final']:.2f}>")
