"""An SDK strategy's decision trace: its own rows, the engine's events, and a verdict row per bar,
so Explain answers for it as for the built-ins."""
import backtestd
from backtestd import Float, Int, Strategy

RUN = dict(symbols="EURUSD", timeframe="H1", start_date="2022-01-03", end_date="2022-02-01",
           trace_enabled=True)


class Traced(Strategy):
    """Long when the close is above its SMA and RSI is below a limit."""

    period = Int(20, min=2)
    rsi_limit = Float(70)

    def on_start(self):
        self.avg = self.sma(self.period)
        self.strength = self.rsi(14)

    def on_bar(self, bar):
        if not self.avg.ready or not self.strength.ready:
            self.verdict("warming up", "not_ready")
            return
        self.trace("indicators", "value", close=bar.close, sma=self.avg.value,
                   rsi=self.strength.value)
        above = bar.close > self.avg.value
        self.check("trend", above, "" if above else f"close {bar.close} <= sma {self.avg.value:.5f}",
                   code="below_sma")
        if not above:
            if self.position > 0:
                self.close(reason="trend_lost")
            return
        ok = self.strength.value < self.rsi_limit
        self.check("rsi", ok, "" if ok else f"rsi {self.strength.value:.1f} >= {self.rsi_limit}",
                   section="filters", code="rsi_high")
        if ok and self.position == 0:
            self.buy(1, reason="trend_entry")


def test_every_bar_has_a_verdict_and_explain_answers():
    r = backtestd.run(Traced, **RUN)
    rows = r.trace
    bars = int(r.stats_raw["bars"])
    verdicts = [row for row in rows if row["section"] == "position" and row["kind"] == "value"]
    assert len(verdicts) == bars
    assert [row["seq"] for row in rows] == list(range(1, len(rows) + 1))
    codes = {v["payload"]["code"] for v in verdicts}
    assert {"below_sma", "trend_entry", "entry_filled"} <= codes
    # A bar where the trend check failed: the verdict is that check's sentence.
    failed = next(v for v in verdicts if v["payload"]["code"] == "below_sma")
    e = r.explain(failed["bar_index"])
    assert e["verdict"].startswith("no trade: close ")
    assert [row["payload"]["check"] for row in e["sections"]["signal"]] == ["trend"]
    assert e["sections"]["indicators"][0]["payload"]["sma"] > 0
    # A bar with an entry: the engine's own event row and a verdict naming it.
    entry = next(v for v in verdicts if v["payload"]["code"] == "entry_filled")
    e = r.explain(entry["bar_index"])
    assert e["verdict"].startswith("entry long at ")
    events = [row["payload"]["event"] for row in e["sections"]["orders"]]
    assert "entry_filled" in events
    # Reasons are counted for every run, traced or not.
    assert r.reason_count("trend_entry") == r.reason_count("entry_filled") > 0
    untraced = backtestd.run(Traced, **{**RUN, "trace_enabled": False})
    assert untraced.trace == [] and untraced.reasons == r.reasons


def test_sampling_keeps_events_and_their_verdicts():
    r = backtestd.run(Traced, trace_sampling=10, **RUN)
    verdicts = [row for row in r.trace if "verdict" in row["payload"]]
    assert all(v["bar_index"] % 10 == 0 or v["payload"]["code"] in
               ("order", "entry_filled", "exit_signal", "exit_end_of_data", "trend_entry",
                "trend_lost") for v in verdicts)
    assert any(v["bar_index"] % 10 != 0 for v in verdicts)
