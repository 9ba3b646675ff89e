"""Shared by the gRPC bad-input and security sweeps (grpc_bad_input.py, security.py).

A Sweep holds the stubs of the three services and counts cases: each case is one request that
must fail with a given status code and a message naming the problem (or, for the few positive
controls, succeed). check_db() reads the database with the sqlite3 command-line tool and reports
every half-written or orphaned row.
"""
import subprocess
import time

import grpc

from backtestd._gen.backtest.v1 import (backtest_service_pb2 as bs,
                                        backtest_service_pb2_grpc as bsg,
                                        preset_service_pb2 as ps, preset_service_pb2_grpc as psg,
                                        trace_service_pb2 as ts, trace_service_pb2_grpc as tsg)

C = grpc.StatusCode
FINAL = ("finished", "failed", "cancelled")


class Sweep:
    def __init__(self, address, token, max_send=64 << 20):
        # The client may send far more than the server's 4 MB receive limit: the server refuses.
        self.channel = grpc.insecure_channel(address, options=[
            ("grpc.max_send_message_length", max_send),
            ("grpc.max_receive_message_length", 64 << 20)])
        self.token = token
        self.b = bsg.BacktestServiceStub(self.channel)
        self.p = psg.PresetServiceStub(self.channel)
        self.t = tsg.TraceServiceStub(self.channel)
        self.passed = 0
        self.failed = 0

    def md(self, token=None):
        return [("authorization", f"Token {token or self.token}")]

    def call(self, method, request, token=None, metadata=None, timeout=30):
        """Calls a unary or server-streaming RPC (the stream is drained)."""
        md = self.md(token) if metadata is None else metadata
        result = method(request, metadata=md, timeout=timeout)
        if hasattr(result, "__iter__") and not hasattr(result, "SerializeToString"):
            return list(result)
        return result

    def ok(self):
        self.passed += 1

    def bad(self, name, problem):
        self.failed += 1
        print(f"FAIL {name}: {problem}", flush=True)

    def expect(self, name, method, request, codes, mention=None, token=None, metadata=None):
        """The call fails with one of `codes` and a message that names `mention`."""
        if isinstance(codes, grpc.StatusCode):
            codes = {codes}
        try:
            reply = self.call(method, request, token=token, metadata=metadata)
        except grpc.RpcError as e:
            details = e.details() or ""
            if e.code() not in codes:
                return self.bad(name, f"{e.code().name} ({details[:120]!r}), wanted "
                                      f"{sorted(c.name for c in codes)}")
            if not details:
                return self.bad(name, f"{e.code().name} with an empty message")
            if mention and mention.lower() not in details.lower():
                return self.bad(name, f"message {details[:160]!r} does not name {mention!r}")
            return self.ok()
        except Exception as e:  # noqa: BLE001 - a client-side crash is a failure too
            return self.bad(name, repr(e)[:200])
        return self.bad(name, f"succeeded: {str(reply)[:120]!r}")

    def expect_ok(self, name, method, request, token=None):
        try:
            reply = self.call(method, request, token=token)
        except grpc.RpcError as e:
            self.bad(name, f"{e.code().name}: {e.details()!r}")
            return None
        self.ok()
        return reply

    def check(self, name, condition, problem=""):
        if condition:
            self.ok()
        else:
            self.bad(name, problem or "condition false")

    def run(self, params, token=None, preset=""):
        req = bs.RunBacktestRequest(preset=preset)
        for k, v in params.items():
            set_value(req.params[k], v)
        return self.call(self.b.RunBacktest, req, token=token).job_id

    def wait(self, job_id, token=None, timeout=60):
        deadline = time.monotonic() + timeout
        while True:
            job = self.call(self.b.GetJob, bs.GetJobRequest(job_id=job_id), token=token).job
            if job.status in FINAL or time.monotonic() > deadline:
                return job
            time.sleep(0.05)

    def report(self, label):
        print(f"{label}: {self.passed + self.failed} cases, {self.passed} passed", flush=True)
        return 1 if self.failed else 0


def set_value(value, v):
    """Sets a google.protobuf.Value from a Python value (lists and dicts nest)."""
    if v is None:
        value.null_value = 0
    elif isinstance(v, bool):
        value.bool_value = v
    elif isinstance(v, (int, float)):
        value.number_value = v
    elif isinstance(v, str):
        value.string_value = v
    elif isinstance(v, (list, tuple)):
        value.list_value.SetInParent()
        for item in v:
            set_value(value.list_value.values.add(), item)
    elif isinstance(v, dict):
        value.struct_value.SetInParent()
        for k, item in v.items():
            set_value(value.struct_value.fields[k], item)
    else:
        raise TypeError(type(v))


