"""The manifest of a backtrader strategy folder (`strategy.toml`): what to call and with what.

A strategy of kind ``backtrader`` is a folder holding the user's module(s) and ``strategy.toml``::

    kind = "backtrader"
    entry = "main:backtesting"          # module:function, imported from the folder
    description = "S/R breakout and retest"

    [data]                              # optional: how the bot finds the job's market data
    parameter = "data_source"           # the parameter that carries the data location
    serve = "http"                      # http | file | dir

    [[parameters]]
    name = "rr"                         # snake_case
    type = "double"                     # int double bool string choice datetime symbols url
    default = 2
    min = 0
    min_exclusive = true
    help = "Reward to risk."
    group = "risk"
    alias = "RR"                        # the seed's upper-case name
    destination = "env"                 # "arg": keyword argument; "env": environment variable

Every error is a ManifestError naming the file and the field ("strategy.toml: parameters[2] (rr):
min: must be a number, got 'x'"). The folder's name is the strategy's name; `name` in the manifest
is optional and must equal it when given.

Pure Python (tomllib), no import of the user's code: the registry can describe a strategy without
running it.
"""

import math
import os
import re
import tomllib

MANIFEST_FILE = "strategy.toml"
KIND = "backtrader"

# The registry's parameter types (backtest.v1.ParamDefinition.type); "float" is read as "double".
TYPES = ("string", "int", "double", "bool", "choice", "datetime", "symbols", "url")
DESTINATIONS = ("arg", "env")
SERVE_FORMS = ("http", "file", "dir")

_NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_ALIAS_RE = re.compile(r"^[A-Z][A-Z0-9_]{0,63}$")
_ENV_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
_GROUP_RE = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
_MODULE_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
_IDENT_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_SYMBOL_RE = re.compile(r"^[A-Za-z0-9._\-]{1,32}$")

_TOP_FIELDS = ("name", "kind", "entry", "description", "data", "parameters")
_DATA_FIELDS = ("parameter", "serve")
_PARAM_FIELDS = ("name", "type", "default", "min", "max", "min_exclusive", "max_exclusive",
                 "choices", "help", "group", "alias", "destination", "env", "arg", "optional",
                 "hidden")
_TRUE = ("true", "1", "yes", "on")
_FALSE = ("false", "0", "no", "off")


class ManifestError(ValueError):
    """A manifest (or a value given for one of its parameters) breaks a rule; the message names
    the file or parameter and the field."""


class Parameter:
    """One declared parameter: its registry description and where its value goes."""

    __slots__ = ("name", "type", "default", "min", "max", "min_exclusive", "max_exclusive",
                 "choices", "help", "group", "alias", "destination", "target", "optional",
                 "hidden")

    def describe(self):
        """The registry's description, in the shape `python -m backtestd.describe` gives SDK
        strategies' parameters (docs/strategies.md): name, alias, type, group, default (canonical
        text), optional, min/min_exclusive, max/max_exclusive, choices, help, hidden; plus
        `destination` and `target` (the keyword argument or environment variable it goes to)."""
        d = {
            "name": self.name,
            "alias": self.alias,
            "type": self.type,
            "group": self.group,
            "default": self.default,
            "optional": self.optional,
            "min_exclusive": self.min_exclusive,
            "max_exclusive": self.max_exclusive,
            "choices": list(self.choices),
            "help": self.help,
            "hidden": self.hidden,
            "destination": self.destination,
            "target": self.target,
        }
        if self.min is not None:
            d["min"] = self.min
        if self.max is not None:
            d["max"] = self.max
        return d

    def value(self, given):
        """The typed value of `given` (text as the registry stores it, or a Python value), or
        None when the parameter is optional and the value empty. ManifestError names the
        parameter and the rule."""
        try:
            return _typed(self, given)
        except ManifestError as e:
            raise ManifestError(f"{self.name}: {e}") from None


class Manifest:
    """A parsed strategy.toml. Immutable after load_manifest."""

    __slots__ = ("folder", "name", "description", "module", "function", "data_parameter",
                 "serve", "parameters")

    def describe(self):
        """Name, kind, description, entry, data and the parameter descriptions, for the
        registry (the strategy's name is its folder's)."""
        return {
            "name": self.name,
            "kind": KIND,
            "description": self.description,
            "entry": f"{self.module}:{self.function}",
            "data": ({"parameter": self.data_parameter, "serve": self.serve}
                     if self.data_parameter else None),
            "parameters": [p.describe() for p in self.parameters],
        }

    def find(self, name_or_alias):
        """The parameter with this name or alias (any letter case), or None."""
        key = name_or_alias.lower()
        for p in self.parameters:
            if p.name == key or (p.alias and p.alias.lower() == key):
                return p
        return None


