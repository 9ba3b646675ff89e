"""Typed strategy parameters, declared as class attributes of a Strategy.

    class MyStrategy(Strategy):
        fast_period = Int(10, min=2, help="Fast SMA length")
        risk = Float(0.01, min=0, min_exclusive=True, max=0.1, alias="RISK_PER_TRADE")
        use_filter = Bool(True)
        mode = Choice("trend", choices=["trend", "revert"])
        note = Text("", max_length=80)

Each parameter joins backtestd's parameter registry when the strategy runs in the service: its
`describe()` is what the registry, ListParams, the form and validation read (docs/strategies.md).
A wrong declaration raises ParamError naming the field when the class is defined; a wrong value
raises ParamError naming the parameter and the rule, as the service's INVALID_ARGUMENT does.
"""

import math
import re

from backtestd import _native

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_ALIAS = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


class ParamError(ValueError):
    """A parameter declaration or value that breaks a rule; the message starts with its name."""


class Param:
    """One parameter. Subclasses set `type` (the registry's word) and parse values."""

    type = "string"

    def __init__(self, default=None, *, help="", group=None, alias=None, optional=False):
        self.default = default
        self.help = help
        self.group = group
        self.alias = alias
        self.optional = optional
        self.name = None

    def __set_name__(self, owner, name):
        self.name = name

    # A non-data descriptor: the class attribute is the declaration, while a running strategy's
    # instance holds the value itself in its __dict__ (a plain attribute read on every bar).
    def __get__(self, instance, owner=None):
        return self

    def check_declaration(self):
        if not _NAME.match(self.name or ""):
            raise ParamError(f"{self.name}: a parameter name is snake_case (a-z, 0-9, _)")
        if not isinstance(self.help, str):
            raise ParamError(f"{self.name}: help must be text")
        if self.group is not None and not (isinstance(self.group, str) and _NAME.match(self.group)):
            raise ParamError(f"{self.name}: group must be a snake_case name, got {self.group!r}")
        if self.alias is not None and not (isinstance(self.alias, str) and _ALIAS.match(self.alias)):
            raise ParamError(f"{self.name}: alias must be a name like RISK_PER_TRADE, got {self.alias!r}")
        if self.default is None:
            if not self.optional:
                raise ParamError(f"{self.name}: needs a default (or optional=True)")
        else:
            try:
                self.default = self.parse(self.default)
            except ParamError as e:
                raise ParamError(f"{self.name}: default {self.default!r} is invalid: "
                                 f"{str(e).split(': ', 1)[-1]}") from None

    def parse(self, value):
        """A value given by a caller (Python value or canonical text) → the typed value."""
        raise NotImplementedError

    def canonical(self, value):
        """The value as the registry writes it (text)."""
        return "" if value is None else str(value)

    def describe(self, group):
        return {
            "name": self.name,
            "type": self.type,
            "default": self.canonical(self.default),
            "optional": self.optional,
            "min": None,
            "min_exclusive": False,
            "max": None,
            "max_exclusive": False,
            "choices": [],
            "help": self.help,
            "group": self.group or group,
            "alias": self.alias or "",
        }

    def _fail(self, rule, value):
        raise ParamError(f"{self.name}: {rule}, got {value!r}")


class _Number(Param):
    def __init__(self, default=None, *, min=None, max=None, min_exclusive=False,
                 max_exclusive=False, **kw):
        super().__init__(default, **kw)
        self.min, self.max = min, max
        self.min_exclusive, self.max_exclusive = min_exclusive, max_exclusive

    def check_declaration(self):
        for bound in ("min", "max"):
            v = getattr(self, bound)
            if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float))
                                  or not math.isfinite(v)):
                raise ParamError(f"{self.name}: {bound} must be a finite number, got {v!r}")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ParamError(f"{self.name}: min {self.min} is above max {self.max}")
        if self.default is not None and not self.optional:
            v = self.default
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                if self.min is not None and (v < self.min or (self.min_exclusive and v == self.min)):
                    raise ParamError(f"{self.name}: default {v} is below min {self.min}")
                if self.max is not None and (v > self.max or (self.max_exclusive and v == self.max)):
                    raise ParamError(f"{self.name}: default {v} is above max {self.max}")
        super().check_declaration()

    def _bounds(self, v, raw):
        if self.min is not None:
            if self.min_exclusive and not v > self.min:
                self._fail(f"must be > {_native.format_number(self.min)}", raw)
            if not self.min_exclusive and not v >= self.min:
                self._fail(f"must be >= {_native.format_number(self.min)}", raw)
        if self.max is not None:
            if self.max_exclusive and not v < self.max:
                self._fail(f"must be < {_native.format_number(self.max)}", raw)
            if not self.max_exclusive and not v <= self.max:
                self._fail(f"must be <= {_native.format_number(self.max)}", raw)
        return v

    def describe(self, group):
        d = super().describe(group)
        d.update(min=self.min, min_exclusive=self.min_exclusive, max=self.max,
                 max_exclusive=self.max_exclusive)
        return d


