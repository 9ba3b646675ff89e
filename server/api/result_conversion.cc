#include "server/api/result_conversion.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <optional>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "server/api/packed_trades.h"

namespace backtest::api {
namespace {

namespace stored = backtest::runner::v1;

static_assert(std::endian::native == std::endian::little,
              "packed columns are little-endian doubles, written as they are in memory");

// Epoch seconds and durations: whole numbers, exact as doubles up to 2^53.
double Seconds(int64_t s) { return static_cast<double>(s); }
// Counts, bar indexes and trade ids of one run: a run holds its bars in memory, so they are far
// below 2^31.
int32_t Count(int64_t n) { return static_cast<int32_t>(n); }

void ToZone(const stored::Zone& in, backtest::v1::Zone* out) {
  out->set_symbol(in.symbol());
  out->set_start(Seconds(in.start()));
  out->set_end(Seconds(in.end()));
  out->set_price(in.price());
  out->set_kind(in.kind());
  out->set_state(in.state());
}

// Marker i of `m` and trade i of `t` as the API's (written straight from the columns: no message
// in between).
void ToMarker(const MarkerTable& m, size_t i, backtest::v1::Marker* out) {
  out->set_symbol(*m.symbol[i]);
  out->set_time(Seconds(m.time[i]));
  out->set_side(*m.side[i]);
  out->set_kind(*m.kind[i]);
  out->set_price(m.price[i]);
  out->set_reason(*m.reason[i]);
  out->set_trade_id(Count(m.trade_id[i]));
}

void ToTrade(const TradeTable& t, size_t i, backtest::v1::Trade* out) {
  out->set_id(Count(t.id[i]));
  out->set_symbol(*t.symbol[i]);
  out->set_side(*t.side[i]);
  out->set_entry_time(Seconds(t.entry_time[i]));
  out->set_entry_price(t.entry_price[i]);
  out->set_exit_time(Seconds(t.exit_time[i]));
  out->set_exit_price(t.exit_price[i]);
  out->set_size(t.size[i]);
  out->set_stop(t.stop[i]);
  out->set_target(t.target[i]);
  out->set_pnl(t.pnl[i]);
  out->set_return_pct(t.return_pct[i]);
  out->set_exit_reason(*t.exit_reason[i]);
  out->set_bars_held(Count(t.bars_held[i]));
  out->set_commission(t.commission[i]);
  out->set_entry_bar(Count(t.entry_bar[i]));
  out->set_exit_bar(Count(t.exit_bar[i]));
}

void ToSideStats(const stored::SideStats& in, backtest::v1::SideStats* out) {
  out->set_trades(Count(in.trades()));
  out->set_win_rate_pct(in.win_rate_pct());
  out->set_pnl(in.pnl());
  out->set_avg_trade_pct(in.avg_trade_pct());
  out->set_profit_factor(in.profit_factor());
}

}  // namespace

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

TradeTable TradeTable::Of(const google::protobuf::RepeatedPtrField<stored::Trade>& in) {
  TradeTable t;
  for (const stored::Trade& x : in) {
    t.id.push_back(x.id());
    t.symbol.push_back(&x.symbol());
    t.side.push_back(&x.side());
    t.entry_time.push_back(x.entry_time());
    t.entry_price.push_back(x.entry_price());
    t.exit_time.push_back(x.exit_time());
    t.exit_price.push_back(x.exit_price());
    t.size.push_back(x.size());
    t.stop.push_back(x.stop());
    t.target.push_back(x.target());
    t.pnl.push_back(x.pnl());
    t.return_pct.push_back(x.return_pct());
    t.exit_reason.push_back(&x.exit_reason());
    t.bars_held.push_back(x.bars_held());
    t.commission.push_back(x.commission());
    t.entry_bar.push_back(x.entry_bar());
    t.exit_bar.push_back(x.exit_bar());
  }
  return t;
}

MarkerTable MarkerTable::Of(const google::protobuf::RepeatedPtrField<stored::Marker>& in) {
  MarkerTable m;
  for (const stored::Marker& x : in) {
    m.symbol.push_back(&x.symbol());
    m.time.push_back(x.time());
    m.side.push_back(&x.side());
    m.kind.push_back(&x.kind());
    m.price.push_back(x.price());
    m.reason.push_back(&x.reason());
    m.trade_id.push_back(x.trade_id());
  }
  return m;
}

namespace {

// The candles a request answers with: [first, end) of the symbol's, merged k at a time; and the
// span of time they cover, which cuts the lines, zones and (with trades_in_window) the trades.
struct Window {
  size_t first = 0;
  size_t end = 0;
  size_t k = 1;
  int64_t lo = std::numeric_limits<int64_t>::min();  // lines and zones from here (inclusive)
  int64_t hi = std::numeric_limits<int64_t>::max();  // to here (inclusive)

