#!/usr/bin/env bash
# The REST bridge against the real server: starts backtestd and backtest-gateway (built binaries),
# then walks every HTTP path of PRODUCT.md ("HTTP paths", "Auth") with curl, with and without the
# trailing slash: status codes, JSON shapes, 401/404/400 answers, a traced sr_breakout run on
# sample:// data for trace and explain, and Server-Sent Events resumed with Last-Event-ID.
. "$(dirname "$0")/lib.sh"

# --- helpers -------------------------------------------------------------------------------

# jtest FILE EXPR: whether the Python expression EXPR holds for d, the JSON in FILE. Helpers in
# scope: has(obj, *keys), re, json.
jtest() {
  python3 - "$1" "$2" <<'EOF'
import json, re, sys
def has(o, *keys):
    return isinstance(o, dict) and all(k in o for k in keys)
try:
    d = json.load(open(sys.argv[1]))
except ValueError as e:
    print(f"not JSON: {e}"); sys.exit(1)
sys.exit(0 if eval(sys.argv[2]) else 1)
EOF
}

# jget FILE EXPR: prints the Python expression EXPR of d, the JSON in FILE (empty on any error).
jget() {
  python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2" 2>/dev/null || true
}

# call WANT EXPR METHOD PATH [CURL_ARGS...]: one request to the gateway, with the token in AUTH
# (none when AUTH is empty); checks the HTTP status and that EXPR holds for the JSON answer
# ("" skips the JSON check). The body stays in $WORK/body.
call() {
  local want=$1 expr=$2 method=$3 path=$4; shift 4
  local args=(-sS -o "$WORK/body" -w '%{http_code}' -X "$method" --max-time 120)
  [ -n "$AUTH" ] && args+=(-H "authorization: Token $AUTH")
  local code
  code=$(curl "${args[@]}" "$@" "$GW$path") || { echo "$method $path: curl failed"; return 1; }
  if [ "$code" != "$want" ]; then
    echo "$method $path: HTTP $code, want $want"; head -c 800 "$WORK/body"; echo; return 1
  fi
  if [ -n "$expr" ] && ! jtest "$WORK/body" "$expr"; then
    echo "$method $path: JSON check failed: $expr"; head -c 800 "$WORK/body"; echo; return 1
  fi
}
# api NAME WANT EXPR METHOD PATH [CURL_ARGS...]: call, counted as one check.
api() { local name=$1; shift; check "$name" call "$@"; }
# slashed PATH: PATH with a trailing slash before its query string.
slashed() { case $1 in *\?*) echo "${1%%\?*}/?${1#*\?}" ;; *) echo "$1/" ;; esac; }
# both NAME WANT EXPR METHOD PATH [CURL_ARGS...]: api on PATH and on PATH with a trailing slash.
both() {
  local name=$1 want=$2 expr=$3 method=$4 path=$5; shift 5
  api "$name" "$want" "$expr" "$method" "$path" "$@"
  api "$name (trailing /)" "$want" "$expr" "$method" "$(slashed "$path")" "$@"
}
# run_job JSON: POST /run/ with the body JSON; prints the job id (empty on failure).
run_job() {
  curl -sS --max-time 60 -H "authorization: Token $AUTH" -X POST --data-binary "$1" "$GW/run/" \
    -o "$WORK/run.json" || true
  jget "$WORK/run.json" 'd["job_id"]'
}
# wait_job ID [SECONDS]: polls the job's status until it has ended; prints the final status.
wait_job() {
  local id=$1 deadline=$((SECONDS + ${2:-180})) st=
  while [ $SECONDS -lt $deadline ]; do
    curl -sS --max-time 10 -H "authorization: Token $AUTH" -o "$WORK/poll.json" \
      "$GW/api/jobs/$id/status/" || true
    st=$(jget "$WORK/poll.json" 'd["status"]')
    case $st in finished|failed|cancelled) echo "$st"; return 0 ;; esac
    sleep 0.1
  done
  echo "timeout:$st"
}