class Int(_Number):
    """An integer."""

    type = "int"

    def parse(self, value):
        if value is None or value == "":
            if self.optional:
                return None
            self._fail("must be an integer", value)
        if isinstance(value, bool):
            self._fail("must be an integer", value)
        if isinstance(value, float):
            if not value.is_integer():
                self._fail("must be an integer", value)
            value = int(value)
        elif isinstance(value, str):
            try:
                value = int(value.strip())
            except ValueError:
                self._fail("must be an integer", value)
        elif not isinstance(value, int):
            try:
                value = int(value)  # numpy integers
            except (TypeError, ValueError):
                self._fail("must be an integer", value)
        return self._bounds(value, value)


class Float(_Number):
    """A finite real number."""

    type = "double"

    def parse(self, value):
        raw = value
        if value is None or value == "":
            if self.optional:
                return None
            self._fail("must be a number", raw)
        if isinstance(value, bool):
            self._fail("must be a number", raw)
        try:
            value = float(value.strip() if isinstance(value, str) else value)
        except (TypeError, ValueError):
            self._fail("must be a number", raw)
        if not math.isfinite(value):
            self._fail("must be a finite number", raw)
        return self._bounds(value, raw)

    def canonical(self, value):
        return "" if value is None else _native.format_number(float(value))


class Bool(Param):
    """true or false (also 1/0, yes/no, on/off as text, like the registry)."""

    type = "bool"
    _TRUE = {"true", "1", "yes", "on"}
    _FALSE = {"false", "0", "no", "off"}

    def parse(self, value):
        if isinstance(value, bool):
            return value
        if isinstance(value, str):
            v = value.strip().lower()
            if v in self._TRUE:
                return True
            if v in self._FALSE:
                return False
        if value in (0, 1) and not isinstance(value, float):
            return bool(value)
        if (value is None or value == "") and self.optional:
            return None
        self._fail("must be true or false", value)

    def canonical(self, value):
        return "" if value is None else ("true" if value else "false")


class Choice(Param):
    """One of a list of words."""

    type = "choice"

    def __init__(self, default=None, *, choices=(), **kw):
        super().__init__(default, **kw)
        self.choices = list(choices)

    def check_declaration(self):
        if not self.choices or not all(isinstance(c, str) and c for c in self.choices):
            raise ParamError(f"{self.name}: choices must be a non-empty list of words")
        if len(set(self.choices)) != len(self.choices):
            raise ParamError(f"{self.name}: choices must not repeat")
        super().check_declaration()

    def parse(self, value):
        if (value is None or value == "") and self.optional:
            return None
        if not isinstance(value, str) or value.strip() not in self.choices:
            self._fail(f"must be one of {', '.join(self.choices)}", value)
        return value.strip()

    def describe(self, group):
        d = super().describe(group)
        d["choices"] = list(self.choices)
        return d


class Text(Param):
    """Free text (at most max_length characters)."""

    type = "string"

    def __init__(self, default="", *, max_length=1000, **kw):
        super().__init__(default, **kw)
        self.max_length = max_length

    def parse(self, value):
        if value is None:
            if self.optional:
                return None
            self._fail("must be text", value)
        if not isinstance(value, str):
            self._fail("must be text", value)
        if len(value) > self.max_length:
            self._fail(f"must be at most {self.max_length} characters", f"{value[:20]}…")
        return value


def engine_param_names():
    """The registry's names and aliases: {name or alias (lower case): registry definition}."""
    out = {}
    for p in _native.engine_params():
        out[p["name"].lower()] = p
        if p["alias"]:
            out[p["alias"].lower()] = p
    return out
