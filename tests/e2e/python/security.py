"""The security sweep (tests/e2e/security_e2e.sh): every RPC and every HTTP path of the contract
without a token, with a wrong one, with a revoked one and with another user's; staff sees all; job
ids are 128 random bits; no token reaches a log or the database; request size limits hold.

Usage: security.py ADDRESS GATEWAY_URL DB TOKENS_JSON IDS_ADDRESS IDS_TOKEN LOG...
TOKENS_JSON maps admin, alice, bob, carol (staff) and dave (revoked) to their tokens. IDS_ADDRESS
is a second server whose only worker is held by a stalled fetch, so 10k jobs only queue there.
"""
import collections
import concurrent.futures
import glob
import http.client as http_client
import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from hostile_grpc import C, Sweep, bs, ps, sql, stub_methods, ts

ADDRESS, GW, DB, TOKENS_JSON, IDS_ADDRESS, IDS_TOKEN = sys.argv[1:7]
LOGS = sys.argv[7:]
tokens = json.loads(open(TOKENS_JSON).read())
admin, alice, bob, carol, dave = (tokens[k] for k in ("admin", "alice", "bob", "carol", "dave"))
s = Sweep(ADDRESS, alice)
UNAUTH, NF = C.UNAUTHENTICATED, C.NOT_FOUND
SMALL = {"strategy": "sma_cross", "symbols": "EURUSD", "timeframe": "H1",
         "start_date": "2022-01-03", "end_date": "2022-01-20", "trace_enabled": True}

# --- the users' own things: a finished traced job and a preset each ---------------------------------
jobs = {}
for name, token in [("alice", alice), ("bob", bob)]:
    jobs[name] = s.run(SMALL, token=token)
    s.call(s.p.UpsertPreset, ps.UpsertPresetRequest(name=f"{name}-preset"), token=token)
for name, token in [("alice", alice), ("bob", bob)]:
    job = s.wait(jobs[name], token=token)
    if job.status != "finished":
        print(f"{name}'s job did not finish: {job.status} {job.error}")
        sys.exit(1)
a_job, b_job = jobs["alice"], jobs["bob"]
# A running job of alice's (minute bars over years) to cancel and stream while it runs.
a_running = s.run({"symbols": "EURUSD", "timeframe": "M1", "start_date": "2000-01-01",
                   "end_date": "2026-01-01"}, token=alice)

# --- gRPC: every RPC without a token and with bad ones → UNAUTHENTICATED ---------------------------
well_formed_wrong = "bt_" + "A" * (len(alice) - 3) if alice.startswith("bt_") else alice[::-1]
bad_auth = {
    "no metadata": [],
    "empty": [("authorization", "")],
    "no scheme": [("authorization", alice)],
    "scheme only": [("authorization", "Token")],
    "wrong scheme": [("authorization", f"Basic {alice}")],
    "wrong token": [("authorization", "Token wrong")],
    "well-formed wrong token": [("authorization", f"Token {well_formed_wrong}")],
    "token with a char more": [("authorization", f"Token {alice}x")],
    "token with a char less": [("authorization", f"Token {alice[:-1]}")],
    "token changed case": [("authorization", f"Token {alice.swapcase()}")],
    "revoked token": [("authorization", f"Token {dave}")],
    "SQL as token": [("authorization", "Token ' OR '1'='1")],
    "token in another header": [("x-authorization", f"Token {alice}")],
}
for rpc, method, request in stub_methods(s):
    for label, md in bad_auth.items():
        mention = "credentials" if label in ("no metadata", "empty", "token in another header") \
            else None
        s.expect(f"{rpc} {label}", method, request, UNAUTH, mention, metadata=md)
# Health and reflection need no token (the contract's exceptions).
health = health_pb2_grpc.HealthStub(s.channel)
for service in ["", "backtest.v1.BacktestService", "backtest.v1.PresetService",
                "backtest.v1.TraceService"]:
    reply = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=10)
    s.check(f"health {service or '(server)'} without a token",
            reply.status == health_pb2.HealthCheckResponse.SERVING, str(reply))
out = subprocess.run([os.environ["GRPCURL"], "-plaintext", ADDRESS, "list"], capture_output=True,
                     text=True, timeout=30)
s.check("reflection without a token", "backtest.v1.BacktestService" in out.stdout, out.stderr)

