#!/usr/bin/env bash
# backtestd's access log (docs/operations.md, "Access log"): one line per RPC with method, user,
# status code, duration, bytes and request id, as JSON with --log-format json. The gateway's
# X-Request-Id reaches backtestd's line and the job's record (GetJob shows it); a gRPC call
# without one gets an id made by backtestd, the same in its line and its job. No token appears.
. "$(dirname "$0")/lib.sh"
grpcurl=$TOOLS/grpcurl
python=$ROOT/build/venv/bin/python

start_server "$WORK/s" --log-format json --log-level debug
TOKEN=$(cat "$WORK/s/admin.token")
start_gateway "$SERVER_ADDR"
JOB='{"params": {"strategy": "sma_cross", "symbols": "EURUSD", "timeframe": "H1", "start_date": "2022-01-01", "end_date": "2022-02-01"}}'

# Through the gateway with a request id of the client's.
rest_job=$(curl -sS --max-time 60 -H "authorization: Token $TOKEN" -H 'X-Request-Id: e2e-access-1' \
  -X POST --data-binary "$JOB" "$GW/run/" | "$python" -c 'import json,sys; print(json.load(sys.stdin)["job_id"])')
check "the REST job has the gateway's request id" bash -c "
  '$grpcurl' -plaintext -H 'authorization: Token $TOKEN' -d '{\"job_id\": \"$rest_job\"}' '$SERVER_ADDR' \
    backtest.v1.BacktestService/GetJob | grep -q '\"request_id\": \"e2e-access-1\"'"

# Straight over gRPC without one: backtestd makes one.
grpc_job=$("$grpcurl" -plaintext -H "authorization: Token $TOKEN" -d "$JOB" "$SERVER_ADDR" \
  backtest.v1.BacktestService/RunBacktest | "$python" -c 'import json,sys; print(json.load(sys.stdin)["job_id"])')
made_id=$("$grpcurl" -plaintext -H "authorization: Token $TOKEN" -d "{\"job_id\": \"$grpc_job\"}" "$SERVER_ADDR" \
  backtest.v1.BacktestService/GetJob | "$python" -c 'import json,sys; print(json.load(sys.stdin)["job"]["request_id"])')
check "a gRPC job without an id gets one of 32 hex digits" bash -c "[[ '$made_id' =~ ^[0-9a-f]{32}\$ ]]"
"$grpcurl" -plaintext -H 'authorization: Token bt_not_a_real_token_0000000000000000' -d '{}' "$SERVER_ADDR" \
  backtest.v1.BacktestService/ListJobs >/dev/null 2>&1 || true
"$grpcurl" -plaintext -H 'x-request-id: bad id with spaces' -d '{}' "$SERVER_ADDR" grpc.health.v1.Health/Check >/dev/null

kill -TERM "$SERVER_PID"; wait "$SERVER_PID" || true
cat >"$WORK/check.py" <<'PY'
import json, re, sys
log, token, rest_job, grpc_job, made_id = sys.argv[1:6]
text = open(log).read()
failures = []
def want(name, ok):
    print(("ok   " if ok else "FAIL ") + name)
    failures.extend([] if ok else [name])
lines = [json.loads(l) for l in text.splitlines()]  # every line is one JSON object
access = [l for l in lines if l["logger"] == "access"]
want("every line is a JSON object with time, level, logger", all({"time", "level", "logger"} <= l.keys() for l in lines))
fields = {"msg", "method", "user", "code", "duration_ms", "bytes_in", "bytes_out", "request_id", "peer"}
want("access lines carry their fields at the top level", access and all(fields <= l.keys() for l in access))
run = [l for l in access if l["method"] == "/backtest.v1.BacktestService/RunBacktest"]
want("the REST submission's line has the gateway's request id and the user",
     any(l["request_id"] == "e2e-access-1" and l["user"] == "admin" and l["code"] == "OK" and l["bytes_in"] > 0 and l["bytes_out"] > 0 for l in run))
want("the gRPC submission's line has the id its job stored", any(l["request_id"] == made_id for l in run))
want("a rejected token is UNAUTHENTICATED with no user",
     any(l["method"].endswith("/ListJobs") and l["code"] == "UNAUTHENTICATED" and l["user"] == "-" for l in access))
health = [l for l in access if l["method"] == "/grpc.health.v1.Health/Check"]
want("a malformed request id is replaced", health and all(re.fullmatch("[0-9a-f]{32}", l["request_id"]) for l in health)
     and "bad id with spaces" not in text)
want("health checks are at debug level", health and all(l["level"] == "debug" for l in health))
want("no token in the log", token not in text and "bt_not_a_real_token" not in text)
sys.exit(1 if failures else 0)
PY
check "the access log" "$python" "$WORK/check.py" "$WORK/s/server.log" "$TOKEN" "$rest_job" "$grpc_job" "$made_id"
cat "$WORK/last.out"
finish
