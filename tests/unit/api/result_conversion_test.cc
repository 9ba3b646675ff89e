// GetResult answers cut from a stored result: windows, merged candles, parts, trades in a window,
// and the packed layout carrying the per-point layout's values bit for bit.
#include "server/api/result_conversion.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <span>
#include <vector>

#include "server/api/packed_trades.h"
#include "tests/testing/status_matchers.h"

namespace backtest::api {
namespace {

using ::backtest::testing::IsOk;
using ::backtest::testing::StatusIs;
using ::testing::HasSubstr;
namespace v1 = backtest::v1;
namespace stored = backtest::runner::v1;

uint64_t Bits(double v) { return std::bit_cast<uint64_t>(v); }

std::vector<double> Doubles(const std::string& column) {
  EXPECT_EQ(column.size() % 8, 0u);
  std::vector<double> out(column.size() / 8);
  if (!out.empty()) std::memcpy(out.data(), column.data(), column.size());
  return out;
}

// 40 candles a minute apart for EURUSD (with awkward doubles: -0.0, a subnormal, 0.1 + 0.2), an
// EMA from candle 5, an equity point per candle and two more after the last (another symbol's
// later bars), zones, and trades and markers of two symbols.
class ResultConversionTest : public ::testing::Test {
 protected:
  static constexpr int64_t kStart = 1'700'000'000;
  static constexpr int kCandles = 40;

  void SetUp() override {
    for (int i = 0; i < kCandles; ++i) {
      time_.push_back(kStart + 60 * i);
      const double base = 1.1 + 0.0001 * ((i * 7) % 13) + (i == 3 ? 0.1 + 0.2 : 0.0);
      open_.push_back(base);
      high_.push_back(base + 0.0005 * (i % 4));
      low_.push_back(base - 0.0003 * (i % 5));
      close_.push_back(base + 0.0001 * ((i % 3) - 1));
      volume_.push_back(i == 7 ? -0.0 : i == 8 ? std::numeric_limits<double>::denorm_min()
                                               : 10.0 * i + 0.5);
      if (i >= 5) {
        ema_time_.push_back(kStart + 60 * i);
        ema_value_.push_back(base / 3);
      }
      equity_time_.push_back(kStart + 60 * i);
      equity_value_.push_back(1e6 + 1.0 / (i + 1));
    }
    for (int i = 0; i < 2; ++i) {
      equity_time_.push_back(kStart + 60 * (kCandles + i) + 30);
      equity_value_.push_back(2e6 + i);
    }
    auto zone = [&](int64_t start, int64_t end, const char* state) {
      stored::Zone* z = zones_.Add();
      z->set_symbol("EURUSD");
      z->set_start(start);
      z->set_end(end);
      z->set_price(1.2);
      z->set_kind("resistance");
      z->set_state(state);
    };
    zone(kStart, kStart + 60 * 4, "broken");
    zone(kStart + 60 * 10, kStart + 60 * 20, "inverted");
    zone(kStart + 60 * 30, kStart + 60 * 39, "active");
    // Trades (exit order) open over candles [2, 6], [8, 15], [20, 21] of EURUSD, and one of
    // GBPUSD over [9, 12]; a marker at each entry and exit.
    int id = 0;
    auto trade = [&](const char* symbol, int entry, int exit) {
      stored::Trade* t = output_.add_trades();
      t->set_id(++id);
      t->set_symbol(symbol);
      t->set_side(id % 2 ? "long" : "short");
      t->set_entry_time(kStart + 60 * entry);
      t->set_exit_time(kStart + 60 * exit);
      t->set_entry_price(1.1 + id * 0.001);
      t->set_exit_price(1.2 + id * 0.001);
      t->set_size(1.0 / 3);
      t->set_pnl(0.1 * id);
      t->set_return_pct(-0.0);
      t->set_exit_reason("reversal");
      t->set_bars_held(exit - entry);
      t->set_entry_bar(entry);
      t->set_exit_bar(exit);
      for (const auto& [kind, at] : {std::pair{"entry", entry}, std::pair{"exit", exit}}) {
        stored::Marker* m = output_.add_markers();
        m->set_symbol(symbol);
        m->set_time(kStart + 60 * at);
        m->set_side("buy");
        m->set_kind(kind);
        m->set_price(1.15);
        m->set_reason("cross_up");
        m->set_trade_id(id);
      }
    };
    trade("EURUSD", 2, 6);
    trade("EURUSD", 8, 15);
    trade("GBPUSD", 9, 12);
    trade("EURUSD", 20, 21);
    output_.mutable_stats()->set_trades(4);
    output_.mutable_stats()->set_sharpe(std::nan(""));
    output_.set_digest("d1");
    trades_ = TradeTable::Of(output_.trades());
    markers_ = MarkerTable::Of(output_.markers());
  }

