"""Hundreds of malformed and hostile requests straight over gRPC, malformed CSV files behind a
file:// data source, and an http:// data server that misbehaves (tests/e2e/grpc_bad_input_e2e.sh).

Every bad request must fail with the documented status code and a message naming the field or
the problem; every job fed bad data must fail with an error naming the file (or URL) and line.
A canary job and preset made before the barrage must come through intact, the server must stay
up, and the database must hold no half-written rows. Prints one line per failure and the count.

Usage: grpc_bad_input.py ADDRESS TOKEN DB DATA_DIR [--timeout-flag]
"""
import http.server
import math
import os
import re
import socket
import socketserver
import sys
import threading
import time

import grpc
from google.protobuf import struct_pb2

from hostile_grpc import C, Sweep, bs, check_db, ps, set_value, sql, ts

ADDRESS, TOKEN, DB, DATA = sys.argv[1:5]
TIMEOUT_FLAG = "--timeout-flag" in sys.argv[5:]
s = Sweep(ADDRESS, TOKEN)
INV, NF, FP, RE = C.INVALID_ARGUMENT, C.NOT_FOUND, C.FAILED_PRECONDITION, C.RESOURCE_EXHAUSTED
WINDOW = {"timeframe": "H1", "start_date": "2022-01-03", "end_date": "2022-01-12"}


def run_request(params, preset=""):
    req = bs.RunBacktestRequest(preset=preset)
    for k, v in params.items():
        set_value(req.params[k], v)
    return req


def bad_run(name, params, mention, codes=INV, preset=""):
    s.expect(name, s.b.RunBacktest, run_request(params, preset), codes, mention)


# --- the canary: a finished job with its result, and a preset, before the barrage ----------------
canary_params = {"strategy": "sma_cross", "symbols": "EURUSD", **WINDOW}
canary = s.run(canary_params)
job = s.wait(canary)
if job.status != "finished":
    print(f"canary job did not finish: {job.status} {job.error}")
    sys.exit(1)
canary_result = s.call(s.b.GetResult, bs.GetResultRequest(job_id=canary))
canary_preset = s.call(s.p.UpsertPreset, ps.UpsertPresetRequest(name="canary", values={
    "rr": struct_pb2.Value(number_value=2.5), "symbols": struct_pb2.Value(string_value="GBPUSD")}))
jobs_before = {j.job_id for j in s.call(s.b.ListJobs, bs.ListJobsRequest(page_size=500)).jobs}
presets_before = list(s.call(s.p.ListPresets, ps.ListPresetsRequest()).names)

# --- RunBacktest: every parameter of the registry with the wrong kind of value ---------------------
defs = s.call(s.b.ListParams, bs.ListParamsRequest()).params
NUMERIC = {"int", "double"}
for d in defs:
    n = d.name
    bad_run(f"{n}=list", {n: [1, [2, 3]]}, n)
    bad_run(f"{n}=struct", {n: {"a": {"b": 1}}}, n)
    bad_run(f"{n}=3MB string", {n: "7" * (3 << 20)}, n)
    bad_run(f"{n}=NaN", {n: math.nan}, n)
    bad_run(f"{n}=inf", {n: math.inf}, n)
    if not d.optional:
        bad_run(f"{n}=null", {n: None}, n)
    if d.type in NUMERIC:
        bad_run(f"{n}=true", {n: True}, n)
        bad_run(f"{n}=-inf", {n: -math.inf}, n)
        bad_run(f"{n}='1e999'", {n: "1e999"}, n)
        bad_run(f"{n}=unicode digits", {n: "\u0661\u0662"}, n)
        bad_run(f"{n}=NUL", {n: "1\x00"}, n)
        if d.HasField("min"):
            bad_run(f"{n} below min", {n: d.min - (1 if d.type == "int" else 1e-9)}, n)
        if d.HasField("max"):
            bad_run(f"{n} above max", {n: d.max + 1}, n)
        if d.type == "int":
            bad_run(f"{n}=2.5", {n: 2.5}, n)
            bad_run(f"{n}=1e300", {n: 1e300}, n)
    elif d.type == "choice":
        bad_run(f"{n}=5", {n: 5}, n)
        bad_run(f"{n}=SQL", {n: "x'; DROP TABLE jobs; --"}, n)
        bad_run(f"{n}=fullwidth", {n: "\uff33\uff2d\uff21"}, n)
    elif d.type == "bool":
        bad_run(f"{n}=2", {n: 2}, n)
        bad_run(f"{n}=maybe", {n: "maybe"}, n)
    elif d.type == "datetime":
        # (-1e12 would be read as epoch milliseconds: 1938, a valid date.)
        for v in ["1800-01-01", "2500-01-01", "9999-12-31T23:59:59", "0000-01-01", -1e16, 1e15,
                  "2021-02-30", "2021-11-26T25:61", "2021-11-26T13:10:00+99:00", "yesterday"]:
            bad_run(f"{n}={v!r}", {n: v}, n)

