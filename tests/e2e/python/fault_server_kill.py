"""Fault: `kill -9` of the server with 10 jobs running and 10 queued, then a restart on the same
database (tests/e2e/fault_server_kill.sh).

Checked: the queue bound holds (the 21st job is refused); after the kill the orphaned runners
exit by themselves; `PRAGMA integrity_check` is ok on the killed database; after the restart every
job finished before is still there with the same result, none is left running, the interrupted
ones failed with "interrupted by server restart" (their logs end with that status), the queued
ones run again and finish; the database is ok again after a clean stop.
"""

import sys
import time

import grpc

from fault_common import (SMALL, BacktestError, Checks, Server, integrity, minute_run, pid_gone,
                          sql, stream, wait_final, wait_for)

RUNNING = 10
QUEUED = 10


def main(workdir: str) -> int:
    c = Checks()
    server = Server(workdir, "--workers", str(RUNNING), "--queue-size", str(QUEUED))
    server.start()
    client = server.client()

    finished = {}
    for month in range(1, 6):
        run = client.run_backtest({**SMALL, "end_date": f"2022-{month + 1:02d}-15"}, follow=False)
        run.wait()
        result = client.get_result(run.job_id)
        finished[run.job_id] = (result.digest, len(result.candles), len(result.trades))
    c.check("5 jobs finished before the kill", len(finished) == 5 and all(
        client.get_job(j).status == "finished" for j in finished))

    long_run = minute_run("2019-01-01", "2026-01-01")
    running = [client.run_backtest(long_run, follow=False).job_id for _ in range(RUNNING)]

    def all_started():
        jobs = [client.get_job(j) for j in running]
        return jobs if all(j.status == "running" and j.pid for j in jobs) else None
    # The queue bound counts jobs not yet taken by a worker: the next 10 are submitted only once
    # the 10 workers have each taken one, or they would find the queue still holding the first.
    jobs = wait_for(all_started, 60)
    c.check("10 jobs running, each with a runner process", jobs is not None)
    pids = [j.pid for j in jobs or []]

    queued = [client.run_backtest(minute_run("2021-01-01", f"2021-02-{day:02d}"),
                                  follow=False).job_id for day in range(1, QUEUED + 1)]
    try:
        client.run_backtest(SMALL, follow=False)
        refused = None
    except BacktestError as e:
        refused = e
    c.check("the 21st job is refused with RESOURCE_EXHAUSTED (queue bound 10)",
            refused is not None and refused.code == grpc.StatusCode.RESOURCE_EXHAUSTED,
            str(refused))

    c.check("10 jobs queued behind them",
            all(client.get_job(j).status == "queued" for j in queued))
    client.close()

    server.kill9()
    killed = time.monotonic()
    c.note(f"kill -9 of the server (pid {server.proc.pid}) with 10 running and 10 queued")
    gone = wait_for(lambda: all(pid_gone(p) for p in pids), 10)
    c.check(f"the 10 orphaned runners exit by themselves (within "
            f"{time.monotonic() - killed:.2f} s of the kill)", gone is not None,
            str([p for p in pids if not pid_gone(p)]))
    counts = sql(server.db, "SELECT status, count(*) FROM jobs GROUP BY status ORDER BY status")
    c.note("stored after the kill: " + counts.replace("\n", ", "))
    c.check("integrity_check of the killed database is ok", integrity(server.db) == "ok",
            integrity(server.db))

    took = server.start()
    restarted = time.monotonic()
    c.note(f"restart on the same database: listening after {took:.2f} s")
    client = server.client()

    same = {j: (r.digest, len(r.candles), len(r.trades))
            for j, r in ((j, client.get_result(j)) for j in finished)}
    c.check("all 5 finished jobs still finished with the same results (digest, candles, trades)",
            same == finished and all(client.get_job(j).status == "finished" for j in finished))
    interrupted = [client.get_job(j) for j in running]
    c.check("the 10 interrupted jobs are failed with 'interrupted by server restart'",
            all(j.status == "failed" and j.error == "interrupted by server restart"
                for j in interrupted), str([(j.status, j.error) for j in interrupted]))
    last = None
    try:
        last = list(stream(server, running[0], timeout=20))[-1]
    except grpc.RpcError as e:
        c.note(f"stream error: {e}")
    c.check("an interrupted job's log ends with status failed (the stream does not hang)",
            last is not None and last.status.status == "failed", str(last))

    ends = [wait_final(client, j, 120) for j in queued]
    all_done = time.monotonic() - restarted
    c.check(f"the 10 queued jobs ran again and finished ({all_done:.2f} s after the restart)",
            all(e is not None and e.status == "finished" for e in ends),
            str([(e.status, e.error) if e else None for e in ends]))
    c.check("their results are there", all(
        client.get_result(j, max_candles=1).total_candles > 0 for j in queued))
    events = list(client.follow_log(queued[0]))
    c.check("a re-queued job's log is seq 1..n without gaps, ending finished",
            [e.seq for e in events] == list(range(1, len(events) + 1)) and
            events[-1].kind == "status" and events[-1].data.status == "finished")
    c.check("no job left running", not client.list_jobs(status="running", limit=100) and
            sql(server.db, "SELECT count(*) FROM jobs WHERE status='running'") == "0")
    statuses = sql(server.db, "SELECT status, count(*) FROM jobs GROUP BY status ORDER BY status")
    c.note("stored at the end: " + statuses.replace("\n", ", "))
    c.check("stored: 15 finished, 10 failed", statuses == "failed|10\nfinished|15", statuses)
    small = client.run_backtest(SMALL, follow=False)
    c.check("a new job after the restart finishes", small.wait() == "finished")
    client.close()
    c.check("server stops cleanly (exit 0)", server.stop() == 0, server.log()[-2000:])
    c.check("integrity_check after the clean stop is ok", integrity(server.db) == "ok")
    return c.finish()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