# --- gRPC: bob on alice's job and presets → NOT_FOUND, exactly like an unknown id ----------------
unknown = "0123456789abcdef0123456789abcdef"
per_job = [
    ("GetJob", s.b.GetJob, lambda j: bs.GetJobRequest(job_id=j)),
    ("CancelJob", s.b.CancelJob, lambda j: bs.CancelJobRequest(job_id=j)),
    ("StreamJobLog", s.b.StreamJobLog, lambda j: bs.StreamJobLogRequest(job_id=j)),
    ("StreamJobLog with trace", s.b.StreamJobLog,
     lambda j: bs.StreamJobLogRequest(job_id=j, include_trace=True)),
    ("GetResult", s.b.GetResult, lambda j: bs.GetResultRequest(job_id=j)),
    ("QueryTrace", s.t.QueryTrace, lambda j: ts.QueryTraceRequest(job_id=j)),
    ("Explain", s.t.Explain, lambda j: ts.ExplainRequest(job_id=j)),
    ("Explain bar", s.t.Explain, lambda j: ts.ExplainRequest(job_id=j, bar_index=40)),
]


def details(method, request, token):
    try:
        s.call(method, request, token=token)
        return "OK"
    except grpc.RpcError as e:
        return f"{e.code().name}: {e.details()}"


for rpc, method, make in per_job:
    for job_id in (a_job, a_running):
        s.expect(f"{rpc} bob on alice's job", method, make(job_id), NF, "not found", token=bob)
        # The answer for a foreign job is the unknown-id answer with the id swapped in.
        foreign = details(method, make(job_id), bob).replace(job_id, "ID")
        missing = details(method, make(unknown), bob).replace(unknown, "ID")
        s.check(f"{rpc} foreign job looks unknown", foreign == missing, f"{foreign} / {missing}")
job = s.call(s.b.GetJob, bs.GetJobRequest(job_id=a_running), token=alice).job
s.check("alice's running job untouched by bob", job.status in ("queued", "running"), job.status)
listed = {j.job_id for j in s.call(s.b.ListJobs, bs.ListJobsRequest(page_size=500), token=bob).jobs}
s.check("bob lists only his jobs", listed == {b_job}, f"{listed}")
for status in ["finished", "running", "queued"]:
    listed = {j.job_id for j in s.call(s.b.ListJobs, bs.ListJobsRequest(status=status,
                                                                         page_size=500),
                                       token=bob).jobs}
    s.check(f"bob lists only his {status} jobs", listed <= {b_job}, f"{listed}")
page = s.call(s.b.ListJobs, bs.ListJobsRequest(page_size=1), token=carol)
rest = {j.job_id for j in s.call(s.b.ListJobs, bs.ListJobsRequest(
    page_size=500, page_token=page.next_page_token), token=bob).jobs}
s.check("a staff page token shows bob nothing of others", rest <= {b_job}, f"{rest}")
names = list(s.call(s.p.ListPresets, ps.ListPresetsRequest(), token=bob).names)
s.check("bob lists only his presets", names == ["bob-preset"], f"{names}")
s.expect("GetPreset bob on alice's", s.p.GetPreset, ps.GetPresetRequest(name="alice-preset"), NF,
         "alice-preset", token=bob)
s.expect("DeletePreset bob on alice's", s.p.DeletePreset,
         ps.DeletePresetRequest(name="alice-preset"), NF, "alice-preset", token=bob)
s.expect("RunBacktest bob with alice's preset", s.b.RunBacktest,
         bs.RunBacktestRequest(preset="alice-preset"), C.INVALID_ARGUMENT, "preset", token=bob)
s.expect_ok("bob's own preset of the same name", s.p.UpsertPreset,
            ps.UpsertPresetRequest(name="alice-preset"), token=bob)
s.expect_ok("alice's preset survives bob", s.p.GetPreset, ps.GetPresetRequest(name="alice-preset"),
            token=alice)
s.expect_ok("bob deletes his own copy", s.p.DeletePreset,
            ps.DeletePresetRequest(name="alice-preset"), token=bob)
s.expect_ok("alice's preset survives bob's delete", s.p.GetPreset,
            ps.GetPresetRequest(name="alice-preset"), token=alice)