# sse_check MODE ARGS...: Server-Sent Events checks in Python (the stdlib's urllib), against
# $GW with the token in AUTH. Modes:
#   full ID FILE            the finished job's stream with trace events: ids 1..last_seq, each
#                           data's seq equals its id, ends with `event: end`; ids saved to FILE
#   resume ID FILE K HOW    resumed after K (HOW: header = Last-Event-ID, query = from_seq=K+1):
#                           exactly the ids of FILE above K
#   live ID                 reads the first events of a running job, disconnects, resumes with
#                           Last-Event-ID: the two parts together are exactly the whole stream
sse_check() {
  GW=$GW AUTH=$AUTH python3 - "$@" <<'EOF'
import json, os, sys, urllib.request

base, token = os.environ["GW"], os.environ["AUTH"]

def stream(path, headers=None, stop_after=None):
    """Yields the events of an SSE stream as dicts (id, event, data)."""
    h = {"authorization": f"Token {token}", "accept": "text/event-stream"}
    h.update(headers or {})
    req = urllib.request.Request(base + path, headers=h)
    with urllib.request.urlopen(req, timeout=120) as r:
        ctype = r.headers.get("content-type", "")
        if not ctype.startswith("text/event-stream"):
            raise SystemExit(f"content-type {ctype!r}")
        ev, n = {}, 0
        for raw in r:
            line = raw.decode("utf-8").rstrip("\r\n")
            if line == "":
                if ev:
                    yield ev
                    n += "id" in ev
                    if ev.get("event") == "end" or (stop_after and n >= stop_after):
                        return
                ev = {}
                continue
            if line.startswith(":"):
                continue
            key, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            ev[key] = ev[key] + "\n" + value if key in ev else value

def ids(events):
    out = []
    for e in events:
        if "id" in e:
            d = json.loads(e["data"])
            if int(d["seq"]) != int(e["id"]):
                raise SystemExit(f"id {e['id']} carries seq {d['seq']}")
            out.append(int(e["id"]))
    return out

mode, job = sys.argv[1], sys.argv[2]
if mode == "full":
    events = list(stream(f"/api/jobs/{job}/events?include_trace=true"))
    got = ids(events)
    if events[-1].get("event") != "end":
        raise SystemExit(f"last event {events[-1]}")
    last = json.loads(events[-1]["data"])["last_seq"]
    if got != list(range(1, last + 1)):
        raise SystemExit(f"ids are not 1..{last}: {got[:5]}…{got[-5:]} ({len(got)})")
    kinds = {e.get("event") for e in events}
    if not {"log", "progress", "status", "trace"} <= kinds:
        raise SystemExit(f"event kinds {kinds}")
    statuses = [json.loads(e["data"])["status"]["status"] for e in events if e.get("event") == "status"]
    if statuses[-1] != "finished":
        raise SystemExit(f"statuses {statuses}")
    open(sys.argv[3], "w").write(json.dumps(got))
elif mode == "resume":
    want_all, k, how = json.load(open(sys.argv[3])), int(sys.argv[4]), sys.argv[5]
    if how == "header":
        got = ids(stream(f"/api/jobs/{job}/events/?include_trace=true", {"Last-Event-ID": str(k)}))
    else:
        got = ids(stream(f"/api/jobs/{job}/events?include_trace=true&from_seq={k + 1}"))
    want = [i for i in want_all if i > k]
    if got != want:
        raise SystemExit(f"resumed after {k}: {got[:5]}…{got[-5:]} ({len(got)}), want {want[:5]}…{want[-5:]} ({len(want)})")
elif mode == "live":
    first = ids(stream(f"/api/jobs/{job}/events", stop_after=5))
    rest = ids(stream(f"/api/jobs/{job}/events", {"Last-Event-ID": str(first[-1])}))
    whole = ids(stream(f"/api/jobs/{job}/events"))
    if first + rest != whole:
        raise SystemExit(f"first {first} + rest {rest[:5]}… ({len(rest)}) != whole ({len(whole)})")
    print(f"{len(first)} events, disconnect, {len(rest)} more after Last-Event-ID {first[-1]}")
EOF
}

# add_user NAME: a second, non-staff user; prints its token. `backtestd user add` when it is
# wired, else straight into the database (tokens are stored as their hex SHA-256).
add_user() {
  local name=$1 db=$WORK/s/backtest.db token
  token=$("$BIN/backtestd" --db "$db" user add "$name" 2>/dev/null | grep -o 'bt_[A-Za-z0-9_-]\{43\}' | head -n1) || true
  if [ -z "$token" ]; then
    token=$(python3 - "$db" "$name" <<'EOF'
import hashlib, secrets, sqlite3, sys, time
token = "bt_" + secrets.token_urlsafe(32)
db = sqlite3.connect(sys.argv[1], timeout=10)
with db:
    now = int(time.time() * 1000)
    db.execute("INSERT OR IGNORE INTO users(name, is_staff, created_ms) VALUES(?, 0, ?)", (sys.argv[2], now))
    uid = db.execute("SELECT id FROM users WHERE name = ?", (sys.argv[2],)).fetchone()[0]
    db.execute("INSERT INTO tokens(user_id, token_hash, label, created_ms) VALUES(?, ?, 'e2e', ?)",
               (uid, hashlib.sha256(token.encode()).hexdigest(), now))
print(token)
EOF
)
  fi
  echo "$token"
}

# --- start ---------------------------------------------------------------------------------

t_start=$SECONDS
# lib.sh's start_server reads server.log before the background server may have created it.
mkdir -p "$WORK/s" && : >"$WORK/s/server.log"
start_server "$WORK/s"
ADMIN=$(cat "$WORK/s/admin.token")
AUTH=$ADMIN
start_gateway "$SERVER_ADDR"
echo "backtestd $SERVER_ADDR, gateway $GW"

both "GET /healthz" 200 'd == {"status": "ok"}' GET /healthz
both "GET /readyz (backtestd serves each service)" 200 'd == {"status": "ok"}' GET /readyz
both "GET /openapi.json" 200 \
  'd["swagger"] == "2.0" and all(p in d["paths"] for p in ["/run", "/api/jobs/{job_id}/status", "/api/jobs/{job_id}/result", "/api/presets/{name}", "/api/bots/backtests/{job_id}/trace", "/api/bots/backtest-runs/{job_id}/explain", "/api/jobs/{job_id}/events", "/healthz", "/readyz"])' \
  GET /openapi.json
# has_request_id HEADER_VALUE_REGEX CURL_ARGS...: the answer's X-Request-Id matches.
has_request_id() {
  local want=$1; shift
  curl -sS --max-time 10 -D - -o /dev/null "$@" | tr -d '\r' | grep -qiE "^x-request-id: $want\$"
}
check "an answer carries the client's X-Request-Id" has_request_id e2e-req-1 -H 'X-Request-Id: e2e-req-1' \
  -H "authorization: Token $AUTH" "$GW/api/params/"
