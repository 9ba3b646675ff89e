"""Parameters declared as class attributes: their descriptions (what the registry reads) and
errors that name the field, at declaration and for values."""
import pytest

import backtestd
from backtestd import Bool, Choice, Float, Int, ParamError, Strategy, Text


class Full(Strategy):
    """A strategy with every kind of parameter."""

    lookback = Int(20, min=2, max=500, help="Bars looked back", group="signal")
    risk = Float(0.01, min=0, min_exclusive=True, max=0.1, alias="RISK")
    use_filter = Bool(True)
    style = Choice("trend", choices=["trend", "revert"])
    note = Text("", max_length=10)
    cap = Float(None, optional=True)


def test_descriptions():
    d = {p["name"]: p for p in Full.describe_params()}
    assert list(d) == ["lookback", "risk", "use_filter", "style", "note", "cap"]
    assert d["lookback"] == dict(name="lookback", type="int", default="20", optional=False, min=2,
                                 min_exclusive=False, max=500, max_exclusive=False, choices=[],
                                 help="Bars looked back", group="signal", alias="")
    assert d["risk"]["type"] == "double" and d["risk"]["default"] == "0.01"
    assert d["risk"]["min_exclusive"] is True and d["risk"]["alias"] == "RISK"
    assert d["risk"]["group"] == "full"  # the strategy's name by default
    assert d["use_filter"]["default"] == "true"
    assert d["style"]["choices"] == ["trend", "revert"]
    assert d["cap"]["optional"] is True and d["cap"]["default"] == ""


@pytest.mark.parametrize("declare, message", [
    (lambda: Int(0, min=1), "fast: default 0 is below min 1"),
    (lambda: Int("x"), "fast: default 'x' is invalid: must be an integer"),
    (lambda: Float(1, min=2, max=1), "fast: min 2 is above max 1"),
    (lambda: Float(float("nan")), "fast: default nan is invalid: must be a finite number"),
    (lambda: Choice("c", choices=["a", "b"]), "fast: default 'c' is invalid: must be one of a, b"),
    (lambda: Choice("a", choices=[]), "fast: choices must be a non-empty list of words"),
    (lambda: Int(None), "fast: needs a default (or optional=True)"),
    (lambda: Int(1, alias="bad alias"), "fast: alias must be a name"),
    (lambda: Int(1, group="Bad Group"), "fast: group must be a snake_case name"),
])
def test_declaration_errors_name_the_field(declare, message):
    with pytest.raises(ParamError) as e:
        type("Broken", (Strategy,), {"fast": declare()})
    assert str(e.value).startswith(message)


def test_engine_parameter_names_are_refused():
    with pytest.raises(ParamError, match="^symbols: is a parameter of every run"):
        type("Broken", (Strategy,), {"symbols": Text("X")})
    with pytest.raises(ParamError, match="^start_cash: alias INITIAL_EQUITY is a parameter of every"):
        type("Broken", (Strategy,), {"start_cash": Float(1.0, alias="INITIAL_EQUITY")})
    with pytest.raises(ParamError, match="^close: is a name of Strategy's own"):
        type("Broken", (Strategy,), {"close": Float(1.0)})
    # A built-in strategy's own parameter may be declared again.
    type("Fine", (Strategy,), {"fast_period": Int(5)})


def test_values_are_checked_naming_the_parameter():
    values, rest = Full.parse_params({"lookback": "30", "RISK": 0.05, "use_filter": "no",
                                      "symbols": "EURUSD"})
    assert values["lookback"] == 30 and values["risk"] == 0.05 and values["use_filter"] is False
    assert values["style"] == "trend" and rest == {"symbols": "EURUSD"}
    for given, message in [({"lookback": 1}, "lookback: must be >= 2, got 1"),
                           ({"risk": 0}, "risk: must be > 0, got 0"),
                           ({"risk": "abc"}, "risk: must be a number, got 'abc'"),
                           ({"style": "x"}, "style: must be one of trend, revert, got 'x'"),
                           ({"note": "x" * 11}, "note: must be at most 10 characters"),
                           ({"use_filter": "maybe"}, "use_filter: must be true or false")]:
        with pytest.raises(ParamError) as e:
            Full.parse_params(given)
        assert str(e.value).startswith(message)


def test_run_refuses_unknown_and_bad_values():
    with pytest.raises(ParamError, match="^nonsense: no such parameter"):
        backtestd.run(Full, nonsense=1)
    with pytest.raises(ParamError, match="^lookback: must be <= 500"):
        backtestd.run(Full, lookback=501)
    with pytest.raises(ValueError, match="initial_equity"):
        backtestd.run(Full, initial_equity=-5)


def test_values_reach_the_strategy():
    seen = {}

    class Probe(Strategy):
        lookback = Int(20, min=2)
        risk = Float(0.01, alias="RISK")

        def on_start(self):
            seen.update(lookback=self.lookback, risk=self.risk)

    backtestd.run(Probe, lookback=7, RISK=0.5, symbols="EURUSD", timeframe="D1")
    assert seen == {"lookback": 7, "risk": 0.5}
