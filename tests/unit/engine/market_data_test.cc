#include "server/engine/data/market_data.h"

#include <cmath>
#include <filesystem>
#include <fstream>

#include "engine_test_util.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/engine/data/civil_time.h"
#include "server/engine/data/data_source.h"
#include "server/engine/data/http_source.h"
#include "server/engine/data/pip_size.h"
#include "server/engine/data/resampler.h"
#include "server/engine/data/sample_source.h"
#include "server/engine/util/sha256.h"

namespace backtest::engine {
namespace {

using ::testing::HasSubstr;
using testing::Config;

BarSeries Minutes(int64_t start, int n) {
  BarSeries s;
  for (int i = 0; i < n; ++i) {
    double p = 100 + i;
    s.Append(start + 60 * i, p, p + 0.5, p - 0.5, p + 0.25, 1);
  }
  return s;
}

TEST(TimeframeTest, BucketsAreUtcAlignedAndWeeksStartMonday) {
  const int64_t t = *ParseCsvTime("2021-11-26T13:10:00Z");  // a Friday
  EXPECT_EQ(BucketStart(Timeframe::kH1, t), *ParseCsvTime("2021-11-26T13:00:00Z"));
  EXPECT_EQ(BucketStart(Timeframe::kH4, t), *ParseCsvTime("2021-11-26T12:00:00Z"));
  EXPECT_EQ(BucketStart(Timeframe::kD1, t), *ParseCsvTime("2021-11-26"));
  EXPECT_EQ(BucketStart(Timeframe::kW1, t), *ParseCsvTime("2021-11-22"));  // Monday
  EXPECT_EQ(WeekdayOfDay(UtcDay(t)), 4);
}

TEST(ResamplerTest, AggregatesOhlcv) {
  BarSeries m1 = Minutes(*ParseCsvTime("2021-11-26T13:58:00Z"), 4);  // 13:58 .. 14:01
  BarSeries h1 = Resample(m1, Timeframe::kH1);
  ASSERT_EQ(h1.size(), 2u);
  EXPECT_EQ(h1.time[0], *ParseCsvTime("2021-11-26T13:00:00Z"));
  EXPECT_EQ(h1.open[0], 100);
  EXPECT_EQ(h1.high[0], 101.5);
  EXPECT_EQ(h1.low[0], 99.5);
  EXPECT_EQ(h1.close[0], 101.25);
  EXPECT_EQ(h1.volume[0], 2);
  EXPECT_EQ(h1.open[1], 102);
  EXPECT_EQ(h1.close[1], 103.25);
}

TEST(PipSizeTest, ContractRule) {
  EXPECT_EQ(DefaultPipSize("USDJPY"), 0.01);
  EXPECT_EQ(DefaultPipSize("EURUSD"), 0.0001);
  EXPECT_EQ(DefaultPipSize("XAUUSD"), 0.01);
  EXPECT_EQ(DefaultPipSize("XAGUSD"), 0.001);
  EXPECT_EQ(DefaultPipSize("AAPL"), 0.01);
  RunConfig c = Config({{"pip_size", "0.5"}});
  EXPECT_EQ(PipSizeFor(c, "EURUSD"), 0.5);
}

TEST(PrepareSymbolTest, WindowMaxCandlesAndWarmup) {
  // 3000 hourly bars; window keeps bars 2000..2499, max_candles the last 100 of them.
  BarSeries bars = testing::FromCloses(std::vector<double>(3000, 1.0));
  RunConfig c = Config({{"timeframe", "H1"}});
  c.start = bars.time[2000];
  c.end = bars.time[2500];
  auto sd = PrepareSymbol(c, "X", bars);
  ASSERT_TRUE(sd.ok()) << sd.status();
  EXPECT_EQ(sd->kept(), 500u);
  EXPECT_EQ(sd->bars->time[sd->first_kept], bars.time[2000]);
  // Warm-up: max(1000 bars, 60 days = 1440 hourly bars) → 1440 bars.
  EXPECT_EQ(sd->first_kept, 1440u);
  c.max_candles = 100;
  sd = PrepareSymbol(c, "X", bars);
  ASSERT_TRUE(sd.ok());
  EXPECT_EQ(sd->kept(), 100u);
  EXPECT_EQ(sd->bars->time[sd->first_kept], bars.time[2400]);
  EXPECT_EQ(sd->first_kept, 1440u);  // bars cut by max_candles feed the warm-up
  EXPECT_EQ(sd->bars->time.back(), bars.time[2499]);
}

TEST(PrepareSymbolTest, WarmupByBarCountForCoarseBars) {
  BarSeries d1;
  for (int i = 0; i < 3000; ++i) d1.Append(int64_t{i} * 86400, 1, 1, 1, 1, 0);
  RunConfig c = Config({{"timeframe", "D1"}});
  c.start = 2500LL * 86400;
  c.end = 3000LL * 86400;
  auto sd = PrepareSymbol(c, "X", d1);
  ASSERT_TRUE(sd.ok());
  EXPECT_EQ(sd->first_kept, 1000u);  // 1000 bars is longer than 60 days
}

TEST(PrepareSymbolTest, ErrorsNameTheProblem) {
  RunConfig c = Config({{"timeframe", "M1"}});
  BarSeries h1 = testing::FromCloses({1, 2, 3});
  EXPECT_THAT(PrepareSymbol(c, "X", h1).status().message(), HasSubstr("coarser"));
  c = Config({{"timeframe", "H1"}});
  c.start = h1.time.back() + 3600;
  c.end = c.start + 86400;
  auto sd = PrepareSymbol(c, "X", h1);
  EXPECT_EQ(sd.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(sd.status().message(), HasSubstr("X: no H1 bars in"));
}

TEST(PrepareSymbolTest, ResamplesFinerData) {
  RunConfig c = Config({{"timeframe", "H1"}});
  c.start = 0;
  c.end = INT64_MAX / 2;
  auto sd = PrepareSymbol(c, "X", Minutes(*ParseCsvTime("2021-11-26T13:00:00Z"), 180));
  ASSERT_TRUE(sd.ok());
  EXPECT_EQ(sd->kept(), 3u);
}

TEST(PrepareSymbolTest, KeepsAlignedBarsWithGapsAndResamplesShiftedOnes) {
  RunConfig c = Config({{"timeframe", "H1"}});
  c.start = 0;
  c.end = INT64_MAX / 2;
  const int64_t t0 = *ParseCsvTime("2021-11-26T13:00:00Z");
  BarSeries gaps = testing::FromCloses({1, 2, 3, 4});
  const int64_t hours[] = {0, 1, 3, 7};  // gaps of 1, 2 and 4 steps
  for (size_t i = 0; i < 4; ++i) gaps.time[i] = t0 + hours[i] * 3600;
  auto kept = PrepareSymbol(c, "X", gaps);
  ASSERT_TRUE(kept.ok());
  EXPECT_EQ(kept->bars->time, gaps.time);  // taken as they are
  BarSeries shifted = gaps;
  for (int64_t& t : shifted.time) t += 1800;  // the step apart, but half an hour off the buckets
  auto resampled = PrepareSymbol(c, "X", shifted);
  ASSERT_TRUE(resampled.ok());
  EXPECT_EQ(resampled->bars->time, gaps.time);  // each bar moved to its hour's start
  BarSeries late = gaps;
  late.time[2] = t0 + 2 * 3600 + 1800;  // 1.5 steps after the bar before it
  late.time[3] = t0 + 3 * 3600 + 1800;
  auto fixed = PrepareSymbol(c, "X", late);
  ASSERT_TRUE(fixed.ok());
  EXPECT_EQ(fixed->bars->time, (Column<int64_t>{t0, t0 + 3600, t0 + 2 * 3600, t0 + 3 * 3600}));
}

TEST(SampleSourceTest, DeterministicPlausibleAndWindowIndependent) {
  SampleSource src;
  FetchRequest req{"XAGUSD", Timeframe::kH1, *ParseCsvTime("2022-01-03"),
                   *ParseCsvTime("2022-03-01"), true};
  auto a = src.Fetch(req);
  auto b = src.Fetch(req);
  ASSERT_TRUE(a.ok());
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(a->close, b->close);
  // A later window start gives the same bars where they overlap.
  FetchRequest later = req;
  later.start = *ParseCsvTime("2022-02-01");
  auto c = src.Fetch(later);
  ASSERT_TRUE(c.ok());
  size_t offset = a->size() - c->size();
  for (size_t i = 0; i < c->size(); ++i) ASSERT_EQ(c->close[i], a->close[i + offset]);
  for (size_t i = 0; i < a->size(); ++i) {
    EXPECT_GE(a->close[i], 15);
    EXPECT_LE(a->close[i], 40);
    EXPECT_LE(a->low[i], std::min(a->open[i], a->close[i]));
    EXPECT_GE(a->high[i], std::max(a->open[i], a->close[i]));
    EXPECT_LT(WeekdayOfDay(UtcDay(a->time[i])), 5) << "no weekend bars";
  }
  struct Range {
    const char* symbol;
    double lo, hi;
  };
  for (Range r : {Range{"EURUSD", 0.9, 1.35}, Range{"USDJPY", 100, 165},
                  Range{"XAUUSD", 1700, 2100}, Range{"SPX", 70, 140}}) {
    auto s = src.Fetch({r.symbol, Timeframe::kD1, 0, *ParseCsvTime("2030-01-01"), true});
    ASSERT_TRUE(s.ok());
    for (double x : s->close) {
      ASSERT_GE(x, r.lo) << r.symbol;
      ASSERT_LE(x, r.hi) << r.symbol;
    }
  }
  // Different timeframes or symbols give different paths.
  auto m = src.Fetch({"XAGUSD", Timeframe::kM5, req.start, req.start + 86400, true});
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->size(), 288u);
}

// sample:// is what demos, tests and benchmarks run on: its bars are pinned bit for bit (a digest
// of every field of 6 symbols × 4 timeframes), so a faster generator cannot change them unnoticed.
TEST(SampleSourceTest, BarsArePinnedBitForBit) {
  SampleSource src;
  Sha256 digest;
  size_t bars = 0;
  for (const char* symbol : {"EURUSD", "XAGUSD", "XAUUSD", "USDJPY", "GBPUSD", "SPX"}) {
    for (Timeframe tf : {Timeframe::kM1, Timeframe::kM15, Timeframe::kH1, Timeframe::kD1}) {
      const int64_t start = *ParseCsvTime("2021-03-01");
      const int64_t days = tf == Timeframe::kM1 ? 14 : tf == Timeframe::kD1 ? 3 * 365 : 120;
      const int64_t span = days * 86400;
      auto s = src.Fetch({symbol, tf, start, start + span, true});
      ASSERT_TRUE(s.ok());
      bars += s->size();
      for (const auto* column : {&s->open, &s->high, &s->low, &s->close, &s->volume}) {
        digest.Update(column->data(), column->size() * sizeof(double));
      }
      digest.Update(s->time.data(), s->time.size() * sizeof(int64_t));
    }
  }
  EXPECT_EQ(bars, 153018u);
  EXPECT_EQ(digest.HexDigest(), "0e0c7e677c2327cb325fecd078b623e64f4d16c6982464db39e3cff8a7b4a742");
}

TEST(DataSourceTest, MakeDataSourceAndFileSource) {
  EXPECT_EQ(MakeDataSource("ftp://x").status().code(), absl::StatusCode::kInvalidArgument);
  auto dir = std::filesystem::temp_directory_path() / "file_source_test";
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "ABC_H1.csv") << "1600000000,1,2,0.5,1.5\n";
  std::ofstream(dir / "DEF.csv") << "1600000000,1,2,0.5,1.5\n1600003600,1,2,0.5,1.5\n";
  auto src = MakeDataSource("file://" + dir.string());
  ASSERT_TRUE(src.ok());
  auto abc = (*src)->Fetch({"ABC", Timeframe::kH1, 0, 1, true});
  ASSERT_TRUE(abc.ok()) << abc.status();
  EXPECT_EQ(abc->size(), 1u);
  auto def = (*src)->Fetch({"DEF", Timeframe::kH1, 0, 1, true});
  ASSERT_TRUE(def.ok());
  EXPECT_EQ(def->size(), 2u);
  auto none = (*src)->Fetch({"XYZ", Timeframe::kH1, 0, 1, true});
  EXPECT_EQ(none.status().code(), absl::StatusCode::kNotFound);
  std::filesystem::remove_all(dir);
}

TEST(HttpSourceTest, UrlAndUnreachableHost) {
  HttpOptions opts;
  opts.connect_timeout_ms = 500;
  opts.total_timeout_ms = 1000;
  HttpSource src("http://127.0.0.1:9", opts);  // discard port: connection refused
  FetchRequest req{"EURUSD", Timeframe::kH1, 1600000000, 1600003600, true};
  EXPECT_EQ(src.UrlFor(req),
            "http://127.0.0.1:9/ohlc?symbol=EURUSD&timeframe=H1&start=2020-09-13T12%3A26%3A40Z"
            "&end=2020-09-13T13%3A26%3A40Z");
  auto bars = src.Fetch(req);
  EXPECT_EQ(bars.status().code(), absl::StatusCode::kUnavailable) << bars.status();
}

}  // namespace
}  // namespace backtest::engine
