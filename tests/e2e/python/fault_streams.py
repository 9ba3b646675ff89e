"""Faults of log subscribers (tests/e2e/fault_streams.sh): one that never reads, and clients
that disconnect mid-stream, over the real backtestd.

Never reads: a traced run is followed by two readers and by one stream (with trace rows) that is
opened and not read; the server's per-subscriber bound is 1000 events. Checked: the run finishes
(its time is reported beside the same run's alone, not asserted: timings belong in benchmarks);
the readers get every event they asked for (all but the trace batches); the stalled stream, read
afterwards, ends with
RESOURCE_EXHAUSTED naming the from_seq to resume from, which is exactly the next seq it lacks, and
resuming there gives the rest.

Disconnects: 200 cycles of connect, StreamJobLog, read a few events, close the channel (half on a
finished job's stored log, half on a live job), plus 10 grpcurl processes SIGKILLed mid-stream.
Checked: the server's threads, open files and RSS stay flat (each measured once it has stopped
moving, polled with a deadline); the live job finishes; the server keeps serving.
"""

import re
import signal
import subprocess
import sys
import threading
import time

import grpc

from fault_common import ROOT, Checks, Server, minute_run, stream, wait_final, wait_for

BUFFER = 1000
CYCLES = 200
KILLED_CLIENTS = 10


def run_seconds(job) -> float:
    return (job.finished_at.ToMilliseconds() - job.started_at.ToMilliseconds()) / 1000


def read_all(server, job_id, out):
    try:
        for m in stream(server, job_id, include_trace=False, timeout=120):
            out.append(m.seq)
    except grpc.RpcError as e:  # checked by the caller
        out.append(e)


def stalled_subscriber(c: Checks, server: Server, client) -> None:
    traced = minute_run("2021-01-01", "2021-04-01", trace_enabled=True)
    alone = client.run_backtest(traced, follow=False)
    wait_final(client, alone.job_id, 120)
    baseline = run_seconds(client.get_job(alone.job_id))

    job_id = client.run_backtest(traced, follow=False).job_id
    # No BDP probing: the stalled stream's flow-control window stays small, as a slow client's.
    stalled_channel = grpc.insecure_channel(server.address, options=[("grpc.http2.bdp_probe", 0)])
    stalled = stream(server, job_id, channel=stalled_channel)
    readers = [[], []]
    threads = [threading.Thread(target=read_all, args=(server, job_id, r)) for r in readers]
    for t in threads:
        t.start()
    job = wait_final(client, job_id, 120)
    for t in threads:
        t.join(120)
    took = run_seconds(job)
    c.note(f"traced run: {job.last_seq:,} events; {took:.2f} s with a stalled subscriber and two "
           f"readers, {baseline:.2f} s alone")
    c.check("the run finishes despite the stalled subscriber", job.status == "finished")
    stored = list(stream(server, job_id, timeout=120))
    plain = [m.seq for m in stored if not m.HasField("trace")]
    c.check(f"the stored log is seq 1..{job.last_seq:,} ({len(stored) - len(plain)} trace events)",
            [m.seq for m in stored] == list(range(1, job.last_seq + 1)))
    for i, seqs in enumerate(readers):
        c.check(f"reader {i + 1} (no trace rows asked) got every event but the trace batches, "
                f"in order ({len(plain):,})", seqs == plain,
                f"{len(seqs)} items, first {seqs[:1]}, last {seqs[-1:]}")

    got, error = [], None
    try:
        for m in stalled:
            got.append(m.seq)
    except grpc.RpcError as e:
        error = e
    stalled_channel.close()
    c.check("the stalled subscriber was cut off with RESOURCE_EXHAUSTED",
            error is not None and error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED,
            f"{error} after {len(got)} events")
    if error is None:
        return
    match = re.search(r"from_seq=(\d+)", error.details() or "")
    resume = int(match.group(1)) if match else 0
    c.note(f"it had {len(got):,} events when cut off: {error.details()!r}")
    c.check("the message names the next seq it lacks (from_seq = last received + 1)",
            got == list(range(1, len(got) + 1)) and resume == len(got) + 1 and
            resume <= job.last_seq, f"resume {resume}, got {len(got)}")
    rest = [m.seq for m in stream(server, job_id, from_seq=resume, timeout=60)]
    c.check("resuming there gives the rest, to the end",
            got + rest == list(range(1, job.last_seq + 1)))


def figures(server: Server):
    return server.proc_status("Threads"), server.fds(), server.proc_status("VmRSS")


def steady(sample, within: int = 0, readings: int = 5, interval: float = 0.1,
           timeout: float = 15.0):
    """Polls sample() (a tuple of numbers) every `interval` s until `readings` readings in a row
    differ by at most `within` in each place, or the deadline passes. Returns the last reading and
    whether it had settled."""
    deadline = time.monotonic() + timeout
    seen = [sample()]
    while True:
        last = seen[-readings:]
        if len(last) == readings and all(max(v) - min(v) <= within for v in zip(*last)):
            return seen[-1], True
        if time.monotonic() >= deadline:
            return seen[-1], False
        time.sleep(interval)
        seen.append(sample())


