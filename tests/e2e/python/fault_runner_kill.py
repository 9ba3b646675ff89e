"""Fault: a runner process is SIGKILLed mid-job (tests/e2e/fault_runner_kill.sh).

Two victims (one plain, one traced, whose large trace frames may be cut mid-write) run beside
three identical bystander jobs. Each victim's runner gets SIGKILL once it is past loading. Checked:
the victim ends `failed` naming the signal (how long that took is reported, not asserted); a
follower of its log gets every event and the final status; the bystanders finish with identical
results (the same digest as a run after the kills); the server keeps serving.
"""

import os
import signal
import sys
import threading
import time

from fault_common import SMALL, Checks, Server, minute_run, pid_gone, wait_final, wait_for


def follow(client, job_id, out):
    try:
        out.extend(client.follow_log(job_id, include_trace=True))
    except Exception as e:  # recorded and checked below
        out.append(e)


def main(workdir: str) -> int:
    c = Checks()
    server = Server(workdir, "--workers", "5")
    server.start()
    client = server.client()

    victims = {
        "plain": client.run_backtest(minute_run("2019-01-01", "2026-01-01"), follow=False).job_id,
        "traced": client.run_backtest(minute_run("2019-01-01", "2026-01-01", trace_enabled=True),
                                      follow=False).job_id,
    }
    bystander = minute_run("2021-01-01", "2021-07-01")
    others = [client.run_backtest(bystander, follow=False).job_id for _ in range(3)]
    logs = {name: [] for name in victims}
    threads = [threading.Thread(target=follow, args=(server.client(), job_id, logs[name]))
               for name, job_id in victims.items()]
    for t in threads:
        t.start()

    for name, job_id in victims.items():
        def past_loading():
            job = client.get_job(job_id)
            return job if job.pid and job.progress.bars_done > 0 else None
        job = wait_for(past_loading, 60)
        if not c.check(f"{name} victim is running with a runner pid and progress", job is not None,
                       str(client.get_job(job_id))):
            continue
        c.note(f"{name}: SIGKILL to runner pid {job.pid} at bar {job.progress.bars_done:,} of "
               f"{job.progress.bars_total:,}")
        killed = time.monotonic()
        os.kill(job.pid, signal.SIGKILL)
        final = wait_final(client, job_id, 30)
        took = time.monotonic() - killed
        c.check(f"{name} victim ends failed", final is not None and final.status == "failed",
                str(final))
        if final is not None:
            c.note(f"{name}: failed {took:.2f} s after the SIGKILL; error = {final.error!r}")
            c.check(f"{name} victim's error names the runner and SIGKILL",
                    "runner" in final.error and "SIGKILL" in final.error, final.error)
        c.check(f"{name} victim's runner process is gone", pid_gone(job.pid))

    for t in threads:
        t.join(60)
    for name, events in logs.items():
        errors = [e for e in events if isinstance(e, Exception)]
        seqs = [e.seq for e in events if not isinstance(e, Exception)]
        last = events[-1] if events and not errors else None
        c.check(f"{name} victim's follower got seq 1..{len(seqs)} without gaps and the final "
                "status failed", not errors and seqs == list(range(1, len(seqs) + 1)) and
                last is not None and last.kind == "status" and last.data.status == "failed",
                str(errors or (last and last.data)))

    digests = []
    for job_id in others:
        final = wait_final(client, job_id, 120)
        ok = final is not None and final.status == "finished"
        c.check(f"bystander {job_id[:8]} finished", ok, str(final))
        if ok:
            digests.append(client.get_result(job_id, max_candles=1).digest)
    after = client.run_backtest(bystander, follow=False)
    c.check("the same run after the kills finishes", after.wait() == "finished", after.error)
    reference = client.get_result(after.job_id, max_candles=1).digest
    c.check("bystanders' results equal the undisturbed run's (digest)",
            len(digests) == 3 and set(digests) == {reference}, f"{digests} vs {reference}")
    small = client.run_backtest(SMALL, follow=False)
    c.check("server still serving: a new small job finishes", small.wait() == "finished")
    c.check("server process still up", server.alive())
    failed = [j for j in client.list_jobs(limit=100) if j.status == "failed"]
    c.check("exactly the two victims failed", sorted(j.job_id for j in failed) ==
            sorted(victims.values()), str([(j.job_id, j.error) for j in failed]))
    client.close()
    c.check("server stops cleanly (exit 0)", server.stop() == 0, server.log()[-2000:])
    return c.finish()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
