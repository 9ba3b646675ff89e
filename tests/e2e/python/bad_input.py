"""Hostile and malformed requests against the REST bridge (and through it the gRPC server).

Every request must get a clear 4xx answer with a JSON body naming the problem (never a 5xx), the
service must stay up, and nothing may be stored: the job and preset lists are the same before and
after. Prints one line per failure and the closing count line.

Usage: bad_input.py BASE_URL TOKEN
"""
import json
import sys
import urllib.error
import urllib.parse
import urllib.request

BASE, TOKEN = sys.argv[1], sys.argv[2]
passed = failed = 0


def request(method, path, body=None, token=TOKEN, raw=None, headers=None):
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    req = urllib.request.Request(BASE + path, data=data, method=method)
    if token is not None:
        req.add_header("Authorization", f"Token {token}")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def expect(name, method, path, codes, body=None, raw=None, token=TOKEN, mention=None):
    """The request answers one of `codes` with a JSON error body (that mentions `mention`)."""
    global passed, failed
    try:
        status, payload = request(method, path, body=body, raw=raw, token=token)
    except Exception as e:  # a dropped connection is a failure too
        failed += 1
        print(f"FAIL {name}: {e!r}")
        return
    problem = None
    if status not in codes:
        problem = f"HTTP {status}, wanted {sorted(codes)}"
    else:
        try:
            err = json.loads(payload)
            message = err.get("error") or err.get("message") or ""
            if not message:
                problem = "no error message in the body"
            elif mention and mention.lower() not in message.lower():
                problem = f"message {message!r} does not name {mention!r}"
        except ValueError:
            problem = f"body is not JSON: {payload[:80]!r}"
    if problem:
        failed += 1
        print(f"FAIL {name}: {problem}")
    else:
        passed += 1


def snapshot():
    _, jobs = request("GET", "/api/jobs/?page_size=500")
    _, presets = request("GET", "/api/presets/")
    return (sorted(j["job_id"] for j in json.loads(jobs)["jobs"]),
            sorted(json.loads(presets)["names"]))


before = snapshot()
bad = {400}
q = urllib.parse.quote

# --- RunBacktest: every parameter with wrong types and out-of-range values ---------------------
numbers = ["rr", "risk_per_trade", "min_risk_distance_atr", "sl_buffer_atr", "initial_equity",
           "breakout_min_strength_atr", "zone_inversion_margin_atr",
           "sr_cancellation_threshold_atr", "spread_pips", "commission", "slippage_pips", "size",
           "pip_size"]
integers = ["breakout_lookback_period", "ema_length", "fast_period", "slow_period",
            "trace_sampling", "max_candles"]
for name in numbers + integers:
    for value in ["abc", "1e999", "-1e999", "NaN", "1,5", "--1", "0x10", "", " ", "١٢"]:
        if value.strip() == "" and name in ("pip_size", "max_candles"):
            continue  # optional: empty means unset
        expect(f"{name}={value!r}", "POST", "/run/", bad, {"params": {name: value}}, mention=name)
    expect(f"{name}=list", "POST", "/run/", bad, {"params": {name: [1, 2]}}, mention=name)
    expect(f"{name}=object", "POST", "/run/", bad, {"params": {name: {"a": 1}}}, mention=name)
for name, value in [("rr", -1), ("rr", 0), ("risk_per_trade", 0.5), ("risk_per_trade", 0),
                    ("initial_equity", 0), ("initial_equity", 1e300), ("ema_length", 1),
                    ("breakout_lookback_period", 1), ("breakout_lookback_period", 10 ** 9),
                    ("ema_length", 2.5), ("trace_sampling", 0), ("max_candles", -5),
                    ("sl_buffer_atr", -0.1), ("min_risk_distance_atr", 0), ("spread_pips", -1),
                    ("commission", 0.5), ("size", 0), ("fast_period", 0)]:
    expect(f"{name}={value}", "POST", "/run/", bad, {"params": {name: value}}, mention=name)
