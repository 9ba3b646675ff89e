"""`python -m backtestd.runner --events-fd N [--kind K]`: the runner process of a job whose
strategy is not built in (docs/strategies.md, "The runner contract").

It speaks backtest-runner's protocol (docs/runner-protocol.md), with the frames written by the
engine's C++ code in the native module: it imports the SDK and numpy, says hello, then waits for
its RunSpec on stdin (a warm runner), applies the spec's limits, loads the strategy the spec names
(`external_strategy`), runs it — an `sdk` strategy on the engine (a sweep's combinations too,
when the spec is a sweep's), any other kind through `backtestd.adapters.<kind>.run(spec,
channel)` — and ends with the run's end frame: finished after its result (exit 0), or failed
(exit 1). With `--fork-server` it is a fork server
instead: it runs no job itself but forks a runner per job sent to it (backtestd.forkserver).
"""

import argparse
import importlib
import os
import sys

from backtestd import _native
from backtestd._errors import describe
from backtestd.loader import LoadError, load, source_hash
from backtestd.params import ParamError, engine_param_names
from backtestd.strategy import bind

BUILT_IN = ("sr_breakout", "sma_cross")


class Channel:
    """Frames to the server: log, progress, the result (from a result dict) or a failure."""

    def __init__(self, events_fd):
        self._native = _native.Channel(events_fd)
        self.spec = None

    def read_spec(self):
        self.spec = self._native.read_spec()
        return self.spec

    def log(self, level, text):
        self._native.log(level, str(text))

    def progress(self, stage, done, total):
        self._native.progress(stage, int(done), int(total))

    def send_result(self, result):
        """The result frame from a dict shaped like the API's result JSON; ValueError names a
        bad key."""
        return self._native.send_result(result)

    def fail(self, code, message):
        return self._native.fail(code, message)

    def finish(self):
        """The run's end frame after its result: finished."""
        return self._native.finish()

    def close(self):
        self._native.close()


def encode_result(result):
    """The result frame (4-byte length + RunnerEvent bytes) of a result dict."""
    return _native.encode_result(result)


def _prepare(cls, name, params):
    """A run of `cls` with a job's parameters (text by name): (start, the engine's parameters),
    start(session) binding the strategy. ParamError names a refused value."""
    strategy = params.get("strategy") or name
    if strategy in BUILT_IN:
        raise ParamError(f"strategy: {strategy} is a built-in strategy")
    values, _ = cls.parse_params({k: v for k, v in params.items() if k in cls._params})
    registry = engine_param_names()
    engine = {}
    for key, value in params.items():
        reg = registry.get(key.lower())
        if reg is None:
            continue
        # A built-in strategy's parameter that this strategy declares as its own: the engine
        # gets the registry's default (the value is the strategy's).
        engine[key] = reg["default"] if key in cls._params else value
    engine["strategy"] = strategy
    return (lambda session: bind(cls, values, session)), engine


def _run_sdk(channel, spec):
    ext = spec["external_strategy"]
    try:
        cls, name, folder = load(ext["path"], ext["entry"])
    except (LoadError, ParamError) as e:
        channel.fail("invalid_argument", str(e))
        return 1
    if ext["source_hash"] and source_hash(folder) != ext["source_hash"]:
        channel.fail("invalid_argument",
                     f"strategy {name}: its folder changed since the job was submitted "
                     f"(source hash {source_hash(folder)}, the job's {ext['source_hash']})")
        return 1
    try:
        start, engine = _prepare(cls, name, dict(spec["params"]))
    except ParamError as e:
        channel.fail("invalid_argument", str(e))
        return 1
    if spec.get("sweep"):
        # docs/sweeps.md: each combination is prepared as a job's parameters are; a refused one
        # is its row's error.
        def prepare(params):
            try:
                return _prepare(cls, name, params)
            except ParamError as e:
                return str(e)
        return channel._native.run_sdk_sweep(prepare, engine)
    return channel._native.run_sdk(start, engine)


def serve(channel, spec):
    """Runs the job of `spec`; returns the exit status (the frames are written)."""
    kind = spec["external_strategy"]["kind"]
    try:
        if kind == "sdk":
            return _run_sdk(channel, spec)
        if not kind:
            channel.fail("invalid_argument", "the job names no strategy code (external_strategy)")
            return 1
        if spec.get("sweep"):
            channel.fail("invalid_argument", f"sweeps run SDK strategies, not strategies of kind "
                                             f"{kind}")
            return 1
        try:
            adapter = importlib.import_module(f"backtestd.adapters.{kind}")
        except ImportError:
            channel.fail("invalid_argument", f"no runner for strategies of kind {kind}")
            return 1
        result = adapter.run(spec, channel)
        return 0 if channel.send_result(result) else 1
    except MemoryError:
        channel.fail("resource", "out of memory")
        return 1
    except Exception as e:
        channel.fail("strategy", describe(e))
        return 1


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m backtestd.runner", description=__doc__)
    ap.add_argument("--events-fd", type=int, default=3)
    ap.add_argument("--kind", default="", help="the strategy kind of its job, when known: its "
                                               "adapter is imported before the spec comes")
    ap.add_argument("--fork-server", action="store_true",
                    help="stdin is a Unix socket on which the server sends each job's descriptors; "
                         "a runner is forked per job (backtestd.forkserver)")
    args = ap.parse_args(argv)
    _native.install_term_handler()
    # The server reads stdout and stderr as log lines: a line goes out when it is printed.
    sys.stdout.reconfigure(line_buffering=True)
    sys.stderr.reconfigure(line_buffering=True)
    import numpy  # noqa: F401  (imported before the spec comes: a warm runner has it)
    if args.kind and args.kind != "sdk":
        try:  # so is the adapter of a known kind (backtrader's imports backtrader: ~0.25 s)
            importlib.import_module(f"backtestd.adapters.{args.kind}")
        except ImportError:
            pass  # serve() says so for the job
    if args.fork_server:  # a runner per job, forked from this one (backtestd.forkserver)
        from backtestd import forkserver
        return forkserver.serve(lambda: run_job(args.events_fd))
    return run_job(args.events_fd)


def run_job(events_fd):
    """Says hello, reads the spec on stdin, runs its job, writes its frames to `events_fd` (the
    run's end last); the exit status."""
    channel = Channel(events_fd)
    if channel.read_spec() is None:  # its failure is written (no spec, another version)
        channel.close()
        return 1
    code = serve(channel, channel.spec)
    if code == 0:
        channel.finish()
    channel.close()
    return code


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    # The job ends when this process does: no interpreter teardown (a result may be large).
    os._exit(code)