for v in ["", "EUR/USD", "../../etc/passwd", "EURUSD\x00", "\u00c9UR\u00dcSD", "X" * 33,
          "EURUSD' OR '1'='1", ",".join(f"S{i}" for i in range(65)), "EURUSD,eurusd", "EUR USD"]:
    bad_run(f"symbols={v[:24]!r}", {"symbols": v}, "symbols")
for v in ["file:///../../etc", "file:///data/../../etc", "file:///tmp/..", "file:///tmp/..\x00x",
          "file:///etc/passwd\x00", "file://etc", "file:/etc", "ftp://x", "gopher://x",
          "http://a b", "http://x\r\nHost: evil", "http://", "javascript:alert(1)", "sample://x",
          "x" * 5000]:
    bad_run(f"data_source={v[:24]!r}", {"data_source": v}, "data_source")
bad_run("end_date before start_date", {"start_date": "2022-02-01", "end_date": "2022-01-01"},
        "end_date")
bad_run("fast >= slow", {"strategy": "sma_cross", "fast_period": 30, "slow_period": 10},
        "fast_period")
bad_run("rr and RR", {"rr": 2, "RR": 3}, "rr")
for key in ["", "no_such", "\u00f1\U0001f4a5", "rr\x00", "rr; DROP TABLE jobs", "../rr",
            "k" * 100000]:
    bad_run(f"param name {key[:20]!r}", {key: 1}, "unknown parameter")
bad_run("MODE=live", {"MODE": "live"}, "mode")
bad_run("10k unknown parameters", {f"p{i}": i for i in range(10000)}, "unknown parameter")
bad_run("unknown preset", {}, "preset", preset="nope")
for name in ["../../etc/passwd", "x\x00y", "\u00e9" * 100, "' OR 1=1 --", "p" * 100000]:
    bad_run(f"preset {name[:16]!r}", {}, "preset", preset=name)
# Near and over the 4 MB receive limit.
bad_run("3.9 MB symbols", {"symbols": "A" * 4_000_000}, "symbols")
bad_run("5 MB request", {"symbols": "A" * (5 << 20)}, "larger than max", codes=RE)
bad_run("60 MB request", {"symbols": "A" * (60 << 20)}, "larger than max", codes=RE)

# --- job ids: malformed, hostile, unknown → NOT_FOUND on every RPC that takes one ---------------
ids = ["", "1", "0" * 31, "0" * 33, canary.upper(), canary + "\x00", "\x00" * 32,
       "\u30b8\u30e7\u30d6" * 11, "' OR '1'='1' --", "../../../etc/passwd", "%2e%2e%2f",
       "0123456789abcdef0123456789abcdeg", "f" * 32, "a" * (1 << 20)]
