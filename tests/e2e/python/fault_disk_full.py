"""Fault: the database's disk fills up (tests/e2e/fault_disk_full.sh mounts a small file system
for the database directory and passes it here).

A traced run is writing when a filler file takes the rest of the disk. Checked: that run fails with
an error naming the full disk; the server stays up and answers reads; new submissions are
refused with RESOURCE_EXHAUSTED naming the full disk once the database cannot grow; the services
report NOT_SERVING in gRPC health (readiness) while the server itself stays SERVING; after the
filler is removed readiness returns, every accepted job reaches an end (none left queued or running), new jobs
finish, the old results are intact and `PRAGMA integrity_check` is ok.
"""

import collections
import os
import pathlib
import sys
import time

import grpc

from fault_common import (SMALL, BacktestError, Checks, Server, health, integrity, minute_run,
                          pid_gone, wait_final, wait_for)

BACKTEST_SERVICE = "backtest.v1.BacktestService"


def fill(path: pathlib.Path) -> int:
    """Writes zeros to `path` until the file system is full; returns the bytes written."""
    written = 0
    with open(path, "wb", buffering=0) as f:
        chunk = b"\0" * 65536
        while True:
            try:
                written += f.write(chunk)
            except OSError as e:
                if e.errno != 28:  # ENOSPC
                    raise
                if len(chunk) == 1:
                    return written
                chunk = chunk[: len(chunk) // 2]


def main(workdir: str, dbdir: str) -> int:
    c = Checks()
    dbdir = pathlib.Path(dbdir)
    server = Server(workdir, "--workers", "2", "--queue-size", "1000", "--readiness-probe-ms", "200",
                    db=dbdir / "backtest.db")
    server.start()
    client = server.client()
    st = os.statvfs(dbdir)
    c.note(f"database file system: {st.f_blocks * st.f_frsize // 2**20} MiB")

    before = client.run_backtest(SMALL, follow=False)
    c.check("a job finishes before the disk fills", before.wait() == "finished")
    digest = client.get_result(before.job_id, max_candles=1).digest

    traced = client.run_backtest(minute_run("2020-01-01", "2024-01-01", trace_enabled=True),
                                 follow=False).job_id
    writing = wait_for(lambda: (lambda j: j if j.pid and j.progress.bars_done > 0 else None)(
        client.get_job(traced)), 60)
    c.check("a traced run is writing", writing is not None)
    filled = fill(dbdir / "filler")
    full_at = time.monotonic()
    st = os.statvfs(dbdir)
    c.note(f"filler took {filled / 2**20:.1f} MiB; {st.f_bavail * st.f_frsize} bytes left")
    # Removing the filler must give back more than the WAL holds, so that a checkpoint can move
    # the whole WAL into the database file. (How much the traced run wrote before the disk filled
    # depends on the machine's speed: the filler is not always most of the disk.)
    wal_path = dbdir / "backtest.db-wal"
    wal = wal_path.stat().st_size if wal_path.exists() else 0
    c.check("the filler holds more than the WAL (so removing it gives a checkpoint room)",
            filled > wal, f"filler {filled} bytes, WAL {wal} bytes")
    stopped = wait_for(lambda: pid_gone(writing.pid), 20) if writing else None
    c.check(f"the server stops the writing run's runner "
            f"({time.monotonic() - full_at:.2f} s after the disk filled)", stopped is not None)
    job = client.get_job(traced)
    c.note(f"while full the run is {job.status!r} (its end is stored when space allows)")
    c.check("while full, it is failed naming the disk or still waiting to store its end",
            job.status == "running" or (job.status == "failed" and "disk full" in job.error),
            f"{job.status} {job.error}")

    c.check("the server answers reads while the disk is full (GetJob, ListJobs, GetResult)",
            client.get_job(before.job_id).status == "finished" and
            len(client.list_jobs(limit=10)) >= 2 and
            client.get_result(before.job_id, max_candles=1).digest == digest)
    accepted, refused = [], None
    for _ in range(200):
        try:
            accepted.append(client.run_backtest(SMALL, follow=False).job_id)
        except BacktestError as e:
            refused = e
            break
    c.note(f"{len(accepted)} submissions were accepted before the first refusal")
    c.check("a submission is refused with RESOURCE_EXHAUSTED", refused is not None and
            refused.code == grpc.StatusCode.RESOURCE_EXHAUSTED, str(refused))
    if refused is not None:
        c.note(f"refusal: {refused.message!r}")
        c.check("the refusal names the full disk", "disk full" in refused.message,
                refused.message)
    c.check("server process up while the disk is full", server.alive())
    c.check("readiness: the job service reports NOT_SERVING while the disk is full",
            wait_for(lambda: health(server, BACKTEST_SERVICE) == "NOT_SERVING", 10) is not None,
            health(server, BACKTEST_SERVICE))
    c.check("… while the server itself stays SERVING (alive)", health(server, "") == "SERVING")
    waiting = collections.Counter(client.get_job(j).status for j in accepted)
    c.note(f"accepted jobs while full: {dict(waiting)}")

    os.remove(dbdir / "filler")
    freed = time.monotonic()
    job = wait_final(client, traced, 30)
    c.check(f"the run that was writing ends failed ({time.monotonic() - freed:.2f} s after "
            "space returned)", job is not None and job.status == "failed", str(job))
    if job is not None:
        c.note(f"its error: {job.error!r}")
        c.check("its error names the full disk", "disk full" in job.error, job.error)
    ends = [wait_final(client, j, 60) for j in accepted]
    settled = time.monotonic() - freed
    c.check(f"after space returns every accepted job ends ({settled:.2f} s)",
            all(e is not None for e in ends))
    outcomes = collections.Counter(
        (e.status, "disk full" in e.error) for e in ends if e is not None)
    c.note("their ends (status, error names the disk): " + str(dict(outcomes)))
    c.check("each ended finished, or failed naming the full disk",
            all(e is not None and (e.status == "finished" or
                                   (e.status == "failed" and "disk full" in e.error))
                for e in ends))
    c.check("none left queued or running",
            not client.list_jobs(status="running") and not client.list_jobs(status="queued"))
    refusals = []

    def submit():
        try:
            return client.run_backtest(SMALL, follow=False)
        except BacktestError as e:
            refusals.append(e.message)
            return None
    after = wait_for(submit, 20, interval=0.2)
    c.check(f"readiness: SERVING again once space returned ({time.monotonic() - freed:.2f} s)",
            wait_for(lambda: health(server, BACKTEST_SERVICE) == "SERVING", 20) is not None,
            health(server, BACKTEST_SERVICE))
    c.check(f"submissions are accepted again ({time.monotonic() - freed:.2f} s after freeing, "
            f"{len(refusals)} refused before)", after is not None, str(refusals[-1:]))
    if after is None:
        return c.finish()
    c.check(f"a new job finishes after space returns "
            f"({time.monotonic() - freed:.2f} s after freeing)", after.wait() == "finished")
    c.check("the new job's result equals the one from before the disk filled",
            client.get_result(after.job_id, max_candles=1).digest == digest)
    c.check("integrity_check while serving is ok", integrity(server.db) == "ok",
            integrity(server.db))
    client.close()
    c.check("server stops cleanly (exit 0)", server.stop() == 0, server.log()[-2000:])
    c.check("integrity_check after the stop is ok", integrity(server.db) == "ok")
    return c.finish()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
