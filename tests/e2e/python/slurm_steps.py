"""Strategy-folder jobs and sweeps as Slurm steps, on a real one-node cluster
(tests/e2e/slurm_steps_e2e.sh starts it; docs/runner-backends.md, docs/sweeps.md).

Checked, each against the same work on the local backend: an SDK strategy's job and a backtrader
bot's job run as Slurm steps (their logs say so) in the sandbox, with the local run's trades and
digest; a strategy that reaches for the network is refused by the sandbox on the node as it is
locally; an Explain replay of an untraced SDK run runs as a step too. A sweep fans out in chunks
of combinations, a step each, several at once: its rows are those of the local sweep, field for
field, for a built-in strategy and for an SDK strategy, with a walk-forward after the rows. A
cancel ends the sweep cancelled and every one of its steps leaves the queue; kill -9 of one
step's runner fails the sweep naming that step; kill -9 of the server mid-sweep, then a
restart: the old steps are cancelled, the sweep resumes from its stored rows to the local rows.
"""

import os
import pathlib
import re
import shutil
import signal
import subprocess
import sys

from fault_common import ROOT, Checks, Server, minute_run, wait_final, wait_for

SDK_JOB = {"strategy": "my_cross", "symbols": "EURUSD", "timeframe": "H1",
           "start_date": "2022-01-01", "end_date": "2022-07-01", "fast_period": 8}
BOT_JOB = {"strategy": "sr_bot", "symbols": "XAGUSD", "timeframe": "H1",
           "start_date": "2023-01-01", "data_source": f"file://{ROOT}/tests/golden"}
UNTRACED_SDK_JOB = dict(SDK_JOB, trace_enabled=False)
SOCKET_JOB = {"strategy": "opens_socket", "symbols": "EURUSD", "timeframe": "H1",
              "start_date": "2022-01-01", "end_date": "2022-02-01"}
# 18 combinations: chunks of 4 make 5 steps.
SWEEP = ({"strategy": "sma_cross", "symbols": "EURUSD", "timeframe": "H1",
          "start_date": "2021-01-01", "end_date": "2023-01-01"},
         {"fast_period": {"start": 5, "stop": 30, "step": 5}, "slow_period": [40, 60, 80]})
SDK_SWEEP = ({"strategy": "my_cross", "symbols": "EURUSD", "timeframe": "H1",
              "start_date": "2022-01-01", "end_date": "2022-04-01"},
             {"fast_period": [5, 10, 15], "slow_period": [30, 50]})
WALK_FORWARD = {"mode": "rolling", "train_bars": 1000, "test_bars": 500}
# Minute bars over years, many combinations: long enough to cancel or kill in the middle.
LONG_SWEEP = (minute_run("2015-01-01", "2019-01-01", strategy="sma_cross"),
              {"fast_period": {"start": 5, "stop": 60, "step": 1}, "slow_period": [100, 200]})

SOCKET_STRATEGY = '''import socket

from backtestd import Strategy


class OpensSocket(Strategy):
    def on_start(self):
        socket.create_connection(("1.1.1.1", 443), timeout=5)
        print("BREACH connected")

    def on_bar(self, bar):
        pass
'''


def squeue_names() -> list:
    out = subprocess.run(["squeue", "-h", "-o", "%j"], capture_output=True, text=True,
                         check=True).stdout
    return out.split()


def steps_of(job_id: str) -> int:
    return squeue_names().count(f"backtestd-{job_id}")


def runner_pids_of(job_id: str) -> list:
    """The pids of job_id's backtest-runner processes on the node (this machine)."""
    pids = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read().split(b"\0")
            with open(f"/proc/{pid}/environ", "rb") as f:
                env = f.read().split(b"\0")
        except OSError:
            continue
        if cmd and cmd[0].endswith(b"backtest-runner") and \
                f"SLURM_JOB_NAME=backtestd-{job_id}".encode() in env:
            pids.append(int(pid))
    return pids


def slurm_jobs_named(job_id: str) -> int:
    """Slurm jobs named after job_id, finished ones included (scontrol keeps them a while)."""
    out = subprocess.run(["scontrol", "-o", "show", "jobs"], capture_output=True, text=True,
                         check=True).stdout
    return sum(f"JobName=backtestd-{job_id} " in line for line in out.splitlines())


def log_text(client, job_id: str) -> str:
    return "\n".join(e.data.text for e in client.follow_log(job_id) if e.kind == "log")


def trades_of(result) -> list:
    return [(t.symbol, t.side, t.entry_time, t.exit_time, t.entry_price, t.exit_price, t.pnl)
            for t in result.trades]


def rows_of(client, sweep_id: str) -> dict:
    """row -> (params, every stat, error), the stats as their exact text."""
    rows = {}
    for r in client.sweep_rows(sweep_id, order_by="", limit=10000):
        rows[r.row] = (dict(r.params), str(r.stats), r.error)
    return rows


