"""Runs a user's unchanged backtrader bot (strategy kind ``backtrader``) and turns what it returns
into backtestd's result.

A strategy folder holds the user's module(s) and `strategy.toml` (backtrader_manifest.py: the entry
function and the parameters, each going to a keyword argument or an environment variable, the seed
dashboard's split). For one job:

1. the job's parameter values are resolved (by name or seed alias; missing ones take the
   manifest's default) and their types, bounds and choices checked;
2. the job's market data: when the manifest has a [data] table and the data parameter's value is a
   `file:///dir` URL (or the caller gives a data folder), the folder's SYMBOL_TIMEFRAME.csv files
   are handed to the bot in the manifest's form: a loopback HTTP server answering /ohlc (the
   seed's BACKTEST_FETCH_CSV_URL), a file:// URL, or a path;
3. the env parameters are set in this process's environment (restored afterwards) and the entry
   module is imported fresh from the folder, after the environment is set, so module-level reads of
   os.environ see this job's values; the working directory is the folder;
4. the entry function is called with the arg parameters. Its stdout and stderr are this process's,
   which the server captures as the job's log; stdout is line-buffered meanwhile so lines arrive
   as they are printed. Exceptions propagate (the runner fails the job with the bot's traceback);
5. what it returned (cerebro / strategies / data feeds / stats) becomes the result dict
   (backtrader_result.py); the bot's own stats dict is written to the log as one line.

The runner (backtestd.runner) calls `run(spec, channel)` for a job of this kind and sends the dict
it returns as the job's result. Local use and tests call `run_folder`:

    from backtestd.adapters import backtrader as bt_adapter
    bt_adapter.describe("examples/strategies/sr_bot")             # for the parameter registry
    result = bt_adapter.run_folder("examples/strategies/sr_bot", {"rr": 3},
                                   data_dir="/data/csv")         # the runner's result dict

`python -m backtestd.adapters.backtrader FOLDER [NAME=VALUE ...] [--data-dir DIR] [--out FILE]`
writes the result as the API's JSON; `--describe` prints the parameter description.
"""

import contextlib
import importlib
import json
import os
import sys
import urllib.parse

from .backtrader_manifest import ManifestError, describe, load_manifest, number_text  # noqa: F401
from .backtrader_result import api_json, to_result, unpack
from .data_server import OhlcServer
from .errors import AdapterError

STATS_LINE_LIMIT = 16384  # characters of the bot's stats dict written to the log


def run(spec, channel):
    """The runner's entry for a job of kind backtrader: SPEC is the RunSpec as a dict (its
    `params`, canonical text by name; `external_strategy.path` and `.entry`; `data_policy`).
    The job's data must be a file:// folder inside the policy's file roots: the bot has no
    network, and serving sample:// or http(s):// data to it needs the engine's bar loader in the
    native module, which is not there yet (AdapterError saying so)."""
    ext = _field(spec, "external_strategy") or {}
    manifest = load_manifest(_field(ext, "path") or "")
    entry = _field(ext, "entry")
    if entry and entry != f"{manifest.module}:{manifest.function}":
        raise ManifestError(f"entry: the job was submitted for {entry!r}, the folder's manifest "
                            f"now says '{manifest.module}:{manifest.function}'")
    values = resolve(manifest, dict(_field(spec, "params") or {}))
    data_dir = None
    if manifest.data_parameter:
        data_dir = _file_folder(values[manifest.data_parameter])
        if data_dir is None:
            raise AdapterError(
                f"{manifest.data_parameter}: {values[manifest.data_parameter]!r}: a backtrader "
                "bot reads the job's data from a file:/// folder; serving sample:// or "
                "http(s):// data to it is not implemented yet")
        _check_file_roots(data_dir, _field(_field(spec, "data_policy") or {}, "file_roots"))

    def log(text):
        channel.log("info", text)

    return _run(manifest, values, data_dir, log)


def run_folder(folder, params=None, *, data_dir=None):
    """Runs the bot in FOLDER with PARAMS (name or alias → text or Python value) and returns the
    result dict. DATA_DIR (SYMBOL_TIMEFRAME.csv files) is handed to the bot through the
    manifest's [data] parameter; without it a file:/// value of that parameter is, and any other
    value reaches the bot unchanged. ManifestError for a bad manifest or value (naming the
    parameter), AdapterError when the return value has no strategy to read; the bot's own
    exceptions propagate unchanged."""
    manifest = load_manifest(folder)
    values = resolve(manifest, params or {})
    if data_dir is None and manifest.data_parameter:
        data_dir = _file_folder(values[manifest.data_parameter])

    def log(text):
        print(text, flush=True)

    return _run(manifest, values, data_dir, log)


def _run(manifest, values, data_dir, log):
    returned = call(manifest, values, data_dir=data_dir)
    result = to_result(returned, manifest.name)
    stats = unpack(returned).stats
    if stats is not None:
        text = json.dumps(stats, default=str, sort_keys=True)
        if len(text) > STATS_LINE_LIMIT:
            text = f"{text[:STATS_LINE_LIMIT]}… ({len(text) - STATS_LINE_LIMIT} more characters)"
        log("backtestd: the bot's stats: " + text)
    return result


def _field(d, name):
    """A RunSpec field by its proto name or its JSON (lowerCamelCase) name."""
    if name in d:
        return d[name]
    head, *rest = name.split("_")
    return d.get(head + "".join(w.title() for w in rest))


def _file_folder(value):
    """The folder of a file:/// URL, else None."""
    if isinstance(value, str) and value.startswith("file://"):
        return urllib.parse.unquote(urllib.parse.urlsplit(value).path) or None
    return None


