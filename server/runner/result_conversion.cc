#include "server/runner/result_conversion.h"

#include <algorithm>
#include <bit>
#include <cstring>

#include "server/engine/data/dataset_hash.h"
#include "server/jobs/delta_column.h"
#include "server/jobs/result_columns.h"

namespace backtest::runner {
namespace {

void ToSideStats(const engine::SideStats& in, backtest::runner::v1::SideStats* out) {
  out->set_trades(in.trades);
  out->set_win_rate_pct(in.win_rate_pct);
  out->set_pnl(in.pnl);
  out->set_avg_trade_pct(in.avg_trade_pct);
  out->set_profit_factor(in.profit_factor);
}

}  // namespace

void ToStats(const engine::Stats& in, backtest::runner::v1::Stats* out) {
  out->set_start(in.start);
  out->set_end(in.end);
  out->set_duration_seconds(in.duration_seconds);
  out->set_bars(in.bars);
  out->set_exposure_pct(in.exposure_pct);
  out->set_equity_final(in.equity_final);
  out->set_equity_peak(in.equity_peak);
  out->set_return_pct(in.return_pct);
  out->set_buy_hold_return_pct(in.buy_hold_return_pct);
  out->set_return_ann_pct(in.return_ann_pct);
  out->set_volatility_ann_pct(in.volatility_ann_pct);
  out->set_sharpe(in.sharpe);
  out->set_sortino(in.sortino);
  out->set_calmar(in.calmar);
  out->set_max_drawdown_pct(in.max_drawdown_pct);
  out->set_avg_drawdown_pct(in.avg_drawdown_pct);
  out->set_max_drawdown_duration_seconds(in.max_drawdown_duration_seconds);
  out->set_avg_drawdown_duration_seconds(in.avg_drawdown_duration_seconds);
  out->set_trades(in.trades);
  out->set_win_rate_pct(in.win_rate_pct);
  out->set_best_trade_pct(in.best_trade_pct);
  out->set_worst_trade_pct(in.worst_trade_pct);
  out->set_avg_trade_pct(in.avg_trade_pct);
  out->set_max_trade_duration_seconds(in.max_trade_duration_seconds);
  out->set_avg_trade_duration_seconds(in.avg_trade_duration_seconds);
  out->set_profit_factor(in.profit_factor);
  out->set_expectancy(in.expectancy);
  out->set_sqn(in.sqn);
  ToSideStats(in.long_stats, out->mutable_long_stats());
  ToSideStats(in.short_stats, out->mutable_short_stats());
  out->set_commission(in.commission);
  out->set_pnl(in.pnl);
}

namespace {


// Results format 3: a line's times as a DeltaColumn (a step apart: a byte or two each), its values
// plain (EMA and equity values are no short decimals).
template <typename ForEach>
void ToColumns(size_t n, ForEach&& for_each, backtest::runner::v1::LineColumns* out) {
  auto* time = out->mutable_time();
  auto* value = out->mutable_value();
  time->Reserve(static_cast<int>(n));
  value->Reserve(static_cast<int>(n));
  for_each([&](engine::LinePoint p) {
    time->AddAlreadyReserved(p.time);
    value->AddAlreadyReserved(p.value);
  });
  backtest::runner::v1::DeltaColumn encoded;
  if (jobs::EncodeDeltas(std::span<const int64_t>(time->data(), time->size()), &encoded)) {
    out->mutable_time_delta()->Swap(&encoded);
    time->Clear();
  }
}

void ToColumns(const std::vector<engine::LinePoint>& in, backtest::runner::v1::LineColumns* out) {
  ToColumns(
      in.size(), [&](auto&& f) { for (const engine::LinePoint& p : in) f(p); }, out);
}

void ToColumns(const engine::EquityCurve& in, backtest::runner::v1::LineColumns* out) {
  ToColumns(in.size(), [&](auto&& f) { in.ForEach(f); }, out);
}

using backtest::runner::v1::CandleColumns;
using backtest::runner::v1::DeltaColumn;

// A candle column as a DeltaColumn when its values read back exactly from one (quotes with a few
// decimals, whole volumes, times), else plain; the DeltaColumn is set only when used.
template <typename T>
void AddColumn(std::span<const T> in, CandleColumns* c, DeltaColumn* (CandleColumns::*delta)(),
               google::protobuf::RepeatedField<T>* (CandleColumns::*plain)()) {
  DeltaColumn encoded;
  if (jobs::EncodeDeltas(in, &encoded)) {
    (c->*delta)()->Swap(&encoded);
  } else {
    (c->*plain)()->Add(in.begin(), in.end());
  }
}

// The run's reason counts and trace facts.
void ToRunFacts(const engine::RunResult& result, backtest::runner::v1::RunOutput* out) {
  for (const auto& r : result.reasons) {
    auto* o = out->add_reasons();
    o->set_reason(r.reason);
    o->set_count(r.count);
    for (const auto& sample : r.samples) {
      auto* s = o->add_samples();
      s->set_symbol(sample.symbol);
      s->set_bar_index(sample.bar_index);
      s->set_ts(sample.ts);
    }
    o->set_description(r.description);
  }
  out->set_trace_rows(result.trace_rows);
  out->set_trace_truncated(result.trace_truncated);
}

// A symbol's EMA, other lines and zones (every results format since 2 writes them alike).
void ToSeriesLines(const engine::SymbolResult& s, backtest::runner::v1::SymbolSeries* series) {
  ToColumns(s.ema, series->mutable_ema_columns());
  for (const engine::NamedLine& line : s.lines) {
    auto* o = series->add_lines();
    o->set_name(line.name);
    ToColumns(line.points, o->mutable_points());
  }
  for (const auto& z : s.zones) {
    auto* o = series->add_zones();
    o->set_symbol(z.symbol);
    o->set_start(z.start);
    o->set_end(z.end);
    o->set_price(z.price);
    o->set_kind(std::string(engine::ZoneKindName(z.kind)));
    o->set_state(std::string(engine::ZoneStateName(z.state)));
  }
}

}  // namespace

void ToRunOutput(const engine::RunResult& result, backtest::runner::v1::RunOutput* out) {
  out->set_strategy(result.strategy);
  for (const engine::SymbolResult& s : result.symbols) {
    auto* series = out->add_series();
    series->set_symbol(s.symbol);
    series->set_pip(s.pip);
    // Results format 3: columns, no message per candle or point; as DeltaColumns where they read
    // back exactly (a 10k-bar result 668 → ~360 KB).
    engine::BarView bars = s.candles();
    CandleColumns* c = series->mutable_candle_columns();
    AddColumn(bars.time, c, &CandleColumns::mutable_time_delta, &CandleColumns::mutable_time);
    AddColumn(bars.open, c, &CandleColumns::mutable_open_delta, &CandleColumns::mutable_open);
    AddColumn(bars.high, c, &CandleColumns::mutable_high_delta, &CandleColumns::mutable_high);
    AddColumn(bars.low, c, &CandleColumns::mutable_low_delta, &CandleColumns::mutable_low);
    AddColumn(bars.close, c, &CandleColumns::mutable_close_delta, &CandleColumns::mutable_close);
    AddColumn(bars.volume, c, &CandleColumns::mutable_volume_delta,
              &CandleColumns::mutable_volume);
    ToSeriesLines(s, series);
  }
  for (const auto& m : result.markers) {
    auto* o = out->add_markers();
    o->set_symbol(m.symbol);
    o->set_time(m.time);
    o->set_side(std::string(engine::OrderSideName(m.side)));
    o->set_kind(std::string(engine::MarkerKindName(m.kind)));
    o->set_price(m.price);
    o->set_reason(m.reason);
    o->set_trade_id(m.trade_id);
  }
  for (const auto& t : result.trades) {
    auto* o = out->add_trades();
    o->set_id(t.id);
    o->set_symbol(t.symbol);
    o->set_side(std::string(engine::SideName(t.side)));
    o->set_entry_time(t.entry_time);
    o->set_entry_price(t.entry_price);
    o->set_exit_time(t.exit_time);
    o->set_exit_price(t.exit_price);
    o->set_size(t.size);
    o->set_stop(t.stop);
    o->set_target(t.target);
    o->set_pnl(t.pnl);
    o->set_return_pct(t.return_pct);
    o->set_exit_reason(std::string(engine::ExitReasonName(t.exit_reason)));
    o->set_bars_held(t.bars_held);
    o->set_commission(t.commission);
    o->set_entry_bar(t.entry_bar);
    o->set_exit_bar(t.exit_bar);
  }
  ToColumns(result.equity, out->mutable_equity_columns());
  ToStats(result.stats, out->mutable_stats());
  ToRunFacts(result, out);
  out->set_digest(result.digest);
}

namespace {

using backtest::runner::v1::DeltaColumn;
using backtest::runner::v1::RunOutput;
using jobs::WordColumnWriter;

// A column of field(row) for each row, encoded straight from the rows. Times, ids and bar
// counts: integers far below 2^53, so EncodeIntegers cannot refuse them.
template <typename Rows, typename Field>
void IntColumn(const Rows& rows, Field field, DeltaColumn* out) {
  jobs::EncodeIntegersOf(
      rows.size(), [&](size_t i) { return static_cast<int64_t>(field(rows[i])); }, out);
}
template <typename Rows, typename Field>
void DoubleColumn(const Rows& rows, Field field, v1::NumberColumn* out) {
  jobs::EncodeNumbersOf(rows.size(), [&](size_t i) { return field(rows[i]); }, out);
}

void ToTradeColumns(const engine::Column<engine::Trade>& trades, v1::TradeColumns* out) {
  using engine::Trade;
  IntColumn(trades, [](const Trade& t) { return t.id; }, out->mutable_id());
  IntColumn(trades, [](const Trade& t) { return t.entry_time; }, out->mutable_entry_time());
  IntColumn(trades, [](const Trade& t) { return t.exit_time; }, out->mutable_exit_time());
  IntColumn(trades, [](const Trade& t) { return t.bars_held; }, out->mutable_bars_held());
  IntColumn(trades, [](const Trade& t) { return t.entry_bar; }, out->mutable_entry_bar());
  IntColumn(trades, [](const Trade& t) { return t.exit_bar; }, out->mutable_exit_bar());
  DoubleColumn(trades, [](const Trade& t) { return t.entry_price; }, out->mutable_entry_price());
  DoubleColumn(trades, [](const Trade& t) { return t.exit_price; }, out->mutable_exit_price());
  DoubleColumn(trades, [](const Trade& t) { return t.size; }, out->mutable_size());
  DoubleColumn(trades, [](const Trade& t) { return t.stop; }, out->mutable_stop());
  DoubleColumn(trades, [](const Trade& t) { return t.target; }, out->mutable_target());
  DoubleColumn(trades, [](const Trade& t) { return t.commission; }, out->mutable_commission());
  const int n = static_cast<int>(trades.size());
  WordColumnWriter symbol(out->mutable_symbol()), side(out->mutable_side()),
      reason(out->mutable_exit_reason());
  for (WordColumnWriter* w : {&symbol, &side, &reason}) w->Reserve(n);
  auto* pnl_residual = out->mutable_pnl_residual();
  auto* return_pct_residual = out->mutable_return_pct_residual();
  pnl_residual->Reserve(n);
  return_pct_residual->Reserve(n);
  for (const Trade& t : trades) {
    symbol.Add(t.symbol);
    side.Add(engine::SideName(t.side));
    reason.Add(engine::ExitReasonName(t.exit_reason));
    const double pnl = jobs::TradePnl(t.side == engine::Side::kLong, t.entry_price, t.exit_price,
                                      t.size, t.commission);
    pnl_residual->AddAlreadyReserved(jobs::Residual(t.pnl, pnl));
    return_pct_residual->AddAlreadyReserved(
        jobs::Residual(t.return_pct, jobs::TradeReturnPct(t.pnl, t.entry_price, t.size)));
  }
}

// Whether the markers are the trades' fills in FillsInOrder's order (and, for entries, the given
// reasons): then only the entries' reasons are stored.
bool MarkersFromTrades(const engine::RunResult& r, std::vector<absl::string_view>* entry_reasons) {
  const auto& trades = r.trades;
  const auto& markers = r.markers;
  if (markers.size() != 2 * trades.size()) return false;
  auto entry_time = [&](size_t i) { return trades[i].entry_time; };
  auto exit_time = [&](size_t i) { return trades[i].exit_time; };
  auto id = [&](size_t i) { return trades[i].id; };
  // Fills in the trades' order (the common case) need no list of their own.
  const bool in_trade_order = jobs::FillsInTradeOrder(trades.size(), entry_time, exit_time, id);
  std::vector<jobs::TradeFill> sorted;
  if (!in_trade_order) sorted = jobs::FillsInOrderOf(trades.size(), entry_time, exit_time, id);
  auto fill = [&](size_t k) {
    return in_trade_order ? jobs::TradeFill{k / 2, k % 2 == 1} : sorted[k];
  };
  entry_reasons->assign(trades.size(), absl::string_view());
  for (size_t k = 0; k < markers.size(); ++k) {
    const jobs::TradeFill f = fill(k);
    const engine::Trade& t = trades[f.trade];
    const engine::Marker& m = markers[k];
    const bool long_side = t.side == engine::Side::kLong;
    const bool buy = f.exit ? !long_side : long_side;
    const double price = f.exit ? t.exit_price : t.entry_price;
    if (m.trade_id != t.id || m.time != (f.exit ? t.exit_time : t.entry_time) ||
        m.side != (buy ? engine::OrderSide::kBuy : engine::OrderSide::kSell) ||
        m.kind != (f.exit ? engine::MarkerKind::kExit : engine::MarkerKind::kEntry) ||
        std::bit_cast<uint64_t>(m.price) != std::bit_cast<uint64_t>(price) ||
        !jobs::SameWord(m.symbol, t.symbol)) {
      return false;
    }
    if (f.exit) {
      if (!jobs::SameWord(m.reason, engine::ExitReasonName(t.exit_reason))) return false;
    } else {
      (*entry_reasons)[f.trade] = m.reason;
    }
  }
  return true;
}

void ToMarkerColumns(const engine::RunResult& r, v1::MarkerColumns* out) {
  std::vector<absl::string_view> entry_reasons;
  if (MarkersFromTrades(r, &entry_reasons)) {
    out->set_from_trades(true);
    WordColumnWriter reason(out->mutable_entry_reason());
    reason.Reserve(static_cast<int>(entry_reasons.size()));
    for (absl::string_view w : entry_reasons) reason.Add(w);
    return;
  }
  using engine::Marker;
  const auto& markers = r.markers;
  IntColumn(markers, [](const Marker& m) { return m.time; }, out->mutable_time());
  IntColumn(markers, [](const Marker& m) { return m.trade_id; }, out->mutable_trade_id());
  DoubleColumn(markers, [](const Marker& m) { return m.price; }, out->mutable_price());
  WordColumnWriter symbol(out->mutable_symbol()), side(out->mutable_side()),
      kind(out->mutable_kind()), reason(out->mutable_reason());
  for (WordColumnWriter* w : {&symbol, &side, &kind, &reason}) {
    w->Reserve(static_cast<int>(markers.size()));
  }
  for (const Marker& m : markers) {
    symbol.Add(m.symbol);
    side.Add(engine::OrderSideName(m.side));
    kind.Add(engine::MarkerKindName(m.kind));
    reason.Add(m.reason);
  }
}

// The equity as the engine's pieces (over the first symbol's kept candles).
void ToEquityPieces(const engine::EquityCurve& equity, int64_t kept, v1::EquityPieces* p) {
  using engine::EquityPiece;
  const auto pieces = equity.piece_list();
  IntColumn(pieces, [&](const EquityPiece& e) { return static_cast<int64_t>(e.first) - kept; },
            p->mutable_first());
  IntColumn(pieces, [](const EquityPiece& e) { return e.count; }, p->mutable_count());
  std::string* kind = p->mutable_kind();
  kind->reserve(pieces.size());
  auto* base = p->mutable_base();
  base->Reserve(static_cast<int>(pieces.size()));
  for (const EquityPiece& e : pieces) {
    kind->push_back(static_cast<char>(e.kind));
    base->AddAlreadyReserved(e.base);
  }
  DoubleColumn(pieces, [](const EquityPiece& e) { return e.entry; }, p->mutable_entry());
  DoubleColumn(pieces, [](const EquityPiece& e) { return e.size; }, p->mutable_size());
  DoubleColumn(pieces, [](const EquityPiece& e) { return e.spread; }, p->mutable_spread());
}

// The equity as the engine's pieces when it keeps them; else its points, without their times
// when they are the first and only symbol's candle times.
void ToEquity(const engine::RunResult& r, RunOutput* out) {
  const engine::EquityCurve& equity = r.equity;
  const engine::SymbolResult* first = r.symbols.empty() ? nullptr : &r.symbols[0];
  if (first != nullptr && equity.piece_bars() != nullptr &&
      equity.piece_bars() == first->bars.get()) {
    ToEquityPieces(equity, static_cast<int64_t>(first->first_kept),
                   out->mutable_equity_pieces());
    return;
  }
  v1::LineColumns* line = out->mutable_equity_columns();
  bool at_candles = r.symbols.size() == 1 && equity.size() == first->candles().size();
  if (at_candles) {
    const auto times = first->candles().time;
    size_t k = 0;
    equity.ForEach([&](engine::LinePoint p) { at_candles = at_candles && p.time == times[k++]; });
  }
  if (!at_candles) {
    ToColumns(equity, line);
    return;
  }
  out->set_equity_at_candles(true);
  line->mutable_value()->Reserve(static_cast<int>(equity.size()));
  equity.ForEach([&](engine::LinePoint p) { line->add_value(p.value); });
}

}  // namespace

void ToResultFrames(const engine::RunResult& result,
                    const google::protobuf::RepeatedPtrField<v1::KnownDataset>& known,
                    std::vector<v1::RunnerEvent>* datasets, v1::RunOutput* out,
                    std::span<const std::string> hashes) {
  out->set_strategy(result.strategy);
  for (size_t i = 0; i < result.symbols.size(); ++i) {
    const engine::SymbolResult& s = result.symbols[i];
    auto* series = out->add_series();
    series->set_symbol(s.symbol);
    series->set_pip(s.pip);
    const engine::BarView bars = s.candles();
    // Hashed only when the server has a dataset of this symbol that it may be.
    std::string hash = i < hashes.size() ? hashes[i] : std::string();
    for (const v1::KnownDataset& k : known) {
      if (k.symbol() != s.symbol) continue;
      if (hash.empty()) hash = engine::DatasetHash(bars);
      if (k.hash() == hash) {
        series->set_dataset(hash);
        break;
      }
    }
    if (series->dataset().empty()) {
      v1::DatasetEvent* d = datasets->emplace_back().mutable_dataset();
      d->set_symbol(s.symbol);
      d->set_position(static_cast<int32_t>(i));
      CandleColumns* c = d->mutable_candles();
      AddColumn(bars.time, c, &CandleColumns::mutable_time_delta, &CandleColumns::mutable_time);
      AddColumn(bars.open, c, &CandleColumns::mutable_open_delta, &CandleColumns::mutable_open);
      AddColumn(bars.high, c, &CandleColumns::mutable_high_delta, &CandleColumns::mutable_high);
      AddColumn(bars.low, c, &CandleColumns::mutable_low_delta, &CandleColumns::mutable_low);
      AddColumn(bars.close, c, &CandleColumns::mutable_close_delta,
                &CandleColumns::mutable_close);
      AddColumn(bars.volume, c, &CandleColumns::mutable_volume_delta,
                &CandleColumns::mutable_volume);
    }
    ToSeriesLines(s, series);
  }
  ToTradeColumns(result.trades, out->mutable_trade_columns());
  ToMarkerColumns(result, out->mutable_marker_columns());
  ToEquity(result, out);
  ToStats(result.stats, out->mutable_stats());
  ToRunFacts(result, out);
}

}  // namespace backtest::runner
