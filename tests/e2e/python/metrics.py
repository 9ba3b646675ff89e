"""backtestd's /metrics scraped with the official Python parser while jobs run
(tests/e2e/metrics_e2e.sh; docs/operations.md, "Metrics").

One backtestd with one worker and --metrics-listen 127.0.0.1:0. Checked, each as a change between
scrapes: a long job running holds running_jobs at 1 and the jobs behind it in queue_depth; an open
StreamJobLog is a stream subscriber until it ends; traced jobs that finish move jobs_total by
status, the job and queue-wait histograms, events and trace rows written and the SQLite write
histogram; a runner killed with SIGKILL is a runner failure of reason "crash"; RPCs are counted by
method and status code (OK and INVALID_ARGUMENT) with their latency. Anything but /metrics is 404.
"""

import os
import re
import signal
import sys
import urllib.error
import urllib.request

import grpc
from prometheus_client.parser import text_string_to_metric_families

from fault_common import (SMALL, BacktestError, Checks, Server, bt, minute_run, stream,
                          wait_final, wait_for)

RUN = "/backtest.v1.BacktestService/RunBacktest"


def scrape(url: str) -> dict:
    """{(sample name, frozenset of labels): value} of one scrape, through prometheus_client."""
    with urllib.request.urlopen(url, timeout=10) as answer:
        text = answer.read().decode()
        assert answer.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            samples[(s.name, frozenset(s.labels.items()))] = s.value
    return samples


def value(samples: dict, name: str, **labels) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def main() -> int:
    work = sys.argv[1]
    c = Checks()
    server = Server(os.path.join(work, "metrics"), "--workers", "1",
                    "--metrics-listen", "127.0.0.1:0")
    server.start()
    match = re.search(r"metrics on (http://127\.0\.0\.1:\d+/metrics)", server.log())
    if not c.check("the log names the metrics address", match is not None, server.log()):
        return c.finish()
    url = match.group(1)
    client = server.client()
    before = scrape(url)
    c.check("the gauges are there before any job",
            ("backtestd_queue_depth", frozenset()) in before and
            ("backtestd_running_jobs", frozenset()) in before)
    c.check("the database is writable (the readiness probe's gauge is 1)",
            before.get(("backtestd_database_writable", frozenset())) == 1,
            str(before.get(("backtestd_database_writable", frozenset()))))

    # A long job on the only worker, two small ones behind it, a subscriber on the long one.
    long_job = client.run_backtest(minute_run("2010-01-01", "2020-01-01"), follow=False).job_id
    wait_for(lambda: client.get_job(long_job).status == "running", 30)
    queued = [client.run_backtest({**SMALL, "trace_enabled": True}, follow=False).job_id
              for _ in range(2)]
    subscriber = stream(server, long_job, include_trace=False)
    next(subscriber)
    busy = scrape(url)
    c.check("running_jobs is 1 while the long job runs",
            value(busy, "backtestd_running_jobs") == 1, str(value(busy, "backtestd_running_jobs")))
    c.check("queue_depth counts the two jobs behind it",
            value(busy, "backtestd_queue_depth") == 2, str(value(busy, "backtestd_queue_depth")))
    c.check("an open StreamJobLog is a subscriber",
            value(busy, "backtestd_stream_subscribers") - value(before, "backtestd_stream_subscribers") == 1)

    # SIGKILL to its runner: a failure of reason crash.
    pid = client.get_job(long_job).pid
    os.kill(pid, signal.SIGKILL)
    wait_final(client, long_job, 60)
    subscriber.cancel()
    for job_id in queued:
        wait_final(client, job_id, 60)
    try:
        client.run_backtest({**SMALL, "timeframe": "H7"}, follow=False)
    except BacktestError:
        pass
    unknown = grpc.insecure_channel(server.address).unary_unary("/no.Such/Method" + str(os.getpid()))
    try:
        unknown(b"", timeout=10)
    except grpc.RpcError as e:
        c.check("an unknown method is UNIMPLEMENTED", e.code() == grpc.StatusCode.UNIMPLEMENTED)
    wait_for(lambda: value(scrape(url), "backtestd_stream_subscribers") ==
             value(before, "backtestd_stream_subscribers"), 10)
    after = scrape(url)

    def moved(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    c.check("the killed runner is a failure of reason crash",
            moved("backtestd_runner_failures_total", reason="crash") == 1)
    c.check("jobs_total by status", moved("backtestd_jobs_total", status="queued") == 3 and
            moved("backtestd_jobs_total", status="running") == 3 and
            moved("backtestd_jobs_total", status="finished") == 2 and
            moved("backtestd_jobs_total", status="failed") == 1,
            str({k[1]: v for k, v in after.items() if k[0] == "backtestd_jobs_total"}))
    c.check("job durations by end status",
            moved("backtestd_job_duration_seconds_count", status="finished") == 2 and
            moved("backtestd_job_duration_seconds_count", status="failed") == 1 and
            moved("backtestd_job_duration_seconds_sum", status="failed") > 0)
    c.check("queue waits: one a job, the two behind the long one waited",
            moved("backtestd_job_queue_wait_seconds_count") == 3 and
            moved("backtestd_job_queue_wait_seconds_sum") > 0)
    c.check("the gauges are back at 0", value(after, "backtestd_running_jobs") == 0 and
            value(after, "backtestd_queue_depth") == 0 and
            value(after, "backtestd_stream_subscribers") == 0)
    c.check("events written", moved("backtestd_events_written_total") >= 3 * 3)
    c.check("trace rows written by the traced jobs", moved("backtestd_trace_rows_written_total") > 100)
    c.check("SQLite writes timed, events and trace rows",
            moved("backtestd_sqlite_write_seconds_count", what="events") >= 9 and
            moved("backtestd_sqlite_write_seconds_count", what="trace_rows") >= 2)
    c.check("RPCs by method and code", moved("backtestd_rpcs_total", method=RUN, code="OK") == 3 and
            moved("backtestd_rpcs_total", method=RUN, code="INVALID_ARGUMENT") == 1,
            str({k[1]: v for k, v in after.items() if k[0] == "backtestd_rpcs_total"}))
    c.check("RPC latency by method", moved("backtestd_rpc_duration_seconds_count", method=RUN) == 4
            and value(after, "backtestd_rpc_duration_seconds_bucket", method=RUN, le="+Inf") ==
            value(after, "backtestd_rpc_duration_seconds_count", method=RUN))
    streams = sum(v - value(before, k[0], **dict(k[1])) for k, v in after.items()
                  if k[0] == "backtestd_rpcs_total" and
                  ("method", "/backtest.v1.BacktestService/StreamJobLog") in k[1])
    c.check("the stream is counted with its method (OK: its job ended; or CANCELLED)",
            streams == 1,
            str({k[1]: v for k, v in after.items() if k[0] == "backtestd_rpcs_total"}))
    c.check("unknown methods share one label (a caller cannot grow the metrics)",
            moved("backtestd_rpcs_total", method="other", code="UNIMPLEMENTED") == 1 and
            not any("no.Such" in dict(k[1]).get("method", "") for k in after))
    try:
        urllib.request.urlopen(url.replace("/metrics", "/other"), timeout=10)
        c.check("another path is 404", False)
    except urllib.error.HTTPError as e:
        c.check("another path is 404", e.code == 404)
    c.check("SIGTERM stops the server and its listener", server.stop() == 0)
    return c.finish()


if __name__ == "__main__":
    sys.exit(main())
