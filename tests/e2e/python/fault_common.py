"""Shared pieces of the fault tests (tests/e2e/fault_*.sh): the real backtestd as a child process
that can be killed with SIGKILL and restarted on the same database, its thread/RSS/fd figures, the
SQLite integrity check, and a check counter that prints what was checked.

The client is backtestd.Client (the backtestd package the build installs into build/venv); the
binaries from $BACKTEST_BIN_DIR, else build/bin.
"""

import atexit
import os
import pathlib
import re
import signal
import subprocess
import sys
import time

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

ROOT = pathlib.Path(os.environ.get("BACKTEST_SOURCE_DIR", pathlib.Path(__file__).parents[3]))
BIN = pathlib.Path(os.environ.get("BACKTEST_BIN_DIR", ROOT / "build" / "bin"))

from backtestd import BacktestError, Client  # noqa: E402,F401
from backtestd._gen.backtest.v1 import backtest_service_pb2 as bt  # noqa: E402
from backtestd._gen.backtest.v1 import backtest_service_pb2_grpc as bt_grpc  # noqa: E402

FINAL = ("finished", "failed", "cancelled")
# A few thousand H1 bars: done in well under a second.
SMALL = {"strategy": "sma_cross", "symbols": "EURUSD", "timeframe": "H1",
         "start_date": "2022-01-01", "end_date": "2022-07-01"}


def minute_run(start: str, end: str, **extra) -> dict:
    """sample:// minute bars from start to end (about 370k bars a year)."""
    return {"symbols": "EURUSD", "timeframe": "M1", "start_date": start, "end_date": end, **extra}


class Checks:
    """Counts and prints checks: `ok   name` or `FAIL name` with the detail."""

    def __init__(self):
        self.passed = 0
        self.failed = 0

    def check(self, name: str, condition: bool, detail: str = "") -> bool:
        if condition:
            self.passed += 1
            print(f"ok   {name}", flush=True)
        else:
            self.failed += 1
            print(f"FAIL {name}" + (f"\n     {detail}" if detail else ""), flush=True)
        return condition

    def note(self, text: str) -> None:
        print(f"     {text}", flush=True)

    def finish(self) -> int:
        print(f"{self.passed} passed, {self.failed} failed", flush=True)
        return 0 if self.failed == 0 and self.passed > 0 else 1


class Server:
    """backtestd on 127.0.0.1 with an ephemeral port and its database in `workdir`."""

    def __init__(self, workdir: pathlib.Path, *args: str, db: pathlib.Path = None):
        self.dir = pathlib.Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.db = pathlib.Path(db) if db else self.dir / "backtest.db"
        self.args = list(args)
        self.proc = None
        self.log_path = None
        self.starts = 0

    def start(self, timeout: float = 30.0) -> float:
        """Starts the server and waits until it listens; returns the seconds that took."""
        self.starts += 1
        self.log_path = self.dir / f"server.{self.starts}.log"
        log = open(self.log_path, "wb")
        began = time.monotonic()
        self.proc = subprocess.Popen(
            [str(BIN / "backtestd"), "--listen", "127.0.0.1:0", "--db", str(self.db),
             "--token-file", str(self.dir / "admin.token"), *self.args],
            stderr=log, stdout=subprocess.DEVNULL)
        log.close()
        # Never leave a server behind: killed at exit (a failed check or an exception), and
        # listed for the shell script's trap ($FAULT_PIDS_FILE) in case this process is killed.
        atexit.register(lambda proc=self.proc: proc.poll() is None and proc.kill())
        if os.environ.get("FAULT_PIDS_FILE"):
            with open(os.environ["FAULT_PIDS_FILE"], "a") as f:
                f.write(f"{self.proc.pid}\n")
        deadline = began + timeout
        while time.monotonic() < deadline:
            match = re.search(r"listening on (127\.0\.0\.1:\d+)", self.log())
            if match:
                self.address = match.group(1)
                self.token = (self.dir / "admin.token").read_text().strip()
                return time.monotonic() - began
            if self.proc.poll() is not None:
                break
            time.sleep(0.02)
        raise RuntimeError("backtestd did not start:\n" + self.log())

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path else ""

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def client(self, timeout: float = 30.0) -> Client:
        return Client(self.address, self.token, timeout=timeout)

    def metadata(self):
        return (("authorization", "Token " + self.token),)

    def kill9(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> int:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.terminate()
        try:
            return self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()

    def proc_status(self, field: str) -> int:
        """A number from /proc/PID/status (Threads, VmRSS in kB)."""
        text = pathlib.Path(f"/proc/{self.proc.pid}/status").read_text()
        return int(re.search(rf"^{field}:\s+(\d+)", text, re.M).group(1))

    def fds(self) -> int:
        return len(os.listdir(f"/proc/{self.proc.pid}/fd"))


def integrity(db: pathlib.Path) -> str:
    """`sqlite3 DB 'PRAGMA integrity_check'`, as the operator would run it."""
    done = subprocess.run(["sqlite3", str(db), "PRAGMA integrity_check"], capture_output=True,
                          text=True, timeout=120)
    return (done.stdout + done.stderr).strip()


def sql(db: pathlib.Path, query: str) -> str:
    done = subprocess.run(["sqlite3", str(db), query], capture_output=True, text=True, timeout=60)
    return (done.stdout + done.stderr).strip()


def wait_for(predicate, timeout: float, interval: float = 0.05):
    """Polls predicate() until it returns something true or the deadline passes (returns None)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            return None
        time.sleep(interval)


def wait_final(client: Client, job_id: str, timeout: float):
    """The job once it has ended (polled with GetJob), else None."""
    def ended():
        job = client.get_job(job_id)
        return job if job.status in FINAL else None
    return wait_for(ended, timeout)


def pid_gone(pid: int) -> bool:
    """True once the process is gone or a zombie (exited, waiting to be reaped)."""
    try:
        state = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return True
    return state in ("Z", "X")


def stream(server: Server, job_id: str, from_seq: int = 1, include_trace: bool = True,
           channel: grpc.Channel = None, timeout: float = None):
    """A raw StreamJobLog call (an iterator of messages that raises grpc.RpcError)."""
    channel = channel or grpc.insecure_channel(server.address)
    stub = bt_grpc.BacktestServiceStub(channel)
    return stub.StreamJobLog(bt.StreamJobLogRequest(job_id=job_id, from_seq=from_seq,
                                                    include_trace=include_trace),
                             metadata=server.metadata(), timeout=timeout)


def health(server: "Server", service: str) -> str:
    """The gRPC health status of `service` ("" for the server itself), e.g. "SERVING"."""
    with grpc.insecure_channel(server.address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        answer = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
        return health_pb2.HealthCheckResponse.ServingStatus.Name(answer.status)
