"""A thin, synchronous convenience layer over the generated backtest.v1 stubs.

``from backtestd import Client``. The generated messages and stubs are in
``backtestd._gen.backtest.v1`` (made from protos/ by the build: sdk/tools/gen_protos.sh); this
module adds the token, message-size limits, a followed event stream that resumes by itself after a
dropped connection, and plain-Python parameter values.
"""

from __future__ import annotations

import array
import collections.abc
import dataclasses
import datetime as _dt
import os
import pathlib
import sys
import time
from typing import Any, Dict, Iterator, List, Mapping, Optional, Sequence

import grpc
from google.protobuf import json_format, struct_pb2

from backtestd._gen.backtest.v1 import backtest_service_pb2 as _bt
from backtestd._gen.backtest.v1 import backtest_service_pb2_grpc as _bt_grpc
from backtestd._gen.backtest.v1 import job_pb2 as _job
from backtestd._gen.backtest.v1 import preset_service_pb2 as _ps
from backtestd._gen.backtest.v1 import preset_service_pb2_grpc as _ps_grpc
from backtestd._gen.backtest.v1 import result_pb2 as _result
from backtestd._gen.backtest.v1 import strategy_service_pb2 as _st
from backtestd._gen.backtest.v1 import strategy_service_pb2_grpc as _st_grpc
from backtestd._gen.backtest.v1 import sweep_service_pb2 as _sw
from backtestd._gen.backtest.v1 import sweep_service_pb2_grpc as _sw_grpc
from backtestd._gen.backtest.v1 import trace_service_pb2 as _tr
from backtestd._gen.backtest.v1 import trace_service_pb2_grpc as _tr_grpc

DEFAULT_ADDRESS = "127.0.0.1:50051"
DEFAULT_TOKEN_FILE = os.path.join("var", "admin.token")
FINAL_STATUSES = frozenset({"finished", "failed", "cancelled"})
_RETRYABLE = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.ABORTED})


class BacktestError(Exception):
    """An error answer of backtestd: ``code`` (a grpc.StatusCode) and the server's ``message``."""

    def __init__(self, code: grpc.StatusCode, message: str):
        super().__init__(f"{code.name}: {message}")
        self.code = code
        self.message = message

    @classmethod
    def from_rpc_error(cls, error: grpc.RpcError) -> "BacktestError":
        return cls(error.code(), error.details() or "")


@dataclasses.dataclass(frozen=True)
class Event:
    """One event of a job's stream.

    ``kind`` is ``log``, ``progress``, ``status`` or ``trace``; ``data`` is the matching message
    (LogLine, Progress, StatusChange, TraceBatch); ``raw`` the whole StreamJobLogResponse. With
    ``follow_log(batch_log_lines=True)`` consecutive log lines come as one event of kind
    ``log_batch`` (a LogLineBatch, its lines from ``seq`` on).
    """

    seq: int
    time: _dt.datetime
    kind: str
    data: Any
    raw: Any

    @classmethod
    def from_proto(cls, message: _bt.StreamJobLogResponse) -> "Event":
        kind = message.WhichOneof("event") or ""
        return cls(
            seq=message.seq,
            time=message.time.ToDatetime(tzinfo=_dt.timezone.utc),
            kind=kind,
            data=getattr(message, kind) if kind else None,
            raw=message,
        )


class Run:
    """A submitted backtest. ``job_id`` at once; iterate it for its events.

    Iterating follows the job to its end when the run was started with ``follow=True``, else it
    yields the events stored so far. ``status`` and ``error`` hold the last status seen.
    """

    def __init__(self, client: "Client", response: _bt.RunBacktestResponse, follow: bool,
                 include_trace: bool):
        self._client = client
        self._follow = follow
        self._include_trace = include_trace
        self.job_id: str = response.job_id
        self.job = response.job
        self.status: Optional[str] = response.job.status or None
        self.error: str = ""

    def __iter__(self) -> Iterator[Event]:
        until = None
        if not self._follow:
            job = self._client.get_job(self.job_id)
            if job.status not in FINAL_STATUSES:
                until = job.last_seq
        for event in self._client.follow_log(self.job_id, include_trace=self._include_trace,
                                             until_seq=until):
            if event.kind == "status":
                self.status, self.error = event.data.status, event.data.error
            yield event

    def wait(self) -> str:
        """Waits for the job to end (quietly) and returns its final status."""
        # The job's log lines (a line per trade) come batched: a few messages instead of hundreds.
        for event in self._client.follow_log(self.job_id, batch_log_lines=True):
            if event.kind == "status":
                self.status, self.error = event.data.status, event.data.error
        self.job = self._client.get_job(self.job_id)
        self.status, self.error = self.job.status, self.job.error
        return self.status

    def result(self, max_candles: int = 0):
        """The job's GetResultResponse (see Client.get_result)."""
        return self._client.get_result(self.job_id, max_candles=max_candles)

    def columns(self, max_candles: int = 0, **window) -> "ResultColumns":
        """The job's result with its candles, EMA and equity as columns (see Client.get_columns)."""
        return self._client.get_columns(self.job_id, max_candles=max_candles, **window)


