// DeltaColumn, results format 3: exact both ways, or not used.
#include "server/jobs/delta_column.h"

#include <bit>
#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "gtest/gtest.h"

namespace backtest::jobs {
namespace {

using runner::v1::DeltaColumn;

std::vector<double> RoundTrip(const std::vector<double>& values, int* decimals) {
  DeltaColumn column;
  EXPECT_TRUE(EncodeDeltas(values, &column));
  *decimals = column.decimals();
  google::protobuf::RepeatedField<double> out;
  EXPECT_TRUE(DecodeDeltas(column, &out));
  return {out.begin(), out.end()};
}

void ExpectBitIdentical(const std::vector<double>& a, const std::vector<double>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    ASSERT_EQ(std::bit_cast<uint64_t>(a[i]), std::bit_cast<uint64_t>(b[i])) << i << ": " << a[i];
  }
}

TEST(DeltaColumnTest, QuotesReadBackBitForBitWithTheFewestDecimals) {
  std::mt19937_64 rng(7);
  for (int digits : {0, 1, 2, 3, 5, 6, 9}) {
    const double scale = std::pow(10.0, digits);
    std::vector<double> values;
    int64_t m = static_cast<int64_t>(1.1 * scale);
    for (int i = 0; i < 5000; ++i) {
      m += static_cast<int64_t>(rng() % 2001) - 1000;
      values.push_back(static_cast<double>(m) / scale);  // how a quote with `digits` is parsed
    }
    values.push_back(-values.back());  // signs too
    int decimals = -1;
    ExpectBitIdentical(RoundTrip(values, &decimals), values);
    EXPECT_LE(decimals, digits);
  }
  int decimals = -1;
  ExpectBitIdentical(RoundTrip({}, &decimals), {});
  ExpectBitIdentical(RoundTrip({100, 250, 7}, &decimals), {100, 250, 7});
  EXPECT_EQ(decimals, 0);
}

TEST(DeltaColumnTest, ValuesThatAreNoShortDecimalsAreLeftPlain) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  for (const std::vector<double>& values :
       std::vector<std::vector<double>>{{1.5, 0.1 + 0.2},  // 0.30000000000000004
                                        {1.0 / 3},
                                        {1.25, nan},
                                        {1e17},
                                        {-0.0},  // would read back as +0
                                        {1.0, std::numeric_limits<double>::infinity()}}) {
    DeltaColumn column;
    EXPECT_FALSE(EncodeDeltas(values, &column)) << values.back();
    EXPECT_EQ(column.delta_size(), 0);
  }
}

TEST(DeltaColumnTest, TimesAndMalformedColumns) {
  const std::vector<int64_t> times = {1577836800, 1577840400, 1577844000, 1578045600, 1577844000};
  DeltaColumn column;
  ASSERT_TRUE(EncodeDeltas(times, &column));
  google::protobuf::RepeatedField<int64_t> back;
  ASSERT_TRUE(DecodeDeltas(column, &back));
  EXPECT_EQ(std::vector<int64_t>(back.begin(), back.end()), times);
  EXPECT_FALSE(EncodeDeltas(std::vector<int64_t>{int64_t{1} << 60}, &column));

  DeltaColumn bad;
  bad.set_decimals(10);
  bad.add_delta(1);
  google::protobuf::RepeatedField<double> values;
  EXPECT_FALSE(DecodeDeltas(bad, &values));
  bad.set_decimals(2);
  bad.add_delta(int64_t{1} << 53);  // the running value passes 2^53
  EXPECT_FALSE(DecodeDeltas(bad, &values));
  DeltaColumn fractional_times;
  fractional_times.set_decimals(1);
  EXPECT_FALSE(DecodeDeltas(fractional_times, &back));

  // A column in both forms is malformed; one in the delta form expands into the plain one.
  runner::v1::RunOutput output;
  auto* c = output.add_series()->mutable_candle_columns();
  ASSERT_TRUE(EncodeDeltas(std::vector<double>{1.25, 1.5}, c->mutable_close_delta()));
  ASSERT_TRUE(ExpandDeltaColumns(&output));
  EXPECT_FALSE(output.series(0).candle_columns().has_close_delta());
  EXPECT_EQ(output.series(0).candle_columns().close_size(), 2);
  EXPECT_EQ(output.series(0).candle_columns().close(1), 1.5);
  ASSERT_TRUE(EncodeDeltas(std::vector<double>{2.0}, c->mutable_close_delta()));
  EXPECT_FALSE(ExpandDeltaColumns(&output));
}

}  // namespace
}  // namespace backtest::jobs