# --- staff sees every job --------------------------------------------------------------------------
for who, token in [("carol", carol), ("admin", admin)]:
    for rpc, method, make in per_job:
        if rpc == "CancelJob":
            continue
        s.expect_ok(f"{rpc} staff {who} on alice's job", method, make(a_job), token=token)
    listed = {j.job_id for j in s.call(s.b.ListJobs, bs.ListJobsRequest(page_size=500),
                                       token=token).jobs}
    s.check(f"staff {who} lists everyone's jobs", {a_job, b_job, a_running} <= listed,
            f"{listed}")
s.expect_ok("CancelJob staff on alice's running job", s.b.CancelJob,
            bs.CancelJobRequest(job_id=a_running), token=carol)
s.expect("CancelJob bob on alice's ended job", s.b.CancelJob, bs.CancelJobRequest(job_id=a_running),
         NF, "not found", token=bob)
grpc_cases = s.passed + s.failed

# --- HTTP: every path of the contract through the gateway -------------------------------------------


def http(method, path, token=None, body=None, raw=None, headers=None, timeout=30):
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    req = urllib.request.Request(GW + path, data=data, method=method)
    if token is not None:
        req.add_header("Authorization", f"Token {token}" if token else "")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read(1 << 16), r.headers
    except urllib.error.HTTPError as e:
        return e.code, e.read(), e.headers


def http_expect(name, method, path, codes, token=None, body=None, mention=None, headers=None):
    try:
        status, payload, _ = http(method, path, token, body, headers=headers)
    except Exception as e:  # noqa: BLE001
        return s.bad(name, repr(e)[:160])
    if status not in codes:
        return s.bad(name, f"HTTP {status}, wanted {sorted(codes)}: {payload[:120]!r}")
    try:
        message = json.loads(payload.splitlines()[0]).get("error", "")
        if isinstance(message, dict):  # a streaming RPC's error: {"error": {"message": …}}
            message = message.get("message", "")
    except (ValueError, IndexError):
        return s.bad(name, f"body is not JSON: {payload[:80]!r}")
    if not message or (mention and mention.lower() not in message.lower()):
        return s.bad(name, f"message {message!r} does not name {mention!r}")
    s.ok()


def paths(job):
    """Every API path of the contract that needs a token, with the job `job` in it."""
    return [("POST", "/run/", {"params": {}}), ("POST", "/api/jobs", {"params": {}}),
            ("GET", "/api/jobs/", None), ("GET", "/api/params/", None),
            ("GET", "/api/presets/", None), ("POST", "/api/presets/", {"name": "x", "values": {}}),
            ("GET", "/api/presets/alice-preset/", None),
            ("DELETE", "/api/presets/alice-preset/", None),
            ("GET", f"/api/jobs/{job}/status/", None), ("GET", f"/api/jobs/{job}/", None),
            ("GET", f"/api/jobs/{job}/result/", None), ("POST", f"/api/jobs/{job}/cancel/", None),
            ("GET", f"/api/jobs/{job}/log", None), ("GET", f"/api/jobs/{job}/events", None),
            ("GET", f"/api/bots/backtests/{job}/trace", None),
            ("GET", f"/api/bots/backtests/{job}/explain", None),
            ("GET", f"/api/bots/backtest-runs/{job}/trace", None),
            ("GET", f"/api/bots/backtest-runs/{job}/explain", None),
            ("GET", f"/api/bots/backtests/{job}/explain?bar_index=40", None)]


for label, token in [("no token", None), ("empty token", ""), ("wrong token", "wrong"),
                     ("well-formed wrong token", well_formed_wrong), ("revoked token", dave)]:
    for method, path, body in paths(a_job):
        http_expect(f"HTTP {method} {path} {label}", method, path, {401}, token, body)
for method, path, body in paths(a_job):
    if "/presets" in path and not path.endswith("alice-preset/"):
        continue  # bob's own preset list and upserts are his to use
    if path in ("/run/", "/api/jobs", "/api/jobs/", "/api/params/"):
        continue
    http_expect(f"HTTP {method} {path} bob", method, path, {404}, bob, body,
                mention="no preset" if "/presets" in path else "not found")
for method, path, body in paths(a_job):
    if method != "GET" or "/presets" in path or not path.startswith(f"/api/jobs/{a_job}") and \
            "/bots/" not in path:
        continue
    try:
        status, _, _ = http(method, path, carol, timeout=30)
    except Exception as e:  # noqa: BLE001
        status = repr(e)
    s.check(f"HTTP {path} staff", status == 200, f"{status}")