for job_id in ids:
    label = repr(job_id[:20])
    s.expect(f"GetJob {label}", s.b.GetJob, bs.GetJobRequest(job_id=job_id), NF, "not found")
    s.expect(f"CancelJob {label}", s.b.CancelJob, bs.CancelJobRequest(job_id=job_id), NF,
             "not found")
    s.expect(f"GetResult {label}", s.b.GetResult, bs.GetResultRequest(job_id=job_id), NF,
             "not found")
    s.expect(f"StreamJobLog {label}", s.b.StreamJobLog, bs.StreamJobLogRequest(job_id=job_id),
             NF, "not found")
    s.expect(f"QueryTrace {label}", s.t.QueryTrace, ts.QueryTraceRequest(job_id=job_id), NF,
             "not found")
    s.expect(f"Explain {label}", s.t.Explain, ts.ExplainRequest(job_id=job_id), NF, "not found")

# --- ListJobs, GetResult, StreamJobLog, CancelJob: fields out of range ----------------------------
for size in [-1, -(2 ** 31), 501, 2 ** 31 - 1]:
    s.expect(f"ListJobs page_size={size}", s.b.ListJobs, bs.ListJobsRequest(page_size=size), INV,
             "page_size")
for status in ["exploded", "FINISHED", "finished' OR 1=1 --", "\u00e9t\u00e9", "x" * 100000,
               "queued\x00"]:
    s.expect(f"ListJobs status={status[:16]!r}", s.b.ListJobs, bs.ListJobsRequest(status=status),
             INV, "status")
for token in ["garbage", "1.2.3", "1", ".", "1.", "a.b", "1.2' OR 1=1", "9" * 40 + ".1",
              "\u0661.\u0662", "x" * 100000, "1\x00.2"]:
    s.expect(f"ListJobs page_token={token[:16]!r}", s.b.ListJobs,
             bs.ListJobsRequest(page_token=token), INV, "page_token")
for mc in [-1, -(2 ** 31)]:
    s.expect(f"GetResult max_candles={mc}", s.b.GetResult,
             bs.GetResultRequest(job_id=canary, max_candles=mc), INV, "max_candles")
for sym in ["NOPE", "EURUSD\x00", "' OR 1=1", "\u00e9" * 100]:
    s.expect(f"GetResult symbol={sym[:12]!r}", s.b.GetResult,
             bs.GetResultRequest(job_id=canary, symbol=sym), INV, "symbol")
for seq in [-1, -(2 ** 31)]:
    s.expect(f"StreamJobLog from_seq={seq}", s.b.StreamJobLog,
             bs.StreamJobLogRequest(job_id=canary, from_seq=seq), INV, "from_seq")
s.expect("CancelJob on a finished job", s.b.CancelJob, bs.CancelJobRequest(job_id=canary), FP,
         "already ended")
for strategy in ["martingale", "SMA_CROSS; --", "\x00", "s" * 100000]:
    s.expect(f"ListParams strategy={strategy[:12]!r}", s.b.ListParams,
             bs.ListParamsRequest(strategy=strategy), INV, "strategy")

# --- QueryTrace and Explain: filters with SQL fragments, times and numbers out of range -----------
for field, value in [("section", "x' OR 1=1 --"), ("section", "indicators; DROP TABLE jobs"),
                     ("section", "INDICATORS"), ("kind", "value' --"), ("kind", "\u00e9v\u00e9nt"),
                     ("symbol", "EURUSD' OR '1'='1"), ("symbol", "X" * 33), ("symbol", "EUR/USD"),
                     ("symbol", "\x00"), ("ts", "yesterday"), ("ts", "99999999999999"),
                     ("ts", "1800-01-01"), ("ts", "2500-01-01"), ("ts", "2022-13-45"),
                     ("ts", "1' OR '1'='1"), ("limit", -1), ("limit", 1001), ("limit", 2 ** 31 - 1),
                     ("limit", -(2 ** 31)), ("offset", -1), ("offset", -(2 ** 31)),
                     ("bar_index", -1), ("bar_index", -(2 ** 31))]:
    s.expect(f"QueryTrace {field}={str(value)[:16]!r}", s.t.QueryTrace,
             ts.QueryTraceRequest(job_id=canary, **{field: value}), INV, field)
