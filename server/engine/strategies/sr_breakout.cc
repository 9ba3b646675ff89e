#include "server/engine/strategies/sr_breakout.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "server/engine/util/huge_pages.h"

namespace backtest::engine {
namespace {

constexpr int64_t kAtrPeriod = 14;

}  // namespace

SrBreakout::SrBreakout(RunContext& context)
    : ctx_(context),
      cfg_(context.config),
      lookback_(static_cast<size_t>(context.config.breakout_lookback_period)),
      start_eval_(static_cast<size_t>(std::max<int64_t>(
          {context.config.breakout_lookback_period, kAtrPeriod, context.config.ema_length - 1}))) {
  for (const SymbolData& s : ctx_.data.symbols) {
    states_.emplace_back(cfg_.ema_length, cfg_.breakout_lookback_period);
    SymState& st = states_.back();
    st.decimals = PriceDecimals(s.pip);
    st.bars = s.bars.get();
    st.symbol = &s.symbol;
    st.first_kept = s.first_kept;
    if (SharedSeries* shared = ctx_.shared; shared != nullptr) {
      const size_t sym = states_.size() - 1;
      st.fixed = shared->SrFixed(sym);
      st.ema_series = shared->Ema(sym, cfg_.ema_length);
      st.extremes = shared->Extremes(sym, cfg_.breakout_lookback_period);
    }
  }
  ctx_.result.symbols.resize(ctx_.data.symbols.size());
  for (size_t k = 0; k < ctx_.data.symbols.size(); ++k) {
    auto& ema = ctx_.result.symbols[k].ema;
    ema.reserve(ctx_.data.symbols[k].kept());
    AdviseHugePages(ema.data(), ema.capacity() * sizeof(LinePoint));
  }
}

void SrBreakout::UpdateIndicators(SymState& st, size_t sym, size_t i, BarCtx* b) {
  const BarSeries& s = *st.bars;
  b->sym = sym;
  b->i = i;
  b->bar_index = static_cast<int64_t>(i) - static_cast<int64_t>(st.first_kept);
  b->ts = s.time[i];
  b->open = s.open[i];
  b->high = s.high[i];
  b->low = s.low[i];
  b->close = s.close[i];
  b->symbol = st.symbol;
  b->dec = st.decimals;
  if (st.fixed != nullptr) {
    b->atr = st.fixed->atr[i];
    b->rsi = st.fixed->rsi[i];
    st.daily_closes = st.fixed->daily_closes[i];
  } else {
    // Daily RSI: a day counts once a bar of a later day arrives, so this bar sees earlier days
    // only.
    double day_close;
    if (st.days.Update(b->ts, b->close, &day_close)) [[unlikely]] {
      st.rsi.Update(day_close);
      ++st.daily_closes;
      if (st.rsi.ready()) st.rsi_value = st.rsi.value();
    }
    st.atr.Update(b->high, b->low, b->close);
    b->atr = st.atr.ready() ? st.atr.value() : NAN;
    b->rsi = st.rsi_value;
  }
  if (st.ema_series != nullptr) {
    b->ema = (*st.ema_series)[i];
  } else {
    st.ema.Update(b->close);
    b->ema = st.ema.ready() ? st.ema.value() : NAN;
  }
  // R and S of the previous `lookback` bars, this bar excluded.
  b->have_rs = i >= lookback_;
  if (st.extremes != nullptr) {
    if (b->have_rs) {
      b->resistance = st.extremes->highest[i];
      b->support = st.extremes->lowest[i];
      b->resistance_bar = static_cast<size_t>(st.extremes->highest_bar[i]);
      b->support_bar = static_cast<size_t>(st.extremes->lowest_bar[i]);
    } else {
      b->resistance = b->support = 0;
      b->resistance_bar = b->support_bar = 0;
    }
    return;
  }
  if (b->have_rs) {
    // The extremes of the last `lookback` entries: bars i − lookback … i − 1 here (entries are
    // the symbol's bars from 0 on, so an entry's index is its bar).
    int64_t resistance_bar, support_bar;
    st.highs.Get(&b->resistance, &resistance_bar);
    st.lows.Get(&b->support, &support_bar);
    b->resistance_bar = static_cast<size_t>(resistance_bar);
    b->support_bar = static_cast<size_t>(support_bar);
  } else {
    b->resistance = b->support = 0;
    b->resistance_bar = b->support_bar = 0;
  }
  st.highs.Push(b->high);
  st.lows.Push(b->low);
}

void SrBreakout::OnWarmupBar(size_t sym, size_t i) {
  const SymState& st = states_[sym];
  // A warm-up bar only feeds the indicators: nothing to do when every series is shared.
  if (st.fixed != nullptr && st.ema_series != nullptr && st.extremes != nullptr) return;
  BarCtx b;
  UpdateIndicators(states_[sym], sym, i, &b);
}

inline void SrBreakout::ProcessBar(size_t sym, size_t i) {
  SymState& st = states_[sym];
  BarCtx b;
  UpdateIndicators(st, sym, i, &b);
  if (!std::isnan(b.ema)) ctx_.result.symbols[sym].ema.push_back({b.ts, b.ema});
  Tracer& tr = ctx_.tracer;
  if (tr.enabled()) {
    tr.BeginBar(b.bar_index, b.ts, b.symbol);
    verdict_.clear();
    verdict_code_.clear();
    no_entry_.clear();
    no_entry_code_.clear();
    TraceValues(st, b);
  }
  if (st.order.active) FillEntry(st, b);        // (1)
  if (!ctx_.broker.flat(sym)) CheckExit(st, b);  // (2)
  if (st.setup.active) ManageSetup(st, b);       // (3)
  TestBreakout(st, b);                           // (4)
  if (i + 1 == st.bars->size()) [[unlikely]] EndOfData(st, b);
  ctx_.broker.Mark(sym, b.close);  // (5)
  if (tr.enabled()) TraceVerdict(b);
}

void SrBreakout::FillEntry(SymState& st, const BarCtx& b) {
  EntryOrder order = st.order;
  st.order.active = false;
  Broker& broker = ctx_.broker;
  const bool is_long = order.side == Side::kLong;
  // Market order at this bar's open: buys pay the spread (bid + spread + slippage), sells get the
  // bid − slippage.
  const double fill = is_long ? broker.BuyPrice(b.sym, b.open) : broker.SellPrice(b.sym, b.open);
  Tracer& tr = ctx_.tracer;
  if (is_long ? fill <= order.stop : fill >= order.stop) {
    Count(Reason::kEntrySkipped, b);
    std::string why = absl::StrCat("entry ", SideName(order.side), " skipped: fill ",
                                   Fixed(fill, b.dec), is_long ? " at or below" : " at or above",
                                   " the stop ", Fixed(order.stop, b.dec));
    if (ctx_.log.Wants(LogLevel::kWarning)) ctx_.log.Bar(LogLevel::kWarning, b.ts, *b.symbol, why);
    if (tr.Wants(TraceKind::kEvent)) {
      tr.BeginRow(TraceSection::kOrders, TraceKind::kEvent)
          .Str("event", "entry_skipped").Str("side", SideName(order.side)).Str("reason", why)
          .Num("bid_open", b.open).Num("fill", fill).Num("stop", order.stop)
          .Int("trigger_bar", order.trigger_bar_index);
      tr.EndRow();
      NoteEvent("entry_skipped", why);
    }
    return;
  }
  double stop = order.stop;
  double risk = std::fabs(fill - stop);
  const double min_risk = cfg_.min_risk_distance_atr * order.atr;
  if (risk < min_risk) {
    const double widened = is_long ? fill - min_risk : fill + min_risk;
    Count(Reason::kStopWidened, b);
    std::string why = absl::StrCat("stop widened from ", Fixed(stop, b.dec), " to ",
                                   Fixed(widened, b.dec), ": risk ", Fixed(risk, b.dec), " < ",
                                   Fixed(cfg_.min_risk_distance_atr, 2), " ATR (",
                                   Fixed(min_risk, b.dec), ")");
    if (ctx_.log.Wants(LogLevel::kInfo)) ctx_.log.Bar(LogLevel::kInfo, b.ts, *b.symbol, why);
    if (tr.Wants(TraceKind::kEvent)) {
      tr.BeginRow(TraceSection::kRisk, TraceKind::kEvent)
          .Str("event", "stop_widened").Str("reason", why).Num("stop_before", stop)
          .Num("stop", widened).Num("risk_before", risk).Num("min_risk", min_risk)
          .Num("atr", order.atr).Num("min_risk_distance_atr", cfg_.min_risk_distance_atr);
      tr.EndRow();
      NoteEvent("stop_widened", why);
    }
    stop = widened;
    risk = min_risk;
  }
  const double target = is_long ? fill + cfg_.rr * risk : fill - cfg_.rr * risk;
  const double sizing_equity = broker.EquityForSizing();
  // Fractional units, no lot rounding.
  const double size = sizing_equity * cfg_.risk_per_trade / risk;
  const Position& p = broker.Open(b.sym, order.side, fill, size, stop, target, b.bar_index, b.ts,
                                  "retest");
  Count(Reason::kEntryFilled, b);
  if (ctx_.log.Wants(LogLevel::kInfo)) {
    ctx_.log.Bar(LogLevel::kInfo, b.ts, *b.symbol,
                 absl::StrCat("ENTRY ", SideName(order.side), " #", p.trade_id, " size ",
                              Fixed(size, 4), " at ", Fixed(fill, b.dec), " stop ",
                              Fixed(stop, b.dec), " target ", Fixed(target, b.dec),
                              " (retest of ", Fixed(order.level, b.dec), ")"));
  }
  if (tr.Wants(TraceKind::kEvent)) {
    tr.BeginRow(TraceSection::kOrders, TraceKind::kEvent)
        .Str("event", "entry_filled").Str("side", SideName(order.side)).Int("trade_id", p.trade_id)
        .Num("bid_open", b.open).Num("price", fill).Num("spread", broker.spread(b.sym))
        .Num("slippage", broker.slippage(b.sym)).Num("stop", stop).Num("target", target)
        .Num("risk", risk).Num("size", size).Num("equity_for_sizing", sizing_equity)
        .Num("level", order.level).Int("trigger_bar", order.trigger_bar_index);
    tr.EndRow();
    NoteEvent("entry_filled", absl::StrCat("entry ", SideName(order.side), " at ",
                                           Fixed(fill, b.dec), " (stop ", Fixed(stop, b.dec),
                                           ", target ", Fixed(target, b.dec), ")"));
  }
}

void SrBreakout::CheckExit(SymState& st, const BarCtx& b) {
  Broker& broker = ctx_.broker;
  auto exit = broker.ExitFor(b.sym, b.open, b.high, b.low);
  if (!exit) return;
  const Position pos = broker.position(b.sym);
  const Trade& t = broker.Close(b.sym, exit->price, exit->reason, b.bar_index, b.ts);
  Count(exit->reason == ExitReason::kStop      ? Reason::kExitStop
        : exit->reason == ExitReason::kStopGap ? Reason::kExitStopGap
                                               : Reason::kExitTarget,
        b);
  if (ctx_.log.Wants(LogLevel::kInfo)) {
    ctx_.log.Bar(LogLevel::kInfo, b.ts, *b.symbol,
                 absl::StrCat("EXIT ", SideName(t.side), " #", t.id, " at ",
                              Fixed(t.exit_price, b.dec), " (", ExitReasonName(t.exit_reason),
                              "), pnl ", Fixed(t.pnl, 2)));
  }
  Tracer& tr = ctx_.tracer;
  if (tr.Wants(TraceKind::kEvent)) {
    std::string why;
    switch (exit->reason) {
      case ExitReason::kStopGap:
        why = absl::StrCat("opened at ", Fixed(b.open, b.dec), " beyond the stop ",
                           Fixed(pos.stop, b.dec));
        break;
      case ExitReason::kStop:
        why = absl::StrCat(pos.side == Side::kLong ? "low " : "high ",
                           Fixed(pos.side == Side::kLong ? b.low : b.high, b.dec),
                           " reached the stop ", Fixed(pos.stop, b.dec));
        break;
      default:
        why = absl::StrCat(pos.side == Side::kLong ? "high " : "low ",
                           Fixed(pos.side == Side::kLong ? b.high : b.low, b.dec),
                           " reached the target ", Fixed(pos.target, b.dec));
    }
    tr.BeginRow(TraceSection::kPosition, TraceKind::kEvent)
        .Str("event", "exit").Str("reason", ExitReasonName(t.exit_reason))
        .Str("side", SideName(t.side)).Int("trade_id", t.id).Num("price", t.exit_price)
        .Num("entry_price", t.entry_price).Num("stop", pos.stop).Num("target", pos.target)
        .Num("open", b.open).Num("high", b.high).Num("low", b.low).Num("pnl", t.pnl)
        .Str("why", why);
    tr.EndRow();
    NoteEvent(absl::StrCat("exit_", ExitReasonName(t.exit_reason)),
              absl::StrCat("exit ", SideName(t.side), " by ", ExitReasonName(t.exit_reason),
                           " at ", Fixed(t.exit_price, b.dec), ": ", why));
  }
}

void SrBreakout::ManageSetup(SymState& st, const BarCtx& b) {
  // Step (3): cancellation, else trigger, else expiry, else the inversion test on this close.
  if (CancelIfBroken(st, b)) return;
  const Retest retest = TryRetest(st, b);
  if (retest == Retest::kTriggered) return;
  if (ExpireIfDue(st, b)) return;
  if (retest == Retest::kIgnored) return;
  if (InvertIfAway(st, b)) return;
  if (ctx_.tracer.sampled()) TracePendingSetup(st, b);
}

double SrBreakout::InversionPrice(const Setup& s, double atr) const {
  return s.side == Side::kLong ? s.level + cfg_.zone_inversion_margin_atr * atr
                               : s.level - cfg_.zone_inversion_margin_atr * atr;
}

bool SrBreakout::CancelIfBroken(SymState& st, const BarCtx& b) {
  const Setup& s = st.setup;
  const bool is_long = s.side == Side::kLong;
  const double a = b.atr;  // every ATR multiple uses the ATR of the bar being tested
  const double cancel_at = is_long ? s.level - cfg_.sr_cancellation_threshold_atr * a
                                   : s.level + cfg_.sr_cancellation_threshold_atr * a;
  if (!(is_long ? b.close < cancel_at : b.close > cancel_at)) return false;
  Count(Reason::kSetupCancelled, b);
  if (ctx_.tracer.Wants(TraceKind::kEvent)) {
    why_.clear();
    AppendText(&why_, SideName(s.side), " setup at ", Dec{s.level, b.dec}, " cancelled: close ",
               Dec{b.close, b.dec}, is_long ? " < " : " > ", Dec{cancel_at, b.dec}, " (level ",
               is_long ? "- " : "+ ", Dec{cfg_.sr_cancellation_threshold_atr, 2}, " ATR)");
    TraceSetupEvent(st, b, "setup_cancelled", why_);
  }
  EndSetup(st, b, ZoneState::kCancelled);
  return true;
}

SrBreakout::Retest SrBreakout::TryRetest(SymState& st, const BarCtx& b) {
  const Setup& s = st.setup;
  const bool is_long = s.side == Side::kLong;
  // A real retest: after inversion, price comes back to the level and is rejected.
  const bool retest = s.inverted && s.inversion_bar < b.i && b.i <= s.breakout_bar + lookback_ &&
                      (is_long ? (b.low <= s.level && b.close > s.level)
                               : (b.high >= s.level && b.close < s.level));
  if (!retest) return Retest::kNone;
  if (!ctx_.broker.flat(b.sym)) {
    // Ignored, not remembered; the setup stays and may still trigger once flat.
    Count(Reason::kTriggerIgnored, b);
    if (ctx_.tracer.Wants(TraceKind::kEvent)) {
      TraceSetupEvent(st, b, "trigger_ignored",
                      absl::StrCat("retest of ", Fixed(s.level, b.dec),
                                   " ignored: a position is open"));
    }
    return Retest::kIgnored;
  }
  const double a = b.atr;
  EntryOrder& o = st.order;
  o.active = true;
  o.side = s.side;
  o.level = s.level;
  o.atr = a;
  o.trigger_bar_index = b.bar_index;
  // Beyond the level and beyond the retest's wick.
  o.stop = is_long ? std::min(s.level, b.low) - cfg_.sl_buffer_atr * a
                   : std::max(s.level, b.high) + cfg_.sl_buffer_atr * a;
  Count(Reason::kSetupTriggered, b);
  if (ctx_.tracer.Wants(TraceKind::kEvent)) {
    TraceSetupEvent(st, b, "setup_triggered",
                    absl::StrCat("retest of ", Fixed(s.level, b.dec), ": ",
                                 is_long ? "low " : "high ",
                                 Fixed(is_long ? b.low : b.high, b.dec),
                                 is_long ? " <= level, close " : " >= level, close ",
                                 Fixed(b.close, b.dec), is_long ? " > level" : " < level", "; ",
                                 is_long ? "buy" : "sell", " at the next open, stop ",
                                 Fixed(o.stop, b.dec)));
    ctx_.tracer.BeginRow(TraceSection::kOrders, TraceKind::kEvent)
        .Str("event", "entry_order").Str("side", SideName(o.side)).Num("level", o.level)
        .Num("stop", o.stop).Num("atr", a).Num("sl_buffer_atr", cfg_.sl_buffer_atr)
        .Str("fills", "next bar's open");
    ctx_.tracer.EndRow();
  }
  EndSetup(st, b, ZoneState::kInverted);
  return Retest::kTriggered;
}

bool SrBreakout::ExpireIfDue(SymState& st, const BarCtx& b) {
  const Setup& s = st.setup;
  if (b.i < s.breakout_bar + lookback_) return false;
  Count(Reason::kSetupExpired, b);
  if (ctx_.tracer.Wants(TraceKind::kEvent)) {
    why_.clear();
    AppendText(&why_, SideName(s.side), " setup at ", Dec{s.level, b.dec},
               " expired: no retest within ", lookback_, " bars");
    TraceSetupEvent(st, b, "setup_expired", why_);
  }
  EndSetup(st, b, ZoneState::kCancelled);
  return true;
}

bool SrBreakout::InvertIfAway(SymState& st, const BarCtx& b) {
  Setup& s = st.setup;
  const bool is_long = s.side == Side::kLong;
  const double invert_at = InversionPrice(s, b.atr);
  if (s.inverted || !(is_long ? b.close >= invert_at : b.close <= invert_at)) return false;
  s.inverted = true;
  s.inversion_bar = b.i;
  Count(Reason::kSetupInverted, b);
  if (ctx_.tracer.Wants(TraceKind::kEvent)) {
    why_.clear();
    AppendText(&why_, SideName(s.side), " setup at ", Dec{s.level, b.dec}, " inverted: close ",
               Dec{b.close, b.dec}, is_long ? " >= " : " <= ", Dec{invert_at, b.dec},
               "; retests count from the next bar");
    TraceSetupEvent(st, b, "setup_inverted", why_);
  }
  return true;
}

void SrBreakout::TracePendingSetup(const SymState& st, const BarCtx& b) {
  const Setup& s = st.setup;
  const bool is_long = s.side == Side::kLong;
  // Built in reused strings: this runs on most sampled bars.
  std::string& why = why_;
  why.clear();
  if (!s.inverted) {
    AppendText(&why, "waiting for inversion: close ", Dec{b.close, b.dec},
               is_long ? " < " : " > ", Dec{InversionPrice(s, b.atr), b.dec}, " (level ",
               is_long ? "+ " : "- ", Dec{cfg_.zone_inversion_margin_atr, 2}, " ATR)");
  } else if (s.inversion_bar == b.i) {
    why.assign("inverted on this bar; retests count from the next bar");
  } else if (is_long ? b.low > s.level : b.high < s.level) {
    AppendText(&why, "no retest: ", is_long ? "low " : "high ",
               Dec{is_long ? b.low : b.high, b.dec}, is_long ? " > level " : " < level ",
               Dec{s.level, b.dec});
  } else {
    AppendText(&why, "retest not rejected: close ", Dec{b.close, b.dec},
               is_long ? " <= level " : " >= level ", Dec{s.level, b.dec});
  }
  TraceCheck(TraceSection::kSignal, "retest", false, why, b, Reason::kCount);
  no_entry_code_.assign("setup_pending");
  no_entry_.clear();
  AppendText(&no_entry_, SideName(s.side), " setup at ", Dec{s.level, b.dec}, " pending: ", why);
}

void SrBreakout::EndSetup(SymState& st, const BarCtx& b, ZoneState state) {
  Setup& s = st.setup;
  ctx_.result.symbols[b.sym].zones.push_back(
      Zone{*b.symbol, s.breakout_time, b.ts, s.level,
           s.side == Side::kLong ? ZoneKind::kSupport : ZoneKind::kResistance, state});
  s.active = false;
}

void SrBreakout::OnBar(size_t sym, size_t i) { ProcessBar(sym, i); }

absl::Status SrBreakout::RunBars(LoopContext& loop) { return RunBarLoop(*this, loop); }

}  // namespace backtest::engine
