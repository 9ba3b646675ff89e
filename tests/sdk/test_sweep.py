"""A sweep of an SDK strategy in `python -m backtestd.runner` (docs/sweeps.md): a RunSpec with a
SweepSpec in, SweepRowsEvents, progress and SweepDoneEvent out; every row's stats are those of
the single job with its parameters (vectorized and callback strategies); a refused or failing
combination is its row's error; the walk-forward runs; SIGTERM stops the workers; a worker that
dies fails the sweep naming its end."""
import math
import re
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

import backtestd
from backtestd import _native
from test_runner import frames, pb, run_job, spec_frame  # noqa: F401  (pb: the fixture)

VECTORIZED = textwrap.dedent('''
    """SMA crossover as arrays."""
    from backtestd import Float, Int, Strategy, ta


    class VecCross(Strategy):
        fast_period = Int(10, min=1)
        slow_period = Int(30, min=2)
        size = Float(1, min=0, min_exclusive=True)
        fail_fast = Int(-1, help="Raise when fast_period is this (tests)")

        def signals(self, data):
            if self.fast_period == self.fail_fast:
                raise ValueError("refused on purpose")
            cross = ta.sma_cross(data.close, self.fast_period, self.slow_period)
            return {"entries": cross > 0, "short_entries": cross < 0, "size": self.size}
''')

CALLBACK = textwrap.dedent('''
    """SMA crossover, a call per bar."""
    from backtestd import Float, Int, Strategy


    class BarCross(Strategy):
        fast_period = Int(10, min=1)
        slow_period = Int(30, min=2)
        size = Float(1, min=0, min_exclusive=True)

        def on_start(self):
            self.cross = self.crossover(self.sma(self.fast_period), self.sma(self.slow_period))

        def on_bar(self, bar):
            if self.cross.value > 0:
                self.buy(self.size)
            elif self.cross.value < 0:
                self.sell(self.size)
''')

BASE = {"symbols": "EURUSD", "timeframe": "H1", "start_date": "2022-01-03",
        "end_date": "2022-03-01"}


def make_folder(tmp_path, name, text):
    d = tmp_path / name
    d.mkdir()
    (d / "strategy.py").write_text(text)
    return d


def sweep_spec(pb, folder, name, names, combos, extra=None, walk_forward=None):
    values = _native.validate_params(BASE, int(time.time()))
    values.update({"strategy": name, "fast_period": "10", "slow_period": "30", "size": "1"})
    values.update(extra or {})
    sweep = pb.SweepSpec(names=names, objective="return_pct",
                         combinations=[pb.SweepCombination(values=c) for c in combos])
    if walk_forward:
        sweep.walk_forward.CopyFrom(walk_forward)
    return pb.RunSpec(job_id="s1", params=values, heartbeat_interval_ms=200, sweep=sweep,
                      external_strategy=pb.ExternalStrategy(
                          kind="sdk", path=str(folder),
                          source_hash=backtestd.loader.source_hash(str(folder))))