  ResultView View() const {
    ResultView v;
    v.symbol = "EURUSD";
    v.time = time_;
    v.open = open_;
    v.high = high_;
    v.low = low_;
    v.close = close_;
    v.volume = volume_;
    v.ema = {ema_time_, ema_value_};
    v.equity = {equity_time_, equity_value_};
    v.zones = &zones_;
    v.output = &output_;
    v.trades = &trades_;
    v.markers = &markers_;
    v.trade_count = output_.trades_size();
    return v;
  }

  v1::GetResultResponse Answer(const v1::GetResultRequest& request) const {
    return Answer(request, View());
  }

  static v1::GetResultResponse Answer(const v1::GetResultRequest& request, const ResultView& view) {
    auto query = ParseResultQuery(request);
    EXPECT_THAT(query.status(), IsOk());
    v1::GetResultResponse response;
    if (query.ok()) ToResultResponse(*query, view, &response);
    return response;
  }

  // Prices as a CSV's text reads (short decimals), a column of 9 digits and one with a third.
  void UseDecimals() {
    for (int i = 0; i < kCandles; ++i) {
      const std::string tick = std::to_string(10000 + (i * 37) % 211);  // 1.0000 .. 1.0210
      open_[i] = std::stod("1." + tick.substr(1));                      // 4 digits
      close_[i] = std::stod(std::to_string(i * 50) + ".125");           // 3 digits, wide deltas
      high_[i] = std::stod("1.12345678" + std::to_string(i % 10));      // 9 digits: doubles
      low_[i] = i == 5 ? 1.0 / 3 : std::stod("0.5" + tick);             // a third: doubles
      ema_value_[i % ema_value_.size()] = std::stod("2." + tick);
    }
    close_[20] = 123456789.125;  // a delta of 8 bytes
  }