for name, value in [("strategy", "martingale"), ("strategy", "SR_BREAKOUT; DROP TABLE jobs"),
                    ("timeframe", "H2"), ("timeframe", "1h"), ("market_type", "nfts"),
                    ("mode", "live"), ("check_for_daily_rsi", "maybe"),
                    ("trace_enabled", "sometimes"), ("symbols", ""), ("symbols", "EUR/USD"),
                    ("symbols", "../../etc/passwd"), ("symbols", "X" * 40),
                    ("symbols", ",".join(f"S{i}" for i in range(80))),
                    ("symbols", "EURUSD,EURUSD"), ("symbols", "EURUSD' OR '1'='1"),
                    ("symbols", "ÉURÜSD"), ("symbols", "EUR\u0000USD"),
                    ("data_source", "ftp://example"), ("data_source", "file:///data/../etc"),
                    ("data_source", "file:///etc/.."), ("data_source", "gopher://x"),
                    ("data_source", "http://a b"), ("data_source", "javascript:alert(1)"),
                    ("data_source", "x" * 5000), ("start_date", "yesterday"),
                    ("start_date", "2021-13-45"), ("start_date", "99999999999"),
                    ("start_date", "1800-01-01"), ("start_date", "2500-01-01"),
                    ("end_date", "2000-01-01"), ("start_date", "2021-11-26 25:61"),
                    ("end_date", "not a date"), ("start_date", "2021-11-26T13:10:00+99:00")]:
    expect(f"{name}={value[:30]!r}", "POST", "/run/", bad, {"params": {name: value}},
           mention=name)
expect("fast >= slow", "POST", "/run/", bad,
       {"params": {"strategy": "sma_cross", "fast_period": 30, "slow_period": 10}},
       mention="fast_period")
expect("unknown parameter", "POST", "/run/", bad, {"params": {"no_such": 1}}, mention="no_such")
expect("unknown parameter (unicode)", "POST", "/run/", bad, {"params": {"ñ💥": 1}})
expect("parameter given twice", "POST", "/run/", bad, {"params": {"rr": 2, "RR": 3}},
       mention="rr")
expect("unknown preset", "POST", "/run/", bad, {"params": {}, "preset": "nope"},
       mention="preset")
expect("preset traversal", "POST", "/run/", bad, {"params": {}, "preset": "../../etc/passwd"},
       mention="preset")
expect("params is a list", "POST", "/run/", bad, {"params": [1, 2]})
expect("params is a string", "POST", "/run/", bad, {"params": "rr=2"})
expect("unknown top-level field", "POST", "/run/", bad, {"params": {}, "bogus": 1})
for i, raw in enumerate([b"{", b"not json", b"[]", b"null", b'{"params": {"rr": }}',
                         b'{"params": {"rr": 2}', b"\xff\xfe\x00", b'{"params": 5}',
                         b'{"preset": 7}', b'{"params": {"rr": 2}} trailing']):
    expect(f"malformed body #{i}", "POST", "/run/", bad, raw=raw)
deep = b'{"params": {"rr": ' + b"[" * 5000 + b"]" * 5000 + b"}}"
expect("deeply nested body", "POST", "/run/", bad, raw=deep)
# Over the server's 4 MB message limit: RESOURCE_EXHAUSTED, 429.
expect("oversized body (8 MB)", "POST", "/run/", {400, 413, 429},
       raw=b'{"params": {"symbols": "' + b"A" * (8 << 20) + b'"}}')

# --- job ids: unknown, malformed and hostile → 404 everywhere --------------------------------
ids = ["0123456789abcdef0123456789abcdef", "..%2F..%2Fetc%2Fpasswd", q("' OR 1=1 --"), "%00",
       "A" * 3000, q("ジョブ"), "0123456789ABCDEF0123456789ABCDEF", "1", "%2e%2e"]
for job in ids:
    for path in [f"/api/jobs/{job}/status/", f"/api/jobs/{job}/result/", f"/api/jobs/{job}/",
                 f"/api/bots/backtests/{job}/trace", f"/api/bots/backtest-runs/{job}/explain",
                 f"/api/jobs/{job}/events", f"/api/jobs/{job}/log"]:
        expect(f"GET {path[:60]}", "GET", path, {404})
    expect(f"cancel {job[:20]}", "POST", f"/api/jobs/{job}/cancel/", {404})