  bool empty() const { return first == end; }
  size_t points() const { return (end - first + k - 1) / k; }
};

Window Choose(const ResultQuery& q, std::span<const int64_t> time) {
  Window w;
  const size_t total = time.size();
  w.first = 0;
  w.end = total;
  if (q.from_time != 0) {
    w.first = static_cast<size_t>(
        std::lower_bound(time.begin(), time.end(), q.from_time,
                         [](int64_t t, double from) { return Seconds(t) < from; }) -
        time.begin());
  }
  if (q.to_time != 0) {
    w.end = static_cast<size_t>(
        std::upper_bound(time.begin(), time.end(), q.to_time,
                         [](double to, int64_t t) { return to < Seconds(t); }) -
        time.begin());
  }
  w.end = std::max(w.end, w.first);
  if (q.max_candles > 0 && static_cast<size_t>(q.max_candles) < w.end - w.first) {
    w.first = w.end - static_cast<size_t>(q.max_candles);
  }
  const size_t n = w.end - w.first;
  if (q.max_points > 0 && n > static_cast<size_t>(q.max_points)) {
    w.k = (n + static_cast<size_t>(q.max_points) - 1) / static_cast<size_t>(q.max_points);
  }
  if (w.empty()) {
    w.lo = std::numeric_limits<int64_t>::max();
    w.hi = std::numeric_limits<int64_t>::min();
    return w;
  }
  // Uncut at either end, every EMA and equity point on that side is kept (the equity of a
  // multi-symbol run may start before this symbol's first candle or go on after its last).
  if (w.first > 0) w.lo = time[w.first];
  if (w.end < total) w.hi = time[w.end - 1];
  return w;
}

// Packed columns: n doubles, value(i) each, as they are in memory (little-endian binary64).
template <typename F>
void PutDoubles(size_t n, F&& value, std::string* out) {
  out->resize(n * sizeof(double));
  char* p = out->data();
  for (size_t i = 0; i < n; ++i, p += sizeof(double)) {
    const double v = value(i);
    std::memcpy(p, &v, sizeof v);
  }
}

// A packed column of values that are contiguous already: one copy (no zeroing first).
void CopyDoubles(std::span<const double> values, std::string* out) {
  out->assign(reinterpret_cast<const char*>(values.data()), values.size_bytes());
}

// n values, value(i) each, gathered (merged candles, picked points: few).
template <typename F>
std::vector<double> Gather(size_t n, F&& value) {
  std::vector<double> out(n);
  for (size_t i = 0; i < n; ++i) out[i] = value(i);
  return out;
}

// Where one packed column goes: its doubles, or its DecimalColumn when the query asks for those
// and its values are short decimals.
struct ColumnOut {
  backtest::v1::PackedSeries* series;
  std::string* (backtest::v1::PackedSeries::*doubles)();
  backtest::v1::DecimalColumn* (backtest::v1::PackedSeries::*decimal)();
  bool decimal_columns;
};

void PutValues(std::span<const double> values, const ColumnOut& out) {
  if (out.decimal_columns) {
    std::vector<int64_t> integers;
    if (const std::optional<int> digits = FewestDigits(values, kMaxDecimals + 1, &integers)) {
      PutDecimal(integers, *digits, (out.series->*out.decimal)());
      return;
    }
  }
  CopyDoubles(values, (out.series->*out.doubles)());
}

// Times (whole seconds): a decimal column of no digits when asked for.
void PutTimes(std::span<const int64_t> times, const ColumnOut& out) {
  if (out.decimal_columns) {
    PutDecimal(times, 0, (out.series->*out.decimal)());
    return;
  }
  PutDoubles(times.size(), [&](size_t i) { return Seconds(times[i]); },
             (out.series->*out.doubles)());
}

// The candle times of `v`, or a line's times that are those very candle times (an equity per
// candle), when they are all of them: the dataset's decimal column as it is, when kept.
void PutTimes(const ResultView& v, std::span<const int64_t> times, const ColumnOut& out) {
  if (out.decimal_columns && v.decimals != nullptr && times.data() == v.time.data() &&
      times.size() == v.time.size()) {
    *(out.series->*out.decimal)() = v.decimals->time;
    return;
  }
  PutTimes(times, out);
}

// Unmerged candle values [first, first + n) of `v`'s column `c`: from the dataset's decimal
// column of all its candles when kept, as checking them would give. A value's check is its own:
// a window passes at the whole column's digits with the same integers, but may pass at fewer.
void PutCandleValues(const ResultView& v, size_t c, std::span<const double> column,
                     size_t first, size_t n, const ColumnOut& out) {
  const std::span<const double> values = column.subspan(first, n);
  if (!out.decimal_columns || v.decimals == nullptr) return PutValues(values, out);
  const std::optional<backtest::v1::DecimalColumn>& whole = v.decimals->values[c];
  const bool all = first == 0 && n == column.size();
  if (!whole) {
    if (!all) return PutValues(values, out);  // a window may be decimals where the whole is not
    CopyDoubles(values, (out.series->*out.doubles)());
    return;
  }
  if (all) {
    *(out.series->*out.decimal)() = *whole;
    return;
  }
  std::vector<int64_t> integers;
  std::optional<int> digits = FewestDigits(values, whole->decimals(), &integers);
  if (!digits) {
    digits = whole->decimals();
    integers = DecimalIntegers(*whole, first, first + n);
  }
  PutDecimal(integers, *digits, (out.series->*out.decimal)());
}

// The merged candle over [i0, i1): the first's time and open, the highest high, the lowest low,
// the last's close, the volumes summed in order.
struct Merged {
  int64_t time;
  double open, high, low, close, volume;
};

Merged Merge(const ResultView& v, size_t i0, size_t i1) {
  Merged m{v.time[i0], v.open[i0], v.high[i0], v.low[i0], v.close[i1 - 1], v.volume[i0]};
  for (size_t i = i0 + 1; i < i1; ++i) {
    m.high = std::max(m.high, v.high[i]);
    m.low = std::min(m.low, v.low[i]);
    m.volume += v.volume[i];
  }
  return m;
}

void AppendCandles(const ResultQuery& q, const ResultView& v, const Window& w,
                   backtest::v1::GetResultResponse* response) {
  const size_t n = w.points();
  if (w.k == 1) {
    const size_t f = w.first;
    if (q.packed) {
      backtest::v1::PackedSeries* p = response->mutable_packed();
      const bool d = q.decimal_columns;
      using P = backtest::v1::PackedSeries;
      using C = CandleDecimals;
      PutTimes(v, v.time.subspan(f, n), {p, &P::mutable_times, &P::mutable_times_decimal, d});
      PutCandleValues(v, C::kOpen, v.open, f, n,
                      {p, &P::mutable_opens, &P::mutable_opens_decimal, d});
      PutCandleValues(v, C::kHigh, v.high, f, n,
                      {p, &P::mutable_highs, &P::mutable_highs_decimal, d});
      PutCandleValues(v, C::kLow, v.low, f, n, {p, &P::mutable_lows, &P::mutable_lows_decimal, d});
      PutCandleValues(v, C::kClose, v.close, f, n,
                      {p, &P::mutable_closes, &P::mutable_closes_decimal, d});
      PutCandleValues(v, C::kVolume, v.volume, f, n,
                      {p, &P::mutable_volumes, &P::mutable_volumes_decimal, d});
      return;
    }
    auto* candles = response->mutable_candles();
    candles->Reserve(static_cast<int>(n));
    for (size_t i = f; i < w.end; ++i) {
      backtest::v1::Candle* c = candles->Add();
      c->set_time(Seconds(v.time[i]));
      c->set_open(v.open[i]);
      c->set_high(v.high[i]);
      c->set_low(v.low[i]);
      c->set_close(v.close[i]);
      c->set_volume(v.volume[i]);
    }
    return;
  }
  std::vector<Merged> merged(n);
  for (size_t b = 0; b < n; ++b) {
    const size_t i0 = w.first + b * w.k;
    merged[b] = Merge(v, i0, std::min(i0 + w.k, w.end));
  }
  if (q.packed) {
    backtest::v1::PackedSeries* p = response->mutable_packed();
    const bool d = q.decimal_columns;
    using P = backtest::v1::PackedSeries;
    std::vector<int64_t> times(n);
    for (size_t b = 0; b < n; ++b) times[b] = merged[b].time;
    PutTimes(times, {p, &P::mutable_times, &P::mutable_times_decimal, d});
    PutValues(Gather(n, [&](size_t b) { return merged[b].open; }),
              {p, &P::mutable_opens, &P::mutable_opens_decimal, d});
    PutValues(Gather(n, [&](size_t b) { return merged[b].high; }),
              {p, &P::mutable_highs, &P::mutable_highs_decimal, d});
    PutValues(Gather(n, [&](size_t b) { return merged[b].low; }),
              {p, &P::mutable_lows, &P::mutable_lows_decimal, d});
    PutValues(Gather(n, [&](size_t b) { return merged[b].close; }),
              {p, &P::mutable_closes, &P::mutable_closes_decimal, d});
    PutValues(Gather(n, [&](size_t b) { return merged[b].volume; }),
              {p, &P::mutable_volumes, &P::mutable_volumes_decimal, d});
    return;
  }
  auto* candles = response->mutable_candles();
  candles->Reserve(static_cast<int>(n));
  for (const Merged& m : merged) {
    backtest::v1::Candle* c = candles->Add();
    c->set_time(Seconds(m.time));
    c->set_open(m.open);
    c->set_high(m.high);
    c->set_low(m.low);
    c->set_close(m.close);
    c->set_volume(m.volume);
  }
}

// The points of a line to answer: the run [first, end) of it when unmerged, else indexes into
// it and the time each is answered at (a merged candle's points are at the merged candle's time).
struct LinePick {
  size_t first = 0;
  size_t end = 0;
  std::vector<size_t> index;  // merged only
  std::vector<int64_t> time;

