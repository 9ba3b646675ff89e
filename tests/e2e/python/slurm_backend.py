"""The Slurm runner backend on a real one-node cluster (tests/e2e/slurm_e2e.sh starts it).

Checked: a job through `--runner-backend slurm` runs as a Slurm job step (its log says which job,
step and node) and gives the same result, digest included, as the same job run locally; a
cancel stops the step (it leaves squeue); kill -9 of the runner on the node fails the job with
srun's error naming the step's failure, and the next job runs; after kill -9 of the server with
two jobs running as steps and one queued, the steps still run on the cluster; the restarted
server cancels them (they leave squeue, their runners the node) and fails their jobs saying so,
runs the queued job once, and leaves no job queued or running.
"""

import os
import re
import signal
import subprocess
import sys
import time

from fault_common import SMALL, Checks, Server, minute_run, wait_final, wait_for


def squeue() -> str:
    return subprocess.run(["squeue", "-h", "-o", "%j %T"], capture_output=True, text=True,
                          check=True).stdout


def step_of(job_id: str) -> str:
    """The Slurm state of job_id's step ("" once it has left the queue)."""
    for line in squeue().splitlines():
        name, state = line.split()
        if name == f"backtestd-{job_id}":
            return state
    return ""


def runner_pid_of(job_id: str):
    """The pid of job_id's backtest-runner on the node (this machine), or None."""
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read()
            with open(f"/proc/{pid}/environ", "rb") as f:
                env = f.read().split(b"\0")
        except OSError:
            continue
        if b"backtest-runner" in cmd and f"SLURM_JOB_NAME=backtestd-{job_id}".encode() in env:
            return int(pid)
    return None


def log_text(client, job_id: str) -> str:
    return "\n".join(e.data.text for e in client.follow_log(job_id) if e.kind == "log")


def main(workdir: str) -> int:
    c = Checks()
    local = Server(f"{workdir}/local")
    local.start()
    client = local.client()
    run = client.run_backtest(SMALL, follow=False)
    run.wait()
    want = client.get_result(run.job_id)
    client.close()
    local.stop()

    server = Server(f"{workdir}/slurm", "--runner-backend", "slurm", "--workers", "2")
    server.start()
    client = server.client()
    run = client.run_backtest(SMALL, follow=False)
    job = wait_final(client, run.job_id, 60)
    c.check("a job through srun finishes", job is not None and job.status == "finished",
            str(job and job.error))
    got = client.get_result(run.job_id)
    c.check("… with the local run's result: digest, candles, trades",
            got.digest == want.digest and len(got.candles) == len(want.candles)
            and len(got.trades) == len(want.trades), f"{got.digest} vs {want.digest}")
    c.check("its runner reference names the Slurm job, step and node",
            re.fullmatch(r"slurm job [0-9]+ step 0 on node localhost", job.runner) is not None,
            job.runner)
    text = log_text(client, run.job_id)
    c.check("its log names the Slurm job step and node",
            "a Slurm job step named backtestd-" in text and "runner: slurm job" in text,
            text[:400])

    # file:// data the node cannot find: the error says where it was read and what a node needs.
    data_root = server.dir / "data"
    data_root.mkdir(exist_ok=True)
    missing = dict(SMALL, symbols="NOTONNODE", data_source=f"file://{data_root}")
    job = wait_final(client, client.run_backtest(missing, follow=False).job_id, 60)
    c.check("file:// data missing on the node: the job fails naming the node and the shared path",
            job is not None and job.status == "failed" and "no data for NOTONNODE" in job.error
            and "read on the Slurm node localhost" in job.error
            and "share with the server" in job.error, str(job and job.error))

    long_job = client.run_backtest(minute_run("1990-01-01", "2026-01-01"), follow=False).job_id
    c.check("a long job runs as a step (squeue RUNNING)",
            wait_for(lambda: step_of(long_job) == "RUNNING", 30) is not None, squeue())
    cancelled_at = time.monotonic()
    client.cancel(long_job)
    gone = wait_for(lambda: step_of(long_job) == "", 15, interval=0.01)
    gone_s = time.monotonic() - cancelled_at
    job = wait_final(client, long_job, 30)
    c.check("a cancel ends the job cancelled", job is not None and job.status == "cancelled",
            str(job and job.status))
    # How long it took is a figure, not a check (docs/benchmarks.md: BM_SlurmCancelToStepGone).
    c.check(f"… and its step leaves the cluster's queue (after {gone_s:.2f} s)",
            gone is not None, squeue())

    victim = client.run_backtest(minute_run("1990-01-01", "2026-01-01"), follow=False).job_id
    pid = wait_for(lambda: runner_pid_of(victim), 30)
    c.check("a long job's runner runs on the node", pid is not None, squeue())
    if pid is not None:
        os.kill(pid, signal.SIGKILL)
    job = wait_final(client, victim, 30)
    c.check("kill -9 of the runner on the node: the job fails naming the step's failure",
            job is not None and job.status == "failed" and "the Slurm step failed (srun: error:"
            in job.error, str(job and job.error))
    run = client.run_backtest(SMALL, follow=False)
    job = wait_final(client, run.job_id, 60)
    c.check("… and the next job runs", job is not None and job.status == "finished",
            str(job and job.error))

    # Both workers' jobs running as steps, their runners in their bar loops (a runner still
    # loading its data acts on the restart's cancel only at its first bar, and its step holds its
    # CPU meanwhile), and one queued behind them, when the server is killed.
    long_run = minute_run("1990-01-01", "2026-01-01", strategy="sr_breakout", trace_enabled="true")
    orphans = [client.run_backtest(long_run, follow=False).job_id for _ in range(2)]
    queued = client.run_backtest(SMALL, follow=False).job_id
    c.check("two long jobs running as steps, in their bar loops, one queued",
            wait_for(lambda: all(step_of(j) == "RUNNING" and client.get_job(j).progress.bars_done
                                 > 0 for j in orphans), 60) is not None
            and client.get_job(queued).status == "queued", squeue())
    client.close()
    server.kill9()
    c.check("kill -9 of the server: their steps still run on the cluster",
            all(step_of(j) == "RUNNING" for j in orphans), squeue())
    server.start()
    client = server.client()
    for j in orphans:
        job = client.get_job(j)
        c.check("the restarted server fails each running job and says it cancelled its step",
                job.status == "failed" and "Slurm step was cancelled" in job.error, job.error)
    c.check("… and their steps leave the cluster (none runs unseen)",
            wait_for(lambda: all(step_of(j) == "" for j in orphans), 15) is not None, squeue())
    c.check("… and their runners are gone from the node",
            wait_for(lambda: all(runner_pid_of(j) is None for j in orphans), 30) is not None,
            str([runner_pid_of(j) for j in orphans]))
    job = wait_final(client, queued, 60)
    c.check("the queued job runs once, to its end",
            job is not None and job.status == "finished"
            and log_text(client, queued).count("a Slurm job step named backtestd-") == 1,
            str(job and job.error))
    stuck = [j.job_id for j in client.list_jobs() if j.status in ("queued", "running")]
    c.check("no job is left queued or running", not stuck, str(stuck))
    run = client.run_backtest(SMALL, follow=False)
    job = wait_final(client, run.job_id, 60)
    c.check("the restarted server runs jobs through Slurm again",
            job is not None and job.status == "finished")
    client.close()
    server.stop()
    return c.finish()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
