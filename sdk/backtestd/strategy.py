"""The Strategy base class: parameters as class attributes, callbacks, orders, indicators, log,
trace and chart overlays. The engine (C++) runs the bars, fills the orders, updates the
indicators and computes the result; a strategy only decides (docs/strategies.md).

Two modes:

* callback — define `on_bar(self, bar)`; the engine calls it on every bar after the bar's fills,
  stop/target exits and indicator updates. Orders fill at the next bar's open.
* vectorized — define `signals(self, data)` returning numpy arrays (entries, exits, …); the engine
  simulates them without a Python call per bar.
"""

import re

from backtestd.params import Param, ParamError, engine_param_names

_SECTIONS = ("indicators", "zones", "signal", "filters", "risk", "orders", "position")


def _snake(name):
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


class Strategy:
    """Subclass it; declare parameters as class attributes (Int, Float, Bool, Choice, Text)."""

    #: The strategy's name (the `strategy` parameter's value): default the class name in
    #: snake_case; in a strategy folder, the folder's name.
    name = None

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        params = {}
        for klass in reversed(cls.__mro__):
            for key, value in vars(klass).items():
                if isinstance(value, Param):
                    params[key] = value
        engine = engine_param_names()
        aliases = {}
        for key, p in params.items():
            p.check_declaration()
            reg = engine.get(key.lower())
            # The run's common parameters (symbols, timeframe, initial_equity, …) are the engine's;
            # a built-in strategy's own (fast_period, rr, …) may be declared again.
            if reg is not None and not reg["strategy"] and reg["name"] != "strategy":
                raise ParamError(f"{key}: is a parameter of every run ({reg['group']} group); "
                                 f"choose another name")
            if key in ("strategy",) or key.startswith("_"):
                raise ParamError(f"{key}: a reserved name")
            if hasattr(Strategy, key):
                raise ParamError(f"{key}: is a name of Strategy's own (a method or attribute); "
                                 f"choose another name")
            if p.alias:
                other = engine.get(p.alias.lower())
                if other is not None and not other["strategy"]:
                    raise ParamError(f"{key}: alias {p.alias} is a parameter of every run")
                if p.alias.lower() in aliases or (p.alias.lower() in params and
                                                  p.alias.lower() != key):
                    raise ParamError(f"{key}: alias {p.alias} is used twice")
                aliases[p.alias.lower()] = key
        cls._params = params
        cls._aliases = aliases
        cls._vectorized = "signals" in _defined(cls)

    # --- declared by the strategy -------------------------------------------------------------

    def on_start(self):
        """Before the first bar (warm-up included): declare indicators here or in __init__."""

    def on_bar(self, bar):
        """A bar of one symbol: `bar.time`, `.open`, `.high`, `.low`, `.close`, `.volume`,
        `.index` (bar index from 0), `.symbol`. Orders given here fill at the next open."""

    def on_fill(self, fill):
        """An entry or exit filled: `fill.kind` (entry/exit), `.side`, `.price`, `.size`,
        `.trade_id`, `.exit_reason`, `.pnl`, `.symbol`, `.time`, `.bar_index`."""

    def on_stop(self):
        """After the last bar (positions are closed at the last close by then)."""

    # --- orders ---------------------------------------------------------------------------------

    def buy(self, size=1.0, *, stop=None, target=None, reason="", symbol=None):
        """Target a long position of `size` units at the next bar's open (an open short is closed
        at the same fill; already long: nothing). `stop`/`target` are prices; `reason` is the
        decision's code, counted in the run's reasons and shown on the entry marker."""
        self._s.order(1, float(size), stop, target, reason, symbol)

    def sell(self, size=1.0, *, stop=None, target=None, reason="", symbol=None):
        """Target a short position of `size` units at the next bar's open (mirror of buy)."""
        self._s.order(-1, float(size), stop, target, reason, symbol)

    def close(self, *, reason="", symbol=None):
        """Close the position at the next bar's open (exit reason `signal`)."""
        self._s.order(0, 0.0, None, None, reason, symbol)

    @property
    def position(self):
        """Signed units of the current symbol's position (+ long, − short, 0 flat)."""
        return self._s.position(None)

    @property
    def equity(self):
        """The account's equity, marked at the last close."""
        return self._s.equity()

    # --- indicators (engine's, updated in C++ on every bar, one per symbol) ----------------------

    def sma(self, period, source="close"):
        return self._s.indicator("sma", int(period), source)

    def ema(self, period, source="close"):
        return self._s.indicator("ema", int(period), source)

    def atr(self, period=14):
        return self._s.indicator("atr", int(period), "close")

    def rsi(self, period=14, source="close"):
        return self._s.indicator("rsi", int(period), source)

    def highest(self, period, source="high"):
        return self._s.indicator("highest", int(period), source)

    def lowest(self, period, source="low"):
        return self._s.indicator("lowest", int(period), source)

    def crossover(self, a, b):
        """+1 on the bar `a` crosses above `b`, −1 below, else 0 (backtrader's CrossOver)."""
        return self._s.crossover(a, b)

    # --- log, reasons, trace ----------------------------------------------------------------------

    def log(self, *parts, level="info"):
        """A line of the run's log (on a bar: prefixed with its time and symbol)."""
        self._s.log(level, " ".join(str(p) for p in parts))

    def reason(self, code, description=""):
        """Counts a decision reason on this bar (Explain lists counts and sample bars)."""
        self._s.count_reason(code, description)

    @property
    def tracing(self):
        """Whether the run records a decision trace (trace_enabled)."""
        return self._s.tracing

    def trace(self, section, kind, **values):
        """A trace row of this bar: section one of indicators, zones, signal, filters, risk,
        orders, position; kind value, check (with passed= and reason=) or event (with event=).
        Values and checks are kept on sampled bars only, events always."""
        self._s.trace(section, kind, values)

    def check(self, name, passed, reason="", *, section="signal", code=None, **values):
        """A check row; the first failed check of a bar is its verdict when nothing happened."""
        self._s.trace(section, "check",
                      dict(check=name, passed=bool(passed), reason=reason, code=code or name,
                           **values))

    def event(self, name, reason="", *, section="orders", **values):
        self._s.trace(section, "event", dict(event=name, reason=reason, **values))

    def verdict(self, text, code=""):
        """This bar's verdict (Explain's one-line answer), after the bar's own events."""
        self._s.verdict(text, code)

    # --- chart overlays ---------------------------------------------------------------------------

    def plot(self, name, value):
        """A point of line `name` at this bar (`ema` is the chart's EMA line)."""
        self._s.plot(name, float(value))

    def zone(self, price, *, kind="support", state="active", start=None, end=None, symbol=None):
        """A horizontal zone segment from `start` to `end` (epoch seconds; default this bar)."""
        self._s.zone(float(price), start, end, kind, state, symbol)

    def mark(self, text, *, side="buy", price=None):
        """A marker of kind `note` on this bar (default at its close)."""
        self._s.mark(side, float(self._s.bar.close if price is None else price), text)

    # --- declarations -----------------------------------------------------------------------------

    @classmethod
    def strategy_name(cls):
        return cls.name or _snake(cls.__name__)

    @classmethod
    def params(cls):
        """{name: Param} of the declared parameters, in declaration order."""
        return dict(cls._params)

    @classmethod
    def describe_params(cls, default_group=None):
        """The parameters as the registry describes them; `default_group` (default the
        strategy's name) for those that name no group."""
        group = default_group or cls.strategy_name()
        return [p.describe(group) for p in cls._params.values()]

    @classmethod
    def parse_params(cls, given):
        """{name or alias: value} → ({name: typed value} for every declared parameter, the rest
        of `given` untouched). ParamError names the parameter."""
        values = {}
        rest = {}
        for key, value in given.items():
            name = key if key in cls._params else cls._aliases.get(key.lower())
            if name is None and key.lower() in cls._params:
                name = key.lower()
            if name is None:
                rest[key] = value
                continue
            if name in values:
                raise ParamError(f"{name}: given twice (by name and by alias)")
            values[name] = cls._params[name].parse(value)
        for name, p in cls._params.items():
            values.setdefault(name, p.default)
        return values, rest


def _defined(cls):
    """Names defined by cls or a base below Strategy."""
    names = set()
    for klass in cls.__mro__:
        if klass is Strategy:
            break
        names.update(vars(klass))
    return names


def bind(cls, values, session):
    """Makes the strategy object of a run: parameters set, engine session attached, __init__ and
    on_start run; then its callbacks (callback mode) or signals (vectorized) go to the engine."""
    inst = cls.__new__(cls)
    inst.__dict__.update(values)
    inst._s = session
    inst.__init__()
    inst.on_start()
    defined = _defined(cls)
    if cls._vectorized:
        from backtestd.signals import set_signals
        for sym, _ in enumerate(session.symbols):
            set_signals(inst, session, sym)
        session.set_callbacks(None, inst.on_fill if "on_fill" in defined else None,
                              inst.on_stop if "on_stop" in defined else None)
    else:
        session.set_callbacks(inst.on_bar if "on_bar" in defined else None,
                              inst.on_fill if "on_fill" in defined else None,
                              inst.on_stop if "on_stop" in defined else None)
    return inst