def sql(db, query):
    """Rows of `query` (tab-separated fields) from the sqlite3 command-line tool, read-only."""
    out = subprocess.run(["sqlite3", "-readonly", "-separator", "\t", f"file:{db}?mode=ro", query],
                         check=True, capture_output=True, text=True, timeout=60).stdout
    return [line.split("\t") for line in out.splitlines()]


def check_db(sweep, db):
    """No half-written or orphaned rows: every job that ended has its end recorded, finished jobs
    and only they have a result, failed jobs say why, the event log is complete, nothing points
    at a job or user that does not exist, and SQLite's own checks pass."""
    checks = {
        "integrity_check": ("PRAGMA integrity_check", [["ok"]]),
        "foreign_key_check": ("PRAGMA foreign_key_check", []),
        "finished jobs without a result": (
            "SELECT id FROM jobs WHERE status='finished' AND id NOT IN (SELECT job_id FROM results)",
            []),
        "results of jobs that did not finish": (
            "SELECT job_id FROM results WHERE job_id NOT IN "
            "(SELECT id FROM jobs WHERE status='finished')", []),
        "failed jobs without an error": (
            "SELECT id FROM jobs WHERE status='failed' AND error=''", []),
        "ended jobs without finished_ms": (
            "SELECT id FROM jobs WHERE status IN ('finished','failed','cancelled') "
            "AND finished_ms IS NULL", []),
        "jobs whose last_seq is not their last event": (
            "SELECT j.id FROM jobs j WHERE j.last_seq != "
            "(SELECT coalesce(max(seq + event_count - 1), 0) FROM job_events e "
            "WHERE e.job_id = j.id)", []),
        "gaps in job event sequences": (
            "SELECT job_id FROM job_events GROUP BY job_id "
            "HAVING sum(event_count) != max(seq + event_count) - min(seq)",
            []),
        "orphaned rows": (
            "SELECT 'events', job_id FROM job_events WHERE job_id NOT IN (SELECT id FROM jobs) "
            "UNION ALL SELECT 'reasons', job_id FROM run_reasons WHERE job_id NOT IN "
            "(SELECT id FROM jobs) UNION ALL SELECT 'chunks', job_id FROM trace_chunks WHERE "
            "job_id NOT IN (SELECT id FROM jobs) UNION ALL SELECT 'presets', name FROM presets "
            "WHERE owner_id NOT IN (SELECT id FROM users)", []),
        "preset values that are not a JSON object of strings": (
            "SELECT name FROM presets WHERE json_valid(values_json) = 0 OR "
            "json_type(values_json) != 'object'", []),
    }
    for name, (query, want) in checks.items():
        try:
            rows = sql(db, query)
        except subprocess.CalledProcessError as e:
            sweep.bad(f"db: {name}", e.stderr.strip())
            continue
        sweep.check(f"db: {name}", rows == want, f"{rows[:5]}")


def stub_methods(sweep):
    """Every RPC of backtest.v1 with a harmless request: (name, method, request)."""
    job = "0" * 32
    return [
        ("RunBacktest", sweep.b.RunBacktest, bs.RunBacktestRequest()),
        ("GetJob", sweep.b.GetJob, bs.GetJobRequest(job_id=job)),
        ("ListJobs", sweep.b.ListJobs, bs.ListJobsRequest()),
        ("CancelJob", sweep.b.CancelJob, bs.CancelJobRequest(job_id=job)),
        ("StreamJobLog", sweep.b.StreamJobLog, bs.StreamJobLogRequest(job_id=job)),
        ("GetResult", sweep.b.GetResult, bs.GetResultRequest(job_id=job)),
        ("ListParams", sweep.b.ListParams, bs.ListParamsRequest()),
        ("ListPresets", sweep.p.ListPresets, ps.ListPresetsRequest()),
        ("GetPreset", sweep.p.GetPreset, ps.GetPresetRequest(name="x")),
        ("UpsertPreset", sweep.p.UpsertPreset, ps.UpsertPresetRequest(name="x")),
        ("DeletePreset", sweep.p.DeletePreset, ps.DeletePresetRequest(name="x")),
        ("QueryTrace", sweep.t.QueryTrace, ts.QueryTraceRequest(job_id=job)),
        ("Explain", sweep.t.Explain, ts.ExplainRequest(job_id=job)),
    ]
