#include "server/api/result_conversion.h"

#include <algorithm>
#include <climits>
#include <optional>

namespace backtest::api {
namespace {

namespace stored = backtest::runner::v1;

// Epoch seconds and durations: whole numbers, exact as doubles up to 2^53.
double Seconds(int64_t s) { return static_cast<double>(s); }
// Counts, bar indexes and trade ids of one run: a run holds its bars in memory, so they are far
// below 2^31.
int32_t Count(int64_t n) { return static_cast<int32_t>(n); }

void ToCandle(int64_t time, double open, double high, double low, double close, double volume,
              backtest::v1::Candle* out) {
  out->set_time(Seconds(time));
  out->set_open(open);
  out->set_high(high);
  out->set_low(low);
  out->set_close(close);
  out->set_volume(volume);
}

void ToZone(const stored::Zone& in, backtest::v1::Zone* out) {
  out->set_symbol(in.symbol());
  out->set_start(Seconds(in.start()));
  out->set_end(Seconds(in.end()));
  out->set_price(in.price());
  out->set_kind(in.kind());
  out->set_state(in.state());
}

void ToMarker(const stored::Marker& in, backtest::v1::Marker* out) {
  out->set_symbol(in.symbol());
  out->set_time(Seconds(in.time()));
  out->set_side(in.side());
  out->set_kind(in.kind());
  out->set_price(in.price());
  out->set_reason(in.reason());
  out->set_trade_id(Count(in.trade_id()));
}

void ToTrade(const stored::Trade& in, backtest::v1::Trade* out) {
  out->set_id(Count(in.id()));
  out->set_symbol(in.symbol());
  out->set_side(in.side());
  out->set_entry_time(Seconds(in.entry_time()));
  out->set_entry_price(in.entry_price());
  out->set_exit_time(Seconds(in.exit_time()));
  out->set_exit_price(in.exit_price());
  out->set_size(in.size());
  out->set_stop(in.stop());
  out->set_target(in.target());
  out->set_pnl(in.pnl());
  out->set_return_pct(in.return_pct());
  out->set_exit_reason(in.exit_reason());
  out->set_bars_held(Count(in.bars_held()));
  out->set_commission(in.commission());
  out->set_entry_bar(Count(in.entry_bar()));
  out->set_exit_bar(Count(in.exit_bar()));
}

void ToSideStats(const stored::SideStats& in, backtest::v1::SideStats* out) {
  out->set_trades(Count(in.trades()));
  out->set_win_rate_pct(in.win_rate_pct());
  out->set_pnl(in.pnl());
  out->set_avg_trade_pct(in.avg_trade_pct());
  out->set_profit_factor(in.profit_factor());
}

void ToStats(const stored::Stats& in, backtest::v1::Stats* out) {
  out->set_start(Seconds(in.start()));
  out->set_end(Seconds(in.end()));
  out->set_duration_seconds(Seconds(in.duration_seconds()));
  out->set_bars(Count(in.bars()));
  out->set_exposure_pct(in.exposure_pct());
  out->set_equity_final(in.equity_final());
  out->set_equity_peak(in.equity_peak());
  out->set_return_pct(in.return_pct());
  out->set_buy_hold_return_pct(in.buy_hold_return_pct());
  out->set_return_ann_pct(in.return_ann_pct());
  out->set_volatility_ann_pct(in.volatility_ann_pct());
  out->set_sharpe(in.sharpe());
  out->set_sortino(in.sortino());
  out->set_calmar(in.calmar());
  out->set_max_drawdown_pct(in.max_drawdown_pct());
  out->set_avg_drawdown_pct(in.avg_drawdown_pct());
  out->set_max_drawdown_duration_seconds(Seconds(in.max_drawdown_duration_seconds()));
  out->set_avg_drawdown_duration_seconds(Seconds(in.avg_drawdown_duration_seconds()));
  out->set_trades(Count(in.trades()));
  out->set_win_rate_pct(in.win_rate_pct());
  out->set_best_trade_pct(in.best_trade_pct());
  out->set_worst_trade_pct(in.worst_trade_pct());
  out->set_avg_trade_pct(in.avg_trade_pct());
  out->set_max_trade_duration_seconds(Seconds(in.max_trade_duration_seconds()));
  out->set_avg_trade_duration_seconds(Seconds(in.avg_trade_duration_seconds()));
  out->set_profit_factor(in.profit_factor());
  out->set_expectancy(in.expectancy());
  out->set_sqn(in.sqn());
  ToSideStats(in.long_stats(), out->mutable_long_stats());
  ToSideStats(in.short_stats(), out->mutable_short_stats());
  out->set_commission(in.commission());
  out->set_pnl(in.pnl());
}

// The index of the first candle a GetResult answers with: the last `keep` of `total` (0: all).
int FirstKept(int64_t keep, int total) {
  return keep > 0 && keep < total ? total - static_cast<int>(keep) : 0;
}

// The points of a line (EMA, equity) from `first_time` on, as columns.
void AppendPoints(const stored::LineColumns& line, int64_t first_time,
                  google::protobuf::RepeatedPtrField<backtest::v1::LinePoint>* points) {
  const int n = std::min(line.time_size(), line.value_size());
  auto i = static_cast<int>(
      std::lower_bound(line.time().begin(), line.time().begin() + n, first_time) -
      line.time().begin());
  points->Reserve(n - i);
  for (; i < n; ++i) {
    backtest::v1::LinePoint* p = points->Add();
    p->set_time(Seconds(line.time(i)));
    p->set_value(line.value(i));
  }
}

// The points of a line from `first_time` on, as a message per point (results format 1).
void AppendPoints(const google::protobuf::RepeatedPtrField<stored::LinePoint>& line,
                  int64_t first_time,
                  google::protobuf::RepeatedPtrField<backtest::v1::LinePoint>* points) {
  for (const stored::LinePoint& in : line) {
    if (in.time() < first_time) continue;
    backtest::v1::LinePoint* p = points->Add();
    p->set_time(Seconds(in.time()));
    p->set_value(in.value());
  }
}

// Results formats 2 and 3: candles, EMA and equity are columns; the answer has a message per
// point, built only for the points it keeps (the last `keep` candles and the EMA and equity from
// the first of them on), so a chart of the last 50k candles of a 1M-bar run builds 50k candles,
// not 1M. Returns the time of the first kept candle (INT64_MIN: all kept); nullopt when the
// columns are not of one length.
std::optional<int64_t> AppendFromColumns(int64_t keep, const stored::RunOutput& out,
                                         const stored::SymbolSeries& series,
                                         backtest::v1::GetResultResponse* response) {
  const auto& c = series.candle_columns();
  const int total = c.time_size();
  if (c.open_size() != total || c.high_size() != total || c.low_size() != total ||
      c.close_size() != total || c.volume_size() != total) {
    return std::nullopt;
  }
  response->set_total_candles(total);
  const int first = FirstKept(keep, total);
  // Uncut, every EMA and equity point is kept (the equity of a multi-symbol run may start before
  // this symbol's first candle).
  const int64_t first_time = first > 0 ? c.time(first) : INT64_MIN;
  auto* candles = response->mutable_candles();
  candles->Reserve(total - first);
  for (int i = first; i < total; ++i) {
    ToCandle(c.time(i), c.open(i), c.high(i), c.low(i), c.close(i), c.volume(i), candles->Add());
  }
  AppendPoints(series.ema_columns(), first_time, response->mutable_ema());
  AppendPoints(out.equity_columns(), first_time, response->mutable_equity());
  return first_time;
}

// Results format 1 (stored by earlier versions): a message per candle and point.
int64_t AppendFromMessages(int64_t keep, const stored::RunOutput& out,
                           const stored::SymbolSeries& series,
                           backtest::v1::GetResultResponse* response) {
  const int total = series.candles_size();
  response->set_total_candles(total);
  const int first = FirstKept(keep, total);
  const int64_t first_time = first > 0 ? series.candles(first).time() : INT64_MIN;
  auto* candles = response->mutable_candles();
  candles->Reserve(total - first);
  for (int i = first; i < total; ++i) {
    const stored::Candle& in = series.candles(i);
    ToCandle(in.time(), in.open(), in.high(), in.low(), in.close(), in.volume(), candles->Add());
  }
  AppendPoints(series.ema(), first_time, response->mutable_ema());
  AppendPoints(out.equity(), first_time, response->mutable_equity());
  return first_time;
}

}  // namespace

bool ToResultResponse(bool columns, int64_t max_candles, const stored::RunOutput& out,
                      const stored::SymbolSeries& series,
                      backtest::v1::GetResultResponse* response) {
  int64_t first_time = INT64_MIN;
  if (columns) {
    std::optional<int64_t> first = AppendFromColumns(max_candles, out, series, response);
    if (!first) return false;
    first_time = *first;
  } else {
    first_time = AppendFromMessages(max_candles, out, series, response);
  }
  // Zones that ended before the first kept candle are off the chart.
  for (const stored::Zone& z : series.zones()) {
    if (z.end() >= first_time) ToZone(z, response->add_zones());
  }
  for (const stored::Marker& m : out.markers()) ToMarker(m, response->add_markers());
  for (const stored::Trade& t : out.trades()) ToTrade(t, response->add_trades());
  ToStats(out.stats(), response->mutable_stats());
  response->set_digest(out.digest());
  return true;
}

}  // namespace backtest::api
