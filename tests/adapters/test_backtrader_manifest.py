"""strategy.toml of backtrader strategies: parsing, the registry description, errors naming the
field, and parameter values."""

import textwrap

import pytest
from google.protobuf import json_format

from conftest import SR_BOT
from backtestd.adapters import backtrader as adapter
from backtestd.adapters.backtrader_manifest import ManifestError, load_manifest

HEAD = 'kind = "backtrader"\nentry = "main:backtesting"\n'
RR = """
[[parameters]]
name = "rr"
type = "double"
default = 2
min = 0
min_exclusive = true
alias = "RR"
destination = "env"
"""


def write(tmp_path, text, folder="bot"):
    d = tmp_path / folder
    d.mkdir(exist_ok=True)
    (d / "strategy.toml").write_text(textwrap.dedent(text))
    return str(d)


def test_example_manifest_describes_every_parameter(pb):
    desc = adapter.describe(SR_BOT)
    assert desc["name"] == "sr_bot"
    assert desc["kind"] == "backtrader"
    assert desc["entry"] == "main:backtesting"
    assert desc["data"] == {"parameter": "data_source", "serve": "http"}
    by_name = {p["name"]: p for p in desc["parameters"]}
    assert list(by_name)[:6] == ["symbols", "timeframe", "start_date", "end_date", "max_candles",
                                 "spread_pips"]
    for p in desc["parameters"]:
        # The registry's message, its default under the proto's name.
        definition = {k: v for k, v in p.items() if k not in ("destination", "target", "default")}
        definition.update(default_value=p["default"], strategy=desc["name"])
        json_format.ParseDict(definition, pb.ParamDefinition())
    assert (by_name["rr"]["alias"], by_name["rr"]["destination"], by_name["rr"]["target"]) == \
        ("RR", "env", "RR")
    assert (by_name["rr"]["min"], by_name["rr"]["min_exclusive"]) == (0.0, True)
    assert by_name["initial_equity"]["default"] == "100000000"
    assert by_name["risk_per_trade"]["default"] == "0.0001"
    assert by_name["risk_per_trade"]["max"] == 0.1
    assert by_name["timeframe"]["choices"] == ["M1", "M5", "M15", "M30", "H1", "H4", "D1", "W1"]
    assert (by_name["end_date"]["optional"], by_name["end_date"]["default"]) == (True, "")
    assert (by_name["symbols"]["destination"], by_name["symbols"]["target"]) == ("arg", "symbols")
    assert by_name["mode"]["hidden"] is True
    assert by_name["data_source"]["target"] == "BACKTEST_FETCH_CSV_URL"


def test_defaults_and_targets(tmp_path):
    m = load_manifest(write(tmp_path, HEAD + """
        description = "d"
        [[parameters]]
        name = "lookback"
        type = "int"
        default = 48.0
        destination = "env"
        [[parameters]]
        name = "fast"
        type = "float"
        default = 1e-05
        destination = "arg"
        arg = "fast_period"
        [[parameters]]
        name = "syms"
        type = "symbols"
        default = ["xagusd", "EURUSD"]
        destination = "arg"
        [[parameters]]
        name = "flag"
        type = "bool"
        default = true
        destination = "env"
        env = "MY_FLAG"
    """))
    d = {p["name"]: p for p in m.describe()["parameters"]}
    assert d["lookback"]["default"] == "48" and d["lookback"]["target"] == "LOOKBACK"
    assert d["lookback"]["group"] == "bot"  # the strategy's name when not given
    assert d["fast"]["type"] == "double" and d["fast"]["default"] == "1e-05"
    assert d["fast"]["target"] == "fast_period"
    assert d["syms"]["default"] == "XAGUSD,EURUSD"
    assert d["flag"]["default"] == "true" and d["flag"]["target"] == "MY_FLAG"


