"""backtestd._native.decimal_values: a DecimalColumn (docs/api.md) decoded as the documented
numpy formula decodes it, bit for bit, at every width and number of digits."""
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