check "an answer without one gets a new X-Request-Id" has_request_id '[0-9a-f]{32}' "$GW/healthz"
check "GET / is the form page" bash -c "
  curl -sSf --max-time 30 -D '$WORK/h' '$GW/' -o '$WORK/index.html'
  grep -qi '^content-type: text/html' '$WORK/h' && grep -q 'form.js' '$WORK/index.html'"

# --- auth ----------------------------------------------------------------------------------

AUTH=
for p in /api/params/ /api/jobs/ /api/presets/ /api/jobs/x/status/ /api/jobs/x/result/ \
  /api/bots/backtests/x/trace /api/bots/backtest-runs/x/explain /api/jobs/x/events; do
  api "GET $p without a token is 401" 401 'd["code"] == 401 and d["grpc_code"] == "UNAUTHENTICATED" and d["error"]' GET "$p"
done
api "POST /run/ without a token is 401" 401 'd["code"] == 401' POST /run/ -d '{"params": {}}'
api "POST /api/jobs/x/cancel/ without a token is 401" 401 'd["code"] == 401' POST /api/jobs/x/cancel/
AUTH=bt_0000000000000000000000000000000000000000000
api "a wrong token is 401" 401 'd["grpc_code"] == "UNAUTHENTICATED"' GET /api/jobs/
AUTH=not-a-token
api "a malformed token is 401" 401 'd["grpc_code"] == "UNAUTHENTICATED"' GET /api/params/
AUTH=
api "no 'Token' scheme is 401" 401 'd["code"] == 401' GET /api/jobs/ -H "authorization: $ADMIN"
AUTH=$ADMIN

# --- parameters and validation -------------------------------------------------------------

both "GET /api/params" 200 \
  'all(has(p, "name", "type", "group", "default_value", "help") for p in d["params"]) and {"rr", "strategy", "trace_enabled", "data_source"} <= {p["name"] for p in d["params"]} and {"run", "risk", "signal"} <= set(d["groups"])' \
  GET /api/params
api "an out-of-range value is 400 naming the field" 400 \
  'd["grpc_code"] == "INVALID_ARGUMENT" and "rr" in d["error"]' POST /run/ -d '{"params": {"rr": -1}}'
api "a wrong type is 400 naming the field" 400 \
  '"ema_length" in d["error"]' POST /run -d '{"params": {"ema_length": "forty"}}'
api "an unknown parameter is 400 naming it" 400 \
  '"no_such_param" in d["error"]' POST /run/ -d '{"params": {"no_such_param": 1}}'
api "a bad choice is 400 naming the field" 400 \
  '"timeframe" in d["error"]' POST /run/ -d '{"params": {"timeframe": "H7"}}'
api "malformed JSON is 400" 400 'd["code"] == 400' POST /run/ -d '{"params": '
api "nothing was queued by the refused runs" 200 'd["jobs"] == []' GET /api/jobs/

# --- presets -------------------------------------------------------------------------------

api "POST /api/presets/ saves a preset" 200 \
  'd["name"] == "e2e-a" and d["values"] == {"rr": 3, "ema_length": 50}' \
  POST /api/presets/ -d '{"name": "e2e-a", "values": {"rr": 3, "ema_length": 50}}'
api "POST /api/presets saves one under a seed alias" 200 \
  'd["name"] == "e2e-b" and d["values"] == {"rr": 2.5}' POST /api/presets -d '{"name": "e2e-b", "values": {"RR": 2.5}}'
api "a preset with a bad value is 400 naming the field" 400 \
  '"risk_per_trade" in d["error"]' POST /api/presets/ -d '{"name": "bad", "values": {"risk_per_trade": 5}}'
both "GET /api/presets lists the names" 200 'd["names"] == ["e2e-a", "e2e-b"]' GET /api/presets
both "GET /api/presets/{name}" 200 'd["name"] == "e2e-a" and d["values"]["rr"] == 3' GET /api/presets/e2e-a
api "DELETE /api/presets/{name}" 200 'd == {}' DELETE /api/presets/e2e-b
api "POST /api/presets/ replaces (upsert)" 200 'd["values"] == {"rr": 4}' \
  POST /api/presets/ -d '{"name": "e2e-b", "values": {"rr": 4}}'
api "DELETE /api/presets/{name}/" 200 '' DELETE /api/presets/e2e-b/
api "a deleted preset is 404" 404 'd["grpc_code"] == "NOT_FOUND"' GET /api/presets/e2e-b/
api "DELETE of a missing preset is 404" 404 '' DELETE /api/presets/e2e-b

# --- a traced sr_breakout run --------------------------------------------------------------

SAMPLE='"data_source": "sample://", "symbols": "XAGUSD", "timeframe": "H1", "start_date": "2022-01-03 00:00", "end_date": "2022-06-01 00:00"'
api "POST /run/ queues a traced sr_breakout run" 200 \
  'd["job_id"] and d["job"]["job_id"] == d["job_id"] and d["job"]["status"] in ("queued", "running", "finished") and d["job"]["params"]["trace_enabled"] is True and d["job"]["params"]["rr"] == 2' \
  POST /run/ -d "{\"params\": {\"strategy\": \"sr_breakout\", $SAMPLE, \"trace_enabled\": true}}"
