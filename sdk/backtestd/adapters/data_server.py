"""The job's market data, served to a bot that fetches its own CSV over HTTP (the seed's
BACKTEST_FETCH_CSV_URL) without a network: the bot's process opens no network socket at all.

The bot gets the URL `http://backtestd-data.invalid` (`.invalid` never resolves, RFC 2606). While
the server is open, `socket.create_connection` — what `http.client`, and so `urllib.request`,
connect with — answers a connection to that host (any port) with one end of a socket pair whose
other end a thread of this module serves; every other address connects as before. urllib3 (and so
requests) connects with a function of its own, `urllib3.util.connection.create_connection`, which
resolves the name itself: that one is answered the same way, patched while the server is open
when urllib3 is imported already, else as soon as it is (an import hook: a bot that does not use
urllib3 pays nothing). So a bot that fetches with urllib,
http.client, urllib3 or requests works unchanged in the sandbox, whose seccomp filter refuses
every socket but AF_UNIX (docs/sandbox.md), and nothing outside the process can reach the data.
Other clients (aiohttp, httpx, pycurl) resolve and connect by themselves and are not answered.

`GET /ohlc?symbol=S&timeframe=TF[&start=…&end=…]` answers the file `S_TF.csv`, else `S.csv`, of
the job's data folder (the engine's `file://` layout), whole: `start` and `end` are accepted and
not applied (the bot keeps its own window, as it does with a file). Unknown symbol: 404. Anything
else: 400.

Owned by the adapter run that opens it; `close()` restores `socket.create_connection` (and
urllib3's), ends the connections still open and joins their threads. One server is open at a
time.
"""

import http.server
import os
import re
import shutil
import socket
import threading
import urllib.parse

import importlib.abc
import sys

# What requests connects with (urllib3 2.x: HTTPConnection calls connection.create_connection).
_URLLIB3_CONNECTION = "urllib3.util.connection"

HOST = "backtestd-data.invalid"
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


class _ClientSocket(socket.socket):
    """The bot's end of a connection: http.client sets TCP_NODELAY on what it connected, which
    a Unix socket does not have (EOPNOTSUPP); TCP options are accepted and have no effect."""

    def setsockopt(self, level, option, *value):
        if level == socket.IPPROTO_TCP:
            return None
        return super().setsockopt(level, option, *value)


class OhlcServer:
    """Answers /ohlc from one folder to the bot's connections to HOST, in this process."""

    def __init__(self, folder):
        self.folder = os.path.abspath(folder)
        self.url = f"http://{HOST}"
        self._lock = threading.Lock()
        self._connections = []  # (server end, its thread)
        self._original = socket.create_connection
        if getattr(self._original, "_ohlc_server", None) is not None:
            raise RuntimeError("an OhlcServer is open already")
        original = self._original

        def create_connection(address, *args, **kwargs):
            if isinstance(address, tuple) and address and address[0] == HOST:
                timeout = args[0] if args else kwargs.get("timeout", socket._GLOBAL_DEFAULT_TIMEOUT)
                return self.connect(timeout)
            return original(address, *args, **kwargs)

        create_connection._ohlc_server = self
        socket.create_connection = create_connection
        self._urllib3 = None  # (module, its own create_connection) once patched
        self._hook = None
        if _URLLIB3_CONNECTION in sys.modules:
            self._patch_urllib3(sys.modules[_URLLIB3_CONNECTION])
        else:
            self._hook = _OnImport(_URLLIB3_CONNECTION, self._patch_urllib3)
            sys.meta_path.insert(0, self._hook)

    def _patch_urllib3(self, module):
        original = module.create_connection

        def create_connection(address, timeout=socket._GLOBAL_DEFAULT_TIMEOUT, *args, **kwargs):
            if isinstance(address, tuple) and address and address[0] == HOST:
                # urllib3's default timeout is an object of its own: the socket's default.
                ok = timeout is None or isinstance(timeout, (int, float))
                return self.connect(timeout if ok else socket._GLOBAL_DEFAULT_TIMEOUT)
            return original(address, timeout, *args, **kwargs)

        module.create_connection = create_connection
        self._urllib3 = (module, original)

    def connect(self, timeout=socket._GLOBAL_DEFAULT_TIMEOUT):
        """A connected client socket, its request served by a thread of this server."""
        mine, theirs = socket.socketpair()
        thread = threading.Thread(target=self._serve, args=(mine,), name="backtestd-ohlc",
                                  daemon=True)
        with self._lock:
            self._connections.append((mine, thread))
        thread.start()
        client = _ClientSocket(fileno=theirs.detach())
        if timeout is not socket._GLOBAL_DEFAULT_TIMEOUT:
            client.settimeout(timeout)
        return client

    def _serve(self, connection):
        try:
            _Handler(connection, (HOST, 0), self)
        except OSError:
            pass  # the bot closed its end early, or close() ended the connection
        finally:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def close(self):
        socket.create_connection = self._original
        if self._hook is not None and self._hook in sys.meta_path:
            sys.meta_path.remove(self._hook)
        if self._urllib3 is not None:
            module, original = self._urllib3
            module.create_connection = original
            self._urllib3 = None
        with self._lock:
            connections, self._connections = self._connections, []
        for connection, _ in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)  # wakes a thread blocked on the bot
            except OSError:
                pass
        for connection, thread in connections:
            thread.join()
            connection.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class _OnImport(importlib.abc.MetaPathFinder):
    """Calls `then(module)` right after module `name` is first imported (the other finders find
    it; its loader is wrapped)."""

    def __init__(self, name, then):
        self.name = name
        self.then = then

    def find_spec(self, name, path, target=None):
        if name != self.name:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(name, path, target)
            if spec is not None and spec.loader is not None:
                spec.loader = _ThenLoader(spec.loader, self.then)
                return spec
        return None


class _ThenLoader(importlib.abc.Loader):
    def __init__(self, loader, then):
        self.loader = loader
        self.then = then

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module):
        self.loader.exec_module(module)
        self.then(module)


class _Handler(http.server.BaseHTTPRequestHandler):
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
        path = csv_path(self.server.folder, symbol, timeframe)
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