  std::vector<int64_t> time_, ema_time_, equity_time_;
  std::vector<double> open_, high_, low_, close_, volume_, ema_value_, equity_value_;
  google::protobuf::RepeatedPtrField<stored::Zone> zones_;
  stored::RunOutput output_;
  TradeTable trades_;
  MarkerTable markers_;
};

// A DecimalColumn's values, decoded as docs/api.md tells a client to: the integers (base plus
// the running sum of the deltas) divided by 10^decimals.
std::vector<double> Decimals(const v1::DecimalColumn& c) {
  const int width = c.width();
  EXPECT_TRUE(width == 1 || width == 2 || width == 4 || width == 8) << width;
  EXPECT_TRUE(c.decimals() >= 0 && c.decimals() <= 8) << c.decimals();
  EXPECT_EQ(c.deltas().size() % static_cast<size_t>(width), 0u);
  double scale = 1;
  for (int i = 0; i < c.decimals(); ++i) scale *= 10;
  std::vector<double> out;
  int64_t n = static_cast<int64_t>(c.base());
  EXPECT_EQ(static_cast<double>(n), c.base());
  const int shift = 64 - 8 * width;
  for (size_t at = 0; at + static_cast<size_t>(width) <= c.deltas().size(); at += width) {
    uint64_t raw = 0;
    std::memcpy(&raw, c.deltas().data() + at, static_cast<size_t>(width));
    n += static_cast<int64_t>(raw << shift) >> shift;  // sign-extended
    out.push_back(static_cast<double>(n) / scale);
  }
  return out;
}

// Column `name` of `p` (times, opens, ...) as doubles, whichever way it came; both ways at once
// is a failure.
std::vector<double> Column(const v1::PackedSeries& p, const std::string& name) {
  const auto* descriptor = p.GetDescriptor();
  const auto* reflection = p.GetReflection();
  const std::string& doubles = reflection->GetString(p, descriptor->FindFieldByName(name));
  const auto* decimal = descriptor->FindFieldByName(name + "_decimal");
  if (!reflection->HasField(p, decimal)) return Doubles(doubles);
  EXPECT_TRUE(doubles.empty()) << name << " came both ways";
  return Decimals(static_cast<const v1::DecimalColumn&>(reflection->GetMessage(p, decimal)));
}

// `r` with its packed trades and markers (packed_trades) unpacked into messages, as the Python
// client rebuilds them.
v1::GetResultResponse Unpacked(v1::GetResultResponse r) {
  if (r.packed().has_trades()) {
    EXPECT_THAT(UnpackTrades(r.packed().trades(), r.mutable_trades()), IsOk());
    r.mutable_packed()->clear_trades();
  }
  if (r.packed().has_markers()) {
    EXPECT_THAT(UnpackMarkers(r.packed().markers(), r.mutable_markers()), IsOk());
    r.mutable_packed()->clear_markers();
  }
  return r;
}

// The packed columns of `packed` against the per-point answer `points`, bit for bit.
void ExpectSameValues(const v1::GetResultResponse& points, const v1::GetResultResponse& packed) {
  const v1::PackedSeries& p = packed.packed();
  EXPECT_EQ(packed.candles_size(), 0);
  EXPECT_EQ(packed.ema_size(), 0);
  EXPECT_EQ(packed.equity_size(), 0);
  const std::vector<double> times = Column(p, "times"), opens = Column(p, "opens"),
                            highs = Column(p, "highs"), lows = Column(p, "lows"),
                            closes = Column(p, "closes"), volumes = Column(p, "volumes");
  ASSERT_EQ(times.size(), static_cast<size_t>(points.candles_size()));
  for (size_t i = 0; i < times.size(); ++i) {
    const v1::Candle& c = points.candles(static_cast<int>(i));
    EXPECT_EQ(Bits(times[i]), Bits(c.time())) << i;
    EXPECT_EQ(Bits(opens[i]), Bits(c.open())) << i;
    EXPECT_EQ(Bits(highs[i]), Bits(c.high())) << i;
    EXPECT_EQ(Bits(lows[i]), Bits(c.low())) << i;
    EXPECT_EQ(Bits(closes[i]), Bits(c.close())) << i;
    EXPECT_EQ(Bits(volumes[i]), Bits(c.volume())) << i;
  }
  auto same_line = [](const std::vector<double>& times, const std::vector<double>& values,
                      const google::protobuf::RepeatedPtrField<v1::LinePoint>& line) {
    ASSERT_EQ(times.size(), static_cast<size_t>(line.size()));
    ASSERT_EQ(values.size(), times.size());
    for (size_t i = 0; i < times.size(); ++i) {
      EXPECT_EQ(Bits(times[i]), Bits(line[static_cast<int>(i)].time())) << i;
      EXPECT_EQ(Bits(values[i]), Bits(line[static_cast<int>(i)].value())) << i;
    }
  };
  same_line(Column(p, "ema_times"), Column(p, "ema_values"), points.ema());
  same_line(Column(p, "equity_times"), Column(p, "equity_values"), points.equity());
  // Everything else is the same message.
  v1::GetResultResponse a = points;
  v1::GetResultResponse b = packed;
  a.clear_candles();
  a.clear_ema();
  a.clear_equity();
  b.clear_packed();
  EXPECT_EQ(a.SerializeAsString(), b.SerializeAsString());
}

// Windows of every kind: whole, the last candles, time ranges, merged, empty.
std::vector<v1::GetResultRequest> Windows(int64_t start) {
  struct Ask {
    int32_t max_candles;
    double from, to;
    int32_t max_points;
    bool in_window;
  };
  const double t = static_cast<double>(start);
  const std::vector<Ask> asks = {
      {0, 0, 0, 0, false},          {10, 0, 0, 0, false},          {0, t + 600, 0, 0, false},
      {0, 0, t + 900, 0, true},     {5, t + 60, t + 1500, 0, true}, {0, 0, 0, 7, false},
      {0, t + 125, t + 2000, 3, true}, {1000, 0, 0, 1, false},    {0, t + 1e6, 0, 0, true},
      {3, 0, 0, 2, true},
  };
  std::vector<v1::GetResultRequest> requests;
  for (const Ask& ask : asks) {
    v1::GetResultRequest& request = requests.emplace_back();
    request.set_max_candles(ask.max_candles);
    request.set_from_time(ask.from);
    request.set_to_time(ask.to);
    request.set_max_points(ask.max_points);
    request.set_trades_in_window(ask.in_window);
  }
  return requests;
}

TEST_F(ResultConversionTest, PackedCarriesThePointsValuesBitForBit) {
  for (v1::GetResultRequest request : Windows(kStart)) {
    const v1::GetResultResponse points = Answer(request);
    request.set_layout(v1::RESULT_LAYOUT_PACKED);
    SCOPED_TRACE(request.ShortDebugString());
    ExpectSameValues(points, Answer(request));
  }
}

// Decimal columns: times, prices of a tick grid (as a CSV's text reads), whole volumes come as
// integers, and decode to the per-point answer's doubles bit for bit; a column with a value that
// is no decimal of at most 8 digits (a third, 9 digits, -0.0) stays doubles.
TEST_F(ResultConversionTest, DecimalColumnsCarryThePointsValuesBitForBit) {
  UseDecimals();
  // volume_ holds -0.0 (and a subnormal): doubles; equity values 1e6 + 1 / (i + 1): doubles.
  for (v1::GetResultRequest request : Windows(kStart)) {
    const v1::GetResultResponse points = Answer(request);
    request.set_layout(v1::RESULT_LAYOUT_PACKED);
    request.set_decimal_columns(true);
    SCOPED_TRACE(request.ShortDebugString());
    const v1::GetResultResponse packed = Answer(request);
    ExpectSameValues(points, packed);
    if (points.candles_size() == 0) continue;
    const v1::PackedSeries& p = packed.packed();
    EXPECT_TRUE(p.has_times_decimal());
    EXPECT_EQ(p.times_decimal().decimals(), 0);
    EXPECT_TRUE(p.has_equity_times_decimal());
    EXPECT_TRUE(p.has_ema_times_decimal());
    if (points.candles_per_point() == 1) {
      EXPECT_TRUE(p.has_opens_decimal());
      EXPECT_EQ(p.opens_decimal().decimals(), 4);
      EXPECT_TRUE(p.has_closes_decimal());
      EXPECT_EQ(p.closes_decimal().decimals(), 3);
      EXPECT_TRUE(p.has_ema_values_decimal());
      EXPECT_FALSE(p.has_highs_decimal());
      if (request.max_candles() == 0 && request.from_time() == 0 && request.to_time() == 0) {
        EXPECT_FALSE(p.has_lows_decimal());
        EXPECT_FALSE(p.has_volumes_decimal());
        EXPECT_FALSE(p.has_equity_values_decimal());
        EXPECT_EQ(p.closes_decimal().width(), 8);
      }
    }
  }
}

// Packed trades and markers: rebuilt from their columns, the per-point answer's messages bit for
// bit, in every window and page, with and without decimal columns (a price of a third, a size of
// a third, -0.0 returns: doubles).
TEST_F(ResultConversionTest, PackedTradesCarryThePointsTradesAndMarkers) {
  for (int i = 0; i < output_.trades_size(); ++i) {  // prices of 4 digits, as a CSV's
    output_.mutable_trades(i)->set_entry_price(std::stod("1.123" + std::to_string(i)));
  }
  trades_ = TradeTable::Of(output_.trades());
  std::vector<v1::GetResultRequest> requests = Windows(kStart);
  v1::GetResultRequest& paged = requests.emplace_back();
  paged.set_trades_offset(1);
  paged.set_trades_limit(2);
  requests.emplace_back().add_parts("markers,stats");
  for (v1::GetResultRequest request : requests) {
    const v1::GetResultResponse points = Answer(request);
    request.set_layout(v1::RESULT_LAYOUT_PACKED);
    request.set_packed_trades(true);
    for (bool decimal : {false, true}) {
      request.set_decimal_columns(decimal);
      SCOPED_TRACE(request.ShortDebugString());
      const v1::GetResultResponse packed = Answer(request);
      EXPECT_EQ(packed.trades_size(), 0);
      EXPECT_EQ(packed.markers_size(), 0);
      const bool trades = request.parts_size() == 0;
      EXPECT_EQ(packed.packed().has_trades(), trades);
      EXPECT_TRUE(packed.packed().has_markers());
      if (trades && decimal && points.trades_size() > 0) {
        EXPECT_TRUE(packed.packed().trades().entry_prices().has_decimal());
        EXPECT_FALSE(packed.packed().trades().sizes().has_decimal());
      }
      ExpectSameValues(points, Unpacked(packed));
    }
  }
}

// Columns that do not hold a value per row, or an index past their words: InvalidArgument naming
// the column.
TEST_F(ResultConversionTest, MalformedPackedTradesNameTheColumn) {
  v1::GetResultRequest request;
  request.set_layout(v1::RESULT_LAYOUT_PACKED);
  request.set_packed_trades(true);
  const v1::GetResultResponse packed = Answer(request);
  ASSERT_EQ(packed.packed().trades().ids().deltas().size(), 4u);
  google::protobuf::RepeatedPtrField<v1::Trade> trades;
  v1::TradeColumns short_side = packed.packed().trades();
  short_side.mutable_sides()->mutable_indexes()->pop_back();
  EXPECT_THAT(UnpackTrades(short_side, &trades),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("sides")));
  v1::TradeColumns bad_word = packed.packed().trades();
  (*bad_word.mutable_exit_reasons()->mutable_indexes())[0] = 9;
  EXPECT_THAT(UnpackTrades(bad_word, &trades),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("exit_reasons")));
  v1::TradeColumns bad_width = packed.packed().trades();
  bad_width.mutable_pnls()->set_doubles("12345");
  EXPECT_THAT(UnpackTrades(bad_width, &trades),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("pnls")));
  v1::MarkerColumns bad_times = packed.packed().markers();
  bad_times.mutable_trade_ids()->set_width(3);
  google::protobuf::RepeatedPtrField<v1::Marker> markers;
  EXPECT_THAT(UnpackMarkers(bad_times, &markers),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("trade_ids")));
  EXPECT_TRUE(trades.empty());
  EXPECT_TRUE(markers.empty());
}

