// sr_breakout's trace rows and per-bar verdicts. Only called while tracing.
#include <cmath>

#include "absl/strings/str_cat.h"
#include "server/engine/strategies/sr_breakout.h"

namespace backtest::engine {

void SrBreakout::TraceValues(const SymState& st, const BarCtx& b) {
  Tracer& tr = ctx_.tracer;
  if (!tr.Wants(TraceKind::kValue)) return;
  close_text_.Set(b.close, tr.numbers());
  if (b.have_rs) {
    resistance_text_.Set(b.resistance, tr.numbers());
    support_text_.Set(b.support, tr.numbers());
  }
  tr.BeginRow(TraceSection::kIndicators, TraceKind::kValue)
      .Num("open", b.open).Num("high", b.high).Num("low", b.low).Raw("close", close_text_.view())
      .Approx("atr", b.atr).Approx("ema", b.ema).Approx("rsi", b.rsi)
      .Int("daily_closes", st.daily_closes);
  tr.EndRow();
  if (!b.have_rs && !st.setup.active) return;
  JsonWriter& w = tr.BeginRow(TraceSection::kZones, TraceKind::kValue);
  if (b.have_rs) {
    w.Raw("resistance", resistance_text_.view()).Raw("support", support_text_.view())
        .Int("lookback", static_cast<int64_t>(lookback_));
  } else {
    w.Null("resistance").Null("support");
  }
  if (st.setup.active) {
    const Setup& s = st.setup;
    const int64_t first = static_cast<int64_t>(ctx_.data.symbols[b.sym].first_kept);
    w.Str("setup", SideName(s.side)).Num("level", s.level)
        .Int("breakout_bar", static_cast<int64_t>(s.breakout_bar) - first)
        .Bool("inverted", s.inverted)
        .Int("last_trigger_bar", static_cast<int64_t>(s.breakout_bar + lookback_) - first);
  } else {
    w.Null("setup");
  }
  tr.EndRow();
}

void SrBreakout::TraceSetupEvent(const SymState& st, const BarCtx& b, absl::string_view event,
                                 absl::string_view sentence) {
  const Setup& s = st.setup;
  const int64_t first = static_cast<int64_t>(ctx_.data.symbols[b.sym].first_kept);
  ctx_.tracer.BeginRow(TraceSection::kZones, TraceKind::kEvent)
      .Str("event", event).Str("reason", sentence).Str("side", SideName(s.side))
      .Num("level", s.level).Int("breakout_bar", static_cast<int64_t>(s.breakout_bar) - first)
      .Bool("inverted", s.inverted).Num("close", b.close).Approx("atr", b.atr);
  ctx_.tracer.EndRow();
  NoteEvent(event, sentence);
}

void SrBreakout::TraceCheck(TraceSection section, absl::string_view check, bool passed,
                            const std::string& reason, const BarCtx& b, Reason code) {
  Tracer& tr = ctx_.tracer;
  if (!tr.Wants(TraceKind::kCheck)) return;
  JsonWriter& w = tr.BeginRow(section, TraceKind::kCheck);
  w.Str("check", check).Bool("passed", passed).Str("reason", reason);
  if (!passed && code != Reason::kCount) w.Str("code", ReasonCode(code));
  // Check rows exist on sampled bars only, where TraceValues formatted these.
  w.Raw("close", close_text_.view());
  if (check == "breakout") {
    if (b.have_rs) {
      w.Raw("resistance", resistance_text_.view()).Raw("support", support_text_.view());
    }
  } else if (check == "strength") {
    const bool is_long = b.close > b.resistance;
    const double level = is_long ? b.resistance : b.support;
    const double distance = is_long ? b.close - level : level - b.close;
    w.Num("level", level).Approx("distance", distance).Approx("atr", b.atr)
        .Approx("strength_atr", distance / b.atr)
        .Num("required_atr", cfg_.breakout_min_strength_atr);
  } else if (check == "ema") {
    w.Approx("ema", b.ema).Int("ema_length", cfg_.ema_length);
  } else if (check == "rsi") {
    w.Approx("rsi", b.rsi).Num("limit", b.close > b.resistance ? 70.0 : 30.0);
  } else if (check == "retest") {
    w.Num("low", b.low).Num("high", b.high).Approx("atr", b.atr);
  }
  tr.EndRow();
}

void SrBreakout::NoteEvent(absl::string_view code, absl::string_view sentence) {
  if (verdict_code_.empty()) verdict_code_ = std::string(code);
  absl::StrAppend(&verdict_, verdict_.empty() ? "" : "; ", sentence);
}

void SrBreakout::NoteNoEntry(absl::string_view code, const std::string& sentence) {
  no_entry_code_.assign(code.data(), code.size());
  no_entry_.assign(sentence);
}

void SrBreakout::TraceVerdict(const BarCtx& b) {
  Tracer& tr = ctx_.tracer;
  // A value row, but kept on every bar that had an event so event bars always have a verdict.
  if (!(tr.bar_had_event() ? tr.Wants(TraceKind::kEvent) : tr.Wants(TraceKind::kValue))) return;
  const Position& p = ctx_.broker.position(b.sym);
  // Built in a reused member string: no allocation once it has grown.
  std::string& verdict = verdict_text_;
  absl::string_view code;
  if (!verdict_.empty()) {
    verdict.assign(verdict_);
    code = verdict_code_;
    if (!no_entry_.empty()) verdict.append("; no new setup: ").append(no_entry_);
  } else if (p.open) {
    // The same words on every bar of a position: built once per trade.
    if (holding_trade_ != p.trade_id || holding_symbol_ != b.sym) {
      holding_trade_ = p.trade_id;
      holding_symbol_ = b.sym;
      holding_text_ = absl::StrCat("holding ", SideName(p.side), " #", p.trade_id, " (entry ",
                                   Fixed(p.entry_price, b.dec), ", stop ", Fixed(p.stop, b.dec),
                                   ", target ", Fixed(p.target, b.dec), ")");
    }
    verdict.assign(holding_text_);
    code = "holding";
    if (!no_entry_.empty()) verdict.append("; ").append(no_entry_);
  } else {
    verdict.assign("no entry: ").append(no_entry_);
    code = no_entry_code_;
  }
  tr.BeginRow(TraceSection::kPosition, TraceKind::kValue)
      .Str("verdict", verdict).Str("code", code)
      .Str("position", p.open ? SideName(p.side) : "flat")
      .Approx("equity", ctx_.broker.Equity());
  tr.EndRow();
}

}  // namespace backtest::engine