def _doubles(column: bytes):
    """A packed column (little-endian IEEE 754 doubles) as a sequence of floats: a memoryview of
    the bytes (no copy) on little-endian machines, else a byte-swapped array('d')."""
    if sys.byteorder == "little":
        return memoryview(column).cast("d")
    values = array.array("d", column)
    values.byteswap()
    return values


def _integers(column):
    """A DecimalColumn's integers (base plus the running sum of the deltas) as numpy int64."""
    import numpy

    integers = numpy.frombuffer(column.deltas, dtype=f"<i{column.width}").astype(numpy.int64)
    numpy.cumsum(integers, out=integers)
    integers += int(column.base)
    return integers


def _decimals(column):
    """A DecimalColumn (GetResultRequest.decimal_columns) as a numpy array of floats: the
    integers divided by 10^decimals, which gives the per-point layout's doubles bit for bit
    (decoded natively: numpy's cumsum takes ~3x as long)."""
    from backtestd import _native

    return _native.decimal_values(column.deltas, column.width, column.base, column.decimals)


def _column(packed, name: str):
    """Column `name` of a PackedSeries, whichever way the server sent it."""
    if packed.HasField(name + "_decimal"):
        return _decimals(getattr(packed, name + "_decimal"))
    return _doubles(getattr(packed, name))


def _numbers(column) -> list:
    """A NumberColumn's values as floats, whichever way the server sent them."""
    if column.HasField("decimal"):
        return _decimals(column.decimal).tolist()
    return _doubles(column.doubles).tolist()


def _words(column) -> list:
    """A WordColumn's values as strings."""
    import numpy

    words = list(column.words)
    return [words[i] for i in numpy.frombuffer(column.indexes, dtype=f"<u{column.width}").tolist()]


class _PackedRows(collections.abc.Sequence):
    """Trades or markers that came as columns (GetResultRequest.packed_trades), as a sequence of
    the Trade or Marker messages the per-point answer carries (equal to them, field for field).
    A message asked for by index is built from the columns then (decoded on first use); reading
    them all builds them all at once natively (~1 ms for a 100k-bar run's 3,839 trades)."""

    def __init__(self, message, columns, fields, native, repeated):
        self._message, self._columns, self._fields = message, columns, fields
        self._native, self._repeated = native, repeated
        self._values = None
        first = getattr(columns, fields[0][1])  # a DecimalColumn
        self._length = len(first.deltas) // first.width if first.width else 0
        self._built = [None] * self._length

    def _decoded(self):
        if self._values is None:
            decode = {"int": lambda c: _integers(c).tolist(),
                      "time": lambda c: [float(t) for t in _integers(c).tolist()],
                      "number": _numbers, "word": _words}
            self._values = [(name, decode[kind](getattr(self._columns, column)))
                            for name, column, kind in self._fields]
        return self._values

    def __len__(self) -> int:
        return self._length

    def __iter__(self):
        if None in self._built:
            from backtestd import _native

            serialized = getattr(_native, self._native)(self._columns.SerializeToString())
            messages = getattr(_bt.GetResultResponse.FromString(serialized), self._repeated)
            self._built = [built if built is not None else m
                           for built, m in zip(self._built, messages)]
        return iter(self._built)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[k] for k in range(*i.indices(self._length))]
        if i < 0:
            i += self._length
        if not 0 <= i < self._length:
            raise IndexError("index out of range")
        if self._built[i] is None:
            self._built[i] = self._message(**{name: values[i] for name, values in self._decoded()})
        return self._built[i]

    def __eq__(self, other) -> bool:
        # As the repeated field it stands for: equal to a sequence of the same messages.
        if isinstance(other, (str, bytes)) or not hasattr(other, "__len__") or \
                not isinstance(other, collections.abc.Iterable):
            return NotImplemented
        return len(self) == len(other) and list(self) == list(other)

    __hash__ = None

    def __repr__(self) -> str:
        return f"<{self._length} {self._message.__name__} messages from columns>"


