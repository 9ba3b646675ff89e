"""Online backup under load, and the restore of deploy/README.md (tests/e2e/backup_e2e.sh).

`backup WORK`: backtestd (WORK/a) runs jobs; while a submitter keeps adding more, `backtestd
backup --db … --to WORK/backups/backtest-1.db` copies the database. Checked: the command's exit
status and its one line; the copy alone in its folder, mode 0600, a rollback-journal file that
passes integrity_check and holds every job finished before the backup began with the same result
digest; the server kept taking and finishing jobs; the refusals (target is the database, database
missing, target unwritable) are one line each and touch nothing. Writes WORK/before.json for
`verify`.

`verify WORK ADDRESS`: after the shell script ran the README's restore steps on a second server
(WORK/b) that now listens on ADDRESS: the jobs finished before the backup are there, finished,
with the same results, read through the API with the first server's token; the second server's
own first token is gone with the database it belonged to; the jobs the copy caught queued or
running end (run again, or failed as interrupted) and a new job runs.
"""

import json
import pathlib
import statistics
import subprocess
import sys
import threading
import time

import grpc

from fault_common import (BIN, BacktestError, Checks, Client, Server, integrity, sql, wait_final,
                          wait_for)

# ~10k H1 bars: a ~0.8 MB result each, so 30 of them make a database worth copying in steps.
JOB = {"strategy": "sma_cross", "symbols": "EURUSD", "timeframe": "H1",
       "start_date": "2020-01-01", "end_date": "2021-08-10"}
FILL = 30


class Submitter(threading.Thread):
    """Submits JOB every `interval` s until stopped; keeps the accepted ids."""

    def __init__(self, server: Server, interval: float = 0.05):
        super().__init__(daemon=True)
        self.client = server.client()
        self.interval = interval
        self.stopped = threading.Event()
        self.accepted = []
        self.refused = 0  # RESOURCE_EXHAUSTED: a full queue, as designed
        self.errors = []

    def run(self):
        while not self.stopped.is_set():
            try:
                self.accepted.append(self.client.run_backtest(JOB, follow=False).job_id)
            except BacktestError as e:
                if e.code == grpc.StatusCode.RESOURCE_EXHAUSTED:
                    self.refused += 1
                else:
                    self.errors.append(str(e))
            self.stopped.wait(self.interval)

    def stop(self):
        self.stopped.set()
        self.join()


def digests(client: Client, job_ids) -> dict:
    return {j: client.get_result(j, max_candles=1).digest for j in job_ids}


def backtestd(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "backtestd"), *args], capture_output=True, text=True,
                          timeout=300)


def one_line(done: subprocess.CompletedProcess, *words: str) -> bool:
    lines = done.stderr.splitlines()
    return (done.returncode == 1 and len(lines) == 1 and not done.stdout and
            all(w in lines[0] for w in words))


def check_refusals(c: Checks, server: Server, work: pathlib.Path) -> None:
    db = str(server.db)
    done = backtestd("backup", "--db", db, "--to", db)
    c.check("backup onto the database itself: exit 1, one line", one_line(done, "itself"),
            done.stderr + done.stdout)
    missing = work / "missing.db"
    done = backtestd("backup", "--db", str(missing), "--to", str(work / "x.db"))
    c.check("backup of a missing database: exit 1, one line, nothing created",
            one_line(done, "does not exist") and not missing.exists() and
            not (work / "x.db").exists(), done.stderr)
    done = backtestd("backup", "--db", db, "--to", "/sys/backtest.db")
    c.check("backup into an unwritable folder: exit 1, one line",
            one_line(done, "/sys", "Permission denied"), done.stderr)
    done = backtestd("backup", "--db", db, "--to", str(work / "no" / "such" / "x.db"))
    c.check("backup into a missing folder: exit 1, one line", one_line(done, "does not exist"),
            done.stderr)