# --- trace and explain filters on a real job --------------------------------------------------
status, body = request("POST", "/run/", {"params": {"symbols": "EURUSD", "timeframe": "H1",
                                                    "start_date": "2022-01-03",
                                                    "end_date": "2022-02-01",
                                                    "trace_enabled": True}})
job = json.loads(body)["job_id"]
for query, field in [("bar_index=abc", "bar_index"), ("bar_index=1e99", "bar_index"),
                     ("ts=yesterday", "ts"), ("ts=99999999999999", "ts"),
                     ("section=drop%20table", "section"), ("kind=x'%20or%201=1", "kind"),
                     ("limit=-1", "limit"), ("limit=1000000", "limit"),
                     ("offset=-1", "offset"), ("limit=abc", "limit")]:
    expect(f"trace ?{query}", "GET", f"/api/bots/backtests/{job}/trace?{query}", bad,
           mention=field)
for query, field in [("bar_index=abc", "bar_index"), ("ts=nonsense", "ts"),
                     ("include=indicators,bogus", "include"), ("bar_index=1&ts=2022-01-03", None)]:
    expect(f"explain ?{query}", "GET", f"/api/bots/backtests/{job}/explain?{query}", bad,
           mention=field)
for query in ["page_size=-1", "page_size=100000", "status=exploded", "page_token=garbage",
              "page_size=abc"]:
    expect(f"jobs ?{query}", "GET", f"/api/jobs/?{query}", bad)
expect("result max_candles=-1", "GET", f"/api/jobs/{job}/result/?max_candles=-1", {400})
expect("events from_seq=-5", "GET", f"/api/jobs/{job}/events?from_seq=-5", bad)

# --- presets ------------------------------------------------------------------------------------
for name in ["", " ", "../../etc/passwd", "a/b", "x" * 65, "tab\there", "nul\u0000",
             "semi;colon", "quote'", "emoji💥", "<script>", "%2e%2e"]:
    expect(f"preset name {name[:20]!r}", "POST", "/api/presets/", bad,
           {"name": name, "values": {"rr": 2}}, mention="name")
for values in [{"rr": -1}, {"bogus": 1}, {"ema_length": "x"}, {"symbols": "EUR/USD"},
               {"rr": [1]}, {"rr": {"a": 1}}]:
    expect(f"preset values {values}", "POST", "/api/presets/", bad,
           {"name": "ok-name", "values": values})
for name in ["nope", "..%2F..%2Fetc", "x" * 300]:
    expect(f"GET preset {name[:20]}", "GET", f"/api/presets/{name}/", {404, 400})
    expect(f"DELETE preset {name[:20]}", "DELETE", f"/api/presets/{name}/", {404, 400})

# --- auth: every wrong token form is 401 ------------------------------------------------------
for token in [None, "", "wrong", "bt_" + "A" * 43, TOKEN + "x", TOKEN[:-1], "Token " + TOKEN,
              "\u00e9" * 10, "x" * 5000]:
    for method, path in [("GET", "/api/jobs/"), ("POST", "/run/"), ("GET", "/api/params/"),
                         ("GET", "/api/presets/"), ("GET", f"/api/jobs/{job}/status/")]:
        expect(f"{method} {path[:30]} token {str(token)[:12]!r}", method, path, {401},
               body={"params": {}} if method == "POST" else None, token=token)

# --- the service is up and nothing was stored ---------------------------------------------------
status, _ = request("GET", "/healthz", token=None)
if status == 200:
    passed += 1
else:
    failed += 1
    print(f"FAIL healthz after the barrage: {status}")
jobs_after, presets_after = snapshot()
if presets_after == before[1] and sorted(set(jobs_after) - {job}) == before[0]:
    passed += 1
else:
    failed += 1
    print(f"FAIL something was stored: jobs {len(before[0])}→{len(jobs_after)} (+1 expected), "
          f"presets {before[1]}→{presets_after}")
print(f"{passed + failed} hostile or malformed requests")
print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
