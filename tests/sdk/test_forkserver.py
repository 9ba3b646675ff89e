"""`python -m backtestd.runner --fork-server`: one process that has done its imports forks a runner
per job sent over its stdin socket (backtestd.forkserver). Run here outside the sandbox (its
leftover-clearing is the sandbox's, tested through the server: tests/integration/
strategy_jobs_test.cc); what is checked: the protocol, each job's result as a plain runner's, the
exit status reported, a crash not ending the server, no job's state reaching the next."""
import os
import socket
import subprocess
import sys
import textwrap
import threading
import time

import pytest

import backtestd
from backtestd import _native
from test_runner import frames, pb, run_job, spec_frame  # noqa: F401  (pb: the fixture)

STRATEGY = textwrap.dedent('''
    """SMA crossover that also tells what earlier jobs left in its process."""
    import os

    import backtestd
    from backtestd import Float, Int, Strategy


    class MyCross(Strategy):
        fast_period = Int(10, min=1)
        slow_period = Int(30, min=2)
        size = Float(1, min=0, min_exclusive=True)
        exit_code = Int(-1, help="os._exit with it in on_start (tests)")

        def on_start(self):
            backtestd.left_by_earlier_jobs = getattr(backtestd, "left_by_earlier_jobs", 0) + 1
            self.log(f"jobs seen by this process: {backtestd.left_by_earlier_jobs}")
            self.log(f"pid {os.getpid()} parent {os.getppid()}")
            if self.exit_code >= 0:
                os._exit(self.exit_code)
            self.cross = self.crossover(self.sma(self.fast_period), self.sma(self.slow_period))

        def on_bar(self, bar):
            c = self.cross.value
            if c > 0:
                self.buy(self.size, reason="cross_up")
            elif c < 0:
                self.sell(self.size, reason="cross_down")
''')


@pytest.fixture
def folder(tmp_path):
    d = tmp_path / "my_cross"
    d.mkdir()
    (d / "strategy.py").write_text(STRATEGY)
    return d


class ForkServer:
    def __init__(self):
        self.control, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "backtestd.runner", "--fork-server", "--events-fd", "3"],
            stdin=theirs.fileno(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        theirs.close()

    def job(self, pb, folder, params):
        values = _native.validate_params({"symbols": "EURUSD", "timeframe": "H1",
                                          "start_date": "2022-01-03", "end_date": "2022-03-01"},
                                         int(time.time()))
        values.update(params)
        spec = pb.RunSpec(job_id="j", params=values, heartbeat_interval_ms=200,
                          external_strategy=pb.ExternalStrategy(
                              kind="sdk", path=str(folder),
                              source_hash=backtestd.loader.source_hash(str(folder))))
        spec_r, spec_w = os.pipe()
        ev_r, ev_w = os.pipe()
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        socket.send_fds(self.control, [b"job"], [spec_r, ev_w, out_w, err_w])
        for fd in (spec_r, ev_w, out_w, err_w):
            os.close(fd)
        os.write(spec_w, spec_frame(pb, spec))
        os.close(spec_w)
        got = {}

        def drain(name, fd):
            chunks = []
            with os.fdopen(fd, "rb") as f:
                while True:
                    b = f.read(65536)
                    if not b:
                        break
                    chunks.append(b)
            got[name] = b"".join(chunks)

        threads = [threading.Thread(target=drain, args=a)
                   for a in (("events", ev_r), ("stdout", out_r), ("stderr", err_r))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        self.control.settimeout(120)
        reply = self.control.recv(64).decode().split()
        assert reply[0] == "exit", reply
        status = int(reply[1])
        return (os.waitstatus_to_exitcode(status), frames(got["events"], pb, check_seq=True),
                got["stderr"].decode(), float(reply[2]))

    def close(self):
        self.control.close()  # the server's end: the fork server exits
        self.proc.wait(timeout=30)
        return self.proc.returncode


def logs(events):
    return [e.log.text for e in events if e.WhichOneof("event") == "log"]


def test_jobs_back_to_back_each_as_a_plain_runners(pb, folder):
    server = ForkServer()
    try:
        code, plain, err = run_job(pb, folder, {"strategy": "my_cross", "fast_period": "7"})
        assert code == 0, err
        pids = set()
        for round in range(3):
            code, events, err, cpu = server.job(pb, folder, {"strategy": "my_cross",
                                                             "fast_period": "7"})
            assert code == 0, err
            assert [e.WhichOneof("event") for e in events[-2:]] == ["result", "end"]
            assert events[-1].end.outcome == pb.RunEnd.OUTCOME_FINISHED
            assert events[-2].result.digest == plain[-2].result.digest
            # A fresh copy of a process that ran no job: nothing of the earlier rounds.
            assert "jobs seen by this process: 1" in logs(events), logs(events)
            child = [t for t in logs(events) if t.startswith("pid ")][0].split()
            assert int(child[3]) == server.proc.pid  # forked by the fork server
            pids.add(int(child[1]))
            assert 0 < cpu < 60
        assert len(pids) == 3
    finally:
        assert server.close() == 0


def test_a_child_that_dies_is_reported_and_the_next_job_runs(pb, folder):
    server = ForkServer()
    try:
        code, events, _, _ = server.job(pb, folder, {"strategy": "my_cross", "exit_code": "3"})
        assert code == 3
        assert not any(e.WhichOneof("event") == "result" for e in events)
        code, events, err, _ = server.job(pb, folder, {"strategy": "my_cross"})
        assert code == 0, err
        assert [e.WhichOneof("event") for e in events[-2:]] == ["result", "end"]
    finally:
        assert server.close() == 0


def test_the_fork_server_is_warm_before_its_first_job(pb, folder):
    server = ForkServer()
    try:
        # It has done its imports (numpy's libraries are mapped) and waits on its socket.
        deadline = time.monotonic() + 60
        maps = ""
        while time.monotonic() < deadline and "numpy" not in maps:
            with open(f"/proc/{server.proc.pid}/maps") as f:
                maps = f.read()
            time.sleep(0.05)
        assert "numpy" in maps and server.proc.poll() is None
        code, events, err, _ = server.job(pb, folder, {"strategy": "my_cross"})
        assert code == 0, err
    finally:
        assert server.close() == 0


def test_a_malformed_request_is_answered_and_the_server_goes_on(pb, folder):
    server = ForkServer()
    try:
        server.control.send(b"hello")
        server.control.settimeout(60)
        assert server.control.recv(64).startswith(b"error")
        code, events, err, _ = server.job(pb, folder, {"strategy": "my_cross"})
        assert code == 0, err
    finally:
        assert server.close() == 0


def test_emptying_tmp_keeps_the_sandboxs_own_mounts(tmp_path):
    # With the build or the strategy folder under /tmp, bubblewrap's read-only binds sit in the
    # sandbox's /tmp: what a job wrote goes, around and beside them; the mounts stay untouched.
    from backtestd.forkserver import _empty_dir
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "b" / "kept").write_text("a file of the mount")
    (tmp_path / "a" / "written").write_text("a job's")
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "deep").write_text("a job's")
    (tmp_path / "loose").write_text("a job's")
    _empty_dir(str(tmp_path), mounts=[str(tmp_path / "a" / "b")])
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*")) == [
        "a", "a/b", "a/b/kept"]