def check_interrupted(c: Checks, server: Server, target: pathlib.Path) -> None:
    """SIGTERM while a slow backup copies: it stops, and `target` (a complete backup) stays."""
    before = target.read_bytes()
    proc = subprocess.Popen(
        [str(BIN / "backtestd"), "backup", "--db", str(server.db), "--to", str(target),
         "--step-pages", "1", "--step-pause-ms", "100"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    partial = wait_for(lambda: [p for p in target.parent.iterdir() if "partial" in p.name], 30)
    proc.terminate()
    out, err = proc.communicate(timeout=60)
    done = subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
    c.check("SIGTERM during a backup: exit 1, one line, the previous backup as it was, no "
            "temporary file left",
            partial is not None and one_line(done, "interrupted") and
            target.read_bytes() == before and
            sorted(p.name for p in target.parent.iterdir()) == [target.name],
            f"{partial} {done.returncode} {err}")


def run_backup(server: Server, target: pathlib.Path):
    """Runs `backtestd backup` while GetJob is timed; returns (process result, latencies ms)."""
    probe = server.client()
    some_job = probe.list_jobs(status="finished", limit=1)[0].job_id
    proc = subprocess.Popen(
        [str(BIN / "backtestd"), "backup", "--db", str(server.db), "--to", str(target),
         # Small steps with pauses: the copy takes long enough for jobs to finish meanwhile.
         "--step-pages", "8", "--step-pause-ms", "10"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    latencies = []
    while proc.poll() is None:
        began = time.monotonic()
        probe.get_job(some_job)
        latencies.append((time.monotonic() - began) * 1000)
    out, err = proc.communicate()
    probe.close()
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err), latencies


def backup(work: pathlib.Path) -> int:
    c = Checks()
    server = Server(work / "a", "--workers", "2")
    server.start()
    client = server.client()
    for _ in range(FILL):
        client.run_backtest(JOB, follow=False)
    c.check(f"{FILL} jobs finished before the backup",
            wait_for(lambda: len(client.list_jobs(status="finished", limit=1000)) >= FILL, 120)
            is not None)

    submitter = Submitter(server)
    submitter.start()
    wait_for(lambda: len(submitter.accepted) >= 3, 30)
    finished_before = {j.job_id for j in client.list_jobs(status="finished", limit=10000)}
    before = digests(client, finished_before)
    backups = work / "backups"
    backups.mkdir()
    target = backups / "backtest-1.db"
    submitted_at_start = len(submitter.accepted)
    done, latencies = run_backup(server, target)
    submitted_during = len(submitter.accepted) - submitted_at_start
    finished_after = {j.job_id for j in client.list_jobs(status="finished", limit=10000)}
    c.check("`backtestd backup` exits 0 with one line saying what it copied",
            done.returncode == 0 and done.stdout.startswith("backed up ") and
            len(done.stdout.splitlines()) == 1 and not done.stderr, done.stdout + done.stderr)
    c.note(done.stdout.strip())
    c.note(f"while it ran: {submitted_during} jobs submitted, "
           f"{len(finished_after - finished_before)} finished; {len(latencies)} GetJob calls, "
           f"p50 {statistics.median(latencies):.1f} ms, max {max(latencies):.1f} ms")
    check_refusals(c, server, work)
    check_interrupted(c, server, target)

    submitter.stop()
    c.check("the submitter saw no error but a full queue", not submitter.errors,
            str(submitter.errors[:3]))
    ends = [wait_final(client, j, 180) for j in submitter.accepted]
    c.check(f"all {len(ends)} jobs submitted around the backup finished",
            all(e is not None and e.status == "finished" for e in ends),
            str([(e.status, e.error) if e else None for e in ends if not e or
                 e.status != "finished"][:3]))
    client.close()
    c.check("the server stops cleanly (exit 0)", server.stop() == 0, server.log()[-2000:])

    c.check("the backup folder holds the copy only (no temporary file left)",
            sorted(p.name for p in backups.iterdir()) == ["backtest-1.db"],
            str(sorted(p.name for p in backups.iterdir())))
    c.check("the copy is private (mode 0600)", (target.stat().st_mode & 0o777) == 0o600,
            oct(target.stat().st_mode))
    c.check("the copy is one self-contained file (journal_mode delete)",
            sql(target, "PRAGMA journal_mode") == "delete", sql(target, "PRAGMA journal_mode"))
    c.check("the copy passes integrity_check", integrity(target) == "ok", integrity(target))
    rows = sql(target, "SELECT j.id, r.digest FROM jobs j JOIN results r ON r.job_id = j.id "
                       "WHERE j.status = 'finished'")
    copied = dict(line.split("|") for line in rows.splitlines())
    missing = [j for j, d in before.items() if copied.get(j) != d]
    c.check(f"the copy holds all {len(before)} jobs finished before the backup began, with the "
            f"same result digests", not missing and len(before) >= FILL, str(missing[:5]))
    unfinished = sql(target, "SELECT id FROM jobs WHERE status IN ('queued', 'running')")
    (work / "before.json").write_text(json.dumps({
        "token": server.token, "jobs": before, "unfinished": unfinished.split()}))
    return c.finish()


def verify(work: pathlib.Path, address: str) -> int:
    c = Checks()
    saved = json.loads((work / "before.json").read_text())
    old_token = (work / "b" / "admin.token").read_text().strip()
    stale = Client(address, old_token)
    try:
        stale.list_jobs(limit=1)
        refused = None
    except BacktestError as e:
        refused = e.code
    stale.close()
    c.check("the second server's own first token went with its replaced database "
            "(UNAUTHENTICATED)", refused == grpc.StatusCode.UNAUTHENTICATED, str(refused))

    client = Client(address, saved["token"])
    jobs = saved["jobs"]
    statuses = {j: client.get_job(j).status for j in jobs}
    c.check(f"all {len(jobs)} jobs finished before the backup are there, finished, read with the "
            f"first server's token", all(s == "finished" for s in statuses.values()),
            str([j for j, s in statuses.items() if s != "finished"][:5]))
    c.check("their results through the API have the same digests",
            digests(client, jobs) == jobs)
    full = client.get_result(next(iter(jobs)))
    c.check("a whole result reads back (candles and trades)",
            len(full.candles) > 1000 and len(full.trades) > 0,
            f"{len(full.candles)} candles, {len(full.trades)} trades")
    ends = [wait_final(client, j, 180) for j in saved["unfinished"]]
    c.note(f"jobs queued or running in the copy: {len(ends)}; after the restore: " +
           ", ".join(f"{s} {n}" for s, n in sorted(
               {s: sum(1 for e in ends if e and e.status == s)
                for s in {e.status for e in ends if e}}.items())))
    c.check("each of them ends (run again, or failed as interrupted by the restart)",
            all(e is not None for e in ends))
    run = client.run_backtest(JOB, follow=False)
    c.check("a new job on the restored server finishes", run.wait() == "finished")
    client.close()
    return c.finish()


def main() -> int:
    phase, work = sys.argv[1], pathlib.Path(sys.argv[2])
    if phase == "backup":
        return backup(work)
    if phase == "verify":
        return verify(work, sys.argv[3])
    raise SystemExit(f"unknown phase {phase}")


if __name__ == "__main__":
    sys.exit(main())