JOB=$(jget "$WORK/body" 'd["job_id"]')
api "POST /run merges a preset (params win over it)" 200 \
  'd["job"]["preset"] == "e2e-a" and d["job"]["params"]["rr"] == 3 and d["job"]["params"]["ema_length"] == 30' \
  POST /run -d "{\"params\": {\"strategy\": \"sr_breakout\", $SAMPLE, \"ema_length\": 30}, \"preset\": \"e2e-a\"}"
JOB2=$(jget "$WORK/body" 'd["job_id"]')
api "POST /run/ with a missing preset is 400 naming it" 400 '"preset" in d["error"] and "nope" in d["error"]' POST /run/ -d '{"params": {}, "preset": "nope"}'

check "GET /jobs/{id}/ is the job page" bash -c "
  curl -sSf --max-time 30 -D '$WORK/h' '$GW/jobs/$JOB/' -o '$WORK/job.html'
  grep -qi '^content-type: text/html' '$WORK/h' && grep -q 'job.js' '$WORK/job.html'"
check "GET /jobs/{id} is the job page too" bash -c "curl -sSf --max-time 30 '$GW/jobs/$JOB' | grep -q 'job.js'"

check "the traced run finishes" test "$(wait_job "$JOB")" = finished
check "the preset run finishes" test "$(wait_job "$JOB2")" = finished

STATUS_KEYS='"status", "pid", "error", "stdout_tail", "stderr_tail", "result_url", "progress"'
both "GET /api/jobs/{id}/status" 200 \
  "has(d, $STATUS_KEYS) and d['job_id'] == '$JOB' and d['status'] == 'finished' and d['error'] == '' and d['result_url'] == '/api/jobs/$JOB/result/' and d['progress']['fraction'] == 1 and d['progress']['bars_done'] == d['progress']['bars_total'] > 0 and d['finished_at']" \
  GET "/api/jobs/$JOB/status"
both "GET /api/jobs/{id}/result" 200 \
  'has(d, "candles", "ema", "zones", "markers", "trades", "stats", "equity") and len(d["candles"]) == d["stats"]["bars"] > 1000 and all(has(c, "time", "open", "high", "low", "close") for c in d["candles"]) and all(has(e, "time", "value") for e in d["ema"]) and len(d["zones"]) > 0 and all(has(z, "start", "end", "price", "kind", "state") and z["kind"] in ("support", "resistance") and z["state"] in ("active", "broken", "inverted", "cancelled") for z in d["zones"]) and len(d["trades"]) == d["stats"]["trades"] > 0 and len(d["markers"]) == 2 * len(d["trades"]) and all(has(m, "time", "side", "price", "reason") for m in d["markers"]) and all(has(t, "symbol", "side", "entry_time", "entry_price", "exit_time", "exit_price", "size", "stop", "target", "pnl", "return_pct", "exit_reason", "bars_held") for t in d["trades"]) and has(d["stats"], "return_pct", "sharpe", "sortino", "calmar", "max_drawdown_pct", "win_rate_pct", "profit_factor", "sqn")' \
  GET "/api/jobs/$JOB/result"
cp "$WORK/body" "$WORK/result.json"
api "GET the result_url with max_candles" 200 \
  'len(d["candles"]) == 5 and d["total_candles"] > 1000' GET "/api/jobs/$JOB/result/?max_candles=5"
api "a malformed query value is 400 naming it" 400 '"max_candles" in d["error"]' GET "/api/jobs/$JOB/result/?max_candles=lots"

