"""Deterministic OHLC test data: a random walk with trending regimes (so breakouts and retests
happen), H1 bars from 2021-01-04, prices on a 0.001 grid, epoch-second times. Used by the adapter
tests and bench/backtrader_adapter."""

import os
import random

START = 1_609_718_400  # 2021-01-04 00:00 UTC


def write_csv(path, bars, seed=20261207, step=3600, header=True):
    """Writes PATH (once: an existing file is kept, its content is a function of the arguments)."""
    if os.path.exists(path):
        return path
    rng = random.Random(seed * 1_000_003 + bars)
    tick = 1000
    price = 25 * tick
    drift = 0.0
    t = START
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w") as f:
        if header:
            f.write("time,open,high,low,close,volume\n")
        for i in range(bars):
            if i % 150 == 0:
                drift = rng.choice((-1, 0, 1)) * rng.uniform(0.005, 0.02)
            o = price
            c = max(tick, o + int(rng.gauss(drift, 0.05) * tick))
            h = max(o, c) + int(abs(rng.gauss(0, 0.03)) * tick)
            lo = max(1, min(o, c) - int(abs(rng.gauss(0, 0.03)) * tick))
            f.write(f"{t},{o / tick:.3f},{h / tick:.3f},{lo / tick:.3f},{c / tick:.3f},"
                    f"{rng.randint(1, 1000)}\n")
            price = c
            t += step
    os.replace(tmp, path)
    return path