template <typename T>
std::span<const T> Span(const google::protobuf::RepeatedField<T>& field) {
  return std::span<const T>(field.data(), static_cast<size_t>(field.size()));
}

// A dataset's decimal columns, kept (DatasetCache): every window answers byte for byte what
// checking the window itself answers, where the window is decimals at fewer digits than the
// whole, where it is decimals and the whole is not (volumes: -0.0 and a subnormal at candles 7
// and 8), and for an equity at the candles' own times.
TEST_F(ResultConversionTest, KeptDecimalColumnsAnswerAsTheWindowsOwnCheck) {
  UseDecimals();
  for (int i = kCandles - 10; i < kCandles; ++i) close_[i] = 1000.0 + i;  // 0 digits
  stored::CandleColumns candles;
  for (int i = 0; i < kCandles; ++i) {
    candles.add_time(time_[i]);
    candles.add_open(open_[i]);
    candles.add_high(high_[i]);
    candles.add_low(low_[i]);
    candles.add_close(close_[i]);
    candles.add_volume(volume_[i]);
  }
  const CandleDecimals decimals = CandleDecimals::Of(candles);
  ASSERT_TRUE(decimals.values[CandleDecimals::kClose].has_value());
  EXPECT_EQ(decimals.values[CandleDecimals::kClose]->decimals(), 3);
  EXPECT_FALSE(decimals.values[CandleDecimals::kVolume].has_value());
  for (bool equity_at_candles : {false, true}) {
    ResultView checked = View();
    checked.time = Span(candles.time());
    checked.open = Span(candles.open());
    checked.high = Span(candles.high());
    checked.low = Span(candles.low());
    checked.close = Span(candles.close());
    checked.volume = Span(candles.volume());
    if (equity_at_candles) checked.equity = {checked.time, checked.close};
    ResultView kept = checked;
    kept.decimals = &decimals;
    std::vector<v1::GetResultRequest> requests = Windows(kStart);
    requests.emplace_back().set_max_candles(30);  // volumes of candles 10-39: decimals
    for (v1::GetResultRequest request : requests) {
      request.set_layout(v1::RESULT_LAYOUT_PACKED);
      request.set_decimal_columns(true);
      SCOPED_TRACE(request.ShortDebugString() + (equity_at_candles ? " equity at candles" : ""));
      const v1::GetResultResponse answer = Answer(request, kept);
      EXPECT_EQ(answer.SerializeAsString(), Answer(request, checked).SerializeAsString());
      if (request.max_candles() == 10 && request.max_points() == 0) {
        EXPECT_EQ(answer.packed().closes_decimal().decimals(), 0);
      }
      if (request.max_candles() == 30) {
        EXPECT_TRUE(answer.packed().has_volumes_decimal());
      }
    }
  }
}

