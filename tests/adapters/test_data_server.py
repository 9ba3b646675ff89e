"""The job's data served to a bot over HTTP without a network (adapters/data_server.py): urllib
reaches it by its URL while no socket but AF_UNIX can be made (the sandbox's seccomp filter), its
answers, and socket.create_connection restored when it closes."""

import socket
import urllib.error
import urllib.request

import pytest

from conftest import SR_BOT
from backtestd.adapters import backtrader as adapter
from backtestd.adapters.data_server import HOST, OhlcServer


@pytest.fixture
def no_network(monkeypatch):
    """socket.socket refuses every family but AF_UNIX, as the sandbox's filter does (EACCES)."""
    real_init = socket.socket.__init__

    def init(self, family=-1, type=-1, proto=-1, fileno=None):
        if fileno is None and family not in (-1, socket.AF_UNIX):
            raise PermissionError(13, "Permission denied")
        real_init(self, family, type, proto, fileno)

    monkeypatch.setattr(socket.socket, "__init__", init)
    with pytest.raises(PermissionError):
        socket.socket(socket.AF_INET, socket.SOCK_STREAM)


def test_urllib_reaches_the_folder_without_a_network(data_dir, no_network):
    before = socket.create_connection
    with OhlcServer(data_dir) as server:
        assert server.url == f"http://{HOST}"
        with urllib.request.urlopen(f"{server.url}/ohlc?symbol=XAGUSD&timeframe=H1&start=1",
                                    timeout=30) as r:
            body = r.read()
            assert r.status == 200 and r.headers["Content-Type"] == "text/csv"
        with open(f"{data_dir}/XAGUSD_H1.csv", "rb") as f:
            assert body == f.read()
        for path, code in (("/ohlc?symbol=NOPE&timeframe=H1", 404), ("/other", 404),
                           ("/ohlc?timeframe=H1", 400), ("/ohlc?symbol=../x", 404)):
            with pytest.raises(urllib.error.HTTPError) as e:
                urllib.request.urlopen(server.url + path, timeout=30)
            assert e.value.code == code, path
        with pytest.raises(RuntimeError, match="open already"):
            OhlcServer(data_dir)
        # Any other address is connected as before (here: refused, as in the sandbox).
        with pytest.raises(PermissionError):
            socket.create_connection(("127.0.0.1", 9), timeout=1)
    assert socket.create_connection is before


def test_urllib3_imported_after_the_server_opened_is_answered(data_dir, no_network):
    """The bot imports requests while the server is open (a fresh interpreter: urllib3 not
    imported before): the import hook patches it then."""
    import subprocess
    import sys
    code = f"""
import socket, sys
real = socket.socket.__init__
def init(self, family=-1, type=-1, proto=-1, fileno=None):
    if fileno is None and family not in (-1, socket.AF_UNIX):
        raise PermissionError(13, "Permission denied")
    real(self, family, type, proto, fileno)
socket.socket.__init__ = init
from backtestd.adapters.data_server import OhlcServer
assert "urllib3" not in sys.modules
with OhlcServer({str(data_dir)!r}) as server:
    import requests
    r = requests.get(server.url + "/ohlc?symbol=XAGUSD&timeframe=H1", timeout=30)
    assert r.status_code == 200 and len(r.content) > 1000, r.status_code
import urllib3.util.connection as u3
assert u3.create_connection.__module__ == "urllib3.util.connection"  # restored
print("ok")
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert done.stdout.strip() == "ok", done.stderr


def test_requests_reaches_the_folder_without_a_network(data_dir, no_network):
    """requests (urllib3) resolves and connects by itself: its connections are answered too."""
    import requests
    import urllib3.util.connection as u3
    before = u3.create_connection
    with OhlcServer(data_dir) as server:
        r = requests.get(f"{server.url}/ohlc", params={"symbol": "XAGUSD", "timeframe": "H1"},
                         timeout=30)
        assert r.status_code == 200 and r.headers["Content-Type"] == "text/csv"
        with open(f"{data_dir}/XAGUSD_H1.csv", "rb") as f:
            assert r.content == f.read()
        assert requests.get(f"{server.url}/ohlc?symbol=NOPE&timeframe=H1").status_code == 404
        # A session (connection pooling, keep-alive asked) works the same.
        with requests.Session() as session:
            for _ in range(3):
                assert session.get(f"{server.url}/ohlc?symbol=XAGUSD&timeframe=H1").ok
        with pytest.raises(requests.ConnectionError):  # another address: refused, as before
            requests.get("http://127.0.0.1:9/", timeout=1)
    assert u3.create_connection is before


def test_a_bot_unread_connection_does_not_hold_close(data_dir):
    server = OhlcServer(data_dir)
    client = server.connect()
    client.sendall(b"GET /ohlc?symbol=XAGUSD&timeframe=H1 HTTP/1.0\r\n\r\n")
    server.close()  # the bot never reads the answer: close ends the connection, joins its thread
    client.close()


def test_the_example_bot_runs_with_no_network(data_dir, no_network, sr_result, capsys):
    r = adapter.run_folder(SR_BOT, {"start_date": "2021-01-01"}, data_dir=data_dir)
    assert f"XAGUSD H1: 6000 bars from http://{HOST}" in capsys.readouterr().out
    assert r["trades"] == sr_result["trades"]