_TRADE_FIELDS = [
    ("id", "ids", "int"), ("symbol", "symbols", "word"), ("side", "sides", "word"),
    ("entry_time", "entry_times", "time"), ("entry_price", "entry_prices", "number"),
    ("exit_time", "exit_times", "time"), ("exit_price", "exit_prices", "number"),
    ("size", "sizes", "number"), ("stop", "stops", "number"), ("target", "targets", "number"),
    ("pnl", "pnls", "number"), ("return_pct", "return_pcts", "number"),
    ("exit_reason", "exit_reasons", "word"), ("bars_held", "bars_held", "int"),
    ("commission", "commissions", "number"), ("entry_bar", "entry_bars", "int"),
    ("exit_bar", "exit_bars", "int")]
_MARKER_FIELDS = [
    ("trade_id", "trade_ids", "int"), ("symbol", "symbols", "word"), ("time", "times", "time"),
    ("side", "sides", "word"), ("kind", "kinds", "word"), ("price", "prices", "number"),
    ("reason", "reasons", "word")]


@dataclasses.dataclass(frozen=True)
class ResultColumns:
    """A result whose candles, EMA and equity came as columns (GetResult's packed layout).

    Each column is a sequence of floats (``len``, indexing, iteration; ``numpy.frombuffer(col)``
    and ``array.array('d', col)`` take it without parsing a value at a time): a memoryview of the
    answer's doubles, or a numpy array for a column the server sent as decimals
    (``decimal_columns``). The values are the per-point layout's bit for bit. ``response`` is the
    GetResultResponse itself: zones, stats, ``total_candles``, ``first_candle``,
    ``candles_per_point``, ``total_trades``, ``digest``. ``trades`` and ``markers`` are the
    answer's Trade and Marker messages: ``response.trades`` and ``response.markers``, or, when
    they came as columns (``packed_trades``), a sequence of the same messages built from them.
    """

    response: Any
    time: Any
    open: Any
    high: Any
    low: Any
    close: Any
    volume: Any
    ema_time: Any
    ema_value: Any
    equity_time: Any
    equity_value: Any
    trades: Sequence[Any] = ()
    markers: Sequence[Any] = ()

    @classmethod
    def from_response(cls, response) -> "ResultColumns":
        p = response.packed
        trades = (_PackedRows(_result.Trade, p.trades, _TRADE_FIELDS, "trade_messages", "trades")
                  if p.HasField("trades") else response.trades)
        markers = (_PackedRows(_result.Marker, p.markers, _MARKER_FIELDS, "marker_messages",
                               "markers") if p.HasField("markers") else response.markers)
        return cls(response=response, time=_column(p, "times"), open=_column(p, "opens"),
                   high=_column(p, "highs"), low=_column(p, "lows"), close=_column(p, "closes"),
                   volume=_column(p, "volumes"), ema_time=_column(p, "ema_times"),
                   ema_value=_column(p, "ema_values"), equity_time=_column(p, "equity_times"),
                   equity_value=_column(p, "equity_values"), trades=trades, markers=markers)


def _to_value(value: Any) -> struct_pb2.Value:
    out = struct_pb2.Value()
    if value is None:
        out.null_value = struct_pb2.NULL_VALUE
    elif isinstance(value, bool):
        out.bool_value = value
    elif isinstance(value, (int, float)):
        out.number_value = value
    elif isinstance(value, (_dt.datetime, _dt.date)):
        out.string_value = value.isoformat()
    else:
        out.string_value = str(value)
    return out


def _from_value(value: struct_pb2.Value) -> Any:
    kind = value.WhichOneof("kind")
    if kind in (None, "null_value"):
        return None
    if kind in ("struct_value", "list_value"):
        return json_format.MessageToDict(value)
    return getattr(value, kind)


def values_to_dict(values) -> Dict[str, Any]:
    """A map<string, Value> field (Job.params, Preset.values) as a plain dict."""
    return {name: _from_value(value) for name, value in sorted(values.items())}