for field, value, code in [("bar_index", -1, INV), ("bar_index", 2 ** 31 - 1, C.OUT_OF_RANGE),
                           ("bar_index", 10 ** 9, C.OUT_OF_RANGE), ("ts", "not a time", INV),
                           ("ts", "-99999999999", INV), ("include", "indicators,bogus", INV),
                           ("include", "signal' OR 1=1", INV), ("include", "x" * 100000, INV),
                           ("symbol", "' OR 1=1", INV)]:
    s.expect(f"Explain {field}={str(value)[:16]!r}", s.t.Explain,
             ts.ExplainRequest(job_id=canary, **{field: value}), code, field)
s.expect("Explain a symbol not in the run", s.t.Explain,
         ts.ExplainRequest(job_id=canary, bar_index=40, symbol="GBPUSD"), INV, "symbol")
s.expect("Explain bar_index and ts", s.t.Explain,
         ts.ExplainRequest(job_id=canary, bar_index=1, ts="2022-01-03"), INV, "bar_index")

# --- presets: names that could be paths or SQL, values of the wrong kind --------------------------
names = ["", " ", " lead", "trail ", "../../etc/passwd", "a/b", "../x", ".\x00", "x" * 65,
         "tab\there", "nl\nhere", "\u00e9t\u00e9", "\U0001f4a5", "x'; DROP TABLE presets; --",
         "<script>", "%2e%2e", "a\\b", "n" * 100000]
for name in names:
    label = repr(name[:16])
    s.expect(f"UpsertPreset name {label}", s.p.UpsertPreset,
             ps.UpsertPresetRequest(name=name, values={"rr": struct_pb2.Value(number_value=2)}),
             INV, "name")
    s.expect(f"GetPreset name {label}", s.p.GetPreset, ps.GetPresetRequest(name=name), INV, "name")
    s.expect(f"DeletePreset name {label}", s.p.DeletePreset, ps.DeletePresetRequest(name=name),
             INV, "name")
for label, values, mention in [
        ("rr=-1", {"rr": -1}, "rr"), ("rr=NaN", {"rr": math.nan}, "rr"),
        ("rr=list", {"rr": [1]}, "rr"), ("rr=struct", {"rr": {"a": 1}}, "rr"),
        ("rr=true", {"rr": True}, "rr"), ("unknown", {"bogus": 1}, "bogus"),
        ("ema_length=x", {"ema_length": "x"}, "ema_length"),
        ("symbols traversal", {"symbols": "../x"}, "symbols"),
        ("data_source traversal", {"data_source": "file:///a/../../etc"}, "data_source"),
        ("start_date 1800", {"start_date": "1800-01-01"}, "start_date"),
        ("2 MB value", {"symbols": "S" * (2 << 20)}, "symbols")]:
    req = ps.UpsertPresetRequest(name="hostile")
    for k, v in values.items():
        set_value(req.values[k], v)
    s.expect(f"UpsertPreset values {label}", s.p.UpsertPreset, req, INV, mention)
s.expect("UpsertPreset 5 MB", s.p.UpsertPreset,
         ps.UpsertPresetRequest(name="big", values={"symbols": struct_pb2.Value(
             string_value="S" * (5 << 20))}), RE, "larger than max")
for name in ["nope", "canary2", "CANARY"]:
    s.expect(f"GetPreset unknown {name}", s.p.GetPreset, ps.GetPresetRequest(name=name), NF, name)
    s.expect(f"DeletePreset unknown {name}", s.p.DeletePreset, ps.DeletePresetRequest(name=name),
             NF, name)