TEST_F(ResultConversionTest, TheDefaultIsTheWholeRunAsAMessagePerPoint) {
  v1::GetResultRequest request;
  const v1::GetResultResponse r = Answer(request);
  EXPECT_EQ(r.total_candles(), kCandles);
  EXPECT_EQ(r.first_candle(), 0);
  EXPECT_EQ(r.candles_per_point(), 1);
  ASSERT_EQ(r.candles_size(), kCandles);
  EXPECT_EQ(r.candles(3).open(), open_[3]);
  EXPECT_EQ(r.candles(39).time(), static_cast<double>(kStart + 60 * 39));
  EXPECT_EQ(r.ema_size(), kCandles - 5);
  EXPECT_EQ(r.equity_size(), kCandles + 2);  // uncut: the points after the last candle too
  EXPECT_EQ(r.zones_size(), 3);
  EXPECT_EQ(r.markers_size(), 8);  // every symbol's
  EXPECT_EQ(r.trades_size(), 4);
  EXPECT_EQ(r.total_trades(), 4);
  EXPECT_EQ(r.stats().trades(), 4);
  EXPECT_TRUE(std::isnan(r.stats().sharpe()));
  EXPECT_EQ(r.digest(), "d1");
  EXPECT_FALSE(r.has_packed());
}