def load_manifest(folder):
    """Reads and checks FOLDER/strategy.toml. ManifestError on any broken rule."""
    folder = os.path.abspath(folder)
    path = os.path.join(folder, MANIFEST_FILE)
    try:
        with open(path, "rb") as f:
            doc = tomllib.load(f)
    except FileNotFoundError:
        raise ManifestError(f"{path}: no such file (a backtrader strategy folder needs "
                            f"{MANIFEST_FILE})") from None
    except tomllib.TOMLDecodeError as e:
        raise ManifestError(f"{MANIFEST_FILE}: not valid TOML: {e}") from None
    return parse_manifest(doc, folder)


def parse_manifest(doc, folder):
    """Checks a manifest already read into a dict (tomllib's output) for the strategy in FOLDER."""
    where = MANIFEST_FILE
    _no_unknown(doc, _TOP_FIELDS, where)
    m = Manifest()
    m.folder = os.path.abspath(folder)
    folder_name = os.path.basename(m.folder.rstrip(os.sep))
    name = doc.get("name", folder_name)
    if not isinstance(name, str) or name != folder_name:
        raise ManifestError(f"{where}: name: must be the folder's name {folder_name!r} "
                            f"(the strategy parameter's value), got {name!r}")
    if not _NAME_RE.match(folder_name):
        raise ManifestError(f"{where}: the folder name {folder_name!r} is the strategy's name and "
                            "must be snake_case (a-z, 0-9, _; starting with a letter; ≤ 64)")
    m.name = folder_name
    kind = doc.get("kind")
    if kind != KIND:
        raise ManifestError(f"{where}: kind: must be {KIND!r}, got {kind!r}")
    entry = doc.get("entry")
    if not isinstance(entry, str) or entry.count(":") != 1:
        raise ManifestError(f"{where}: entry: must be 'module:function' (e.g. 'main:backtesting'), "
                            f"got {entry!r}")
    m.module, m.function = entry.split(":")
    if not _MODULE_RE.match(m.module) or not _IDENT_RE.match(m.function):
        raise ManifestError(f"{where}: entry: {entry!r} is not 'module:function' with Python "
                            "identifiers")
    m.description = _text(doc, "description", where, "")
    params = doc.get("parameters", [])
    if not isinstance(params, list) or not all(isinstance(p, dict) for p in params):
        raise ManifestError(f"{where}: parameters: must be an array of tables ([[parameters]])")
    m.parameters = tuple(_parameter(p, i, m.name) for i, p in enumerate(params))
    _no_duplicates(m.parameters, where)
    m.data_parameter, m.serve = _data(doc.get("data"), m, where)
    return m


def describe(folder):
    """The registry's view of the strategy in FOLDER (Manifest.describe of its manifest)."""
    return load_manifest(folder).describe()


# --- parameters -------------------------------------------------------------------------------

def _parameter(t, i, strategy):
    where = f"{MANIFEST_FILE}: parameters[{i}]"
    name = t.get("name")
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise ManifestError(f"{where}: name: must be snake_case (a-z, 0-9, _; starting with a "
                            f"letter; ≤ 64), got {name!r}")
    where = f"{where} ({name})"
    _no_unknown(t, _PARAM_FIELDS, where)
    p = Parameter()
    p.name = name
    ptype = t.get("type")
    if ptype == "float":
        ptype = "double"
    if ptype not in TYPES:
        raise ManifestError(f"{where}: type: must be one of {', '.join(TYPES)}, got {ptype!r}")
    p.type = ptype
    p.optional = _flag(t, "optional", where)
    p.hidden = _flag(t, "hidden", where)
    p.help = _text(t, "help", where, "")
    p.group = _text(t, "group", where, strategy)
    if not _GROUP_RE.match(p.group):
        raise ManifestError(f"{where}: group: must be a lower-case word (a-z, 0-9, _), "
                            f"got {p.group!r}")
    p.alias = _text(t, "alias", where, "")
    if p.alias and not _ALIAS_RE.match(p.alias):
        raise ManifestError(f"{where}: alias: must be the seed's upper-case style (A-Z, 0-9, _; "
                            f"starting with a letter), got {p.alias!r}")
    _bounds(p, t, where)
    _choices(p, t, where)
    _destination(p, t, where)
    if "default" in t:
        try:
            p.default = _canonical(p, t["default"])
        except ManifestError as e:
            raise ManifestError(f"{where}: default: {e}") from None
    elif p.optional:
        p.default = ""
    else:
        raise ManifestError(f"{where}: default: missing (required unless optional = true)")
    return p