def strategy_folder(workdir: str) -> str:
    folder = pathlib.Path(workdir) / "strategies"
    folder.mkdir(parents=True)
    for name in ("my_cross", "sr_bot"):
        shutil.copytree(ROOT / "examples" / "strategies" / name, folder / name)
    (folder / "opens_socket").mkdir()
    (folder / "opens_socket" / "strategy.py").write_text(SOCKET_STRATEGY)
    for path in [folder, *folder.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    os.chmod(workdir, 0o755)
    return str(folder)


def wait_listed(client, names) -> bool:
    return wait_for(lambda: {s.name for s in client.list_strategies()} >= set(names), 30) \
        is not None


def run_sweep(client, sweep, **kw) -> str:
    params, ranges = sweep
    return client.run_sweep(params, ranges, objective="return_pct", **kw).sweep_id


def explained(client, slurm: bool = False) -> str:
    """Explain of a bar of an untraced SDK run (a replay runs it again), the job's id left out.
    With `slurm`, the run and its replay must each have been a Slurm job."""
    run = client.run_backtest(UNTRACED_SDK_JOB, follow=False)
    job = wait_final(client, run.job_id, 120)
    assert job is not None and job.status == "finished", job
    before = slurm_jobs_named(run.job_id) if slurm else 0
    answer = str(client.explain(run.job_id, bar_index=300)).replace(run.job_id, "JOB")
    if slurm and (before, slurm_jobs_named(run.job_id)) != (1, 2):
        return f"the replay was no Slurm job: {before} then {slurm_jobs_named(run.job_id)}"
    return answer


def local_figures(workdir: str, folder: str) -> dict:
    """What the local backend makes of every job and sweep the Slurm one is compared with."""
    server = Server(f"{workdir}/local", "--strategy-dir", folder, "--data-root",
                    str(ROOT / "tests" / "golden"))
    server.start()
    client = server.client()
    assert wait_listed(client, ["my_cross", "sr_bot", "opens_socket"])
    want = {}
    for key, params in (("sdk", SDK_JOB), ("bot", BOT_JOB)):
        run = client.run_backtest(params, follow=False)
        job = wait_final(client, run.job_id, 120)
        assert job is not None and job.status == "finished", job
        want[key] = client.get_result(run.job_id)
    run = client.run_backtest(SOCKET_JOB, follow=False)
    want["socket"] = wait_final(client, run.job_id, 60)
    want["explain"] = explained(client)
    for key, sweep, kw in (("sweep", SWEEP, {"walk_forward": WALK_FORWARD}),
                           ("sdk_sweep", SDK_SWEEP, {}), ("long", LONG_SWEEP, {})):
        sweep_id = run_sweep(client, sweep, **kw)
        job = wait_final(client, sweep_id, 600)
        assert job is not None and job.status == "finished", job
        want[key] = rows_of(client, sweep_id)
        want[key + "_wf"] = str(client.get_sweep(sweep_id).walk_forward)
    client.close()
    server.stop()
    return want


def main(workdir: str) -> int:
    c = Checks()
    folder = strategy_folder(workdir)
    want = local_figures(workdir, folder)

    server = Server(f"{workdir}/slurm", "--runner-backend", "slurm", "--workers", "2",
                    "--strategy-dir", folder, "--data-root", str(ROOT / "tests" / "golden"),
                    "--slurm-sweep-chunk", "4", "--slurm-sweep-steps", "2",
                    "--cancel-grace-ms", "1000")
    server.start()
    client = server.client()
    c.check("the strategy folder is listed", wait_listed(client, ["my_cross", "sr_bot"]))

    # --- strategy-folder jobs as steps --------------------------------------------------------
    for key, params, what in (("sdk", SDK_JOB, "an SDK strategy's job"),
                              ("bot", BOT_JOB, "a backtrader bot's job")):
        run = client.run_backtest(params, follow=False)
        job = wait_final(client, run.job_id, 120)
        c.check(f"{what} through srun finishes", job is not None and job.status == "finished",
                str(job and job.error))
        text = log_text(client, run.job_id)
        c.check("… as a Slurm job step", "a Slurm job step named backtestd-" in text,
                text[:600])
        c.check("… its runner reference names the Slurm job, step and node (through the sandbox)",
                re.fullmatch(r"slurm job [0-9]+ step [0-9]+ on node localhost", job.runner)
                is not None, job.runner)
        got = client.get_result(run.job_id)
        c.check(f"… with the local run's trades and digest",
                got.digest == want[key].digest and trades_of(got) == trades_of(want[key])
                and len(got.trades) > 0, f"{got.digest} vs {want[key].digest}")
    run = client.run_backtest(SOCKET_JOB, follow=False)
    job = wait_final(client, run.job_id, 60)
    c.check("a strategy reaching for the network is refused by the sandbox on the node",
            job is not None and job.status == "failed"
            and "Permission denied" in job.error and job.error == want["socket"].error,
            f"{job and job.error!r} vs local {want['socket'].error!r}")
    c.check("… and printed no breach", "BREACH" not in log_text(client, run.job_id))
    got = explained(client, slurm=True)
    c.check("Explain of an untraced SDK run: the replay (a step) answers as the local one",
            got == want["explain"] and "bar_index: 300" in got, got[:400])

    # --- sweeps in chunks -----------------------------------------------------------------------
    c.check("the local sweeps have their rows and walk-forward",
            (len(want["sweep"]), len(want["sdk_sweep"]), len(want["long"])) == (18, 6, 112)
            and "windows" in want["sweep_wf"],
            f'{len(want["sweep"])} {len(want["sdk_sweep"])} {len(want["long"])}')
    for key, sweep, kw, what in (("sweep", SWEEP, {"walk_forward": WALK_FORWARD},
                                  "a sweep (18 combinations, walk-forward)"),
                                 ("sdk_sweep", SDK_SWEEP, {}, "an SDK strategy's sweep")):
        sweep_id = run_sweep(client, sweep, **kw)
        job = wait_final(client, sweep_id, 600)
        c.check(f"{what} in chunks of 4 finishes", job is not None and job.status == "finished",
                str(job and job.error))
        text = log_text(client, sweep_id)
        steps = len(want[key]) // 4 + (len(want[key]) % 4 > 0)
        c.check(f"… in {steps} Slurm steps", f"in {steps} Slurm steps" in text and
                f"step {steps} of {steps} (rows" in text, text[:800])
        c.check("… its rows those of the local sweep, field for field",
                rows_of(client, sweep_id) == want[key])
        n = len(want[key])
        progress = [(e.data.bars_done, e.data.bars_total) for e in client.follow_log(sweep_id)
                    if e.kind == "progress" and e.data.stage == "sweep"]
        c.check("… its progress the whole sweep's, merged from its steps (not a chunk's)",
                progress and all(total == n for _, total in progress)
                and [d for d, _ in progress] == sorted(d for d, _ in progress)
                and progress[-1][0] == n, str(progress))
        c.check("… and its log's last word the whole sweep's, with the best row",
                f"sweep: {n} of {n} combinations in " in text and "; best return_pct " in text,
                text[-600:])
        if kw:
            c.check("… and its walk-forward too (one more step)",
                    str(client.get_sweep(sweep_id).walk_forward) == want[key + "_wf"]
                    and "the walk-forward runs in one more step" in text)

    # --- cancel: every step leaves the queue ----------------------------------------------------
    sweep_id = run_sweep(client, LONG_SWEEP)
    c.check("a long sweep runs two steps at once",
            wait_for(lambda: steps_of(sweep_id) == 2, 60) is not None, str(squeue_names()))
    client.cancel(sweep_id)
    job = wait_final(client, sweep_id, 30)
    c.check("a cancel ends the sweep cancelled", job is not None and job.status == "cancelled",
            str(job and job.status))
    c.check("… and every one of its steps leaves the queue",
            wait_for(lambda: steps_of(sweep_id) == 0, 15) is not None, str(squeue_names()))

    # --- kill -9 of a step's runner: the sweep fails naming the step ----------------------------
    sweep_id = run_sweep(client, LONG_SWEEP)
    pids = wait_for(lambda: runner_pids_of(sweep_id), 60)
    c.check("a long sweep's step runs its runner on the node", bool(pids), str(squeue_names()))
    if pids:
        os.kill(pids[0], signal.SIGKILL)
    job = wait_final(client, sweep_id, 60)
    c.check("kill -9 of a step's runner fails the sweep naming the step and srun's error",
            job is not None and job.status == "failed" and job.error.startswith("sweep step ")
            and "(rows " in job.error and "the Slurm step failed (srun: error:" in job.error,
            str(job and job.error))
    c.note(job.error if job else "")
    c.check("… and its other steps leave the queue",
            wait_for(lambda: steps_of(sweep_id) == 0, 15) is not None, str(squeue_names()))

    # --- kill -9 of the server mid-sweep: resumes after the restart -----------------------------
    sweep_id = run_sweep(client, LONG_SWEEP)
    c.check("another long sweep stores rows",
            wait_for(lambda: client.get_sweep(sweep_id).rows_done >= 8, 120) is not None)
    client.close()
    server.kill9()
    server.start()
    client = server.client()
    job = wait_final(client, sweep_id, 600)
    c.check("after kill -9 and a restart the sweep resumes to its end",
            job is not None and job.status == "finished", str(job and job.error))
    text = log_text(client, sweep_id)
    c.check("… its old steps cancelled by the restart", "Slurm step was cancelled" in text,
            text[-800:])
    c.check("… with the local sweep's rows, none twice", rows_of(client, sweep_id) == want["long"])
    client.close()
    server.stop()
    return c.finish()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
