"""`python -m backtestd.describe PATH [--entry FILE.py:Class]`: the strategy at PATH as JSON —
what the server's strategy registry reads (docs/strategies.md): name, kind, description (the
class's docstring, else the file's), entry,
mode, sdk_version, source_hash, parameters. Exit 1 with {"error": …} when it cannot be described:
the error names the file and line (`strategy.py:3 in <module>: ModuleNotFoundError: …`,
`strategy.py:7: SyntaxError: …`, `strategy.py:9 in <module>: ParamError: size: …`)."""

import argparse
import inspect
import json
import os
import sys

from backtestd._errors import describe_load
from backtestd._version import __version__
from backtestd.loader import LoadError, load, source_hash


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
    except LoadError as e:  # no such file, no or several Strategy subclasses: the message says
        print(json.dumps({"error": str(e)}))
        return 1
    except Exception as e:  # the strategy's file raised (a syntax or import error, a bad
        # parameter declaration…): where, in the user's file
        folder = args.path if os.path.isdir(args.path) else os.path.dirname(args.path)
        print(json.dumps({"error": describe_load(e, folder)}))
        return 1
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