def to_dict(message) -> Dict[str, Any]:
    """Any message as a dict with the proto field names, numbers where the REST bridge writes
    numbers (times and durations as whole floats, counts and indexes as ints; docs/api.md)."""
    return json_format.MessageToDict(message, preserving_proto_field_name=True)


def _resolve_token(token: Optional[str], token_file: Optional[str]) -> str:
    token = token or os.environ.get("BACKTEST_TOKEN")
    if not token:
        path = token_file or DEFAULT_TOKEN_FILE
        try:
            with open(path, encoding="utf-8") as f:
                token = f.readline()
        except OSError as e:
            raise BacktestError(
                grpc.StatusCode.UNAUTHENTICATED,
                f"no token: pass token=, set BACKTEST_TOKEN, or give token_file= ({path}: {e})",
            ) from None
    token = token.strip()
    if token.startswith("Token "):
        token = token[len("Token "):].strip()
    return token


def _tls_credentials(tls: bool, ca: Optional[str], cert: Optional[str],
                     key: Optional[str]) -> Optional[grpc.ChannelCredentials]:
    """Channel credentials from PEM files (None: plaintext); the environment fills the gaps."""
    ca = ca or os.environ.get("BACKTEST_TLS_CA") or None
    cert = cert or os.environ.get("BACKTEST_TLS_CERT") or None
    key = key or os.environ.get("BACKTEST_TLS_KEY") or None
    if not (tls or ca or os.environ.get("BACKTEST_TLS") in ("1", "true")):
        return None
    if bool(cert) != bool(key):
        raise ValueError("tls_cert and tls_key go together")

    def read(path: Optional[str]) -> Optional[bytes]:
        return pathlib.Path(path).read_bytes() if path else None

    return grpc.ssl_channel_credentials(root_certificates=read(ca), private_key=read(key),
                                        certificate_chain=read(cert))


