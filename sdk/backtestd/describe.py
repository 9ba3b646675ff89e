"""`python -m backtestd.describe PATH [--entry FILE.py:Class]`: the strategy at PATH as JSON —
what the server's strategy registry reads (docs/strategies.md): name, kind, description (the
class's docstring, else the file's), entry,
mode, sdk_version, source_hash, parameters. Exit 1 with {"error": …} when it cannot be described."""

import argparse
import inspect
import json
import sys

from backtestd._errors import describe as describe_error
from backtestd._version import __version__
from backtestd.loader import load, source_hash
from backtestd.params import ParamError


def describe(path, entry=""):
    cls, name, _ = load(path, entry)
    params = cls.describe_params(name)  # the default group is the strategy's name: the folder's
    return {
        "name": name,
        "kind": "sdk",
        # The class's docstring, else the file's.
        "description": inspect.cleandoc(cls.__doc__ or sys.modules[cls.__module__].__doc__ or ""),
        "entry": entry or f"strategy.py:{cls.__name__}",
        "class": cls.__name__,
        "mode": "vectorized" if cls._vectorized else "callback",
        "sdk_version": __version__,
        "source_hash": source_hash(path),
        "parameters": params,
    }


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m backtestd.describe", description=__doc__)
    ap.add_argument("path")
    ap.add_argument("--entry", default="")
    args = ap.parse_args(argv)
    try:
        out = describe(args.path, args.entry)
    except ParamError as e:
        print(json.dumps({"error": str(e)}))
        return 1
    except Exception as e:  # the strategy's file raised, or it has no/several strategies
        print(json.dumps({"error": describe_error(e)}))
        return 1
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