# The public pages carry no job data: a job page is the same for any id.
for path in ["/", "/healthz", "/openapi.json", "/docs", f"/jobs/{a_job}/"]:
    status, _, _ = http("GET", path)
    s.check(f"HTTP {path} public", status == 200, f"{status}")
# No file path is built from a request but the dashboard's own assets: traversal finds nothing.
for path in ["/static/../../../../etc/passwd", "/static/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
             "/static/..%2f..%2f..%2fetc%2fpasswd", "/static//etc/passwd", "/static/.%2e/go.mod",
             "/static/%00", "/jobs/..%2f..%2fetc%2fpasswd/", "/static/" + "a/" * 2000 + "x"]:
    conn = http_client.HTTPConnection(GW.replace("http://", ""), timeout=30)
    conn.request("GET", path)
    r = conn.getresponse()
    body = r.read()
    conn.close()
    s.check(f"HTTP traversal {path[:40]}", r.status in (301, 400, 404) and b"root:" not in body
            and b"module " not in body, f"{r.status} {body[:80]!r}")
s.check("job page same for any id", http("GET", f"/jobs/{a_job}/")[1] ==
        http("GET", f"/jobs/{unknown}/")[1], "the page differs")

# --- request size limits ---------------------------------------------------------------------------
big = b'{"params": {"symbols": "' + b"A" * (32 << 20) + b'"}}'
status, payload, _ = http("POST", "/run/", alice, raw=big)
s.check("HTTP 32 MB body: 413 naming the limit", status == 413 and b"too large" in payload,
        f"{status} {payload[:120]!r}")
status, payload, _ = http("POST", "/run/", None, raw=big)
s.check("HTTP 32 MB body without a token: refused", status in (401, 413), f"{status}")
# A chunked body has no length to check first: it is cut at the limit.
sock = socket.create_connection(GW.replace("http://", "").split(":"), timeout=30)
sock.sendall(b"POST /run/ HTTP/1.1\r\nHost: x\r\nAuthorization: Token " + alice.encode() +
             b"\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
try:
    chunk = b"A" * (1 << 20)
    for _ in range(32):
        sock.sendall(b"%x\r\n" % len(chunk) + chunk + b"\r\n")
except OSError:
    pass
reply = b""
try:
    while b"\r\n\r\n" not in reply:
        data = sock.recv(4096)
        if not data:
            break
        reply += data
except OSError:
    pass
sock.close()
s.check("HTTP chunked 32 MB body: refused", re.match(rb"HTTP/1.1 4\d\d", reply) is not None,
        f"{reply[:80]!r}")
status, _, _ = http("GET", "/api/jobs/", alice, headers={"X-Junk": "j" * (64 << 10)})
s.check("HTTP 64 KB header: 431", status == 431, f"{status}")
status, payload, _ = http("GET", "/api/jobs/", None, headers={"Authorization": "Token " + "t" * 4000})
s.check("HTTP 4 KB authorization: 401", status == 401, f"{status}")
try:
    s.call(s.b.RunBacktest, bs.RunBacktestRequest(preset="p" * (5 << 20)))
    s.bad("gRPC 5 MB message", "accepted")
except grpc.RpcError as e:
    s.check("gRPC 5 MB message: RESOURCE_EXHAUSTED", e.code() == C.RESOURCE_EXHAUSTED and
            "larger than max" in e.details(), f"{e.code().name} {e.details()}")
try:
    s.call(s.b.RunBacktest, bs.RunBacktestRequest(preset="p" * (5 << 20)), metadata=[])
    s.bad("gRPC 5 MB message without a token", "accepted")
except grpc.RpcError as e:
    s.check("gRPC 5 MB message without a token: refused",
            e.code() in (C.RESOURCE_EXHAUSTED, UNAUTH), e.code().name)
status, _, _ = http("GET", "/healthz")
s.check("gateway up after the size tests", status == 200, f"{status}")
s.expect_ok("server up after the size tests", s.b.ListParams, bs.ListParamsRequest())
http_cases = s.passed + s.failed - grpc_cases

# --- job ids: 32 lowercase hex digits, 10k of them unique and without pattern ----------------------
ids_sweep = Sweep(IDS_ADDRESS, IDS_TOKEN)
ids_params = {"symbols": "EURUSD", "start_date": "2022-01-03", "end_date": "2022-01-10"}
# The ids server's one worker waits on a data server that accepts and never answers: every job
# submitted after that one stays queued, so 10k ids cost no backtests.
hold = socket.socket()
hold.bind(("127.0.0.1", 0))
hold.listen(8)
holder = ids_sweep.run({**ids_params, "data_source": f"http://127.0.0.1:{hold.getsockname()[1]}"})


def submit(_):
    return ids_sweep.run(ids_params)


started = time.monotonic()
with concurrent.futures.ThreadPoolExecutor(8) as pool:
    ids = list(pool.map(submit, range(10000)))
elapsed = time.monotonic() - started
s.check("10k job ids: 32 lowercase hex digits", all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids),
        next((i for i in ids if not re.fullmatch(r"[0-9a-f]{32}", i)), ""))