# --- metadata: oversized and odd headers ------------------------------------------------------------
# Past the server's 64 KB of metadata the call is refused and the server closes that connection,
# so each of these gets a channel of its own.
md = s.md()
for label, extra in [("one 100 KB header", [("x-junk", "j" * 100_000)]),
                     ("2000 headers", [(f"x-h{i}", "v" * 40) for i in range(2000)]),
                     ("100 KB authorization", [("authorization", "Token " + "t" * 100_000)])]:
    # The refusal races the connection's close: the client sees RESOURCE_EXHAUSTED naming the
    # metadata limit, or (gRPC core's doing) the closed socket.
    own = grpc.insecure_channel(ADDRESS)
    try:
        own.unary_unary("/backtest.v1.BacktestService/ListJobs")(b"", metadata=md + extra,
                                                                 timeout=10)
        s.bad(f"metadata {label}", "accepted")
    except grpc.RpcError as e:
        s.check(f"metadata {label}", (e.code() == RE and "metadata size exceeds limit" in
                                      e.details()) or e.code() == C.UNAVAILABLE,
                f"{e.code().name}: {e.details()}")
    own.close()
s.expect("authorization 50 KB", s.b.ListJobs, bs.ListJobsRequest(), C.UNAUTHENTICATED, "token",
         metadata=[("authorization", "Token " + "t" * 50_000)])
s.expect("authorization twice (wrong first)", s.b.ListJobs, bs.ListJobsRequest(),
         C.UNAUTHENTICATED, "token", metadata=[("authorization", "Token nope")] + md)
s.expect("authorization binary", s.b.ListJobs, bs.ListJobsRequest(), C.UNAUTHENTICATED,
         "authorization", metadata=[("authorization-bin", b"\x00\xff")])

# --- bytes that are no protobuf: refused, the server stays up --------------------------------------
# gRPC 1.51's server answers an unparsable request with UNIMPLEMENTED and no message; the check is
# that it is refused and nothing else happens (the count of these is printed separately).
raw_cases = 0
for path in ["/backtest.v1.BacktestService/GetJob", "/backtest.v1.BacktestService/RunBacktest",
             "/backtest.v1.PresetService/UpsertPreset", "/backtest.v1.TraceService/QueryTrace"]:
    method = s.channel.unary_unary(path, request_serializer=lambda x: x,
                                   response_deserializer=lambda x: x)
    for label, data in [("garbage", b"\xff" * 16), ("invalid UTF-8", b"\x0a\x04\xff\xfe\xfd\xfc"),
                        ("truncated", b"\x0a\x10ab"), ("bad varint", b"\x10" + b"\xff" * 11)]:
        raw_cases += 1
        try:
            method(data, metadata=s.md(), timeout=10)
            s.bad(f"{path} {label}", "accepted")
        except grpc.RpcError as e:
            s.check(f"{path} {label}", e.code() in (C.UNIMPLEMENTED, INV, C.INTERNAL),
                    f"{e.code().name}")
try:  # the code is the message here: gRPC sends no text with it
    s.channel.unary_unary("/backtest.v1.BacktestService/DropTables",
                          request_serializer=lambda x: x,
                          response_deserializer=lambda x: x)(b"", metadata=s.md(), timeout=10)
    s.bad("unknown method", "accepted")
except grpc.RpcError as e:
    s.check("unknown method", e.code() == C.UNIMPLEMENTED, e.code().name)
grpc_cases = s.passed + s.failed

# --- malformed CSV files behind file:// -------------------------------------------------------------
t0 = 1641171600  # 2022-01-03T01:00:00Z, a Monday


def rows(n=60, start=t0, eol="\n"):
    out = []
    for i in range(n):
        p = 1.1 + 0.001 * (i % 7)
        out.append(f"{start + 3600 * i},{p:.4f},{p + 0.002:.4f},{p - 0.002:.4f},{p + 0.001:.4f},10")
    return eol.join(out) + eol


header = "time,open,high,low,close,volume\n"
good = rows()
lines = good.splitlines(keepends=True)


def with_line(n, text):
    """The good file with its (1-based, after the header) data line n replaced."""
    body = lines[:]
    body[n - 1] = text
    return header + "".join(body)