# The packed layout (base64 columns of little-endian doubles) carries the per-point answer's
# values bit for bit: the whole result, and a window cut, merged and with its trades paged.
# same_values POINTS PACKED: the two answers (files) agree.
same_values() {
  python3 - "$1" "$2" <<'EOF'
import base64, json, struct, sys
points, packed = (json.load(open(f)) for f in sys.argv[1:3])
def col(name):
    decimal = packed["packed"].get(name + "_decimal")
    if decimal is not None:  # decimal_columns: n_i / 10^decimals, n_i summed from the deltas
        if packed["packed"].get(name):
            print(f"packed.{name} came both ways"); sys.exit(1)
        raw, width = base64.b64decode(decimal.get("deltas", "")), int(decimal["width"])
        n, scale, values = int(float(decimal.get("base", 0))), float(10 ** int(decimal.get("decimals", 0))), []
        for at in range(0, len(raw), width):
            n += int.from_bytes(raw[at:at + width], "little", signed=True)
            values.append(n / scale)
        return values
    raw = base64.b64decode(packed["packed"][name])
    return struct.unpack(f"<{len(raw) // 8}d", raw)
bits = lambda xs: [struct.pack("<d", float(x)) for x in xs]
ok = True
for cols, key, fields in [(("times", "opens", "highs", "lows", "closes", "volumes"), "candles",
                           ("time", "open", "high", "low", "close", "volume")),
                          (("ema_times", "ema_values"), "ema", ("time", "value")),
                          (("equity_times", "equity_values"), "equity", ("time", "value"))]:
    for c, f in zip(cols, fields):
        if bits(col(c)) != bits(p[f] for p in points[key]):
            print(f"{key}.{f} differs from packed.{c}"); ok = False
    if packed[key]:
        print(f"the packed answer has {key}"); ok = False
rest = lambda d: {k: v for k, v in d.items() if k not in ("candles", "ema", "equity", "packed")}
if rest(points) != rest(packed):
    print("the other fields differ"); ok = False
sys.exit(0 if ok else 1)
EOF
}
# get_to FILE PATH: GET PATH from the gateway into FILE (fails on an error status).
get_to() { curl -sSf --max-time 60 -H "authorization: Token $AUTH" "$GW$2" -o "$1"; }
packed_whole() {
  get_to "$WORK/packed.json" "/api/jobs/$JOB/result/?layout=RESULT_LAYOUT_PACKED" &&
    same_values "$WORK/result.json" "$WORK/packed.json"
}
check "the packed result carries the per-point values bit for bit" packed_whole
WINDOW="max_candles=700&max_points=90&trades_in_window=true&trades_limit=3&trades_offset=1"
packed_window() {
  get_to "$WORK/window.json" "/api/jobs/$JOB/result/?$WINDOW" &&
    get_to "$WORK/window-packed.json" "/api/jobs/$JOB/result/?$WINDOW&layout=2" &&
    same_values "$WORK/window.json" "$WORK/window-packed.json"
}
check "a window merged and paged: packed and per-point carry the same values" packed_window
packed_decimal() {
  get_to "$WORK/decimal.json" "/api/jobs/$JOB/result/?layout=2&decimal_columns=true" &&
    python3 -c 'import json, sys; p = json.load(open(sys.argv[1]))["packed"]; sys.exit(0 if "times_decimal" in p and "opens_decimal" in p and not p.get("times") else 1)' "$WORK/decimal.json" &&
    same_values "$WORK/result.json" "$WORK/decimal.json"
}
check "decimal columns (times and prices as integers) carry the per-point values bit for bit" packed_decimal
# same_trades POINTS PACKED: the trades and markers rebuilt from PACKED's columns (packed_trades)
# are POINTS' messages, bit for bit.
same_trades() {
  python3 - "$1" "$2" <<'EOF'
import base64, json, struct, sys
points, packed = (json.load(open(f)) for f in sys.argv[1:3])
def decimal(c):  # n_i / 10^decimals, n_i summed from the deltas
    raw, width = base64.b64decode(c.get("deltas", "")), int(c.get("width", 0)) or 1
    n, scale, values = int(float(c.get("base", 0))), float(10 ** int(c.get("decimals", 0))), []
    for at in range(0, len(raw), width):
        n += int.from_bytes(raw[at:at + width], "little", signed=True)
        values.append(n / scale)
    return values
def number(c):
    if c.get("decimal"):  # unset: absent or null
        return decimal(c["decimal"])
    raw = base64.b64decode(c.get("doubles", ""))
    return struct.unpack(f"<{len(raw) // 8}d", raw)
def words(c):
    raw, width, dictionary = base64.b64decode(c.get("indexes", "")), int(c.get("width", 0)) or 1, c.get("words", [])
    return [dictionary[int.from_bytes(raw[at:at + width], "little")] for at in range(0, len(raw), width)]
decode = {"count": decimal, "number": number, "word": words}
fields = {
    "trades": [("id", "ids", "count"), ("symbol", "symbols", "word"), ("side", "sides", "word"),
               ("entry_time", "entry_times", "count"), ("entry_price", "entry_prices", "number"),
               ("exit_time", "exit_times", "count"), ("exit_price", "exit_prices", "number"),
               ("size", "sizes", "number"), ("stop", "stops", "number"), ("target", "targets", "number"),
               ("pnl", "pnls", "number"), ("return_pct", "return_pcts", "number"),
               ("exit_reason", "exit_reasons", "word"), ("bars_held", "bars_held", "count"),
               ("commission", "commissions", "number"), ("entry_bar", "entry_bars", "count"),
               ("exit_bar", "exit_bars", "count")],
    "markers": [("symbol", "symbols", "word"), ("time", "times", "count"), ("side", "sides", "word"),
                ("kind", "kinds", "word"), ("price", "prices", "number"), ("reason", "reasons", "word"),
                ("trade_id", "trade_ids", "count")]}
bits = lambda xs: [struct.pack("<d", float(x)) for x in xs]
ok = True
for key, columns in fields.items():
    if packed.get(key):
        print(f"the packed answer has {key}"); ok = False
    got_columns = packed["packed"].get(key)
    if got_columns is None:
        print(f"packed.{key} is missing"); ok = False; continue
    for name, column, kind in columns:
        got = decode[kind](got_columns.get(column) or {})
        want = [m.get(name, "" if kind == "word" else 0) for m in points[key]]
        if len(got) != len(want) or (got != want if kind == "word" else bits(got) != bits(want)):
            print(f"{key}.{name} differs from packed.{key}.{column}"); ok = False
sys.exit(0 if ok else 1)
EOF
}
packed_trades() {
  get_to "$WORK/trades.json" "/api/jobs/$JOB/result/?layout=2&decimal_columns=true&packed_trades=true" &&
    same_trades "$WORK/result.json" "$WORK/trades.json"
}
check "packed trades and markers (columns) rebuild the per-point answer's bit for bit" packed_trades
api "packed_trades without the packed layout is 400 naming it" 400 '"packed_trades" in d["error"]' \
  GET "/api/jobs/$JOB/result/?packed_trades=true"
api "decimal_columns without the packed layout is 400 naming it" 400 '"decimal_columns" in d["error"]' \
  GET "/api/jobs/$JOB/result/?decimal_columns=true"
