"""The job's market data, served to a bot that fetches its own CSV over HTTP (the seed's
BACKTEST_FETCH_CSV_URL), on the loopback interface of the bot's own process: a sandbox without a
network still has it, and nothing outside the process can reach it.

`GET /ohlc?symbol=S&timeframe=TF[&start=…&end=…]` answers the file `S_TF.csv`, else `S.csv`, of
the job's data folder (the engine's `file://` layout), whole: `start` and `end` are accepted and
not applied (the bot keeps its own window, as it does with a file). Unknown symbol: 404. Anything
else: 400.

Owned by the adapter run that starts it; `close()` stops the serving thread and joins it.
"""

import http.server
import os
import re
import selectors
import shutil
import threading
import urllib.parse

_NAME = re.compile(r"^[A-Za-z0-9._\-]{1,64}$")


def csv_path(folder, symbol, timeframe):
    """FOLDER/SYMBOL_TIMEFRAME.csv, else FOLDER/SYMBOL.csv, else None."""
    if not _NAME.match(symbol or "") or (timeframe and not _NAME.match(timeframe)):
        return None
    names = ([f"{symbol}_{timeframe}.csv"] if timeframe else []) + [f"{symbol}.csv"]
    for name in names:
        path = os.path.join(folder, name)
        if os.path.isfile(path):
            return path
    return None


class OhlcServer:
    """An HTTP server on 127.0.0.1 (a port the kernel picks) answering /ohlc from one folder."""

    def __init__(self, folder):
        folder = os.path.abspath(folder)
        handler = type("Handler", (_Handler,), {"folder": folder})
        self._httpd = http.server.HTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        # close() wakes the thread through this pipe: HTTPServer.shutdown() waits for the serving
        # loop's next poll, up to its interval (at 0.05 s, 5–10 % of a 10k-bar run).
        self._wake_r, self._wake_w = os.pipe()
        self._thread = threading.Thread(target=self._serve, name="backtestd-ohlc-server")
        self._thread.start()

    def _serve(self):
        with selectors.DefaultSelector() as selector:
            selector.register(self._httpd.socket, selectors.EVENT_READ, "request")
            selector.register(self._wake_r, selectors.EVENT_READ, "close")
            while True:
                for key, _ in selector.select():
                    if key.data == "close":
                        return
                    self._httpd.handle_request()  # one request, served on this thread

    def close(self):
        os.write(self._wake_w, b"x")
        self._thread.join()
        self._httpd.server_close()
        os.close(self._wake_r)
        os.close(self._wake_w)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class _Handler(http.server.BaseHTTPRequestHandler):
    folder = ""

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        if url.path.rstrip("/") != "/ohlc":
            self.send_error(404, "only /ohlc is served")
            return
        query = urllib.parse.parse_qs(url.query)
        symbol = query.get("symbol", [""])[0]
        timeframe = query.get("timeframe", [""])[0]
        if not symbol:
            self.send_error(400, "symbol is required")
            return
        path = csv_path(self.folder, symbol, timeframe)
        if path is None:
            self.send_error(404, f"no data for {symbol} {timeframe}")
            return
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            self.send_response(200)
            self.send_header("Content-Type", "text/csv")
            self.send_header("Content-Length", str(size))
            self.end_headers()
            shutil.copyfileobj(f, self.wfile, 1 << 20)

    def log_message(self, *args):
        pass  # the bot's own output is the job's log; requests are not