def steady_rss(c: Checks, server: Server, when: str) -> int:
    """The server's RSS in kB once it has stopped moving (within 256 kB over 0.5 s); a check."""
    (rss,), settled = steady(lambda: (figures(server)[2],), within=256)
    c.check(f"server RSS steady {when}", settled, f"still moving at {rss} kB")
    return rss


def one_cycle(server: Server, job_id: str, reads: int) -> int:
    channel = grpc.insecure_channel(server.address)
    n = 0
    try:
        for _ in stream(server, job_id, channel=channel, timeout=30):
            n += 1
            if n >= reads:
                break
    finally:
        channel.close()  # mid-stream: the server sees the stream cancelled
    return n


def killed_grpcurl(server: Server, job_id: str) -> bool:
    """grpcurl following a log, SIGKILLed after its first output: a TCP connection just dropped."""
    proc = subprocess.Popen(
        [str(ROOT / "build/tools/bin/grpcurl"), "-plaintext", "-H",
         f"authorization: Token {server.token}", "-d", f'{{"job_id": "{job_id}"}}', server.address,
         "backtest.v1.BacktestService/StreamJobLog"], stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL)
    first = proc.stdout.read(4096)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    proc.stdout.close()
    return len(first) > 0


def disconnects(c: Checks, server: Server, client) -> None:
    stored = client.run_backtest(minute_run("2021-01-01", "2022-01-01"), follow=False)
    stored_job = stored.job_id
    c.check("a finished job to stream from (untraced, about a thousand events)",
            wait_final(client, stored_job, 120).status == "finished")
    live = client.run_backtest(minute_run("2022-01-01", "2026-01-01"), follow=False).job_id
    wait_for(lambda: client.get_job(live).status == "running", 30)
    for _ in range(20):  # warm-up: pools, caches and allocator arenas reach their working size
        one_cycle(server, stored_job, 5)
        one_cycle(server, live, 1)
    (threads0, fds0), settled = steady(lambda: figures(server)[:2])
    c.check("server threads and open files steady before the cycles", settled,
            f"still moving at {threads0} threads, {fds0} fds")
    read = 0
    started = time.monotonic()
    for i in range(CYCLES):
        read += one_cycle(server, stored_job if i % 2 == 0 else live, 5 if i % 2 == 0 else 1)
    kills = sum(killed_grpcurl(server, stored_job) for _ in range(KILLED_CLIENTS))
    took = time.monotonic() - started
    c.check(f"{CYCLES} connect-read-disconnect cycles read events ({read:,} in {took:.1f} s)",
            read >= CYCLES)
    c.check(f"{KILLED_CLIENTS} grpcurl clients SIGKILLed mid-stream had output", kills ==
            KILLED_CLIENTS)
    settled = wait_for(lambda: (lambda f: f if f[0] <= threads0 + 5 and f[1] <= fds0 + 5 else
                                None)(figures(server)), 10, interval=0.2)
    threads1, fds1, _ = figures(server)
    c.note(f"server before: {threads0} threads, {fds0} fds; after: {threads1} threads, "
           f"{fds1} fds")
    c.check(f"threads and open files flat (within 5 after {CYCLES + KILLED_CLIENTS} "
            "disconnects; a leak would add one per disconnect)", settled is not None)
    job = wait_final(client, live, 120)
    c.check("the live job that lost 100 followers finished", job is not None and
            job.status == "finished", str(job))
    # Memory is measured once the live job has ended: its result (a 4-year M1 run) arriving
    # during the cycles above would add its own ~150 MB and hide or fake a leak.
    for _ in range(20):
        one_cycle(server, stored_job, 5)
    rss0 = steady_rss(c, server, "before the cycles")
    for _ in range(CYCLES):
        one_cycle(server, stored_job, 5)
    rss1 = steady_rss(c, server, "after the cycles")
    c.note(f"server RSS over {CYCLES} more disconnects: {rss0 / 1024:.1f} -> {rss1 / 1024:.1f} MiB")
    c.check(f"RSS flat over {CYCLES} disconnects (grew less than 16 MiB)",
            rss1 - rss0 < 16 * 1024, f"{rss0} kB -> {rss1} kB")
    seqs = [m.seq for m in stream(server, stored_job, timeout=60)]
    c.check("a full read of the stored log after the cycles gets every event",
            seqs == list(range(1, len(seqs) + 1)) and len(seqs) > 1000)


def main(workdir: str) -> int:
    c = Checks()
    server = Server(workdir, "--workers", "2", "--subscriber-buffer", str(BUFFER),
                    "--trace-batch-size", "250")
    server.start()
    client = server.client()
    stalled_subscriber(c, server, client)
    disconnects(c, server, client)
    c.check("server process up", server.alive())
    client.close()
    c.check("server stops cleanly (exit 0)", server.stop() == 0, server.log()[-2000:])
    return c.finish()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
