#include "server/runner/result_conversion.h"

#include "server/jobs/delta_column.h"

namespace backtest::runner {
namespace {

void ToSideStats(const engine::SideStats& in, backtest::runner::v1::SideStats* out) {
  out->set_trades(in.trades);
  out->set_win_rate_pct(in.win_rate_pct);
  out->set_pnl(in.pnl);
  out->set_avg_trade_pct(in.avg_trade_pct);
  out->set_profit_factor(in.profit_factor);
}

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
  out->set_digest(result.digest);
}

}  // namespace backtest::runner
