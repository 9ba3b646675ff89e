"""backtest-engine-cli on a generated CSV: the checks of tests/e2e/engine_cli_e2e.sh."""
import json
import random
import subprocess
import sys

cli, work = sys.argv[1], sys.argv[2]
path = f"{work}/bars.csv"
rng = random.Random(7)
price, t = 1_000_000, 1_577_836_800
with open(path, "w") as f:
    f.write("time,open,high,low,close,volume\n")
    for _ in range(40_000):
        o = price
        c = max(100, o + int(rng.gauss(0, 400)))
        h, lo = max(o, c) + rng.randint(0, 200), min(o, c) - rng.randint(0, 200)
        prices = ",".join(f"{x / 1e4:.4f}" for x in (o, h, lo, c))
        f.write(f"{t},{prices},{rng.randint(1, 999)}\n")
        price, t = c, t + 60


def run(*extra):
    out = subprocess.run([cli, "--csv", path, "--param", "strategy=sma_cross",
                          "--param", "fast_period=2", "--param", "slow_period=3", *extra],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


a = run()
trades = a["trades"]
assert len(trades) > 4000, len(trades)  # enough for the JSON to be split between two threads
assert a["stats"]["trades"] == len(trades), (a["stats"]["trades"], len(trades))
assert [x["id"] for x in trades] == list(range(1, len(trades) + 1))
for prev, cur in zip(trades, trades[1:]):
    assert prev["exit_reason"] == "reversal", prev
    assert cur["entry_time"] == prev["exit_time"] and cur["side"] != prev["side"], (prev, cur)
assert trades[-1]["exit_reason"] == "end_of_data"
pnl = sum(x["pnl"] for x in trades)
assert abs(pnl - a["stats"]["pnl"]) < 1e-6 * max(1.0, abs(pnl)), (pnl, a["stats"]["pnl"])
assert a["bars"] == 40_000 and a["total_seconds"] > 0

b = run()
assert b["trades"] == trades and b["stats"] == a["stats"]

d = run("--digest")
assert len(d["digest"]) == 64 and d["trades"] == trades and d["stats"] == a["stats"]
assert run("--digest")["digest"] == d["digest"]

with open(path, "a") as f:
    f.write(f"{t},1.0,0.5,1.0,1.0,1\n")  # high < low on line 40,002
bad = subprocess.run([cli, "--csv", path], capture_output=True, text=True)
assert bad.returncode == 1 and f"{path}:40002: high 0.5 < low 1" in bad.stderr, bad.stderr
print(f"{len(trades)} trades, consistent, deterministic; bad CSV named by line")