api "the window: 700 candles merged 8 at a time, its trades paged" 200 \
  'len(d["candles"]) == 88 and d["candles_per_point"] == 8 and d["first_candle"] == d["total_candles"] - 700 and len(d["trades"]) <= 3 and d["total_trades"] >= len(d["trades"]) and all(m["time"] >= d["candles"][0]["time"] for m in d["markers"])' \
  GET "/api/jobs/$JOB/result/?$WINDOW"
api "an unknown part is 400 naming it" 400 '"parts" in d["error"] and "volume" in d["error"]' GET "/api/jobs/$JOB/result/?parts=candles,volume"

# --- trace and explain, both spellings ------------------------------------------------------

ENTRY_BAR=$(jget "$WORK/result.json" 'd["trades"][0]["entry_bar"] - 1')  # the bar that triggered it
ENTRY_TS=$(jget "$WORK/result.json" 'd["candles"][d["trades"][0]["entry_bar"] - 1]["time"]')
ROW_KEYS='"seq", "bar_index", "ts", "symbol", "section", "kind", "payload"'
SECTIONS='["indicators", "zones", "signal", "filters", "risk", "orders", "position"]'
for spelling in backtests backtest-runs; do
  base=/api/bots/$spelling/$JOB
  both "GET …/$spelling/{id}/trace?bar_index" 200 \
    "d['count'] == len(d['items']) > 0 and all(has(i, $ROW_KEYS) and i['bar_index'] == $ENTRY_BAR and i['section'] in $SECTIONS and i['kind'] in ('value', 'check', 'event') for i in d['items'])" \
    GET "$base/trace?bar_index=$ENTRY_BAR"
  api "GET …/$spelling/{id}/trace?ts (epoch) and section" 200 \
    "d['count'] > 0 and all(i['ts'] == $ENTRY_TS and i['section'] == 'signal' for i in d['items'])" \
    GET "$base/trace?ts=$ENTRY_TS&section=signal"
  api "GET …/$spelling/{id}/trace?ts (ISO 8601), kind, limit, offset" 200 \
    "len(d['items']) == 1 and d['count'] >= 2 and d['items'][0]['kind'] == 'value' and d['items'][0]['ts'] == $ENTRY_TS" \
    GET "$base/trace/?ts=$(date -u -d "@$ENTRY_TS" +%Y-%m-%dT%H:%M:%SZ)&kind=value&limit=1&offset=1"
  api "GET …/$spelling/{id}/trace with a bad bar_index is 400" 400 '"bar_index" in d["error"]' \
    GET "$base/trace?bar_index=abc"
  api "GET …/$spelling/{id}/trace with a bad section is 400" 400 '"section" in d["error"]' \
    GET "$base/trace?section=nonsense"
  both "GET …/$spelling/{id}/explain?bar_index" 200 \
    "d['summary'] and d['bar_index'] == $ENTRY_BAR and d['traced'] is True and d['sections'] and len({s['section'] for s in d['sections']}) == len(d['sections']) and {s['section'] for s in d['sections']} <= set($SECTIONS) and all(i['bar_index'] == $ENTRY_BAR for s in d['sections'] for i in s['items'])" \
    GET "$base/explain?bar_index=$ENTRY_BAR"
  api "GET …/$spelling/{id}/explain?ts&include" 200 \
    "d['bar_index'] == $ENTRY_BAR and [s['section'] for s in d['sections']] == ['signal']" \
    GET "$base/explain/?ts=$ENTRY_TS&include=signal"
  both "GET …/$spelling/{id}/explain of the whole run" 200 \
    'd["summary"] and d["reasons"] and all(has(r, "reason", "count", "sample_bars") for r in d["reasons"]) and any(r["reason"] == "setup_triggered" and r["count"] > 0 for r in d["reasons"])' \
    GET "$base/explain"
done
api "trace of an unknown job is 404" 404 'd["grpc_code"] == "NOT_FOUND"' GET /api/bots/backtests/0123456789abcdef/trace?bar_index=1
# JOB2 ran untraced: its bars are explained by a replay of the run (docs/explain-replay.md).
api "GET …/explain?bar_index of an untraced run answers replayed" 200 \
  "d['replayed'] is True and d['traced'] is True and d['bar_index'] == 100 and d['sections']" \
  GET "/api/bots/backtests/$JOB2/explain?bar_index=100"
api "GET …/trace?bar_index&bar_to of an untraced run answers replayed" 200 \
  "d['replayed'] is True and d['count'] > 0 and all(100 <= i['bar_index'] <= 120 for i in d['items'])" \
  GET "/api/bots/backtests/$JOB2/trace?bar_index=100&bar_to=120&limit=1000"
api "a trace window wider than the limit is 400 naming it" 400 '"at most 500 bars" in d["error"]' \
  GET "/api/bots/backtests/$JOB2/trace?bar_index=0&bar_to=600"

# --- jobs: list, cancel --------------------------------------------------------------------

both "GET /api/jobs lists both runs" 200 \
  "sorted(j['job_id'] for j in d['jobs']) == sorted(['$JOB2', '$JOB']) and 'next_page_token' in d and all(has(j, $STATUS_KEYS) for j in d['jobs'])" \
  GET /api/jobs
api "GET /api/jobs/ pages" 200 \
  "len(d['jobs']) == 1 and d['jobs'][0]['job_id'] in ('$JOB', '$JOB2') and d['next_page_token']" GET "/api/jobs/?page_size=1"