TEST_F(ResultConversionTest, MaxCandlesKeepsTheLastOnesWithTheirSpan) {
  v1::GetResultRequest request;
  request.set_max_candles(10);
  const v1::GetResultResponse r = Answer(request);
  ASSERT_EQ(r.candles_size(), 10);
  EXPECT_EQ(r.first_candle(), 30);
  EXPECT_EQ(r.candles(0).time(), static_cast<double>(kStart + 60 * 30));
  EXPECT_EQ(r.ema(0).time(), r.candles(0).time());
  EXPECT_EQ(r.equity_size(), 12);  // cut at the start only
  ASSERT_EQ(r.zones_size(), 1);
  EXPECT_EQ(r.zones(0).state(), "active");
  EXPECT_EQ(r.trades_size(), 4);  // without trades_in_window: complete
}

TEST_F(ResultConversionTest, ATimeRangeIsInclusiveAndCutsLinesAtBothEnds) {
  v1::GetResultRequest request;
  request.set_from_time(static_cast<double>(kStart + 60 * 10));
  request.set_to_time(static_cast<double>(kStart + 60 * 19));
  const v1::GetResultResponse r = Answer(request);
  ASSERT_EQ(r.candles_size(), 10);
  EXPECT_EQ(r.first_candle(), 10);
  EXPECT_EQ(r.candles(9).time(), static_cast<double>(kStart + 60 * 19));
  ASSERT_EQ(r.equity_size(), 10);
  EXPECT_EQ(r.equity(9).time(), static_cast<double>(kStart + 60 * 19));
  EXPECT_EQ(r.ema_size(), 10);
  ASSERT_EQ(r.zones_size(), 1);
  EXPECT_EQ(r.zones(0).state(), "inverted");
  // A time between candles: the next candle on.
  request.set_from_time(static_cast<double>(kStart + 60 * 10 + 1));
  request.set_max_candles(3);
  const v1::GetResultResponse last3 = Answer(request);
  ASSERT_EQ(last3.candles_size(), 3);
  EXPECT_EQ(last3.first_candle(), 17);
}