csv_cases = [  # (symbol, content, wanted line or None, words the error must contain)
    ("BADNUM", with_line(3, f"{t0 + 7200},abc,1.2,1.0,1.1,10\n"), 4, "bad number"),
    ("HIGHLOW", with_line(5, f"{t0 + 4 * 3600},1.1,1.0,1.2,1.1,10\n"), 6, "high"),
    ("DUPTIME", with_line(7, f"{t0 + 5 * 3600},1.1,1.2,1.0,1.1,10\n"), 8, "not after"),
    ("BACKTIME", with_line(9, f"{t0},1.1,1.2,1.0,1.1,10\n"), 10, "not after"),
    ("NANCLOSE", with_line(2, f"{t0 + 3600},1.1,1.2,1.0,nan,10\n"), 3, "close"),
    ("INFHIGH", with_line(2, f"{t0 + 3600},1.1,inf,1.0,1.1,10\n"), 3, "high"),
    ("NEGINF", with_line(4, f"{t0 + 3 * 3600},-inf,1.2,1.0,1.1,10\n"), 5, "open"),
    ("OPENOUT", with_line(4, f"{t0 + 3 * 3600},2.5,1.2,1.0,1.1,10\n"), 5, "open"),
    ("NEGVOL", with_line(4, f"{t0 + 3 * 3600},1.1,1.2,1.0,1.1,-5\n"), 5, "volume"),
    ("FEWCOLS", with_line(6, f"{t0 + 5 * 3600},1.1,1.2\n"), 7, "columns"),
    ("MANYCOLS", with_line(6, ",".join(["1"] * 40) + "\n"), 7, "columns"),
    ("BADTIME", with_line(3, "yesterday,1.1,1.2,1.0,1.1,10\n"), 4, "time"),
    ("NULBYTE", with_line(3, f"{t0 + 7200},1.1\x00,1.2,1.0,1.1,10\n"), 4, "bad number"),
    ("HUGELINE", with_line(5, f"{t0 + 4 * 3600}," + "9" * (8 << 20) + "\n"), 6, "columns"),
    ("HUGENUM", with_line(5, f"{t0 + 4 * 3600},1.1,{'9' * 400},1.0,1.1,10\n"), 6, "high"),
    ("BOMBAD", "\ufeff" + with_line(3, f"{t0 + 7200},x,1.2,1.0,1.1,10\n"), 4, "bad number"),
    ("CRLFBAD", (header + "".join(lines[:9]) + f"{t0 + 9 * 3600},1.1,1.0,1.2,1.1,10\n"
                 ).replace("\n", "\r\n"), 11, "high"),
    ("NOHEADCOL", "when,open,high,low,close\n" + good, 1, "no time column"),
    ("GARBAGE", bytes(range(256)).decode("latin-1") * 40, 1, "column"),
    ("ONLYHEAD", header, None, "no H1 bars"),
    ("EMPTY", "", None, "no H1 bars"),
]
binary = {"GARBAGE"}
for symbol, content, _, _ in csv_cases:
    path = os.path.join(DATA, f"{symbol}_H1.csv")
    with open(path, "wb") as f:
        f.write(content.encode("latin-1" if symbol in binary else "utf-8"))
os.mkdir(os.path.join(DATA, "ISDIR_H1.csv"))  # a directory where a file should be
os.mkfifo(os.path.join(DATA, "FIFO_H1.csv"))  # a pipe nobody writes: opening it would block
with open(os.path.join(DATA, "BOMOK_H1.csv"), "wb") as f:  # the positive controls
    f.write(("\ufeff" + header + good).encode())
with open(os.path.join(DATA, "CRLFOK_H1.csv"), "wb") as f:
    f.write((header + rows(eol="\r\n")).encode())

