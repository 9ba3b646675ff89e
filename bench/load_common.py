"""Shared parts of bench/load and bench/soak: the project's Python environment, a backtestd (and
gateway) on 127.0.0.1 ephemeral ports with a private database, the generated stubs, /proc samples
of the server, and small statistics helpers.

The servers are started the way tests/e2e/lib.sh starts them (--listen 127.0.0.1:0, the address
read from the log, the staff token from admin.token beside the database).
"""

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.environ.get("BACKTEST_BIN_DIR") or os.path.join(ROOT, "build", "bin")
TOOLS = os.path.join(ROOT, "build", "tools", "bin")
VENV_PYTHON = os.path.join(ROOT, "build", "venv", "bin", "python")

# A small sma_cross job: ~10k H1 bars of sample:// EURUSD, ~970 events, a ~0.8 MB result (the job
# tests/bench/job_service_bench.cc times).
SMALL_JOB = {"strategy": "sma_cross", "symbols": "EURUSD", "timeframe": "H1",
             "start_date": "2020-01-01", "end_date": "2021-08-10"}
# Minute bars over decades: runs long enough to hold a worker or to be cancelled while it runs.
LONG_JOB = {"strategy": "sma_cross", "symbols": "EURUSD", "timeframe": "M1",
            "start_date": "2000-01-01", "end_date": "2026-01-01"}
FINAL = {"finished", "failed", "cancelled"}


def ensure_venv_python(script):
    """Re-executes SCRIPT under build/venv (grpcio lives there) unless grpc imports already."""
    try:
        import grpc  # noqa: F401
        return
    except ImportError:
        pass
    if os.environ.get("BACKTEST_LOAD_REEXEC") == "1" or not os.access(VENV_PYTHON, os.X_OK):
        sys.exit(f"{os.path.basename(script)}: no grpcio; run scripts/install-deps.sh "
                 f"(expected {VENV_PYTHON})")
    env = dict(os.environ, BACKTEST_LOAD_REEXEC="1")
    os.execve(VENV_PYTHON, [VENV_PYTHON, os.path.abspath(script)] + sys.argv[1:], env)


def generate_stubs(work):
    """Generates backtestd_client (with the _gen stubs) into WORK/python and imports the modules."""
    out = os.path.join(work, "python")
    subprocess.run(["bash", os.path.join(ROOT, "client", "python", "generate.sh"), out],
                   check=True, env=dict(os.environ, PYTHON=sys.executable),
                   stderr=subprocess.DEVNULL)
    sys.path.insert(0, out)
    from backtestd_client._gen.backtest.v1 import backtest_service_pb2 as bt
    from backtestd_client._gen.backtest.v1 import backtest_service_pb2_grpc as bt_grpc
    from backtestd_client._gen.backtest.v1 import preset_service_pb2 as ps
    from backtestd_client._gen.backtest.v1 import preset_service_pb2_grpc as ps_grpc
    return bt, bt_grpc, ps, ps_grpc


class Processes:
    """Starts backtestd and the gateway; stops what it started (SIGTERM, then SIGKILL)."""

    def __init__(self, keep=False):
        self.work = tempfile.mkdtemp(prefix="backtestd-load-")
        self.keep = keep
        self.procs = []
        # Private copies of the binaries: a rebuild of build/bin during a long run (the tree is
        # shared) must not swap the runner under a live server.
        self.bin = os.path.join(self.work, "bin")
        os.makedirs(self.bin)
        for name in ("backtestd", "backtest-runner", "backtest-gateway"):
            shutil.copy2(os.path.join(BIN, name), self.bin)

    def start_server(self, name, *args):
        d = os.path.join(self.work, name)
        os.makedirs(d, exist_ok=True)
        log_path = os.path.join(d, "server.log")
        log = open(log_path, "wb")
        cmd = [os.path.join(self.bin, "backtestd"), "--listen", "127.0.0.1:0",
               "--db", os.path.join(d, "backtest.db"), *args]
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=log)
        self.procs.append(proc)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with open(log_path, errors="replace") as f:
                m = re.search(r"listening on (127\.0\.0\.1:\d+)", f.read())
            if m:
                with open(os.path.join(d, "admin.token")) as f:
                    token = f.read().strip()
                return proc, m.group(1), token
            if proc.poll() is not None:
                break
            time.sleep(0.05)
        with open(log_path, errors="replace") as f:
            raise RuntimeError("backtestd did not start:\n" + f.read())

    def start_gateway(self, backend):
        log_path = os.path.join(self.work, "gateway.log")
        log = open(log_path, "wb")
        cmd = [os.path.join(self.bin, "backtest-gateway"), "--listen", "127.0.0.1:0",
               "--backend", backend]
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=log)
        self.procs.append(proc)
        import urllib.request
        deadline = time.monotonic() + 30
        url = None
        while time.monotonic() < deadline:
            if url is None:
                with open(log_path, errors="replace") as f:
                    m = re.search(r"url=(http://127\.0\.0\.1:\d+)/", f.read())
                url = m.group(1) if m else None
            if url:
                try:
                    with urllib.request.urlopen(url + "/healthz", timeout=2) as r:
                        if r.status == 200:
                            return proc, url
                except OSError:
                    pass
            if proc.poll() is not None:
                break
            time.sleep(0.05)
        with open(log_path, errors="replace") as f:
            raise RuntimeError("gateway did not become healthy:\n" + f.read())

    def stop(self, proc):
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def close(self):
        for proc in reversed(self.procs):
            self.stop(proc)
        if not self.keep:
            shutil.rmtree(self.work, ignore_errors=True)


def proc_sample(pid):
    """RSS and peak RSS (MB), threads and open fds of PID from /proc."""
    values = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                values[key] = int(rest.split()[0]) / 1024.0
            elif key == "Threads":
                values[key] = int(rest)
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    return dict(rss_mb=values.get("VmRSS", 0.0), peak_mb=values.get("VmHWM", 0.0),
                threads=values.get("Threads", 0), fds=fds)


def reset_peak_rss(pid):
    """Resets VmHWM of PID to its current RSS (clear_refs 5); False when not allowed."""
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def load_average():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def percentile(values, q):
    """Nearest-rank percentile of VALUES (0 < q <= 1); 0 for an empty list."""
    if not values:
        return 0.0
    s = sorted(values)
    k = max(0, min(len(s) - 1, int(round(q * len(s) + 0.5)) - 1))
    return s[k]


def fill(bt, bt_grpc, address, token, jobs):
    """Submits `jobs` SMALL_JOB jobs (waiting while the queue is full) and waits for their end."""
    import grpc
    stub = bt_grpc.BacktestServiceStub(grpc.insecure_channel(address))
    metadata = (("authorization", "Token " + token),)
    request = bt.RunBacktestRequest()
    for name, value in SMALL_JOB.items():
        request.params[name].string_value = value
    ids = []
    while len(ids) < jobs:
        try:
            ids.append(stub.RunBacktest(request, metadata=metadata, timeout=30).job_id)
        except grpc.RpcError as e:
            if e.code() != grpc.StatusCode.RESOURCE_EXHAUSTED:
                raise
            time.sleep(0.2)
    for job_id in ids:
        while stub.GetJob(bt.GetJobRequest(job_id=job_id), metadata=metadata,
                          timeout=30).job.status not in FINAL:
            time.sleep(0.1)
    return ids