TEST_F(ResultConversionTest, MaxPointsMergesCandlesFromTheWindowsFirst) {
  v1::GetResultRequest request;
  request.set_from_time(static_cast<double>(kStart + 60 * 2));
  request.set_to_time(static_cast<double>(kStart + 60 * 8));  // candles 2..8: 7 of them
  request.set_max_points(3);                                  // k = 3: [2,4] [5,7] [8]
  const v1::GetResultResponse r = Answer(request);
  EXPECT_EQ(r.candles_per_point(), 3);
  ASSERT_EQ(r.candles_size(), 3);
  const v1::Candle& c = r.candles(1);
  EXPECT_EQ(c.time(), static_cast<double>(kStart + 60 * 5));
  EXPECT_EQ(c.open(), open_[5]);
  EXPECT_EQ(c.high(), std::max({high_[5], high_[6], high_[7]}));
  EXPECT_EQ(c.low(), std::min({low_[5], low_[6], low_[7]}));
  EXPECT_EQ(c.close(), close_[7]);
  EXPECT_EQ(c.volume(), volume_[5] + volume_[6] + volume_[7]);
  EXPECT_EQ(r.candles(2).close(), close_[8]);
  // One point per merged candle, at its time, the value at its last candle; the EMA starts at
  // candle 5, so the first merged candle has none.
  ASSERT_EQ(r.equity_size(), 3);
  EXPECT_EQ(r.equity(1).time(), c.time());
  EXPECT_EQ(r.equity(1).value(), equity_value_[7]);
  ASSERT_EQ(r.ema_size(), 2);
  EXPECT_EQ(r.ema(0).time(), c.time());
  EXPECT_EQ(r.ema(0).value(), ema_value_[7 - 5]);
}

TEST_F(ResultConversionTest, TradesInWindowAreTheSymbolsOpenDuringIt) {
  v1::GetResultRequest request;
  request.set_trades_in_window(true);
  request.set_from_time(static_cast<double>(kStart + 60 * 6));
  request.set_to_time(static_cast<double>(kStart + 60 * 20));
  const v1::GetResultResponse r = Answer(request);
  // EURUSD trades 1 (exits at 6), 2 (8..15) and 4 (enters at 20); not GBPUSD's.
  ASSERT_EQ(r.trades_size(), 3);
  EXPECT_EQ(r.total_trades(), 3);
  EXPECT_EQ(r.trades(0).id(), 1);
  EXPECT_EQ(r.trades(2).id(), 4);
  // Markers of EURUSD at 6, 8, 15 and 20.
  ASSERT_EQ(r.markers_size(), 4);
  EXPECT_EQ(r.markers(0).time(), static_cast<double>(kStart + 60 * 6));
  EXPECT_EQ(r.markers(3).time(), static_cast<double>(kStart + 60 * 20));
  // Paged.
  request.set_trades_offset(1);
  request.set_trades_limit(1);
  const v1::GetResultResponse page = Answer(request);
  ASSERT_EQ(page.trades_size(), 1);
  EXPECT_EQ(page.trades(0).id(), 2);
  EXPECT_EQ(page.total_trades(), 3);
  // A page of the whole run's trades, nothing else.
  v1::GetResultRequest trades_only;
  trades_only.add_parts("trades");
  trades_only.set_trades_offset(2);
  trades_only.set_trades_limit(10);
  const v1::GetResultResponse rest = Answer(trades_only);
  ASSERT_EQ(rest.trades_size(), 2);
  EXPECT_EQ(rest.trades(0).symbol(), "GBPUSD");
  EXPECT_EQ(rest.total_trades(), 4);
  EXPECT_EQ(rest.candles_size(), 0);
  EXPECT_EQ(rest.markers_size(), 0);
  EXPECT_FALSE(rest.has_stats());
  EXPECT_EQ(rest.total_candles(), kCandles);
}