source = "file://" + os.path.abspath(DATA)
submitted = {}
for symbol, _, line, words in csv_cases + [("ISDIR", "", None, "regular file"), ("FIFO", "", None, "regular file"),
                                           ("MISSING", "", None, "no data")]:
    params = {"strategy": "sma_cross", "symbols": symbol, "data_source": source,
              "fast_period": 2, "slow_period": 3, **WINDOW}
    submitted[symbol] = (s.run(params), line, words)
ok_jobs = {sym: s.run({"strategy": "sma_cross", "symbols": sym, "data_source": source,
                       "fast_period": 2, "slow_period": 3, **WINDOW})
           for sym in ["BOMOK", "CRLFOK"]}
for symbol, (job_id, line, words) in submitted.items():
    job = s.wait(job_id)
    name = f"CSV {symbol}"
    if job.status != "failed":
        s.bad(name, f"job {job.status}, wanted failed")
        continue
    where = f"{symbol}_H1.csv" + (f":{line}:" if line else "")
    if symbol == "MISSING":
        where = "MISSING.csv"
    if symbol in ("ONLYHEAD", "EMPTY"):  # no malformed line: the symbol has no bars
        where = f"{symbol}: "
    if where not in job.error or words.lower() not in job.error.lower():
        s.bad(name, f"error {job.error[:200]!r} does not name {where!r} and {words!r}")
    else:
        s.ok()
        print(f"ok   {name}: {job.error.replace(DATA, 'DIR')[:150]}")
for symbol, job_id in ok_jobs.items():
    job = s.wait(job_id)
    s.check(f"CSV {symbol} (well-formed) runs", job.status == "finished",
            f"{job.status}: {job.error}")
csv_total = len(submitted) + len(ok_jobs)


# --- an http:// data server that misbehaves --------------------------------------------------------
class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):  # noqa: N802 - the http.server API
        kind = self.path.split("/")[1]
        try:
            if kind == "garbage":
                body = os.urandom(2000) + b"\n" + os.urandom(2000)
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            elif kind == "badrow":
                body = (header + "".join(lines[:4]) + "1,2,3\n").encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            elif kind == "shortbody":  # promises 100000 bytes, sends 200, hangs up
                self.send_response(200)
                self.send_header("Content-Length", "100000")
                self.end_headers()
                self.wfile.write((header + lines[0] + lines[1]).encode()[:200])
                self.close_connection = True
            elif kind == "status500":
                self.send_error(500, "boom")
            elif kind == "huge":  # an endless body: the runner must give up, not swell forever
                self.send_response(200)
                self.end_headers()
                chunk = (lines[0] * (1 << 14)).encode()
                while True:
                    self.wfile.write(chunk)
            elif kind == "stall":  # headers, then nothing
                self.send_response(200)
                self.send_header("Content-Length", "100000")
                self.end_headers()
                self.wfile.flush()
                STALLED.set()
                STOP.wait(120)
            elif kind == "silent":  # accepts, never answers
                STOP.wait(120)
            else:
                self.send_error(404)
        except (BrokenPipeError, ConnectionResetError):
            pass


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True


STOP = threading.Event()
STALLED = threading.Event()  # a fetch is waiting on /stall
httpd = Server(("127.0.0.1", 0), Handler)
threading.Thread(target=httpd.serve_forever, daemon=True).start()
base = f"http://127.0.0.1:{httpd.server_address[1]}"
refused = socket.socket()
refused.bind(("127.0.0.1", 0))
refused_url = f"http://127.0.0.1:{refused.getsockname()[1]}"  # bound, not listening
refused.close()

url_cases = [("garbage", f"{base}/garbage", "/garbage/ohlc?"),
             ("bad row", f"{base}/badrow", "/badrow/ohlc?"),
             ("short body", f"{base}/shortbody", "/shortbody/ohlc?"),
             ("HTTP 500", f"{base}/status500", "HTTP 500"),
             ("connection refused", refused_url, refused_url),
             ("endless body", f"{base}/huge", "")]
if TIMEOUT_FLAG:
    url_cases += [("stalled body", f"{base}/stall", "timed out"),
                  ("silent server", f"{base}/silent", "timed out")]