s.check("10k job ids: unique", len(set(ids)) == len(ids), f"{len(ids) - len(set(ids))} repeated")
values = [int(i, 16) for i in ids]
bits = [sum((v >> b) & 1 for v in values) / len(values) for b in range(128)]
s.check("10k job ids: every bit set in 46-54% of ids", all(0.46 < f < 0.54 for f in bits),
        f"min {min(bits):.3f} max {max(bits):.3f}")
# In creation order (the ids server has one client thread's order per batch; sort by created_at).
listed = []
token = ""
while True:
    page = ids_sweep.call(ids_sweep.b.ListJobs, bs.ListJobsRequest(page_size=500, page_token=token))
    listed += [(j.created_at.ToNanoseconds(), j.job_id) for j in page.jobs if j.job_id != holder]
    token = page.next_page_token
    if not token:
        break
ordered = [int(i, 16) for _, i in sorted(listed)]
hamming = [bin(a ^ b).count("1") for a, b in zip(ordered, ordered[1:])]
mean = sum(hamming) / len(hamming)
s.check("10k job ids: consecutive ids differ in ~64 of 128 bits", 62 < mean < 66, f"{mean:.2f}")
prefix = max(len(a) - len(a.lstrip("0")) for a in
             [format(x ^ y, "032x") for x, y in zip(ordered, ordered[1:])])
s.check("10k job ids: no two consecutive ids share 7 leading hex digits", prefix < 7, f"{prefix}")
diffs = collections.Counter((b - a) % (1 << 128) for a, b in zip(ordered, ordered[1:]))
s.check("10k job ids: no repeated step between consecutive ids", diffs.most_common(1)[0][1] == 1,
        f"{diffs.most_common(1)}")
print(f"10k job ids made in {elapsed:.1f}s; mean Hamming distance of neighbours {mean:.2f}; "
      f"bit frequencies {min(bits):.3f}..{max(bits):.3f}", flush=True)
id_cases = s.passed + s.failed - grpc_cases - http_cases

# --- tokens never logged: the logs, the runner output in the database, the whole database file -----
all_tokens = {**tokens, "well-formed wrong": well_formed_wrong}
dump = subprocess.run(["sqlite3", "-readonly", DB, ".dump"], capture_output=True, timeout=120
                      ).stdout
files = {path: open(path, "rb").read() for path in LOGS}
for path in glob.glob(DB + "*"):
    files[path] = open(path, "rb").read()
files["sqlite3 .dump"] = dump
events = sql(DB, "SELECT count(*) FROM job_events WHERE kind='log'")[0][0]
s.check("the runner's captured output is in the database", int(events) > 0, events)
for name, token in all_tokens.items():
    for path, data in files.items():
        s.check(f"token {name} not in {path.split('/')[-1]}", token.encode() not in data,
                "found")
stored = {r[0] for r in sql(DB, "SELECT token_hash FROM tokens")}
s.check("tokens stored hashed (hex SHA-256)", all(re.fullmatch(r"[0-9a-f]{64}", h) for h in stored)
        and len(stored) >= 5, f"{stored}")
log_cases = s.passed + s.failed - grpc_cases - http_cases - id_cases

print(f"gRPC: {grpc_cases}; HTTP: {http_cases}; job ids: {id_cases}; tokens in logs: {log_cases}")
sys.exit(s.report("security"))