TEST_F(ResultConversionTest, PartsChooseWhatIsAnswered) {
  v1::GetResultRequest request;
  request.add_parts("candles, stats");
  request.add_parts("zones");
  request.set_layout(v1::RESULT_LAYOUT_PACKED);
  const v1::GetResultResponse r = Answer(request);
  EXPECT_EQ(r.packed().times().size(), 8u * kCandles);
  EXPECT_TRUE(r.packed().ema_times().empty());
  EXPECT_TRUE(r.packed().equity_values().empty());
  EXPECT_EQ(r.zones_size(), 3);
  EXPECT_EQ(r.markers_size(), 0);
  EXPECT_EQ(r.trades_size(), 0);
  EXPECT_EQ(r.total_trades(), 4);
  EXPECT_TRUE(r.has_stats());
  EXPECT_EQ(r.digest(), "d1");
}

TEST_F(ResultConversionTest, AnEmptyWindowAnswersNoPoints) {
  v1::GetResultRequest request;
  request.set_from_time(static_cast<double>(kStart + 60 * kCandles));
  request.set_trades_in_window(true);
  const v1::GetResultResponse r = Answer(request);
  EXPECT_EQ(r.candles_size(), 0);
  EXPECT_EQ(r.ema_size(), 0);
  EXPECT_EQ(r.equity_size(), 0);
  EXPECT_EQ(r.zones_size(), 0);
  EXPECT_EQ(r.markers_size(), 0);
  EXPECT_EQ(r.trades_size(), 0);
  EXPECT_EQ(r.first_candle(), kCandles);
  EXPECT_EQ(r.total_candles(), kCandles);
}

TEST(ParseResultQueryTest, NamesTheFieldAndTheRule) {
  auto parse = [](auto edit) {
    v1::GetResultRequest request;
    edit(request);
    return ParseResultQuery(request).status();
  };
  EXPECT_THAT(parse([](auto& r) { r.set_max_candles(-1); }),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("max_candles")));
  EXPECT_THAT(parse([](auto& r) { r.set_max_points(-5); }),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("max_points")));
  EXPECT_THAT(parse([](auto& r) { r.set_trades_offset(-1); }),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("trades_offset")));
  EXPECT_THAT(parse([](auto& r) { r.set_trades_limit(-1); }),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("trades_limit")));
  EXPECT_THAT(parse([](auto& r) { r.set_from_time(std::nan("")); }),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("from_time")));
  EXPECT_THAT(parse([](auto& r) { r.set_to_time(HUGE_VAL); }),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("to_time")));
  EXPECT_THAT(parse([](auto& r) {
                r.set_from_time(100);
                r.set_to_time(99);
              }),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("to_time")));
  EXPECT_THAT(parse([](auto& r) { r.add_parts("candles,volume"); }),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("\"volume\"")));
  EXPECT_THAT(parse([](auto& r) { r.set_layout(static_cast<v1::ResultLayout>(7)); }),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("layout")));
  EXPECT_THAT(parse([](auto& r) { r.set_decimal_columns(true); }),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("decimal_columns")));
  EXPECT_THAT(parse([](auto& r) { r.set_packed_trades(true); }),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("packed_trades")));
  EXPECT_THAT(parse([](auto&) {}), IsOk());
}

}  // namespace
}  // namespace backtest::api
