"""A graceful stop (tests/e2e/drain_e2e.sh): SIGTERM drains, SIGINT stops at once.

Checked: after SIGTERM the services report NOT_SERVING in gRPC health while the server itself
stays SERVING and answers reads; a submission is refused UNAVAILABLE with a retry delay and
nothing is stored; the running job finishes within the grace period and the queued one stays
queued, then runs after a restart; the server exits 0. Past the grace period, or at a second
signal, running jobs are stopped and failed as interrupted.
"""

import sys
import time

import grpc

from fault_common import (SMALL, BacktestError, Checks, Server, health, minute_run, sql,
                          wait_final, wait_for)


def started(client, job_id):
    return wait_for(lambda: client.get_job(job_id).status == "running", 60) is not None


def status_in_db(server: Server, job_id: str) -> str:
    return sql(server.db,
               f"SELECT trim(status || ' ' || error) FROM jobs WHERE id = '{job_id}'").strip()


def drains_and_keeps_the_queue(c: Checks, workdir: str) -> None:
    server = Server(f"{workdir}/drain", "--workers", "1", "--drain-grace-ms", "60000")
    server.start()
    client = server.client()
    # A few seconds of minute bars: still running while the checks below look at the server.
    running = client.run_backtest(minute_run("2012-01-01", "2026-01-01"), follow=False).job_id
    queued = client.run_backtest(SMALL, follow=False).job_id
    c.check("one job running, one queued behind it",
            started(client, running) and client.get_job(queued).status == "queued")

    server.proc.terminate()
    c.check("SIGTERM: the backtest service reports NOT_SERVING",
            wait_for(lambda: health(server, "backtest.v1.BacktestService") == "NOT_SERVING", 5)
            is not None)
    c.check("… while the server itself is SERVING (alive)", health(server, "") == "SERVING")
    try:
        client.run_backtest(SMALL, follow=False)
        refused = None
    except BacktestError as e:
        refused = e
    c.check("a submission while draining is refused UNAVAILABLE",
            refused is not None and refused.code == grpc.StatusCode.UNAVAILABLE
            and "draining" in str(refused), str(refused))
    c.check("reads still answer: the running job is running",
            client.get_job(running).status == "running")
    client.close()
    code = exit_code(server)
    c.check("the server exits 0 once its running job has finished", code == 0, str(code))
    c.check("the running job finished", status_in_db(server, running) == "finished",
            status_in_db(server, running))
    c.check("the queued job stayed queued", status_in_db(server, queued) == "queued",
            status_in_db(server, queued))
    c.check("at most 2 jobs stored: the refused submission left nothing",
            sql(server.db, "SELECT count(*) FROM jobs") == "2")

    server.start()
    client = server.client()
    job = wait_final(client, queued, 60)
    c.check("after a restart the queued job runs and finishes",
            job is not None and job.status == "finished")
    client.close()
    server.proc.send_signal(2)  # SIGINT
    c.check("SIGINT with nothing running: exit 0", server.proc.wait(timeout=30) == 0)


def long_job_under_grace(c: Checks, workdir: str, grace_ms: int):
    """A server with --drain-grace-ms `grace_ms` running a job that outlasts any test."""
    server = Server(workdir, "--workers", "1", "--drain-grace-ms", str(grace_ms))
    server.start()
    client = server.client()
    job = client.run_backtest(minute_run("1990-01-01", "2026-01-01"), follow=False).job_id
    c.check(f"a long job running (grace {grace_ms} ms)", started(client, job))
    client.close()
    return server, job


def exit_code(server: Server):
    try:
        return server.proc.wait(timeout=30)
    except Exception:  # noqa: BLE001 — reported by the caller's check
        return None


def stops_what_outlasts_the_grace(c: Checks, workdir: str) -> None:
    server, job = long_job_under_grace(c, f"{workdir}/grace", 300)
    began = time.monotonic()
    server.proc.terminate()
    code = exit_code(server)
    c.check(f"past the grace the server stops it and exits 0 (in "
            f"{time.monotonic() - began:.2f} s)", code == 0, str(code))
    c.check("the job failed as interrupted",
            status_in_db(server, job) == "failed interrupted by server shutdown",
            status_in_db(server, job))


def a_second_signal_cuts_the_drain_short(c: Checks, workdir: str) -> None:
    server, job = long_job_under_grace(c, f"{workdir}/again", 600000)
    server.proc.terminate()
    wait_for(lambda: "draining" in server.log(), 5)
    server.proc.terminate()
    code = exit_code(server)
    c.check("a second SIGTERM stops the running job and the server at once", code == 0, str(code))
    c.check("the job failed as interrupted",
            status_in_db(server, job).startswith("failed interrupted"), status_in_db(server, job))


def main(workdir: str) -> int:
    c = Checks()
    drains_and_keeps_the_queue(c, workdir)
    stops_what_outlasts_the_grace(c, workdir)
    a_second_signal_cuts_the_drain_short(c, workdir)
    return c.finish()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
