"""backtestd._native's decoding of packed GetResult answers for the service client: a
DecimalColumn (docs/api.md) as the documented numpy formula decodes it, bit for bit, at every width
and number of digits; packed trades and markers as their messages."""
import struct

import numpy
import pytest

from backtestd import _native


def reference(deltas: bytes, width: int, base: float, decimals: int) -> list:
    """docs/api.md's decoding, one value at a time in Python."""
    n, out = int(base), []
    for at in range(0, len(deltas), width):
        n += int.from_bytes(deltas[at:at + width], "little", signed=True)
        out.append(n / float(10 ** decimals))
    return out


@pytest.mark.parametrize("width", [1, 2, 4, 8])
@pytest.mark.parametrize("decimals", range(9))
def test_decimal_values_are_the_documented_decoding(width, decimals):
    rng = numpy.random.default_rng(width * 10 + decimals)
    top = 2 ** (8 * width - 1)
    limit = min(top, 2 ** 40)  # running sums stay below 2^51
    deltas = rng.integers(-limit, limit, 1000, endpoint=False).astype(f"<i{width}")
    deltas[0] = 0
    raw = deltas.tobytes()
    base = float(123456789)
    got = _native.decimal_values(raw, width, base, decimals)
    assert got.dtype == numpy.float64 and len(got) == 1000
    want = reference(raw, width, base, decimals)
    assert [struct.pack("<d", x) for x in got.tolist()] == [struct.pack("<d", x) for x in want]
    numpy_way = (int(base) + numpy.frombuffer(raw, dtype=f"<i{width}").cumsum(dtype="int64")) / float(
        10 ** decimals)
    assert got.tobytes() == numpy_way.tobytes()


def test_decimal_values_empty_and_bad_arguments():
    assert len(_native.decimal_values(b"", 1, 0.0, 0)) == 0
    with pytest.raises(ValueError, match="width"):
        _native.decimal_values(b"\x00" * 3, 3, 0.0, 0)
    with pytest.raises(ValueError, match="decimals"):
        _native.decimal_values(b"\x00", 1, 0.0, 9)


def decimal_column(column, integers, decimals=0):
    """`integers` into DecimalColumn `column` (deltas of 4 bytes)."""
    column.decimals, column.width = decimals, 4
    column.base = float(integers[0]) if integers else 0.0
    previous, deltas = int(column.base), []
    for n in integers:
        deltas.append(n - previous)
        previous = n
    column.deltas = struct.pack(f"<{len(deltas)}i", *deltas)


def word_column(column, values):
    words = sorted(set(values))
    column.words.extend(words)
    column.width = 1
    column.indexes = bytes(words.index(v) for v in values)


def test_trade_and_marker_messages_are_the_rows_of_their_columns():
    """The packed trades and markers of an answer (backtest.v1.TradeColumns, MarkerColumns) as
    the messages they stand for, every field, numbers as doubles or decimals."""
    from backtestd._gen.backtest.v1 import backtest_service_pb2 as bt
    from backtestd._gen.backtest.v1 import result_pb2 as result

    trades = [result.Trade(id=i + 1, symbol=s, side=side, entry_time=1.7e9 + 60 * i,
                           entry_price=1.1234 + i / 1e4, exit_time=1.7e9 + 60 * i + 120,
                           exit_price=1.2, size=1 / 3, stop=0.0, target=1.5, pnl=-0.1 * i,
                           return_pct=-0.0, exit_reason="reversal", bars_held=2, commission=0.25,
                           entry_bar=i, exit_bar=i + 2)
              for i, (s, side) in enumerate([("EURUSD", "long"), ("GBPUSD", "short"),
                                             ("EURUSD", "short")])]
    c = result.TradeColumns()
    decimal_column(c.ids, [t.id for t in trades])
    word_column(c.symbols, [t.symbol for t in trades])
    word_column(c.sides, [t.side for t in trades])
    decimal_column(c.entry_times, [int(t.entry_time) for t in trades])
    decimal_column(c.entry_prices.decimal, [round(t.entry_price * 1e4) for t in trades], 4)
    decimal_column(c.exit_times, [int(t.exit_time) for t in trades])
    for name, field in [("exit_prices", "exit_price"), ("sizes", "size"), ("stops", "stop"),
                        ("targets", "target"), ("pnls", "pnl"), ("return_pcts", "return_pct"),
                        ("commissions", "commission")]:
        getattr(c, name).doubles = struct.pack("<3d", *[getattr(t, field) for t in trades])
    word_column(c.exit_reasons, [t.exit_reason for t in trades])
    decimal_column(c.bars_held, [t.bars_held for t in trades])
    decimal_column(c.entry_bars, [t.entry_bar for t in trades])
    decimal_column(c.exit_bars, [t.exit_bar for t in trades])
    got = bt.GetResultResponse.FromString(_native.trade_messages(c.SerializeToString())).trades
    assert [t.SerializeToString() for t in got] == [t.SerializeToString() for t in trades]

    markers = [result.Marker(symbol="EURUSD", time=1.7e9 + 60 * i, side=("buy", "sell")[i % 2],
                             kind=("entry", "exit")[i % 2], price=1.5, reason="cross_up",
                             trade_id=i // 2 + 1) for i in range(4)]
    m = result.MarkerColumns()
    word_column(m.symbols, [x.symbol for x in markers])
    decimal_column(m.times, [int(x.time) for x in markers])
    word_column(m.sides, [x.side for x in markers])
    word_column(m.kinds, [x.kind for x in markers])
    decimal_column(m.prices.decimal, [15] * 4, 1)
    word_column(m.reasons, [x.reason for x in markers])
    decimal_column(m.trade_ids, [x.trade_id for x in markers])
    got = bt.GetResultResponse.FromString(_native.marker_messages(m.SerializeToString())).markers
    assert [x.SerializeToString() for x in got] == [x.SerializeToString() for x in markers]

    c.sides.indexes = c.sides.indexes[:2]  # a row short
    with pytest.raises(ValueError, match="sides"):
        _native.trade_messages(c.SerializeToString())
    with pytest.raises(ValueError, match="TradeColumns"):
        _native.trade_messages(b"\xff\xff")