@pytest.mark.parametrize("text, words", [
    ('entry = "main:backtesting"\n', ["kind"]),
    ('kind = "sdk"\nentry = "main:backtesting"\n', ["kind", "'sdk'"]),
    ('kind = "backtrader"\n', ["entry", "module:function"]),
    ('kind = "backtrader"\nentry = "main.backtesting"\n', ["entry"]),
    ('kind = "backtrader"\nentry = "main:back-testing"\n', ["entry"]),
    (HEAD + 'name = "other"\n', ["name", "'bot'"]),
    (HEAD + 'colour = "red"\n', ["unknown field 'colour'"]),
    (HEAD + 'description = 3\n', ["description", "string"]),
    (HEAD + 'parameters = 3\n', ["parameters", "array of tables"]),
    (HEAD + '[[parameters]]\ntype = "int"\n', ["parameters[0]", "name"]),
    (HEAD + '[[parameters]]\nname = "RR"\n', ["parameters[0]", "name", "snake_case"]),
    (HEAD + RR.replace("alias", "aliass"), ["parameters[0] (rr)", "unknown field 'aliass'"]),
    (HEAD + RR.replace('"double"', '"decimal"'), ["(rr)", "type", "'decimal'"]),
    (HEAD + RR.replace("default = 2\n", ""), ["(rr)", "default", "missing"]),
    (HEAD + RR.replace("default = 2", 'default = "two"'), ["(rr)", "default", "number"]),
    (HEAD + RR.replace("default = 2", "default = 0"), ["(rr)", "default", "> 0"]),
    (HEAD + RR.replace("min = 0\n", ""), ["(rr)", "min_exclusive", "without min"]),
    (HEAD + RR + "max = -1\n", ["(rr)", "min", "above max"]),
    (HEAD + RR.replace("min = 0", 'min = "0"'), ["(rr)", "min", "number"]),
    (HEAD + RR.replace('"double"', '"string"').replace("default = 2", 'default = "x"'),
     ["(rr)", "min", "only int and double"]),
    (HEAD + RR.replace('"env"', '"kwarg"'), ["(rr)", "destination", "'kwarg'"]),
    (HEAD + RR + 'arg = "rr"\n', ["(rr)", "arg", "only for destination = \"arg\""]),
    (HEAD + RR + 'env = "R-R"\n', ["(rr)", "env", "'R-R'"]),
    (HEAD + RR.replace('"RR"', '"rr"'), ["(rr)", "alias", "upper-case"]),
    (HEAD + RR + 'group = "Risk"\n', ["(rr)", "group"]),
    (HEAD + RR + "optional = 1\n", ["(rr)", "optional", "true or false"]),
    (HEAD + RR + RR, ["parameters", "'rr'", "twice"]),
    (HEAD + RR + RR.replace('name = "rr"', 'name = "reward"'), ["'reward'", "'rr'"]),
    (HEAD + RR + RR.replace('name = "rr"', 'name = "reward"').replace('alias = "RR"',
                                                                        'env = "RR"'),
     ["'reward'", "'rr'", "env 'RR'"]),
    (HEAD + '[[parameters]]\nname = "tf"\ntype = "choice"\ndefault = "H1"\n'
     'destination = "arg"\n', ["(tf)", "choices"]),
    (HEAD + '[[parameters]]\nname = "tf"\ntype = "choice"\nchoices = ["M1"]\ndefault = "H1"\n'
     'destination = "arg"\n', ["(tf)", "default", "one of M1"]),
    (HEAD + '[[parameters]]\nname = "n"\ntype = "int"\nchoices = ["1"]\ndefault = 1\n'
     'destination = "arg"\n', ["(n)", "choices", "only choice"]),
    (HEAD + '[[parameters]]\nname = "n"\ntype = "int"\ndefault = 1.5\ndestination = "arg"\n',
     ["(n)", "default", "whole number"]),
    (HEAD + '[[parameters]]\nname = "n"\ntype = "int"\ndefault = 1\ndestination = "arg"\n'
     'arg = "1n"\n', ["(n)", "arg", "identifier"]),
    (HEAD + '[data]\nparameter = "nope"\n' + RR, ["data", "parameter", "'nope'"]),
    (HEAD + '[data]\nparameter = "rr"\n' + RR, ["data", "parameter", "url or string"]),
    (HEAD + '[data]\nparameter = "src"\nserve = "ftp"\n[[parameters]]\nname = "src"\n'
     'type = "url"\ndefault = "sample://"\ndestination = "env"\n', ["data", "serve", "'ftp'"]),
    (HEAD + '[data]\nparameter = "src"\nport = 1\n', ["data", "unknown field 'port'"]),
])
def test_errors_name_the_field(tmp_path, text, words):
    with pytest.raises(ManifestError) as e:
        load_manifest(write(tmp_path, text))
    message = str(e.value)
    assert message.startswith("strategy.toml"), message
    for w in words:
        assert w in message, message


def test_file_errors(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ManifestError, match="strategy.toml: no such file"):
        load_manifest(str(empty))
    with pytest.raises(ManifestError, match="not valid TOML"):
        load_manifest(write(tmp_path, "kind = \n"))
    with pytest.raises(ManifestError, match="folder name 'Bad-Name'.*snake_case"):
        load_manifest(write(tmp_path, HEAD, folder="Bad-Name"))


def test_values_are_typed_and_checked(tmp_path):
    m = load_manifest(SR_BOT)
    v = adapter.resolve(m, {"RR": "3", "ema_length": "50", "symbols": "xagusd, eurusd",
                            "end_date": "", "max_candles": 500, "strategy": "sr_bot",
                            "trace_enabled": "true"})
    assert v["rr"] == 3.0 and isinstance(v["rr"], float)
    assert v["ema_length"] == 50 and isinstance(v["ema_length"], int)
    assert v["symbols"] == ["XAGUSD", "EURUSD"]
    assert v["end_date"] is None and v["max_candles"] == 500
    assert v["initial_equity"] == 100000000.0 and v["timeframe"] == "H1"
    assert v["start_date"] == "2021-11-26 13:10"
    # The canonical name wins over its alias given too, in either order.
    assert adapter.resolve(m, {"RR": 5, "rr": 4})["rr"] == 4.0
    assert adapter.resolve(m, {"rr": 4, "rr_": 1, "Rr": 5})["rr"] == 4.0
    for params, words in [({"rr": 0}, ["rr", "> 0", "got 0"]),
                          ({"risk_per_trade": "0.5"}, ["risk_per_trade", "≤ 0.1"]),
                          ({"ema_length": "4.5"}, ["ema_length", "whole number"]),
                          ({"ema_length": True}, ["ema_length", "number"]),
                          ({"timeframe": "H2"}, ["timeframe", "one of"]),
                          ({"symbols": ""}, ["symbols", "required"]),
                          ({"symbols": "XAG/USD"}, ["symbols", "comma-separated"]),
                          ({"rr": "nan"}, ["rr", "finite"])]:
        with pytest.raises(ManifestError) as e:
            adapter.resolve(m, params)
        for w in words:
            assert w in str(e.value), str(e.value)


def test_env_text():
    assert adapter.env_text(True) == "true"
    assert adapter.env_text(2.0) == "2"
    assert adapter.env_text(0.0001) == "0.0001"
    assert adapter.env_text(1e-05) == "1e-05"
    assert adapter.env_text(48) == "48"
    assert adapter.env_text(["XAGUSD", "EURUSD"]) == "XAGUSD,EURUSD"
    assert adapter.env_text("2021-11-26 13:10") == "2021-11-26 13:10"