  bool merged() const { return !time.empty(); }
  size_t size() const { return merged() ? index.size() : end - first; }
};

LinePick PickPoints(const LineView& line, const ResultView& v, const Window& w) {
  LinePick pick;
  if (w.empty()) return pick;
  const size_t n = std::min(line.time.size(), line.value.size());
  size_t j = static_cast<size_t>(
      std::lower_bound(line.time.begin(), line.time.begin() + static_cast<ptrdiff_t>(n), w.lo) -
      line.time.begin());
  if (w.k == 1) {
    pick.first = j;
    pick.end = static_cast<size_t>(
        std::upper_bound(line.time.begin() + static_cast<ptrdiff_t>(j),
                         line.time.begin() + static_cast<ptrdiff_t>(n), w.hi) -
        line.time.begin());
    return pick;
  }
  // One point per merged candle: the last at or before its last candle, if that is not before
  // its first.
  for (size_t i0 = w.first; i0 < w.end; i0 += w.k) {
    const int64_t t0 = v.time[i0];
    const int64_t t1 = v.time[std::min(i0 + w.k, w.end) - 1];
    while (j < n && line.time[j] <= t1) ++j;
    if (j > 0 && line.time[j - 1] >= t0) {
      pick.index.push_back(j - 1);
      pick.time.push_back(t0);
    }
  }
  return pick;
}

// A line as points, or packed into the columns `times` and `values` (their series set).
void AppendLine(const ResultQuery& q, const ResultView& v, const LineView& line,
                const LinePick& pick, const ColumnOut& times, const ColumnOut& values,
                google::protobuf::RepeatedPtrField<backtest::v1::LinePoint>* points) {
  const size_t n = pick.size();
  auto at = [&](size_t k) { return pick.merged() ? pick.index[k] : pick.first + k; };
  auto time = [&](size_t k) { return pick.merged() ? pick.time[k] : line.time[pick.first + k]; };
  if (q.packed) {
    PutTimes(v,
             pick.merged() ? std::span<const int64_t>(pick.time) : line.time.subspan(pick.first, n),
             times);
    if (pick.merged()) {
      PutValues(Gather(n, [&](size_t k) { return line.value[pick.index[k]]; }), values);
    } else {
      PutValues(line.value.subspan(pick.first, n), values);
    }
    return;
  }
  points->Reserve(static_cast<int>(n));
  for (size_t k = 0; k < n; ++k) {
    backtest::v1::LinePoint* p = points->Add();
    p->set_time(Seconds(time(k)));
    p->set_value(line.value[at(k)]);
  }
}

// The window's first and last candle times, for trades_in_window.
struct Span {
  int64_t from;
  int64_t to;
};

void AppendTrades(const ResultQuery& q, const ResultView& v, const Window& w,
                  backtest::v1::GetResultResponse* response) {
  static const TradeTable kNone;
  const TradeTable& t = v.trades != nullptr ? *v.trades : kNone;
  const Span span = w.empty() ? Span{1, 0} : Span{v.time[w.first], v.time[w.end - 1]};
  auto matches = [&](size_t i) {
    return !q.trades_in_window || (*t.symbol[i] == v.symbol && t.entry_time[i] <= span.to &&
                                   t.exit_time[i] >= span.from);
  };
  int64_t total = 0;
  if (q.trades_in_window) {
    for (size_t i = 0; i < t.count(); ++i) total += matches(i) ? 1 : 0;
  } else {
    total = v.trade_count;
  }
  response->set_total_trades(Count(total));
  if (!q.Has(ResultQuery::kTrades)) return;
  int64_t seen = 0;
  std::vector<size_t> rows;
  if (!q.trades_in_window && q.trades_offset == 0 && q.trades_limit == 0) rows.reserve(t.count());
  for (size_t i = 0; i < t.count(); ++i) {
    if (q.trades_limit > 0 && static_cast<int64_t>(rows.size()) == q.trades_limit) break;
    if (!matches(i)) continue;
    if (seen++ < q.trades_offset) continue;
    rows.push_back(i);
  }
  if (q.packed_trades) {
    PackTrades(t, rows, q.decimal_columns, response->mutable_packed()->mutable_trades());
    return;
  }
  auto* out = response->mutable_trades();
  out->Reserve(static_cast<int>(rows.size()));
  for (size_t i : rows) ToTrade(t, i, out->Add());
}

void AppendMarkers(const ResultQuery& q, const ResultView& v, const Window& w,
                   backtest::v1::GetResultResponse* response) {
  if (v.markers == nullptr) return;
  const MarkerTable& m = *v.markers;
  std::vector<size_t> rows;
  if (!q.trades_in_window) {
    rows.resize(m.count());
    for (size_t i = 0; i < m.count(); ++i) rows[i] = i;
  } else if (!w.empty()) {
    const int64_t from = v.time[w.first];
    const int64_t to = v.time[w.end - 1];
    for (size_t i = 0; i < m.count(); ++i) {
      if (*m.symbol[i] == v.symbol && m.time[i] >= from && m.time[i] <= to) rows.push_back(i);
    }
  }
  if (q.packed_trades) {
    PackMarkers(m, rows, q.decimal_columns, response->mutable_packed()->mutable_markers());
    return;
  }
  auto* out = response->mutable_markers();
  out->Reserve(static_cast<int>(rows.size()));
  for (size_t i : rows) ToMarker(m, i, out->Add());
}

constexpr std::pair<absl::string_view, ResultQuery::Part> kPartNames[] = {
    {"candles", ResultQuery::kCandles}, {"ema", ResultQuery::kEma},
    {"equity", ResultQuery::kEquity},   {"zones", ResultQuery::kZones},
    {"markers", ResultQuery::kMarkers}, {"trades", ResultQuery::kTrades},
    {"stats", ResultQuery::kStats},
};

}  // namespace

absl::StatusOr<ResultQuery> ParseResultQuery(const backtest::v1::GetResultRequest& request) {
  ResultQuery q;
  auto non_negative = [](absl::string_view field, int32_t value) -> absl::Status {
    if (value >= 0) return absl::OkStatus();
    return absl::InvalidArgumentError(absl::StrCat(field, ": must be >= 0, got ", value));
  };
  for (const auto& [field, value] :
       {std::pair<absl::string_view, int32_t>{"max_candles", request.max_candles()},
        {"max_points", request.max_points()},
        {"trades_offset", request.trades_offset()},
        {"trades_limit", request.trades_limit()}}) {
    if (absl::Status s = non_negative(field, value); !s.ok()) return s;
  }
  q.max_candles = request.max_candles();
  q.max_points = request.max_points();
  q.trades_offset = request.trades_offset();
  q.trades_limit = request.trades_limit();
  q.trades_in_window = request.trades_in_window();
  for (const auto& [field, value] :
       {std::pair<absl::string_view, double>{"from_time", request.from_time()},
        {"to_time", request.to_time()}}) {
    if (!std::isfinite(value)) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ": must be UTC epoch seconds (a finite number)"));
    }
  }
  q.from_time = request.from_time();
  q.to_time = request.to_time();
  if (q.from_time != 0 && q.to_time != 0 && q.to_time < q.from_time) {
    return absl::InvalidArgumentError("to_time: must not be before from_time");
  }
  switch (request.layout()) {
    case backtest::v1::RESULT_LAYOUT_UNSPECIFIED:
    case backtest::v1::RESULT_LAYOUT_POINTS:
      q.packed = false;
      break;
    case backtest::v1::RESULT_LAYOUT_PACKED:
      q.packed = true;
      break;
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("layout: unknown layout ", static_cast<int>(request.layout())));
  }
  if (request.decimal_columns() && !q.packed) {
    return absl::InvalidArgumentError(
        "decimal_columns: packs columns, so it needs layout RESULT_LAYOUT_PACKED");
  }
  q.decimal_columns = request.decimal_columns();
  if (request.packed_trades() && !q.packed) {
    return absl::InvalidArgumentError(
        "packed_trades: packs trades and markers, so it needs layout RESULT_LAYOUT_PACKED");
  }
  q.packed_trades = request.packed_trades();
  if (request.parts_size() > 0) {
    q.parts = 0;
    for (const std::string& value : request.parts()) {
      for (absl::string_view name : absl::StrSplit(value, ',', absl::SkipWhitespace())) {
        name = absl::StripAsciiWhitespace(name);
        const auto* known = std::find_if(std::begin(kPartNames), std::end(kPartNames),
                                         [&](const auto& p) { return p.first == name; });
        if (known == std::end(kPartNames)) {
          return absl::InvalidArgumentError(absl::StrCat(
              "parts: unknown part \"", name.substr(0, 32),
              "\" (candles, ema, equity, zones, markers, trades or stats)"));
        }
        q.parts |= known->second;
      }
    }
  }
  return q;
}