class Client:
    """A connection to backtestd.

    ``address`` defaults to $BACKTEST_SERVER or 127.0.0.1:50051; ``token`` to $BACKTEST_TOKEN,
    else the first line of ``token_file`` (default var/admin.token, which `make run` writes).
    ``timeout`` is the deadline of each unary call in seconds. Errors raise BacktestError.
    Use it as a context manager, or call close().

    TLS (docs/operations.md, "TLS"): ``tls=True`` checks the server against the system's CAs;
    ``tls_ca`` (a PEM file, default $BACKTEST_TLS_CA) against those CAs and implies TLS;
    ``tls_cert`` and ``tls_key`` (PEM files, default $BACKTEST_TLS_CERT and $BACKTEST_TLS_KEY)
    are the client certificate for mutual TLS.
    """

    def __init__(self, address: Optional[str] = None, token: Optional[str] = None, *,
                 token_file: Optional[str] = None, timeout: float = 30.0,
                 channel: Optional[grpc.Channel] = None, tls: bool = False,
                 tls_ca: Optional[str] = None, tls_cert: Optional[str] = None,
                 tls_key: Optional[str] = None):
        self.address = address or os.environ.get("BACKTEST_SERVER") or DEFAULT_ADDRESS
        self._metadata = (("authorization", "Token " + _resolve_token(token, token_file)),)
        self._timeout = timeout
        # A result with every candle of a long run is tens of MB.
        options = [("grpc.max_receive_message_length", -1), ("grpc.max_send_message_length", -1)]
        credentials = _tls_credentials(tls, tls_ca, tls_cert, tls_key)
        self._channel = channel or (
            grpc.secure_channel(self.address, credentials, options=options) if credentials
            else grpc.insecure_channel(self.address, options=options))
        self._backtest = _bt_grpc.BacktestServiceStub(self._channel)
        self._presets = _ps_grpc.PresetServiceStub(self._channel)
        self._trace = _tr_grpc.TraceServiceStub(self._channel)
        self._sweeps = _sw_grpc.SweepServiceStub(self._channel)
        self._strategies = _st_grpc.StrategyServiceStub(self._channel)

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _call(self, method, request):
        try:
            return method(request, metadata=self._metadata, timeout=self._timeout)
        except grpc.RpcError as e:
            raise BacktestError.from_rpc_error(e) from None

    # --- jobs ------------------------------------------------------------------------------

    def run_backtest(self, params: Optional[Mapping[str, Any]] = None,
                     preset: Optional[str] = None, follow: bool = True,
                     include_trace: bool = False) -> Run:
        """Submits a backtest and returns its Run: ``run.job_id`` at once, events by iterating.

        ``params`` maps parameter names (or the seed's aliases) to values; the server validates
        them (INVALID_ARGUMENT names a wrong one). ``preset`` starts from a saved preset.
        """
        request = _bt.RunBacktestRequest(preset=preset or "")
        for name, value in (params or {}).items():
            request.params[name].CopyFrom(_to_value(value))
        response = self._call(self._backtest.RunBacktest, request)
        return Run(self, response, follow=follow, include_trace=include_trace)

    def follow_log(self, job_id: str, from_seq: int = 1, include_trace: bool = False,
                   until_seq: Optional[int] = None,
                   reconnect_timeout: float = 120.0,
                   batch_log_lines: bool = False) -> Iterator[Event]:
        """Yields the job's events from ``from_seq`` until the job ends (or after ``until_seq``).

        After a dropped connection it reconnects with the last seq + 1 (backing off from 0.2 s to
        5 s, for up to ``reconnect_timeout`` seconds without progress): each event comes once.
        With ``batch_log_lines``, runs of consecutive log lines come as one ``log_batch`` event.
        """
        next_seq = max(from_seq, 1)
        backoff = 0.2
        last_progress = time.monotonic()
        ever_connected = False
        while True:
            request = _bt.StreamJobLogRequest(job_id=job_id, from_seq=next_seq,
                                              include_trace=include_trace,
                                              batch_log_lines=batch_log_lines)
            stream = self._backtest.StreamJobLog(request, metadata=self._metadata)
            got = False
            try:
                for message in stream:
                    got = True
                    # A batch's lines have the seqs from its own on.
                    last = message.seq + (len(message.log_batch.lines) - 1
                                          if message.HasField("log_batch") else 0)
                    if last < next_seq:
                        continue
                    next_seq = last + 1
                    yield Event.from_proto(message)
                    if until_seq is not None and last >= until_seq:
                        return
                return
            except grpc.RpcError as e:
                if e.code() not in _RETRYABLE or not (ever_connected or got):
                    raise BacktestError.from_rpc_error(e) from None
                if got:
                    ever_connected = True
                    last_progress = time.monotonic()
                    backoff = 0.2
                if time.monotonic() - last_progress > reconnect_timeout:
                    raise BacktestError.from_rpc_error(e) from None
                time.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
            finally:
                stream.cancel()

    def get_job(self, job_id: str) -> _job.Job:
        return self._call(self._backtest.GetJob, _bt.GetJobRequest(job_id=job_id)).job

    def list_jobs(self, status: str = "", limit: int = 50) -> List[_job.Job]:
        """The caller's jobs (all jobs for staff), newest first."""
        jobs: List[_job.Job] = []
        token = ""
        while len(jobs) < limit:
            page = self._call(self._backtest.ListJobs, _bt.ListJobsRequest(
                status=status, page_size=min(500, limit - len(jobs)), page_token=token))
            jobs.extend(page.jobs)
            token = page.next_page_token
            if not token:
                break
        return jobs

    def cancel(self, job_id: str) -> _job.Job:
        return self._call(self._backtest.CancelJob, _bt.CancelJobRequest(job_id=job_id)).job

    def get_result(self, job_id: str, max_candles: int = 0, symbol: str = "", *,
                   packed: bool = False, parts=(), from_time: float = 0, to_time: float = 0,
                   max_points: int = 0, trades_in_window: bool = False, trades_offset: int = 0,
                   trades_limit: int = 0, decimal_columns: bool = False,
                   packed_trades: bool = False):
        """The finished job's GetResultResponse: candles (the last ``max_candles``, 0 = all),
        ema, zones, markers, trades, equity, stats. FAILED_PRECONDITION before it finished.
        Times are UTC epoch seconds and durations seconds, both floats with whole values
        (``datetime.fromtimestamp(t, timezone.utc)``); counts and bar indexes are ints.

        The window is cut by the server: candles from ``from_time`` to ``to_time`` (epoch
        seconds, inclusive; 0: unbounded), the last ``max_candles`` of them, merged k at a time
        to at most ``max_points``; ``parts`` names what to answer with (candles, ema, equity,
        zones, markers, trades, stats; empty: all); ``trades_in_window`` keeps the symbol's
        trades and markers of the window, ``trades_offset``/``trades_limit`` page the trades.
        ``packed`` asks for candles, EMA and equity as columns (``response.packed``; see
        get_columns), ``decimal_columns`` for those of short decimals as DecimalColumns,
        ``packed_trades`` for the trades and markers as columns too (``response.packed.trades``
        and ``.markers``; ResultColumns rebuilds the messages)."""
        layout = _bt.RESULT_LAYOUT_PACKED if packed else _bt.RESULT_LAYOUT_POINTS
        return self._call(self._backtest.GetResult, _bt.GetResultRequest(
            job_id=job_id, max_candles=max_candles, symbol=symbol, layout=layout,
            parts=list(parts), from_time=from_time, to_time=to_time, max_points=max_points,
            trades_in_window=trades_in_window, trades_offset=trades_offset,
            trades_limit=trades_limit, decimal_columns=decimal_columns,
            packed_trades=packed_trades))

    def get_columns(self, job_id: str, max_candles: int = 0, symbol: str = "",
                    decimal_columns: bool = True, packed_trades: bool = True,
                    **window) -> ResultColumns:
        """The finished job's result in the packed layout: its candles, EMA and equity as
        columns of floats (ResultColumns), a fraction of the per-point answer's size and decoding
        time; times, prices and volumes that are short decimals come as such (a fraction of the
        bytes again) unless ``decimal_columns`` is false; the trades and markers come as columns
        too, ResultColumns' ``trades`` and ``markers`` (``response.trades`` and ``.markers`` are
        empty then), unless ``packed_trades`` is false. Takes get_result's window arguments."""
        return ResultColumns.from_response(self.get_result(
            job_id, max_candles=max_candles, symbol=symbol, packed=True,
            decimal_columns=decimal_columns, packed_trades=packed_trades, **window))

    def compare_runs(self, job_ids: Sequence[str], max_points: int = 0):
        """CompareRunsResponse for 2 to 8 finished jobs (docs/compare.md): ``jobs``, ``stats``
        (a row per statistic: ``values`` per job and ``differences`` from the first job),
        ``differing_params`` and ``equity``, the curves on one time axis (``times``; each curve's
        ``values`` start at ``times[first]``) of at most ``max_points`` times (0: 2,000).
        INVALID_ARGUMENT, NOT_FOUND or FAILED_PRECONDITION naming ``jobs[i]``."""
        return self._call(self._backtest.CompareRuns, _bt.CompareRunsRequest(
            jobs=list(job_ids), max_points=max_points))

    # --- sweeps (docs/sweeps.md) -------------------------------------------------------------

    def run_sweep(self, params: Optional[Mapping[str, Any]] = None,
                  ranges: Optional[Mapping[str, Any]] = None, *, preset: Optional[str] = None,
                  method: str = "grid", count: int = 0, seed: int = 0,
                  constraints: Sequence[str] = (), objective: str = "sharpe",
                  minimize: bool = False, walk_forward: Optional[Mapping[str, Any]] = None,
                  dry_run: bool = False):
        """Submits a sweep; the RunSweepResponse (``sweep_id``, ``combinations``, …).

        ``ranges`` maps each varied parameter to a list of values, or to a dict with ``start``,
        ``stop`` and ``step`` (or ``log=True`` and ``count``). ``walk_forward``: ``{"mode":
        "rolling" | "anchored", "train_bars": N, "test_bars": M}``. The sweep is a job: follow it
        with ``follow_log(sweep_id)``, cancel it with ``cancel(sweep_id)``.
        """
        request = _sw.RunSweepRequest(preset=preset or "", method=method, count=count, seed=seed,
                                      constraints=list(constraints), dry_run=dry_run)
        request.objective.stat = objective
        request.objective.minimize = minimize
        for name, value in (params or {}).items():
            request.params[name].CopyFrom(_to_value(value))
        for name, spec in (ranges or {}).items():
            r = request.ranges.add(name=name)
            if isinstance(spec, Mapping):
                for key in ("start", "stop", "step"):
                    if key in spec:
                        setattr(r, key, float(spec[key]))
                r.log = bool(spec.get("log", False))
                r.count = int(spec.get("count", 0))
            else:
                for v in spec:
                    r.values.add().CopyFrom(_to_value(v))
        if walk_forward:
            request.walk_forward.CopyFrom(_sw.WalkForwardSettings(**walk_forward))
        return self._call(self._sweeps.RunSweep, request)

    def get_sweep(self, sweep_id: str, buckets: int = 0):
        """The Sweep: its job, progress, best row, the objective's distribution, walk-forward."""
        return self._call(self._sweeps.GetSweep,
                          _sw.GetSweepRequest(sweep_id=sweep_id, buckets=buckets)).sweep

    def sweep_rows(self, sweep_id: str, order_by: str = "", descending: bool = False,
                   filter: str = "", limit: int = 100, objective_only: bool = False):
        """Every row matching ``filter`` (e.g. "trades >= 10"), sorted by ``order_by`` (default
        the objective, best first), paged through ``limit`` at a time: a list of SweepRow."""
        rows, token = [], ""
        while True:
            page = self._call(self._sweeps.ListSweepRows, _sw.ListSweepRowsRequest(
                sweep_id=sweep_id, order_by=order_by, descending=descending, filter=filter,
                page_size=limit, page_token=token, objective_only=objective_only))
            rows.extend(page.rows)
            token = page.next_page_token
            if not token:
                return rows

    def open_sweep_row(self, sweep_id: str, row: int) -> str:
        """The id of the normal job of a sweep's row (submitted the first time)."""
        return self._call(self._sweeps.OpenSweepRow,
                          _sw.OpenSweepRowRequest(sweep_id=sweep_id, row=row)).job_id

    def list_params(self, strategy: str = ""):
        """The parameter definitions (ParamDefinition messages), in form order."""
        return list(self._call(self._backtest.ListParams,
                               _bt.ListParamsRequest(strategy=strategy)).params)

    # --- strategies ------------------------------------------------------------------------

    def list_strategies(self):
        """Every strategy the server runs (Strategy messages): the built-ins, then its strategy
        folder's by name, those that cannot run included with their ``error``."""
        return list(self._call(self._strategies.ListStrategies,
                               _st.ListStrategiesRequest()).strategies)

    def get_strategy(self, name: str):
        """One strategy (a Strategy message: kind, parameters, source hash, ``error``)."""
        return self._call(self._strategies.GetStrategy, _st.GetStrategyRequest(name=name)).strategy

    # --- trace -----------------------------------------------------------------------------

    def explain(self, job_id: str, bar_index: Optional[int] = None, ts: Any = None,
                include: Optional[str] = None, symbol: str = ""):
        """ExplainResponse for one bar (``bar_index`` or ``ts``), or the whole run if neither."""
        request = _tr.ExplainRequest(job_id=job_id, include=include or "", symbol=symbol)
        if bar_index is not None:
            request.bar_index = bar_index
        if ts is not None:
            request.ts = ts.isoformat() if isinstance(ts, _dt.datetime) else str(ts)
        return self._call(self._trace.Explain, request)

    def query_trace(self, job_id: str, *, bar_index: Optional[int] = None, ts: Any = None,
                    section: str = "", kind: str = "", symbol: str = "", limit: int = 100,
                    offset: int = 0):
        """QueryTraceResponse: the trace rows matching the filters (``items``) and ``count``."""
        request = _tr.QueryTraceRequest(job_id=job_id, section=section, kind=kind, symbol=symbol,
                                        limit=limit, offset=offset)
        if bar_index is not None:
            request.bar_index = bar_index
        if ts is not None:
            request.ts = ts.isoformat() if isinstance(ts, _dt.datetime) else str(ts)
        return self._call(self._trace.QueryTrace, request)

    # --- presets ---------------------------------------------------------------------------

    def list_presets(self) -> List[str]:
        return list(self._call(self._presets.ListPresets, _ps.ListPresetsRequest()).names)

    def get_preset(self, name: str) -> Dict[str, Any]:
        """The preset's values as a plain dict. NOT_FOUND when there is none of that name."""
        preset = self._call(self._presets.GetPreset, _ps.GetPresetRequest(name=name)).preset
        return values_to_dict(preset.values)

    def save_preset(self, name: str, values: Mapping[str, Any]) -> bool:
        """Creates or replaces a preset; True when it is new."""
        request = _ps.UpsertPresetRequest(name=name)
        for key, value in values.items():
            request.values[key].CopyFrom(_to_value(value))
        return self._call(self._presets.UpsertPreset, request).created

    def delete_preset(self, name: str) -> None:
        self._call(self._presets.DeletePreset, _ps.DeletePresetRequest(name=name))