def _check_file_roots(folder, roots):
    real = os.path.realpath(folder)
    for root in roots or ():
        root = os.path.realpath(root)
        if real == root or real.startswith(root.rstrip(os.sep) + os.sep):
            return
    raise AdapterError(f"data_source: {folder} is outside the folders this job may read")


def resolve(manifest, params):
    """Parameter name → typed value (None: optional and empty) for every manifest parameter.
    Names the manifest does not declare are the job's other parameters and are ignored."""
    given = {}
    for key, value in params.items():
        p = manifest.find(str(key))
        if p is None:
            continue
        if p.name in given and str(key) != p.name:
            continue  # the canonical name wins over an alias given too
        given[p.name] = value
    return {p.name: p.value(given.get(p.name, p.default)) for p in manifest.parameters}


def call(manifest, values, *, data_dir=None):
    """Sets up the job's environment, imports the entry fresh and calls it; returns what it
    returned. See the module docstring for the steps."""
    with contextlib.ExitStack() as stack:
        if data_dir is not None and manifest.data_parameter:
            values = dict(values)
            values[manifest.data_parameter] = _data_location(manifest.serve, data_dir, stack)
        env, kwargs = {}, {}
        for p in manifest.parameters:
            v = values[p.name]
            if p.destination == "env":
                env[p.target] = None if v is None else env_text(v)
            elif v is not None:
                kwargs[p.target] = v
        stack.enter_context(_environment(env))
        stack.enter_context(_working_directory(manifest.folder))
        stack.enter_context(_line_buffered_stdout())
        function = _import_entry(manifest, stack)
        return function(**kwargs)


def env_text(v):
    """An environment variable's text for a value: true/false, the registry's number text,
    comma-separated symbols, text as is."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return number_text(v) if isinstance(v, float) else str(v)
    if isinstance(v, (list, tuple)):
        return ",".join(v)
    return str(v)


def _data_location(serve, data_dir, stack):
    folder = os.path.abspath(data_dir)
    if not os.path.isdir(folder):
        raise AdapterError(f"data_dir {folder}: not a directory")
    if serve == "http":
        return stack.enter_context(OhlcServer(folder)).url
    if serve == "file":
        return "file://" + urllib.parse.quote(folder)
    return folder


@contextlib.contextmanager
def _environment(env):
    saved = {k: os.environ.get(k) for k in env}
    try:
        for k, v in env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@contextlib.contextmanager
def _working_directory(folder):
    previous = os.getcwd()
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(previous)


@contextlib.contextmanager
def _line_buffered_stdout():
    stream = sys.stdout
    reconfigure = getattr(stream, "reconfigure", None)
    before = getattr(stream, "line_buffering", True)
    if reconfigure is not None and not before:
        reconfigure(line_buffering=True)
    try:
        yield
    finally:
        stream.flush()
        if reconfigure is not None and not before:
            reconfigure(line_buffering=False)


def _import_entry(manifest, stack):
    """The entry function, its module imported fresh from the folder: modules imported from the
    folder before, and any module of the entry's name (another bot's `main`), are dropped first,
    so module-level code runs with this job's environment; the folder's modules are dropped again
    after the call, so the next bot in this process imports its own. The folder stays first on
    sys.path during the call, for imports the bot does late."""
    folder = manifest.folder
    top = manifest.module.split(".")[0]
    _forget_modules(folder, top)
    stack.callback(_forget_modules, folder, None)
    sys.path.insert(0, folder)
    stack.callback(_remove_path, folder)
    importlib.invalidate_caches()
    module = importlib.import_module(manifest.module)
    function = getattr(module, manifest.function, None)
    if not callable(function):
        raise ManifestError(f"entry: {manifest.module}.py has no function "
                            f"{manifest.function!r}")
    return function


def _forget_modules(folder, top):
    for name, module in list(sys.modules.items()):
        path = getattr(module, "__file__", None)
        mine = path and os.path.abspath(path).startswith(folder + os.sep)
        if mine or (top and (name == top or name.startswith(top + "."))):
            del sys.modules[name]


def _remove_path(folder):
    if folder in sys.path:
        sys.path.remove(folder)


def json_text(api_result):
    """The API's JSON form of a result (api_json) as text."""
    return json.dumps(api_result, separators=(",", ":"), allow_nan=False)


def main(argv=None):
    import argparse
    ap = argparse.ArgumentParser(prog="python -m backtestd.adapters.backtrader",
                                 description="Runs a backtrader strategy folder through the "
                                             "adapter and prints the result as JSON.")
    ap.add_argument("folder")
    ap.add_argument("params", nargs="*", metavar="NAME=VALUE")
    ap.add_argument("--data-dir", help="the job's data: SYMBOL_TIMEFRAME.csv files")
    ap.add_argument("--out", help="write the result JSON here (default: stdout, after the bot's "
                                  "own output)")
    ap.add_argument("--describe", action="store_true", help="print the parameter description")
    args = ap.parse_intermixed_args(argv)
    try:
        if args.describe:
            print(json.dumps(describe(args.folder), indent=2))
            return 0
        params = {}
        for item in args.params:
            name, sep, value = item.partition("=")
            if not sep:
                ap.error(f"{item!r}: expected NAME=VALUE")
            params[name] = value
        result = run_folder(args.folder, params, data_dir=args.data_dir)
    except (ManifestError, AdapterError) as e:
        if args.describe:  # the server's strategy folder reads describe's JSON: its error too
            print(json.dumps({"error": str(e)}))
            return 1
        print(f"error: {e}", file=sys.stderr)
        return 2
    text = json_text(api_json(result)) + "\n"
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