def _bounds(p, t, where):
    p.min = p.max = None
    for key in ("min", "max"):
        if key not in t:
            continue
        if p.type not in ("int", "double"):
            raise ManifestError(f"{where}: {key}: only int and double parameters have bounds "
                                f"(type is {p.type})")
        v = t[key]
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise ManifestError(f"{where}: {key}: must be a finite number, got {v!r}")
        setattr(p, key, float(v))
    for key in ("min_exclusive", "max_exclusive"):
        setattr(p, key, _flag(t, key, where))
        if getattr(p, key) and getattr(p, key.split("_")[0]) is None:
            raise ManifestError(f"{where}: {key}: set without {key.split('_')[0]}")
    if p.min is not None and p.max is not None and p.min > p.max:
        raise ManifestError(f"{where}: min: {number_text(p.min)} is above max "
                            f"{number_text(p.max)}")


def _choices(p, t, where):
    choices = t.get("choices")
    if p.type != "choice":
        if choices is not None:
            raise ManifestError(f"{where}: choices: only choice parameters have choices "
                                f"(type is {p.type})")
        p.choices = ()
        return
    if (not isinstance(choices, list) or not choices
            or not all(isinstance(c, str) and c for c in choices)):
        raise ManifestError(f"{where}: choices: a choice parameter needs a non-empty list of "
                            "non-empty strings")
    if len(set(choices)) != len(choices):
        raise ManifestError(f"{where}: choices: listed twice: "
                            f"{sorted({c for c in choices if choices.count(c) > 1})}")
    p.choices = tuple(choices)


def _destination(p, t, where):
    dest = t.get("destination")
    if dest not in DESTINATIONS:
        raise ManifestError(f"{where}: destination: must be \"arg\" (a keyword argument of the "
                            f"entry function) or \"env\" (an environment variable), got {dest!r}")
    p.destination = dest
    other = "env" if dest == "arg" else "arg"
    if other in t:
        raise ManifestError(f"{where}: {other}: only for destination = \"{other}\"")
    if dest == "arg":
        p.target = _text(t, "arg", where, p.name)
        if not _IDENT_RE.match(p.target):
            raise ManifestError(f"{where}: arg: must be a Python identifier, got {p.target!r}")
    else:
        p.target = _text(t, "env", where, p.alias or p.name.upper())
        if not _ENV_RE.match(p.target):
            raise ManifestError(f"{where}: env: must be an environment variable name (letters, "
                                f"digits, _), got {p.target!r}")


def _no_duplicates(params, where):
    seen = {}
    for p in params:
        keys = {p.name}
        if p.alias:
            keys.add(p.alias.lower())
        for k in keys:
            if k in seen:
                raise ManifestError(f"{where}: parameters: {p.name!r} clashes with {seen[k]!r} "
                                    f"(name or alias {k!r} used twice)")
            seen[k] = p.name
    targets = {}
    for p in params:
        key = (p.destination, p.target)
        if key in targets:
            raise ManifestError(f"{where}: parameters: {p.name!r} and {targets[key]!r} both go to "
                                f"{p.destination} {p.target!r}")
        targets[key] = p.name


def _data(t, m, where):
    if t is None:
        return "", ""
    where = f"{where}: data"
    if not isinstance(t, dict):
        raise ManifestError(f"{where}: must be a table ([data])")
    _no_unknown(t, _DATA_FIELDS, where)
    name = t.get("parameter")
    p = m.find(name) if isinstance(name, str) else None
    if p is None or p.name != name:
        raise ManifestError(f"{where}: parameter: must name one of the declared parameters, "
                            f"got {name!r}")
    if p.type not in ("url", "string"):
        raise ManifestError(f"{where}: parameter: {name!r} must be of type url or string "
                            f"(it is {p.type})")
    serve = t.get("serve", "http")
    if serve not in SERVE_FORMS:
        raise ManifestError(f"{where}: serve: must be one of {', '.join(SERVE_FORMS)}, "
                            f"got {serve!r}")
    return name, serve