def start(spec, pb):
    r, w = os.pipe()
    proc = subprocess.Popen([sys.executable, "-m", "backtestd.runner", "--events-fd", str(w)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            pass_fds=(w,))
    os.close(w)
    proc.stdin.write(spec_frame(pb, spec))
    proc.stdin.close()
    return proc, r


def run_sweep(spec, pb):
    proc, r = start(spec, pb)
    with os.fdopen(r, "rb") as f:
        data = f.read()
    proc.wait(timeout=300)
    return proc.returncode, frames(data, pb, check_seq=True), proc.stderr.read().decode()


def rows_of(events):
    rows = {}
    for e in events:
        if e.WhichOneof("event") == "sweep_rows":
            for r in e.sweep_rows.rows:
                assert r.row not in rows, f"row {r.row} sent twice"
                rows[r.row] = r
    return rows


def same_stats(a, b):
    """Field for field, NaN equal to NaN."""
    for field, value in a.ListFields():
        other = getattr(b, field.name)
        if field.message_type is not None:
            same_stats(value, other)
        elif isinstance(value, float) and math.isnan(value):
            assert math.isnan(other), field.name
        else:
            assert value == other, (field.name, value, other)
    assert a.ByteSize() == b.ByteSize()


COMBOS = [[str(f), str(s)] for f in (3, 5, 8, 13) for s in (21, 34)]


@pytest.mark.parametrize("name,text", [("vec_cross", VECTORIZED), ("bar_cross", CALLBACK)])
def test_every_row_is_its_single_job(pb, tmp_path, name, text):
    folder = make_folder(tmp_path, name, text)
    spec = sweep_spec(pb, folder, name, ["fast_period", "slow_period"], COMBOS)
    code, events, err = run_sweep(spec, pb)
    assert code == 0, err
    kinds = [e.WhichOneof("event") for e in events]
    assert kinds[-2:] == ["sweep_done", "end"] and events[-2].sweep_done.rows == len(COMBOS)
    assert events[-1].end.outcome == pb.RunEnd.OUTCOME_FINISHED
    assert "result" not in kinds
    logs = [e.log.text for e in events if e.WhichOneof("event") == "log"]
    assert any(t.startswith(f"sweep of {len(COMBOS)} combinations of 2 parameter(s)") for t in logs)
    progress = [e.progress for e in events if e.WhichOneof("event") == "progress"]
    assert progress[-1].stage == "sweep" and progress[-1].bars_done == len(COMBOS)
    rows = rows_of(events)
    assert sorted(rows) == list(range(len(COMBOS)))
    for i, (fast, slow) in enumerate(COMBOS):
        assert not rows[i].error, rows[i].error
        code, single, err = run_job(pb, folder, {"strategy": name, "fast_period": fast,
                                                 "slow_period": slow})
        assert code == 0, err
        same_stats(rows[i].stats, single[-2].result.stats)  # its last event is the end
    assert len({rows[i].stats.return_pct for i in rows}) > 1  # the values did reach the strategy


def test_refused_and_failing_combinations_are_their_rows_errors(pb, tmp_path):
    folder = make_folder(tmp_path, "vec_cross", VECTORIZED)
    combos = [["5", "21"], ["0", "21"], ["8", "21"], ["13", "21"]]
    spec = sweep_spec(pb, folder, "vec_cross", ["fast_period", "slow_period"], combos,
                      extra={"fail_fast": "8"})
    code, events, err = run_sweep(spec, pb)
    assert code == 0, err
    rows = rows_of(events)
    assert not rows[0].error and not rows[3].error
    assert rows[1].error.startswith("fast_period: must be >= 1"), rows[1].error
    assert "ValueError: refused on purpose" in rows[2].error and "in signals" in rows[2].error


def test_the_walk_forward_runs_on_the_sweeps_data(pb, tmp_path):
    folder = make_folder(tmp_path, "vec_cross", VECTORIZED)
    wf = pb.WalkForwardSpec(train_bars=300, test_bars=150)
    spec = sweep_spec(pb, folder, "vec_cross", ["fast_period", "slow_period"], COMBOS,
                      walk_forward=wf)
    code, events, err = run_sweep(spec, pb)
    assert code == 0, err
    kinds = [e.WhichOneof("event") for e in events]
    assert kinds[-3:] == ["walk_forward", "sweep_done", "end"]
    result = events[-3].walk_forward
    assert len(result.windows) >= 2
    for w in result.windows:
        assert 0 <= w.best_row < len(COMBOS)
    for t in result.trades:
        w = result.windows[t.window]
        assert w.test_start <= t.entry_time and t.exit_time < w.test_end
    wf_progress = [e.progress for e in events
                   if e.WhichOneof("event") == "progress" and e.progress.stage == "walk_forward"]
    assert wf_progress[-1].bars_done == wf_progress[-1].bars_total == \
        len(result.windows) * (len(COMBOS) + 1)


SLOW = textwrap.dedent('''
    """A slow strategy: every bar sleeps (the cancel test)."""
    import os
    import time

    from backtestd import Int, Strategy, Text


    class Slow(Strategy):
        fast_period = Int(10, min=1)
        slow_period = Int(30, min=2)
        size = Int(1)
        folder = Text("")

        def on_bar(self, bar):
            open(os.path.join(self.folder, f"started-{os.getpid()}"), "w").close()
            time.sleep(0.002)
''')


def test_sigterm_stops_every_worker(pb, tmp_path):
    folder = make_folder(tmp_path, "slow", SLOW)
    combos = [[str(f), "30"] for f in range(1, 41)]
    spec = sweep_spec(pb, folder, "slow", ["fast_period", "slow_period"], combos,
                      extra={"folder": str(tmp_path)})
    proc, r = start(spec, pb)
    deadline = time.monotonic() + 60
    while len([p for p in os.listdir(tmp_path) if p.startswith("started-")]) < 2:
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.01)  # polling the workers' marks, with a deadline
    workers = {int(p.split("-")[1]) for p in os.listdir(tmp_path) if p.startswith("started-")}
    assert proc.pid not in workers  # the combinations run in worker processes
    stopped = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    with os.fdopen(r, "rb") as f:
        events = frames(f.read(), pb)
    proc.wait(timeout=60)
    assert time.monotonic() - stopped < 5
    assert proc.returncode == 1
    assert events[-1].end.outcome == pb.RunEnd.OUTCOME_CANCELLED
    assert events[-1].end.code == "cancelled"
    assert events[-1].end.message.startswith("sweep cancelled after ")
    assert len(rows_of(events)) < len(combos)
    for pid in workers:  # every worker is gone (reaped by the runner)
        assert not os.path.exists(f"/proc/{pid}") or \
            open(f"/proc/{pid}/stat").read().split()[2] == "Z"


def test_a_worker_that_dies_fails_the_sweep_naming_its_end(pb, tmp_path):
    folder = make_folder(tmp_path, "vec_cross", VECTORIZED.replace(
        'raise ValueError("refused on purpose")',
        'import os, signal; os.kill(os.getpid(), signal.SIGKILL)'))
    combos = [[str(f), "30"] for f in range(3, 13)]
    spec = sweep_spec(pb, folder, "vec_cross", ["fast_period", "slow_period"], combos,
                      extra={"fail_fast": "7"})
    code, events, err = run_sweep(spec, pb)
    assert code == 1, err
    failure = events[-1].end
    assert failure.code == "internal"
    assert re.fullmatch(r"sweep: a worker process \(pid \d+\) ended: killed by signal 9 \(.*\)",
                        failure.message), failure.message
    rows = rows_of(events)
    assert 7 - 3 not in rows  # the row the worker died on is not among the rows sent
