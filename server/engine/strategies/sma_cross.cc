#include "server/engine/strategies/sma_cross.h"

#include <algorithm>
#include <bit>
#include <cmath>

#include "absl/strings/str_cat.h"

namespace backtest::engine {

SmaCross::SmaCross(RunContext& context)
    : ctx_(context),
      tracing_(context.tracer.enabled()),
      blocks_(!tracing_ && context.data.symbols.size() == 1),
      size_text_(absl::StrCat(context.config.size)) {
  for (const SymbolData& s : ctx_.data.symbols) {
    states_.push_back(SymState{Sma(ctx_.config.fast_period), Sma(ctx_.config.slow_period), 0, 0,
                               PriceDecimals(s.pip), s.bars->close.data(), s.bars->size(),
                               s.first_kept});
  }
}

inline int SmaCross::Signal(SymState& st, double close) {
  st.fast.Update(close);
  st.slow.Update(close);
  if (!st.slow.ready() || !st.fast.ready()) return 0;
  // The sign of fast − slow as backtrader computes it (exact SMAs). The running-sum means are
  // within ~1e-12 relative of the exact ones, so outside a 1e-9 band their sign is the answer;
  // inside it, the exact means decide.
  const double fa = st.fast.ApproxValue();
  const double sa = st.slow.ApproxValue();
  const double d = fa - sa;
  const double band = 1e-9 * (std::fabs(fa) + std::fabs(sa));
  // Written without branches on the data: the sign of d flips at every cross, and a mispredicted
  // branch costs more than the arithmetic.
  int sign = static_cast<int>(d > band) - static_cast<int>(d < -band);
  if (sign == 0) [[unlikely]] {
    const double f = st.fast.Value(), s = st.slow.Value();
    sign = static_cast<int>(f > s) - static_cast<int>(f < s);
  }
  const int cross = static_cast<int>((sign > 0) & (st.last_sign < 0)) -
                    static_cast<int>((sign < 0) & (st.last_sign > 0));
  st.last_sign = sign != 0 ? sign : st.last_sign;
  return cross;
}

void SmaCross::OnWarmupBar(size_t sym, size_t i) {
  // Block-wise runs scan the warm-up bars themselves (RunBlocks).
  if (!blocks_) Signal(states_[sym], states_[sym].close[i]);
}

size_t SmaCross::ScanCrosses(SymState& st, size_t from, size_t to, uint32_t* bars, int8_t* signs) {
  const double* x = st.close;
  const int64_t nf = st.fast.period(), ns = st.slow.period();
  // Signal() gives 0 and keeps last_sign until both SMAs have their first value.
  from = std::max(from, static_cast<size_t>(std::max(nf, ns) - 1));
  if (from >= to) return 0;
  // Running sums over the block, started from a plain sum of each window: within ~1e-13 relative
  // of the exact sums over a block, far inside the 1e-9 band (the same argument as Sma's).
  double sf = 0, ss = 0;
  for (size_t j = from + 1 - static_cast<size_t>(nf); j <= from; ++j) sf += x[j];
  for (size_t j = from + 1 - static_cast<size_t>(ns); j <= from; ++j) ss += x[j];
  const double invf = 1.0 / static_cast<double>(nf), invs = 1.0 / static_cast<double>(ns);
  int last = st.last_sign;
  size_t m = 0;
  // 64 bars at a time: first, for each bar, whether its fast − slow is outside the band and
  // whether it is negative, as bits; then the crosses from the bits. A cross comes every few
  // dozen bars: found from the bits, the bars between cost no branch and no store.
  for (size_t w = from; w < to; w += 64) {
    const size_t count = std::min<size_t>(64, to - w);
    // Bar w + k is bit count − 1 − k (shifted in from the right, which costs one instruction);
    // `out`: outside the band, `neg`: fast − slow < 0 (its sign bit).
    uint64_t out = 0, neg = 0;
    for (size_t k = 0;;) {
      // The same decision as Signal(): the sign of the running-sum means outside the band, else
      // of the exact (fsum-equal) means (below). NaN is inside.
      const double fa = sf * invf, sa = ss * invs;
      const double d = fa - sa;
      const double band = 1e-9 * (std::fabs(fa) + std::fabs(sa));
      out = (out << 1) | static_cast<uint64_t>(std::fabs(d) > band);
      neg = (neg << 1) | (std::bit_cast<uint64_t>(d) >> 63);
      const size_t j = w + ++k;  // the next bar, when there is one in the block
      if (j == to) break;
      sf += x[j] - x[j - static_cast<size_t>(nf)];
      ss += x[j] - x[j - static_cast<size_t>(ns)];
      if (k == count) break;
    }
    auto bit = [count](size_t k) { return count - 1 - k; };
    const uint64_t all = count == 64 ? ~uint64_t{0} : (uint64_t{1} << count) - 1;
    if (out != all) [[unlikely]] {
      // A bar inside the band: bar by bar, the exact means deciding there.
      for (size_t k = 0; k < count; ++k) {
        int sign = (out >> bit(k)) & 1 ? ((neg >> bit(k)) & 1 ? -1 : 1) : 0;
        if (sign == 0) {
          const size_t j = w + k;
          const double f = Sma::WindowMean(x, j + 1, nf), s = Sma::WindowMean(x, j + 1, ns);
          sign = static_cast<int>(f > s) - static_cast<int>(f < s);
        }
        const int cross = static_cast<int>((sign > 0) & (last < 0)) -
                          static_cast<int>((sign < 0) & (last > 0));
        last = sign != 0 ? sign : last;
        if (cross != 0) {
          bars[m] = static_cast<uint32_t>(w + k);
          signs[m++] = static_cast<int8_t>(cross);
        }
      }
      continue;
    }
    // Every bar has a side: a cross is a bar on the other side than the bar before it (the first
    // bar: than `last`; no cross while there was no side yet).
    const uint64_t first = uint64_t{1} << bit(0);
    const uint64_t before = (neg >> 1) | (last < 0 ? first : 0);
    uint64_t crosses = (neg ^ before) & (last == 0 ? ~first : ~uint64_t{0});
    while (crosses != 0) {
      const auto b = static_cast<size_t>(63 - std::countl_zero(crosses));  // bars in order
      crosses ^= uint64_t{1} << b;
      bars[m] = static_cast<uint32_t>(w + bit(b));
      signs[m++] = static_cast<int8_t>((neg >> b) & 1 ? -1 : 1);
    }
    last = neg & 1 ? -1 : 1;
  }
  st.last_sign = last;
  return m;
}

// The block-wise bar loop (one symbol, no trace). Per block of bars: (a) the crosses, from the
// closes alone; (b) the bars in order, where a bar with work — a fill at its open, a cross, the
// last bar — goes through the same code as the per-bar loop, and every run of bars between two
// of those is marked in one pass (Broker::MarkRun), the position being constant there. Results,
// logs and reason counts are the per-bar loop's, bit for bit (tests: SmaCrossTest.Blocks*).
// Cancellation is asked and progress reported once per block (at most every 1% of the bars).
absl::Status SmaCross::RunBlocks(LoopContext& c) {
  constexpr size_t kBlock = 2048;
  SymState& st = states_[0];
  const BarSeries& series = *ctx_.data.symbols[0].bars;
  const size_t n = series.size(), first = st.first_kept;
  const int64_t* time = series.time.data();
  const double* close = series.close.data();
  const size_t block = std::min<size_t>(kBlock, static_cast<size_t>(c.progress.step()));
  uint32_t cross_bars[kBlock];
  int8_t cross_signs[kBlock];
  // Warm-up bars only set the last sign of fast − slow.
  for (size_t i = 0; i < first; i += kBlock) {
    ScanCrosses(st, i, std::min(first, i + kBlock), cross_bars, cross_signs);
  }
  // The equity curve is kept as pieces (EquityCurve); the block's points, which the curve's
  // statistics read, are made in a buffer of one block.
  EquityCurve& equity = *c.equity;
  // About one piece a trade; a cross comes every few dozen bars on minute data.
  equity.UsePieces(ctx_.data.symbols[0].bars, (n - first) / 16 + 16);
  LinePoint block_points[kBlock];
  Broker& broker = ctx_.broker;
  int64_t done = 0;
  for (size_t i = first; i < n;) {
    const size_t end = std::min(n, i + block);
    const size_t crosses = ScanCrosses(st, i, end, cross_bars, cross_signs);
    LinePoint* points = block_points - i;  // points[j] is bar j's
    size_t e = 0;
    for (size_t j = i; j < end;) {
      // The next bar with work: this one when an order waits for its open, else the next cross
      // or the last bar.
      size_t next = end;
      if (st.pending != 0) {
        next = j;
      } else {
        if (e < crosses) next = cross_bars[e];
        if (n - 1 < next) next = n - 1;
      }
      equity.AppendPiece(broker.RunPiece(0, j, next - j));
      broker.MarkRun(0, time + j, close + j, next - j, points + j);
      if (next == end) break;
      j = next;
      const auto bar_index = static_cast<int64_t>(j - first);
      if (st.pending != 0) Fill(0, st, j, bar_index);
      if (e < crosses && cross_bars[e] == j) CountCross(0, j, bar_index, cross_signs[e++]);
      if (j + 1 == n) EndOfData(0, st, j, bar_index);
      // Marked like MarkRun marks: Value() after Mark() is Equity() (one symbol), bit for bit.
      broker.Mark(0, close[j]);
      const EquityPiece piece = broker.RunPiece(0, j, 1);
      points[j] = LinePoint{time[j], piece.Value(close[j])};
      equity.AppendPiece(piece);
      ++j;
    }
    if (c.curve != nullptr) c.curve->Add(block_points, end - i);
    done += static_cast<int64_t>(end - i);
    if (c.observer.IsCancelled()) [[unlikely]] return absl::CancelledError("cancelled");
    c.progress.Tick(done);
    i = end;
  }
  return absl::OkStatus();
}

void SmaCross::Fill(size_t sym, SymState& st, size_t i, int64_t bar_index) {
  Broker& broker = ctx_.broker;
  const BarSeries& b = *ctx_.data.symbols[sym].bars;
  const std::string& symbol = ctx_.data.symbols[sym].symbol;
  const int64_t ts = b.time[i];
  const Side side = st.pending > 0 ? Side::kLong : Side::kShort;
  st.pending = 0;
  const Position& pos = broker.position(sym);
  if (pos.open && pos.side == side) return;  // already at the target
  // Market order at this bar's open (the signal came at the previous close; cheat-on-open off).
  const double fill = side == Side::kLong ? broker.BuyPrice(sym, b.open[i])
                                          : broker.SellPrice(sym, b.open[i]);
  Tracer& tr = ctx_.tracer;
  if (pos.open) {
    // Reversal: the opposite trade closes at the same fill as the new one opens.
    const Trade& t = broker.Close(sym, fill, ExitReason::kReversal, bar_index, ts);
    ctx_.reasons.Add(Reason::kExitReversal, static_cast<uint32_t>(sym), bar_index, ts);
    if (ctx_.log.Wants(LogLevel::kInfo)) {
      ctx_.log.Bar(LogLevel::kInfo, ts, symbol, "EXIT ", SideName(t.side), " #", t.id, " at ",
                   Dec{fill, st.decimals}, " (reversal), pnl ", Dec{t.pnl, 2});
    }
    if (tr.Wants(TraceKind::kEvent)) {
      tr.BeginRow(TraceSection::kPosition, TraceKind::kEvent)
          .Str("event", "exit").Str("reason", "reversal").Str("side", SideName(t.side))
          .Int("trade_id", t.id).Num("price", fill).Num("entry_price", t.entry_price)
          .Num("pnl", t.pnl);
      tr.EndRow();
      if (verdict_code_.empty()) verdict_code_ = "exit_reversal";
      absl::StrAppend(&verdict_, verdict_.empty() ? "" : "; ", "exit ", SideName(t.side),
                      " by reversal at ", Fixed(fill, st.decimals));
    }
  }
  const absl::string_view why = side == Side::kLong ? "cross_up" : "cross_down";
  const Position& opened =
      broker.Open(sym, side, fill, ctx_.config.size, std::nullopt, std::nullopt, bar_index, ts, why);
  ctx_.reasons.Add(Reason::kEntryFilled, static_cast<uint32_t>(sym), bar_index, ts);
  if (ctx_.log.Wants(LogLevel::kInfo)) {
    ctx_.log.Bar(LogLevel::kInfo, ts, symbol, "ENTRY ", SideName(side), " #", opened.trade_id,
                 " ", size_text_, " at ", Dec{fill, st.decimals}, " (", why, ")");
  }
  if (tr.Wants(TraceKind::kEvent)) {
    tr.BeginRow(TraceSection::kOrders, TraceKind::kEvent)
        .Str("event", "entry_filled").Str("side", SideName(side)).Int("trade_id", opened.trade_id)
        .Num("bid_open", b.open[i]).Num("price", fill).Num("size", ctx_.config.size)
        .Str("signal", why);
    tr.EndRow();
    if (verdict_code_.empty()) verdict_code_ = "entry_filled";
    absl::StrAppend(&verdict_, verdict_.empty() ? "" : "; ", "entry ", SideName(side), " at ",
                    Fixed(fill, st.decimals), " (", why, ")");
  }
}

void SmaCross::EndOfData(size_t sym, SymState& st, size_t i, int64_t bar_index) {
  Broker& broker = ctx_.broker;
  const BarSeries& b = *ctx_.data.symbols[sym].bars;
  const std::string& symbol = ctx_.data.symbols[sym].symbol;
  const int64_t ts = b.time[i];
  Tracer& tr = ctx_.tracer;
  if (st.pending != 0) {
    ctx_.reasons.Add(Reason::kEntryDropped, static_cast<uint32_t>(sym), bar_index, ts);
    if (ctx_.log.Wants(LogLevel::kInfo)) {
      ctx_.log.Bar(LogLevel::kInfo, ts, symbol, "order for target position ",
                   st.pending > 0 ? "+" : "-", size_text_, " dropped: no bar left to fill it");
    }
    if (tr.Wants(TraceKind::kEvent)) {
      tr.BeginRow(TraceSection::kOrders, TraceKind::kEvent)
          .Str("event", "entry_dropped").Str("reason", "end of data: no next bar to fill at");
      tr.EndRow();
      if (verdict_code_.empty()) verdict_code_ = "entry_dropped";
      absl::StrAppend(&verdict_, verdict_.empty() ? "" : "; ",
                      "order dropped: end of data, no next bar to fill at");
    }
    st.pending = 0;
  }
  if (!broker.flat(sym)) {
    const Position& p = broker.position(sym);
    // End of data: close at the last close as a market order.
    const double fill = p.side == Side::kLong ? broker.SellPrice(sym, b.close[i])
                                              : broker.BuyPrice(sym, b.close[i]);
    const Trade& t = broker.Close(sym, fill, ExitReason::kEndOfData, bar_index, ts);
    ctx_.reasons.Add(Reason::kExitEndOfData, static_cast<uint32_t>(sym), bar_index, ts);
    if (ctx_.log.Wants(LogLevel::kInfo)) {
      ctx_.log.Bar(LogLevel::kInfo, ts, symbol, "EXIT ", SideName(t.side), " #", t.id, " at ",
                   Dec{fill, st.decimals}, " (end_of_data), pnl ", Dec{t.pnl, 2});
    }
    if (tr.Wants(TraceKind::kEvent)) {
      tr.BeginRow(TraceSection::kPosition, TraceKind::kEvent)
          .Str("event", "exit").Str("reason", "end_of_data").Str("side", SideName(t.side))
          .Int("trade_id", t.id).Num("price", fill).Num("entry_price", t.entry_price)
          .Num("pnl", t.pnl);
      tr.EndRow();
      absl::StrAppend(&verdict_, verdict_.empty() ? "" : "; ", "exit ", SideName(t.side),
                      " at the last close ", Fixed(fill, st.decimals), " (end of data)");
    }
  }
}

void SmaCross::TraceSignal(size_t sym, SymState& st, size_t i, int cross) {
  Tracer& tr = ctx_.tracer;
  const BarSeries& b = *ctx_.data.symbols[sym].bars;
  const bool ready = st.slow.ready() && st.fast.ready();
  st_ready_ = ready;
  const double f = ready ? st.fast.Value() : NAN, s = ready ? st.slow.Value() : NAN;
  if (tr.Wants(TraceKind::kValue)) {
    JsonWriter& w = tr.BeginRow(TraceSection::kIndicators, TraceKind::kValue);
    w.Num("close", b.close[i]);
    if (ready) {
      w.Num("fast", f).Num("slow", s);
    } else {
      w.Null("fast").Null("slow");
    }
    tr.EndRow();
  }
  std::string& reason = reason_;
  if (!ready) {
    reason = absl::StrCat("SMAs not ready (slow needs ", ctx_.config.slow_period, " closes)");
  } else if (cross != 0) {
    reason = absl::StrCat(cross > 0 ? "cross up: fast " : "cross down: fast ",
                          Fixed(f, st.decimals + 1), cross > 0 ? " > slow " : " < slow ",
                          Fixed(s, st.decimals + 1));
  } else {
    reason = absl::StrCat("no cross: fast ", Fixed(f, st.decimals + 1),
                          f > s ? " > " : (f < s ? " < " : " = "), "slow ",
                          Fixed(s, st.decimals + 1),
                          st.last_sign > 0 ? ", already above" : (st.last_sign < 0 ? ", already below" : ""));
  }
  if (tr.Wants(TraceKind::kCheck)) {
    tr.BeginRow(TraceSection::kSignal, TraceKind::kCheck)
        .Str("check", "cross").Bool("passed", cross != 0).Str("reason", reason)
        .Int("cross", cross);
    tr.EndRow();
  }
  if (cross != 0 && tr.Wants(TraceKind::kEvent)) {
    tr.BeginRow(TraceSection::kOrders, TraceKind::kEvent)
        .Str("event", "order").Str("signal", cross > 0 ? "cross_up" : "cross_down")
        .Num("target_position", cross > 0 ? ctx_.config.size : -ctx_.config.size)
        .Str("fills", "next bar's open");
    tr.EndRow();
    if (verdict_code_.empty()) verdict_code_ = cross > 0 ? "cross_up" : "cross_down";
    absl::StrAppend(&verdict_, verdict_.empty() ? "" : "; ", reason,
                    ": order for the next open");
  }
}

void SmaCross::TraceVerdict(size_t sym) {
  Tracer& tr = ctx_.tracer;
  // The verdict row is a value row, but kept on every bar that had an event.
  if (!(tr.bar_had_event() ? tr.Wants(TraceKind::kEvent) : tr.Wants(TraceKind::kValue))) return;
  const Position& p = ctx_.broker.position(sym);
  tr.BeginRow(TraceSection::kPosition, TraceKind::kValue)
      .Str("verdict", verdict_.empty() ? absl::StrCat("no trade: ", reason_) : verdict_)
      .Str("code", !verdict_code_.empty()           ? absl::string_view(verdict_code_)
                   : st_ready_ ? absl::string_view("no_cross")
                               : absl::string_view("not_ready"))
      .Str("position", p.open ? SideName(p.side) : "flat")
      .Approx("equity", ctx_.broker.Equity());
  tr.EndRow();
}

void SmaCross::CountCross(size_t sym, size_t i, int64_t bar_index, int cross) {
  states_[sym].pending = cross;
  ctx_.reasons.Add(cross > 0 ? Reason::kCrossUp : Reason::kCrossDown, static_cast<uint32_t>(sym),
                   bar_index, ctx_.data.symbols[sym].bars->time[i]);
}

inline void SmaCross::ProcessBar(size_t sym, size_t i) {
  SymState& st = states_[sym];
  const int64_t bar_index = static_cast<int64_t>(i - st.first_kept);
  const double close = st.close[i];
  if (tracing_) {
    const SymbolData& sd = ctx_.data.symbols[sym];
    ctx_.tracer.BeginBar(bar_index, sd.bars->time[i], &sd.symbol);
    verdict_.clear();
    verdict_code_.clear();
  }
  // (1) the order left by the previous bar fills at this open.
  if (st.pending != 0) Fill(sym, st, i, bar_index);
  // (2) sma_cross has no stops or targets. (3)-(4) the signal on this close.
  const int cross = Signal(st, close);
  if (cross != 0) CountCross(sym, i, bar_index, cross);
  if (tracing_) TraceSignal(sym, st, i, cross);
  if (i + 1 == st.bars) EndOfData(sym, st, i, bar_index);
  // (5) mark equity at the close.
  ctx_.broker.Mark(sym, close);
  if (tracing_) TraceVerdict(sym);
}

void SmaCross::OnBar(size_t sym, size_t i) { ProcessBar(sym, i); }

absl::Status SmaCross::RunBars(LoopContext& loop) {
  return blocks_ ? RunBlocks(loop) : RunBarLoop(*this, loop);
}

}  // namespace backtest::engine
