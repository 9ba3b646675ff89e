// sr_breakout, steps (4) and the end of data: breakout test, filters, setup creation, zones.
#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "server/engine/strategies/sr_breakout.h"
#include "server/engine/trace/json_writer.h"

namespace backtest::engine {

void SrBreakout::TestBreakout(SymState& st, const BarCtx& b) {
  const bool sampled = ctx_.tracer.sampled();
  if (b.i < start_eval_) {
    if (sampled) {
      std::string why = absl::StrCat("not evaluated before bar ", start_eval_,
                                     " of the data (lookback, ATR(14) and EMA warm-up); this is "
                                     "bar ", b.i);
      TraceCheck(TraceSection::kSignal, "breakout", false, why, b, Reason::kCount);
      NoteNoEntry("not_evaluated", why);
    }
    return;
  }
  Side side;
  double level;
  size_t extreme_bar;
  if (b.close > b.resistance) {
    side = Side::kLong;
    level = b.resistance;
    extreme_bar = b.resistance_bar;
  } else if (b.close < b.support) {
    side = Side::kShort;
    level = b.support;
    extreme_bar = b.support_bar;
  } else {
    if (sampled) {
      // The most common sentence: built in place, no temporaries.
      const absl::string_view close = close_text_.view(), support = support_text_.view(),
                              resistance = resistance_text_.view();
      no_entry_.assign("no breakout: close ");
      no_entry_.append(close.data(), close.size());
      no_entry_.append(" within support ");
      no_entry_.append(support.data(), support.size());
      no_entry_.append(" and resistance ");
      no_entry_.append(resistance.data(), resistance.size());
      no_entry_code_.assign("no_breakout");
      TraceCheck(TraceSection::kSignal, "breakout", false, no_entry_, b, Reason::kCount);
    }
    return;
  }
  if (sampled) {
    why_.clear();
    AppendText(&why_, "close ", Dec{b.close, b.dec},
               side == Side::kLong ? " > resistance " : " < support ", Dec{level, b.dec});
    TraceCheck(TraceSection::kSignal, "breakout", true, why_, b, Reason::kCount);
  }
  if (!PassesFilters(b, side, level)) return;
  CreateSetup(st, b, side, level, extreme_bar);
}

bool SrBreakout::PassesFilters(const BarCtx& b, Side side, double level) {
  const bool is_long = side == Side::kLong;
  const bool sampled = ctx_.tracer.sampled();
  // Strength: (close − R) ≥ k·ATR (mirrored for shorts), the ATR of the breakout bar.
  const double distance = is_long ? b.close - level : level - b.close;
  const double required = cfg_.breakout_min_strength_atr * b.atr;
  const bool strong = distance >= required;
  if (!strong) Count(Reason::kFilterStrength, b);
  if (sampled) {
    std::string& why = why_;
    why.clear();
    AppendText(&why, "breakout strength ", Dec{distance / b.atr, 2},
               strong ? " ATR >= " : " ATR < ", Dec{cfg_.breakout_min_strength_atr, 2},
               " ATR required");
    TraceCheck(TraceSection::kFilters, "strength", strong, why, b, Reason::kFilterStrength);
    if (!strong) NoteNoEntry("filter_strength", why);
  }
  if (!strong) return false;
  // Trend: close above the EMA for longs, below for shorts.
  const bool trend = is_long ? b.close > b.ema : b.close < b.ema;
  if (!trend) Count(Reason::kFilterEma, b);
  if (sampled) {
    std::string& why = why_;
    why.clear();
    AppendText(&why, "close ", Dec{b.close, b.dec},
               trend ? (is_long ? " > " : " < ") : (is_long ? " <= " : " >= "), "EMA(",
               cfg_.ema_length, ") ", Dec{b.ema, b.dec + 1});
    TraceCheck(TraceSection::kFilters, "ema", trend, why, b, Reason::kFilterEma);
    if (!trend) NoteNoEntry("filter_ema", why);
  }
  if (!trend) return false;
  if (!cfg_.check_for_daily_rsi) return true;
  if (std::isnan(b.rsi)) {
    Count(Reason::kRsiUnavailable, b);
    if (sampled) {
      std::string why = absl::StrCat("daily RSI(14) not available yet: it needs 15 daily closes, "
                                     "have ", states_[b.sym].daily_closes);
      TraceCheck(TraceSection::kFilters, "rsi", false, why, b, Reason::kRsiUnavailable);
      NoteNoEntry("rsi_unavailable", why);
    }
    return false;
  }
  const bool rsi_ok = is_long ? b.rsi < 70 : b.rsi > 30;
  if (!rsi_ok) Count(Reason::kFilterRsi, b);
  if (sampled) {
    std::string why =
        absl::StrCat("daily RSI ", Fixed(b.rsi, 2),
                     rsi_ok ? (is_long ? " < 70" : " > 30") : (is_long ? " >= 70" : " <= 30"),
                     rsi_ok ? "" : (is_long ? " (overbought)" : " (oversold)"));
    TraceCheck(TraceSection::kFilters, "rsi", rsi_ok, why, b, Reason::kFilterRsi);
    if (!rsi_ok) NoteNoEntry("filter_rsi", why);
  }
  return rsi_ok;
}

void SrBreakout::CreateSetup(SymState& st, const BarCtx& b, Side side, double level,
                             size_t extreme_bar) {
  Setup& s = st.setup;
  if (s.active) {
    if (s.side == side && s.inverted) {
      // A same-side breakout does not replace a setup that has already inverted.
      Count(Reason::kBreakoutIgnored, b);
      if (ctx_.tracer.Wants(TraceKind::kEvent)) {
        why_.clear();
        AppendText(&why_, "breakout kept out: the pending ", SideName(s.side), " setup at ",
                   Dec{s.level, b.dec}, " has already inverted");
        TraceSetupEvent(st, b, "breakout_ignored", why_);
      }
      return;
    }
    Count(Reason::kSetupReplaced, b);
    if (ctx_.tracer.Wants(TraceKind::kEvent)) {
      TraceSetupEvent(st, b, "setup_replaced",
                      absl::StrCat(SideName(s.side), " setup at ", Fixed(s.level, b.dec),
                                   " replaced by a newer ", SideName(side), " breakout at ",
                                   Fixed(level, b.dec)));
    }
    EndSetup(st, b, ZoneState::kCancelled);
  }
  const SymbolData& sd = ctx_.data.symbols[b.sym];
  s.active = true;
  s.side = side;
  s.level = level;
  s.breakout_bar = b.i;
  s.breakout_time = b.ts;
  s.zone_start_time = sd.bars->time[std::max(extreme_bar, sd.first_kept)];
  // Inversion counts from the breakout bar's own close.
  const double invert_at = side == Side::kLong ? level + cfg_.zone_inversion_margin_atr * b.atr
                                               : level - cfg_.zone_inversion_margin_atr * b.atr;
  s.inverted = side == Side::kLong ? b.close >= invert_at : b.close <= invert_at;
  s.inversion_bar = b.i;
  ctx_.result.symbols[b.sym].zones.push_back(
      Zone{*b.symbol, s.zone_start_time, b.ts, level,
           side == Side::kLong ? ZoneKind::kResistance : ZoneKind::kSupport, ZoneState::kBroken});
  Count(Reason::kSetupCreated, b);
  if (s.inverted) Count(Reason::kSetupInverted, b);
  if (ctx_.tracer.Wants(TraceKind::kEvent)) {
    why_.clear();
    AppendText(&why_, SideName(side), " setup at ", Dec{level, b.dec}, " (",
               side == Side::kLong ? "resistance turned support" : "support turned resistance",
               s.inverted ? "), already inverted by this close" : "), waiting for inversion",
               "; retest window to bar ", b.bar_index + static_cast<int64_t>(lookback_));
    TraceSetupEvent(st, b, "setup_created", why_);
  }
}

void SrBreakout::EndOfData(SymState& st, const BarCtx& b) {
  Broker& broker = ctx_.broker;
  Tracer& tr = ctx_.tracer;
  if (st.order.active) {
    st.order.active = false;
    Count(Reason::kEntryDropped, b);
    std::string why = absl::StrCat("entry ", SideName(st.order.side),
                                   " order dropped: end of data, no next bar to fill at");
    if (ctx_.log.Wants(LogLevel::kInfo)) ctx_.log.Bar(LogLevel::kInfo, b.ts, *b.symbol, why);
    if (tr.Wants(TraceKind::kEvent)) {
      tr.BeginRow(TraceSection::kOrders, TraceKind::kEvent)
          .Str("event", "entry_dropped").Str("side", SideName(st.order.side)).Str("reason", why);
      tr.EndRow();
      NoteEvent("entry_dropped", why);
    }
  }
  if (!broker.flat(b.sym)) {
    const Position& p = broker.position(b.sym);
    // Closed at the last close as a market order, so the stats count it.
    const double fill = p.side == Side::kLong ? broker.SellPrice(b.sym, b.close)
                                              : broker.BuyPrice(b.sym, b.close);
    const Trade& t = broker.Close(b.sym, fill, ExitReason::kEndOfData, b.bar_index, b.ts);
    Count(Reason::kExitEndOfData, b);
    if (ctx_.log.Wants(LogLevel::kInfo)) ctx_.log.Bar(LogLevel::kInfo, b.ts, *b.symbol,
           absl::StrCat("EXIT ", SideName(t.side), " #", t.id, " at ", Fixed(fill, b.dec),
                        " (end_of_data), pnl ", Fixed(t.pnl, 2)));
    if (tr.Wants(TraceKind::kEvent)) {
      tr.BeginRow(TraceSection::kPosition, TraceKind::kEvent)
          .Str("event", "exit").Str("reason", "end_of_data").Str("side", SideName(t.side))
          .Int("trade_id", t.id).Num("price", fill).Num("entry_price", t.entry_price)
          .Num("pnl", t.pnl).Str("why", "end of data: closed at the last close");
      tr.EndRow();
      NoteEvent("exit_end_of_data", absl::StrCat("exit ", SideName(t.side), " at the last close ",
                                                 Fixed(fill, b.dec), " (end of data)"));
    }
  }
  // A setup still pending at the last bar ends there.
  if (st.setup.active) EndSetup(st, b, ZoneState::kCancelled);
  AddActiveZones(b);
}

void SrBreakout::AddActiveZones(const BarCtx& b) {
  const SymbolData& sd = ctx_.data.symbols[b.sym];
  const BarSeries& s = *sd.bars;
  const size_t last = b.i;
  const size_t first = last + 1 >= lookback_ ? last + 1 - lookback_ : 0;
  size_t hi = first, lo = first;
  for (size_t j = first + 1; j <= last; ++j) {
    if (s.high[j] > s.high[hi]) hi = j;  // strict: the earliest bar making the extreme
    if (s.low[j] < s.low[lo]) lo = j;
  }
  auto& zones = ctx_.result.symbols[b.sym].zones;
  zones.push_back(Zone{sd.symbol, s.time[std::max(hi, sd.first_kept)], s.time[last], s.high[hi],
                       ZoneKind::kResistance, ZoneState::kActive});
  zones.push_back(Zone{sd.symbol, s.time[std::max(lo, sd.first_kept)], s.time[last], s.low[lo],
                       ZoneKind::kSupport, ZoneState::kActive});
}

}  // namespace backtest::engine