# A run of ~2.6M M1 bars takes seconds: it is still queued or running right after it is queued.
BIG=$(run_job '{"params": {"strategy": "sr_breakout", "data_source": "sample://", "symbols": "EURUSD", "timeframe": "M1", "start_date": "2015-01-01", "end_date": "2022-01-01"}}')
api "POST /api/jobs/{id}/cancel/ stops a running job" 200 \
  "d['job_id'] == '$BIG' and d['status'] in ('queued', 'running', 'cancelled')" POST "/api/jobs/$BIG/cancel/"
check "the cancelled job ends cancelled" test "$(wait_job "$BIG" 60)" = cancelled
api "GET /api/jobs/{id}/status/ of the cancelled job" 200 \
  'd["status"] == "cancelled" and d["error"] and d["result_url"] == ""' GET "/api/jobs/$BIG/status/"
api "POST /api/jobs/{id}/cancel of a finished job is 400" 400 \
  'd["grpc_code"] == "FAILED_PRECONDITION"' POST "/api/jobs/$JOB/cancel"
api "cancel of an unknown job is 404" 404 '' POST /api/jobs/0123456789abcdef/cancel/
api "the result of a cancelled job is 400 (not ready)" 400 'd["grpc_code"] == "FAILED_PRECONDITION"' GET "/api/jobs/$BIG/result/"
api "the status of an unknown job is 404" 404 'd["grpc_code"] == "NOT_FOUND"' GET /api/jobs/0123456789abcdef/status/

# --- live events (SSE) ---------------------------------------------------------------------

check "GET /api/jobs/{id}/events: every event, ids 1..last_seq, ends with end" sse_check full "$JOB" "$WORK/ids.json"
check "Last-Event-ID resumes with exactly the rest" sse_check resume "$JOB" "$WORK/ids.json" 50 header
check "from_seq resumes with exactly the rest" sse_check resume "$JOB" "$WORK/ids.json" 100 query
LIVE=$(run_job '{"params": {"strategy": "sr_breakout", "data_source": "sample://", "symbols": "EURUSD", "timeframe": "M1", "start_date": "2021-01-01", "end_date": "2022-01-01"}}')
check "a live stream cut after 5 events and resumed is the whole stream" sse_check live "$LIVE"
check "the live job finishes" test "$(wait_job "$LIVE")" = finished
api "events of an unknown job are 404" 404 'd["grpc_code"] == "NOT_FOUND"' GET /api/jobs/0123456789abcdef/events
api "a bad Last-Event-ID is 400" 400 '"Last-Event-ID" in d["error"]' GET "/api/jobs/$JOB/events" -H 'Last-Event-ID: soon'
check "GET /api/jobs/{id}/log (ndjson) replays the log" bash -c "
  curl -sSf --max-time 60 -H 'authorization: Token $ADMIN' '$GW/api/jobs/$JOB/log' |
    python3 -c 'import json,sys; rows=[json.loads(l)[\"result\"] for l in sys.stdin if l.strip()]; sys.exit(0 if rows and rows[-1][\"status\"][\"status\"] == \"finished\" else 1)'"

# --- another user --------------------------------------------------------------------------

BOB=$(add_user bob)
check "a second user has a token" test -n "$BOB"
AUTH=$BOB
api "another user does not see the jobs" 200 'd["jobs"] == []' GET /api/jobs/
for p in "/api/jobs/$JOB/status/" "/api/jobs/$JOB/result/" "/api/jobs/$JOB/events" \
  "/api/bots/backtests/$JOB/trace?bar_index=1" "/api/bots/backtest-runs/$JOB/explain"; do
  api "another user's job is 404: GET ${p//$JOB/ID}" 404 'd["grpc_code"] == "NOT_FOUND"' GET "$p"
done
api "another user's job is 404: POST /api/jobs/{id}/cancel/" 404 '' POST "/api/jobs/$JOB/cancel/"
api "presets belong to their owner" 404 '' GET /api/presets/e2e-a/
api "another user's preset list is their own" 200 'd["names"] == []' GET /api/presets/
BOBJOB=$(run_job "{\"params\": {\"strategy\": \"sma_cross\", $SAMPLE}}")
check "the second user's run finishes" test "$(wait_job "$BOBJOB")" = finished
AUTH=$ADMIN
api "staff see another user's job" 200 "d['owner'] == 'bob' and d['status'] == 'finished'" GET "/api/jobs/$BOBJOB/status/"
api "staff list every user's jobs" 200 "'$BOBJOB' in [j['job_id'] for j in d['jobs']]" GET /api/jobs/

# --- compare runs ----------------------------------------------------------------------------

# JOB and JOB2 differ in rr (the preset's) and ema_length; the rows of /api/compare are GetResult's
# stats with differences from the first job.
COMPARE_OK="[j['job_id'] for j in d['jobs']] == ['$JOB', '$JOB2'] and len(d['digests']) == 2 and {p['name'] for p in d['differing_params']} >= {'rr', 'ema_length'} and all(has(r, 'name', 'values', 'differences', 'same') and len(r['values']) == 2 and r['differences'][0] == 0 for r in d['stats']) and [r for r in d['stats'] if r['name'] == 'trades'][0]['values'][0] == json.load(open('$WORK/result.json'))['stats']['trades'] and len(d['equity']['curves']) == 2 and 2 <= len(d['equity']['times']) <= 2000 and all(isinstance(t, (int, float)) for t in d['equity']['times']) and d['equity']['curves'][0]['first'] == 0 and len(d['equity']['curves'][0]['values']) > 0"
both "GET /api/compare?jobs=a,b" 200 "$COMPARE_OK" GET "/api/compare?jobs=$JOB,$JOB2"
api "GET /api/compare with jobs repeated is the same" 200 "$COMPARE_OK" GET "/api/compare/?jobs=$JOB&jobs=$JOB2"
api "GET /api/compare?max_points=50 downsamples the axis" 200 \
  "len(d['equity']['times']) == 50 < d['equity']['total_times']" GET "/api/compare/?jobs=$JOB,$JOB2&max_points=50"
