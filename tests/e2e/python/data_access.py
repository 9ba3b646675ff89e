"""The data access policy, tried as a hostile user would (tests/e2e/data_access_e2e.sh).

The server runs with --data-root WORK/data, --staff-data-root WORK/staff and
--data-allow-network 127.0.0.2/32. A refusal at submission is PERMISSION_DENIED (or
INVALID_ARGUMENT for a malformed path) naming data_source, with nothing queued; a refusal the
runner finds (a symlink, a redirect, a DNS answer) fails the job with an error naming data_source
and no result. Refusals read the same whether the file behind them exists.

Usage: data_access.py ADDRESS GATEWAY_URL STAFF_TOKEN USER_TOKEN WORK
"""
import http.server
import json
import os
import socketserver
import sys
import threading
import urllib.error
import urllib.request

from hostile_grpc import C, Sweep, bs

ADDRESS, GATEWAY, STAFF, USER, WORK = sys.argv[1:6]
DATA, STAFF_DIR, OUTSIDE = (os.path.join(WORK, d) for d in ("data", "staff", "outside"))
s = Sweep(ADDRESS, USER)
WINDOW = {"strategy": "sma_cross", "timeframe": "H1", "start_date": "2022-01-03",
          "end_date": "2022-01-12", "fast_period": 2, "slow_period": 3}
# Valid candles: a secret shaped like data would come back as a chart if it were read.
CSV = "time,open,high,low,close\n" + "".join(
    f"{1641168000 + 3600 * i},1.{i:02d},1.{i + 1:02d},1.{i:02d},1.{i:02d}\n" for i in range(60))


def write(path, text=CSV):
    with open(path, "w") as f:
        f.write(text)


write(os.path.join(DATA, "EURUSD_H1.csv"))
write(os.path.join(STAFF_DIR, "GBPUSD_H1.csv"))
secret = os.path.join(OUTSIDE, "secret.csv")
write(secret)
os.symlink(secret, os.path.join(DATA, "XAGUSD_H1.csv"))                      # absolute, out
os.symlink("../outside/secret.csv", os.path.join(DATA, "XAUUSD_H1.csv"))     # relative, out
os.symlink(os.path.join(OUTSIDE, "nothing.csv"), os.path.join(DATA, "GBPJPY_H1.csv"))  # missing
os.symlink(OUTSIDE, os.path.join(DATA, "sub", "out"))                        # a directory, out
os.symlink("/proc/self/environ", os.path.join(DATA, "PROC_H1.csv"))
os.symlink("/dev/zero", os.path.join(DATA, "ZERO_H1.csv"))
os.symlink(os.path.join(DATA, "EURUSD_H1.csv"), os.path.join(DATA, "sub", "USDJPY_H1.csv"))  # in


def refused_at_submit(name, params, codes=(C.PERMISSION_DENIED,), token=None):
    req = bs.RunBacktestRequest()
    for k, v in {**WINDOW, **params}.items():
        req.params[k].string_value = str(v)
    before = len(s.call(s.b.ListJobs, bs.ListJobsRequest(page_size=500), token=token).jobs)
    s.expect(name, s.b.RunBacktest, req, codes, "data_source", token=token)
    after = len(s.call(s.b.ListJobs, bs.ListJobsRequest(page_size=500), token=token).jobs)
    s.check(f"{name}: nothing queued", after == before, f"{after - before} job(s) queued")


def run_fails(name, params, words, token=None):
    job = s.wait(s.run({**WINDOW, **params}, token=token), token=token)
    if job.status != "failed":
        s.bad(name, f"job {job.status}, wanted failed")
    elif "data_source" not in job.error or words not in job.error:
        s.bad(name, f"error {job.error[:300]!r} names not data_source and {words!r}")
    else:
        s.ok()
    return job


def run_finishes(name, params, token=None):
    job = s.wait(s.run({**WINDOW, **params}, token=token), token=token)
    s.check(name, job.status == "finished", f"{job.status}: {job.error[:300]}")


data = "file://" + DATA
# --- file:// ------------------------------------------------------------------------------------
run_finishes("a file in the data root", {"symbols": "EURUSD", "data_source": data})
run_finishes("a symlink inside the root", {"symbols": "USDJPY", "data_source": data + "/sub"})
refused_at_submit("/etc", {"symbols": "PASSWD", "data_source": "file:///etc"})
refused_at_submit("a sibling of the root", {"symbols": "SECRET", "data_source": "file://" + OUTSIDE})
refused_at_submit("a root-named prefix", {"symbols": "EURUSD", "data_source": data + "2"})
refused_at_submit("/proc", {"symbols": "ENVIRON", "data_source": "file:///proc/self"})
refused_at_submit("/dev", {"symbols": "ZERO", "data_source": "file:///dev"})
for url in [data + "/%2e%2e/outside", data + "/%2E%2E", data + "/sub/..%2f..%2foutside",
            data + "/..%2Foutside"]:
    refused_at_submit(f"'..' after decoding: {url[len(data):]}", {"symbols": "SECRET", "data_source": url},
                      codes=(C.INVALID_ARGUMENT, C.PERMISSION_DENIED))