# --- values -----------------------------------------------------------------------------------

def _typed(p, v):
    """A value for parameter p as Python sees it (None: optional and empty)."""
    if isinstance(v, str):
        v = v.strip()
        if v == "":
            if p.optional:
                return None
            raise ManifestError("a value is required")
    elif v is None:
        if p.optional:
            return None
        raise ManifestError("a value is required")
    t = p.type
    if t == "bool":
        return _bool(v)
    if t in ("int", "double"):
        x = _number(v, t)
        _check_bounds(p, x)
        return x
    if t == "symbols":
        return _symbols(v)
    if not isinstance(v, str):
        raise ManifestError(f"must be text, got {v!r}")
    if t == "choice" and v not in p.choices:
        raise ManifestError(f"must be one of {', '.join(p.choices)}, got {v!r}")
    return v


def _canonical(p, v):
    """The registry's canonical text of a value of parameter p (the description's `default`)."""
    x = _typed(p, v)
    if x is None:
        return ""
    if p.type == "bool":
        return "true" if x else "false"
    if p.type in ("int", "double"):
        return number_text(x)
    if p.type == "symbols":
        return ",".join(x)
    return x


def _bool(v):
    if isinstance(v, bool):
        return v
    if isinstance(v, str) and v.lower() in _TRUE + _FALSE:
        return v.lower() in _TRUE
    if isinstance(v, int) and v in (0, 1):
        return bool(v)
    raise ManifestError(f"must be true or false, got {v!r}")


def _number(v, t):
    if isinstance(v, bool):
        raise ManifestError(f"must be a number, got {v!r}")
    if isinstance(v, str):
        try:
            v = float(v) if t == "double" or not re.fullmatch(r"[+-]?\d+", v) else int(v)
        except ValueError:
            raise ManifestError(f"must be a number, got {v!r}") from None
    if not isinstance(v, (int, float)):
        raise ManifestError(f"must be a number, got {v!r}")
    if isinstance(v, float) and not math.isfinite(v):
        raise ManifestError(f"must be a finite number, got {v!r}")
    if t == "int":
        if isinstance(v, float):
            if not v.is_integer():
                raise ManifestError(f"must be a whole number, got {v!r}")
            v = int(v)
        return v
    return float(v)


def _check_bounds(p, x):
    if p.min is not None and (x < p.min or (p.min_exclusive and x == p.min)):
        op = ">" if p.min_exclusive else "≥"
        raise ManifestError(f"must be {op} {number_text(p.min)}, got {number_text(x)}")
    if p.max is not None and (x > p.max or (p.max_exclusive and x == p.max)):
        op = "<" if p.max_exclusive else "≤"
        raise ManifestError(f"must be {op} {number_text(p.max)}, got {number_text(x)}")


def _symbols(v):
    items = v if isinstance(v, list) else (v.split(",") if isinstance(v, str) else None)
    if items is None or not all(isinstance(s, str) for s in items):
        raise ManifestError(f"must be comma-separated symbols, got {v!r}")
    out = [s.strip().upper() for s in items if s.strip()]
    bad = [s for s in out if not _SYMBOL_RE.match(s)]
    if not out or bad:
        raise ManifestError(f"must be comma-separated symbols (A-Z, 0-9, . _ -), got {v!r}")
    return out


def number_text(x):
    """The registry's number text: integral values as integers (while exact), else the shortest
    text that reads back exactly (0.0001, 1e-05)."""
    x = float(x)
    if x.is_integer() and abs(x) <= 2.0 ** 53:
        return str(int(x))
    return repr(x)


# --- small checks -----------------------------------------------------------------------------

def _no_unknown(t, allowed, where):
    for k in t:
        if k not in allowed:
            raise ManifestError(f"{where}: unknown field {k!r} (allowed: {', '.join(allowed)})")


def _text(t, key, where, default):
    v = t.get(key, default)
    if not isinstance(v, str):
        raise ManifestError(f"{where}: {key}: must be a string, got {v!r}")
    return v


def _flag(t, key, where):
    v = t.get(key, False)
    if not isinstance(v, bool):
        raise ManifestError(f"{where}: {key}: must be true or false, got {v!r}")
    return v