api "GET /api/compare with one job is 400 naming jobs" 400 \
  "d['grpc_code'] == 'INVALID_ARGUMENT' and d['error'].startswith('jobs:')" GET "/api/compare/?jobs=$JOB"
api "GET /api/compare with a job twice is 400 naming it" 400 \
  "'jobs[1]' in d['error'] and 'twice' in d['error']" GET "/api/compare/?jobs=$JOB,$JOB"
api "GET /api/compare with an unknown job is 404 naming it" 404 \
  "d['error'].startswith('jobs[1]: ')" GET "/api/compare/?jobs=$JOB,0123456789abcdef0123456789abcdef"
api "GET /api/compare with a job that has not finished is 400" 400 \
  "d['grpc_code'] == 'FAILED_PRECONDITION' and 'jobs[1]' in d['error']" GET "/api/compare/?jobs=$JOB,$BIG"
AUTH=$BOB
api "GET /api/compare of another user's job is 404" 404 "d['error'].startswith('jobs[0]: ')" GET "/api/compare/?jobs=$JOB,$BOBJOB"
AUTH=$ADMIN
api "staff compare any users' jobs" 200 "len(d['jobs']) == 2" GET "/api/compare/?jobs=$JOB,$BOBJOB"
check "GET /compare/ is the compare page" bash -c "curl -sSf --max-time 30 '$GW/compare/?jobs=$JOB,$JOB2' | grep -q 'compare.js'"

# --- what is not there ---------------------------------------------------------------------

api "an unknown path is 404" 404 'd["code"] == 404' GET /api/nothing-here/
api "a wrong method is 405" 405 'd["code"] == 405' PUT /api/presets/
api "a wrong method on /run/ is 405" 405 '' GET /run/

# --- metrics and the access log -------------------------------------------------------------

# metrics_check: the gateway's /metrics after the walk above, read line by line as the text
# format defines them: requests by route pattern and code (no series names a job), durations,
# bytes, no SSE stream left open, the Go collector.
metrics_check() {
  python3 - "$GW_METRICS" "$JOB" <<'PY'
import re, sys, urllib.request
url, job = sys.argv[1], sys.argv[2]
with urllib.request.urlopen(url, timeout=30) as r:
    ctype, text = r.headers.get("content-type", ""), r.read().decode()
if not ctype.startswith("text/plain"):
    raise SystemExit(f"content-type {ctype!r}")
series = {}
for line in text.splitlines():
    if line and not line.startswith("#"):
        m = re.fullmatch(r'([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)', line)
        if not m:
            raise SystemExit(f"unreadable line {line!r}")
        labels = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(3) or ""))
        series.setdefault(m.group(1), []).append((labels, float(m.group(4))))
def value(name, **want):
    return sum(v for labels, v in series.get(name, []) if all(labels.get(k) == w for k, w in want.items()))
checks = {
    "status polls counted under the route pattern": value("backtest_gateway_http_requests_total", route="/api/jobs/{job_id}/status", method="GET", code="200") > 0,
    "401s counted": value("backtest_gateway_http_requests_total", code="401") > 0,
    "404s of unknown paths counted as unmatched": value("backtest_gateway_http_requests_total", route="unmatched", code="404") > 0,
    "event streams counted": value("backtest_gateway_http_requests_total", route="/api/jobs/{job_id}/events", code="200") > 0,
    "durations observed": value("backtest_gateway_http_request_duration_seconds_count", route="/api/jobs/{job_id}/result") > 0,
    "result bytes counted": value("backtest_gateway_http_response_bytes_total", route="/api/jobs/{job_id}/result") > 100000,
    "no SSE subscriber left": value("backtest_gateway_sse_subscribers") == 0,
    "the Go collector": "go_goroutines" in series,
    "no label names a job": job not in text,
}
bad = [k for k, ok in checks.items() if not ok]
if bad:
    raise SystemExit("failed: " + "; ".join(bad))
PY
}
check "GET /metrics (its own listener) counts the walk by route pattern" metrics_check
api "the login link's page" 200 '' GET "/?token=$ADMIN" -H "Referer: $GW/?token=$ADMIN"
check "one access line per request, with its id" grep -q \
  'msg=request request_id=e2e-req-1 method=GET route=/api/params path=/api/params/ status=200 ' "$WORK/gateway.log"
# no_token_logged: access lines were written, and none of the tokens used above is in the log.
no_token_logged() {
  grep -q 'msg=request' "$WORK/gateway.log" &&
    ! grep -F -e "$ADMIN" -e "$BOB" -e bt_0000000000000000000000000000000000000000000 -e not-a-token "$WORK/gateway.log"
}
check "no token in the gateway's log" no_token_logged

echo "($((SECONDS - t_start)) s)"
finish
