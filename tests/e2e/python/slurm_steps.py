"""Strategy-folder jobs as Slurm steps, on a real one-node cluster
(tests/e2e/slurm_steps_e2e.sh starts it; docs/runner-backends.md).

Checked, each against the same work on the local backend: an SDK strategy's job and a backtrader
bot's job run as Slurm steps (their logs say so) in the sandbox, with the local run's trades and
digest; a strategy that reaches for the network is refused by the sandbox on the node as it is
locally; an Explain replay of an untraced SDK run runs as a step too.
"""

import os
import pathlib
import shutil
import subprocess
import sys

from fault_common import ROOT, Checks, Server, wait_final, wait_for

SDK_JOB = {"strategy": "my_cross", "symbols": "EURUSD", "timeframe": "H1",
           "start_date": "2022-01-01", "end_date": "2022-07-01", "fast_period": 8}
BOT_JOB = {"strategy": "sr_bot", "symbols": "XAGUSD", "timeframe": "H1",
           "start_date": "2023-01-01", "data_source": f"file://{ROOT}/tests/golden"}
UNTRACED_SDK_JOB = dict(SDK_JOB, trace_enabled=False)
SOCKET_JOB = {"strategy": "opens_socket", "symbols": "EURUSD", "timeframe": "H1",
              "start_date": "2022-01-01", "end_date": "2022-02-01"}
SOCKET_STRATEGY = '''import socket

from backtestd import Strategy


class OpensSocket(Strategy):
    def on_start(self):
        socket.create_connection(("1.1.1.1", 443), timeout=5)
        print("BREACH connected")

    def on_bar(self, bar):
        pass
'''


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
    """What the local backend makes of every job the Slurm one is compared with."""
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
    client.close()
    server.stop()
    return want


def main(workdir: str) -> int:
    c = Checks()
    folder = strategy_folder(workdir)
    want = local_figures(workdir, folder)

    server = Server(f"{workdir}/slurm", "--runner-backend", "slurm", "--workers", "2",
                    "--strategy-dir", folder, "--data-root", str(ROOT / "tests" / "golden"),
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

    client.close()
    server.stop()
    return c.finish()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