# Whatever the fetch timeout, a stalled fetch can be cancelled at once.
stalled = s.run({"strategy": "sma_cross", "symbols": "EURUSD", "data_source": f"{base}/stall",
                 **WINDOW})
s.check("data URL stalled: the runner fetches", STALLED.wait(30), "no request came")
started = time.monotonic()
s.call(s.b.CancelJob, bs.CancelJobRequest(job_id=stalled))
job = s.wait(stalled, timeout=30)
s.check("data URL stalled: cancel ends it", job.status == "cancelled",
        f"{job.status} after {time.monotonic() - started:.1f}s")
print(f"note data URL stalled: cancelled {time.monotonic() - started:.2f} s after CancelJob",
      flush=True)
url_jobs = {label: (s.run({"strategy": "sma_cross", "symbols": "EURUSD", "data_source": url,
                           "fast_period": 2, "slow_period": 3, **WINDOW}), words)
            for label, url, words in url_cases}
for label, (job_id, words) in url_jobs.items():
    job = s.wait(job_id, timeout=90)
    name = f"data URL {label}"
    if job.status != "failed":
        s.bad(name, f"job {job.status}, wanted failed")
    elif words and words.lower() not in job.error.lower():
        s.bad(name, f"error {job.error[:200]!r} does not name {words!r}")
    # Random bytes can open with blank lines, so the garbage header may sit on any line.
    elif label == "garbage" and not re.search(r"\?[^/]*:\d+: ", job.error):
        s.bad(name, f"error {job.error[:200]!r} names no line")
    elif label == "bad row" and ":6: " not in job.error:
        s.bad(name, f"error {job.error[:200]!r} does not name line 6")
    elif label == "endless body" and "larger than" not in job.error and "memory" not in job.error:
        s.bad(name, f"error {job.error[:200]!r} names neither the size cap nor the memory limit")
    else:
        s.ok()
        print(f"ok   {name}: {job.error.replace(base, 'URL')[:150]}")
STOP.set()
url_total = len(url_jobs) + 1

# --- afterwards: the server is up, the canary is intact, nothing was stored by the barrage ----------
after = s.call(s.b.GetResult, bs.GetResultRequest(job_id=canary))
s.check("canary result intact", after.digest == canary_result.digest and
        after.SerializeToString(deterministic=True) ==
        canary_result.SerializeToString(deterministic=True), "the result changed")
job = s.call(s.b.GetJob, bs.GetJobRequest(job_id=canary)).job
s.check("canary job still finished", job.status == "finished", job.status)
preset = s.call(s.p.GetPreset, ps.GetPresetRequest(name="canary")).preset
s.check("canary preset intact", preset == canary_preset.preset, str(preset))
expected_jobs = jobs_before | {j for j, _, _ in submitted.values()} | set(ok_jobs.values()) | \
    {j for j, _ in url_jobs.values()} | {stalled}
jobs_after = {j.job_id for j in s.call(s.b.ListJobs, bs.ListJobsRequest(page_size=500)).jobs}
s.check("no job made by the barrage", jobs_after == expected_jobs,
        f"unexpected {sorted(jobs_after - expected_jobs)[:3]}, lost "
        f"{sorted(expected_jobs - jobs_after)[:3]}")
presets_after = list(s.call(s.p.ListPresets, ps.ListPresetsRequest()).names)
s.check("no preset made by the barrage", presets_after == presets_before, str(presets_after))
rows_db = sql(DB, "SELECT count(*) FROM jobs")[0][0]
s.check("the jobs table holds exactly the expected jobs", int(rows_db) == len(expected_jobs),
        f"{rows_db} rows, {len(expected_jobs)} expected")
check_db(s, DB)

print(f"gRPC requests: {grpc_cases} (of which {raw_cases} unparsable byte strings); CSV files: "
      f"{csv_total}; data URLs: {url_total}")
sys.exit(s.report("grpc bad input"))