# The answer for a directory that does not exist is the answer for one that does.
msgs = []
for d in (OUTSIDE, OUTSIDE + "-not-there"):
    req = bs.RunBacktestRequest()
    req.params["data_source"].string_value = "file://" + d
    try:
        s.call(s.b.RunBacktest, req)
        msgs.append("accepted")
    except Exception as e:  # grpc.RpcError
        msgs.append(e.details().replace(d, "DIR"))
s.check("refusals read the same whether the directory exists", msgs[0] == msgs[1], repr(msgs))
escape_errors = {}
for symbol in ["XAGUSD", "XAUUSD", "GBPJPY"]:
    job = run_fails(f"symlink out of the root ({symbol})", {"symbols": symbol, "data_source": data},
                    "outside the allowed data roots")
    escape_errors[symbol] = job.error.replace(symbol, "SYM")
s.check("a symlink to a missing file reads as one to an existing file",
        escape_errors["XAGUSD"] == escape_errors["GBPJPY"], repr(escape_errors))
run_fails("a directory symlink out of the root", {"symbols": "secret", "data_source": data + "/sub/out"},
          "outside the allowed data roots")
# (Under a root that holds /proc and /dev they are refused as system files and devices: the engine's
# unit tests, FileRootTest.SystemFilesAndDevicesAreRefusedEvenUnderTheRootSlash.)
run_fails("a symlink to /proc", {"symbols": "PROC", "data_source": data}, "outside the allowed")
run_fails("a symlink to /dev/zero", {"symbols": "ZERO", "data_source": data}, "outside the allowed")
# Staff have their wider root; users do not.
refused_at_submit("a user in the staff root", {"symbols": "GBPUSD", "data_source": "file://" + STAFF_DIR})
run_finishes("staff in the staff root", {"symbols": "GBPUSD", "data_source": "file://" + STAFF_DIR},
             token=STAFF)
refused_at_submit("staff outside every root", {"symbols": "SECRET", "data_source": "file://" + OUTSIDE},
                  token=STAFF)


# --- http(s):// -------------------------------------------------------------------------------------
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802
        if self.path.startswith("/ok/"):
            body = CSV.encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        # /to/HOST:PORT/...: a redirect to there
        target = self.path[len("/to/"):]
        self.send_response(302)
        self.send_header("Location", "http://" + target)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


allowed = socketserver.ThreadingTCPServer(("127.0.0.2", 0), Handler)
refused = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
for srv in (allowed, refused):
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, daemon=True).start()
ok_base = f"http://127.0.0.2:{allowed.server_address[1]}"
bad_port = refused.server_address[1]
run_finishes("an allowed network", {"symbols": "EURUSD", "data_source": ok_base + "/ok"})
for url in ["http://169.254.169.254/latest/meta-data", "http://127.0.0.1:%d/ok" % bad_port,
            "http://[::1]:%d/ok" % bad_port, "http://10.0.0.1/ok", "http://[::ffff:169.254.169.254]/",
            "http://0.0.0.0:%d/ok" % bad_port]:
    refused_at_submit(f"literal {url}", {"symbols": "EURUSD", "data_source": url})
run_fails("a DNS name that resolves to loopback", {"symbols": "EURUSD",
          "data_source": f"http://localhost:{bad_port}/ok"}, "loopback")
run_fails("a redirect to loopback", {"symbols": "EURUSD",
          "data_source": f"{ok_base}/to/127.0.0.1:{bad_port}/ok"}, "loopback")
run_fails("a redirect to the metadata address", {"symbols": "EURUSD",
          "data_source": f"{ok_base}/to/169.254.169.254/latest"}, "link-local")
run_fails("a redirect to a name that resolves to loopback", {"symbols": "EURUSD",
          "data_source": f"{ok_base}/to/localhost:{bad_port}/ok"}, "loopback")
run_finishes("a redirect to an allowed server is followed", {
    "symbols": "EURUSD", "data_source": f"{ok_base}/to/127.0.0.2:{allowed.server_address[1]}/ok"})

# --- REST: the same refusal, as HTTP 403 naming data_source ----------------------------------------
body = json.dumps({"params": {"data_source": "file:///etc", "symbols": "PASSWD"}}).encode()
req = urllib.request.Request(GATEWAY + "/run/", data=body, method="POST", headers={
    "Authorization": f"Token {USER}", "Content-Type": "application/json"})
try:
    with urllib.request.urlopen(req, timeout=10) as r:
        s.bad("REST /run/ with file:///etc", f"HTTP {r.status}")
except urllib.error.HTTPError as e:
    text = e.read().decode(errors="replace")
    s.check("REST /run/ with file:///etc is 403 naming data_source",
            e.code == 403 and "data_source" in text, f"HTTP {e.code} {text[:200]}")

for srv in (allowed, refused):
    srv.shutdown()
    srv.server_close()
sys.exit(s.report("data access"))