void ToResultResponse(const ResultQuery& q, const ResultView& v,
                      backtest::v1::GetResultResponse* response) {
  const Window w = Choose(q, v.time);
  response->set_total_candles(Count(static_cast<int64_t>(v.time.size())));
  response->set_first_candle(Count(static_cast<int64_t>(w.first)));
  response->set_candles_per_point(Count(static_cast<int64_t>(w.k)));
  if (q.Has(ResultQuery::kCandles)) AppendCandles(q, v, w, response);
  backtest::v1::PackedSeries* packed = q.packed ? response->mutable_packed() : nullptr;
  const bool d = q.decimal_columns;
  using P = backtest::v1::PackedSeries;
  if (q.Has(ResultQuery::kEma)) {
    AppendLine(q, v, v.ema, PickPoints(v.ema, v, w),
               {packed, &P::mutable_ema_times, &P::mutable_ema_times_decimal, d},
               {packed, &P::mutable_ema_values, &P::mutable_ema_values_decimal, d},
               response->mutable_ema());
  }
  if (q.Has(ResultQuery::kEquity)) {
    AppendLine(q, v, v.equity, PickPoints(v.equity, v, w),
               {packed, &P::mutable_equity_times, &P::mutable_equity_times_decimal, d},
               {packed, &P::mutable_equity_values, &P::mutable_equity_values_decimal, d},
               response->mutable_equity());
  }
  if (q.Has(ResultQuery::kZones) && v.zones != nullptr && !w.empty()) {
    // Zones that ended before the window or start after it are off the chart.
    for (const stored::Zone& z : *v.zones) {
      if (z.end() >= w.lo && z.start() <= w.hi) ToZone(z, response->add_zones());
    }
  }
  if (q.Has(ResultQuery::kMarkers)) AppendMarkers(q, v, w, response);
  AppendTrades(q, v, w, response);
  if (q.Has(ResultQuery::kStats)) ToStats(v.output->stats(), response->mutable_stats());
  response->set_digest(v.output->digest());
}

}  // namespace backtest::api
