"""Fault: an http:// data server that never answers, or answers too slowly
(tests/e2e/fault_data_timeout.sh).

Two fake data servers on 127.0.0.1: one accepts connections and never sends a byte; one sends
HTTP 200 and then a CSV row every half second, never finishing. backtestd runs with
--data-timeout-ms 2000. Checked: both jobs fail within the timeout (plus slack) with an error that
names the URL and says it timed out; a sample:// job runs meanwhile and finishes; the server keeps
serving; the default timeout is the documented 300 s.
"""

import re
import socket
import subprocess
import sys
import threading
import time

from fault_common import BIN, SMALL, Checks, Server, wait_final

TIMEOUT_MS = 2000


class FakeDataServer:
    """A TCP listener on 127.0.0.1 whose connections are handled by `serve(conn)` in threads."""

    def __init__(self, serve):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.serve = serve
        self.connections = 0
        self.stop = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self.serve, args=(conn, self.stop), daemon=True).start()

    def close(self):
        self.stop.set()
        self.sock.close()


def silent(conn, stop):
    """Reads the request and never answers."""
    with conn:
        conn.settimeout(0.2)
        while not stop.is_set():
            try:
                if conn.recv(65536) == b"":
                    return
            except socket.timeout:
                continue
            except OSError:
                return


def trickle(conn, stop):
    """Answers 200 with a chunked CSV body, one row every half second, never ending."""
    with conn:
        try:
            conn.recv(65536)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/csv\r\n"
                         b"Transfer-Encoding: chunked\r\n\r\n")
            t = 1640995200  # 2022-01-01
            while not stop.is_set():
                row = f"{t},1.1,1.2,1.0,1.15\n".encode()
                conn.sendall(b"%x\r\n%s\r\n" % (len(row), row))
                t += 3600
                time.sleep(0.5)
        except OSError:
            return


def main(workdir: str) -> int:
    c = Checks()
    helptext = subprocess.run([str(BIN / "backtestd"), "--help"], capture_output=True,
                              text=True).stdout
    line = next((l for l in helptext.splitlines() if "--data-timeout-ms" in l), "")
    c.check("backtestd --help shows --data-timeout-ms with the documented default 300000",
            re.search(r"\b300000\b", line) is not None, line)
    server = Server(workdir, "--workers", "3", "--data-timeout-ms", str(TIMEOUT_MS),
                    "--data-allow-network", "127.0.0.1")  # the fake data servers are local
    server.start()
    client = server.client()
    fakes = {"never answers": FakeDataServer(silent), "answers slowly": FakeDataServer(trickle)}

    started = time.monotonic()
    jobs = {name: client.run_backtest({**SMALL, "data_source": fake.url}, follow=False).job_id
            for name, fake in fakes.items()}
    sample = client.run_backtest(SMALL, follow=False)
    c.check("a sample:// job finishes while both fetches hang", sample.wait() == "finished")
    c.note(f"it finished {time.monotonic() - started:.2f} s after the submissions")
    for name, job_id in jobs.items():
        job = wait_final(client, job_id, 60)
        took = time.monotonic() - started
        url = fakes[name].url
        # The bound is the behaviour under test (the timeout must fire), so it stays, generous.
        c.check(f"data server that {name}: job failed after {took:.2f} s "
                f"(timeout {TIMEOUT_MS / 1000:.0f} s; bound {TIMEOUT_MS / 1000 + 15:.0f} s)",
                job is not None and job.status == "failed" and
                TIMEOUT_MS / 1000 <= took < TIMEOUT_MS / 1000 + 15,
                str(job))
        if job is None:
            continue
        c.note(f"error: {job.error!r}")
        c.check(f"data server that {name}: the error names the URL and the timeout",
                url + "/ohlc?" in job.error and "timed out" in job.error, job.error)
        c.check(f"data server that {name}: it was contacted", fakes[name].connections >= 1)
    for fake in fakes.values():
        fake.close()
    after = client.run_backtest(SMALL, follow=False)
    c.check("server still serving: a new job finishes", after.wait() == "finished")
    client.close()
    c.check("server stops cleanly (exit 0)", server.stop() == 0, server.log()[-2000:])
    return c.finish()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
