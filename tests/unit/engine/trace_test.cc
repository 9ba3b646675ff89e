#include <cmath>
#include <cstdlib>
#include <random>

#include "engine_test_util.h"
#include "gtest/gtest.h"
#include "server/engine/engine.h"
#include "server/engine/trace/json_writer.h"
#include "server/engine/trace/reasons.h"
#include "server/engine/trace/tracer.h"

namespace backtest::engine {
namespace {

TEST(JsonWriterTest, NumbersRoundTripExactly) {
  std::mt19937_64 rng(9);
  std::uniform_real_distribution<double> u(-1e6, 1e6);
  for (int k = 0; k < 200000; ++k) {
    double v = k % 3 == 0 ? std::round(u(rng) * 1e4) / 1e4 : (k % 3 == 1 ? u(rng) : u(rng) * 1e-9);
    char buf[40];
    char* end = WriteShortest(buf, v);
    *end = 0;
    ASSERT_EQ(std::strtod(buf, nullptr), v) << buf;
  }
  std::string s;
  AppendShortest(&s, 24.641);
  AppendShortest(&s, -0.0001);
  AppendShortest(&s, 1e8);
  AppendShortest(&s, 0.1 + 0.2);
  EXPECT_EQ(s, "24.641-0.00011e+080.30000000000000004");
}

TEST(JsonWriterTest, ApproxKeepsTenSignificantDigits) {
  char buf[40];
  *WriteApprox(buf, 0.0990849200679919) = 0;
  EXPECT_STREQ(buf, "0.09908492007");
  *WriteApprox(buf, 100003647.50378713) = 0;
  EXPECT_STREQ(buf, "100003647.5");
  *WriteApprox(buf, 50.0) = 0;
  EXPECT_STREQ(buf, "50");
  *WriteApprox(buf, -3.25) = 0;
  EXPECT_STREQ(buf, "-3.25");
}

TEST(JsonWriterTest, ObjectsAndEscapes) {
  std::string out;
  JsonWriter w;
  w.Begin(&out);
  w.Str("a", "plain").Str("b", "q\"uo\\te\n").Num("n", NAN).Int("i", -42).Bool("t", true).Null("z");
  w.End();
  EXPECT_EQ(out, R"({"a":"plain","b":"q\"uo\\te\n","n":null,"i":-42,"t":true,"z":null})");
  std::string fixed;
  AppendFixed(&fixed, -0.0001, 2);
  AppendFixed(&fixed, 0.196, 2);
  AppendFixed(&fixed, NAN, 2);
  EXPECT_EQ(fixed, "0.000.20n/a");
}

TEST(JsonWriterTest, EscapesAtEveryPositionAndLength) {
  // The escape check works 16 bytes at a time (short strings padded, the tail overlapped).
  for (size_t len = 1; len <= 40; ++len) {
    for (size_t at = 0; at < len; ++at) {
      for (char c : {'"', '\\', '\n', '\x01'}) {
        std::string text(len, 'x');
        text[at] = c;
        JsonWriter w;
        std::string out;
        w.Begin(&out);
        w.Str("s", text);
        w.End();
        std::string escaped = c == '"' ? "\\\"" : c == '\\' ? "\\\\" : c == '\n' ? "\\n" : "\\u0001";
        EXPECT_EQ(out, "{\"s\":\"" + std::string(at, 'x') + escaped + std::string(len - at - 1, 'x') +
                           "\"}")
            << len << " " << at;
      }
    }
  }
}

TEST(JsonWriterTest, NumberCacheGivesTheSameText) {
  NumberCache cache;
  for (int round = 0; round < 3; ++round) {
    for (int k = 0; k < 3000; ++k) {
      const double v = (k % 7 == 0 ? -1 : 1) * (k * 0.0137 + round * 1e-9) / (k % 5 + 1);
      char a[32], b[32];
      ASSERT_EQ(std::string(a, WriteShortest(a, v)), std::string(b, cache.Shortest(b, v))) << v;
      ASSERT_EQ(std::string(a, WriteApprox(a, v)), std::string(b, cache.Approx(b, v))) << v;
    }
  }
}

TEST(JsonWriterTest, LongStringsSpillOverTheBuffer) {
  std::string out;
  JsonWriter w;
  w.Begin(&out);
  std::string big(10000, 'x');
  w.Str("big", big).Num("after", 1.5);
  w.End();
  EXPECT_EQ(out, "{\"big\":\"" + big + "\",\"after\":1.5}");
}

TEST(TracerTest, SamplingEventsAndLimit) {
  testing::RecordingObserver obs;
  Tracer tr(true, 3, 5, 2, &obs);
  const std::string sym = "X";
  int wanted_values = 0;
  for (int64_t bar = 0; bar < 6; ++bar) {
    tr.BeginBar(bar, 1000 + bar, &sym);
    if (tr.Wants(TraceKind::kValue)) {
      ++wanted_values;
      tr.BeginRow(TraceSection::kIndicators, TraceKind::kValue).Int("bar", bar);
      tr.EndRow();
    }
    if (tr.Wants(TraceKind::kEvent)) {
      tr.BeginRow(TraceSection::kOrders, TraceKind::kEvent).Str("event", "e");
      tr.EndRow();
    }
  }
  tr.Flush();
  EXPECT_EQ(wanted_values, 2);  // bars 0 and 3
  ASSERT_EQ(obs.rows.size(), 5u);  // the limit
  EXPECT_EQ(obs.rows[0].payload, "{\"bar\":0}");
  EXPECT_EQ(obs.rows[4].seq, 5);
  EXPECT_EQ(obs.truncated_batches, 1);
  EXPECT_TRUE(tr.truncated());
  for (size_t k = 0; k + 1 < obs.batch_sizes.size(); ++k) EXPECT_EQ(obs.batch_sizes[k], 2u);
}

// A trace window (an Explain replay's) gives exactly the full trace's rows of its bars (seq aside)
// and nothing else; the run's digest is the untraced run's.
TEST(TracerTest, WindowRowsAreTheFullTracesRows) {
  for (const char* strategy : {"sr_breakout", "sma_cross"}) {
    SCOPED_TRACE(strategy);
    auto params = ValidateParams({{"strategy", strategy}, {"symbols", "XAGUSD"},
                                  {"timeframe", "H1"}, {"start_date", "2022-01-01"},
                                  {"end_date", "2022-06-01"}, {"trace_enabled", "true"}},
                                 1'704'000'000);
    ASSERT_TRUE(params.ok()) << params.status();
    RunOptions full_options;
    full_options.trace_max_rows = -1;
    testing::RecordingObserver full, window;
    auto traced = RunBacktest(*params, full_options, full);
    ASSERT_TRUE(traced.ok()) << traced.status();
    RunOptions window_options = full_options;
    window_options.trace_first_bar = 700;
    window_options.trace_last_bar = 763;
    auto replayed = RunBacktest(*params, window_options, window);
    ASSERT_TRUE(replayed.ok()) << replayed.status();
    (*params)["trace_enabled"] = "false";
    testing::RecordingObserver none;
    auto untraced = RunBacktest(*params, full_options, none);
    ASSERT_TRUE(untraced.ok()) << untraced.status();
    EXPECT_EQ(replayed->digest, untraced->digest);
    EXPECT_EQ(traced->digest, untraced->digest);

    std::vector<TraceRow> want;
    for (const TraceRow& r : full.rows) {
      if (r.bar_index >= 700 && r.bar_index <= 763) want.push_back(r);
    }
    ASSERT_FALSE(want.empty());
    ASSERT_EQ(window.rows.size(), want.size());
    for (size_t i = 0; i < want.size(); ++i) {
      EXPECT_EQ(window.rows[i].seq, static_cast<int64_t>(i + 1));
      EXPECT_EQ(window.rows[i].bar_index, want[i].bar_index);
      EXPECT_EQ(window.rows[i].section, want[i].section);
      EXPECT_EQ(window.rows[i].kind, want[i].kind);
      ASSERT_EQ(window.rows[i].payload, want[i].payload) << "bar " << want[i].bar_index;
    }
  }
}

TEST(ReasonTallyTest, CountsAndFirstSamples) {
  ReasonTally t;
  for (int k = 0; k < 8; ++k) t.Add(Reason::kFilterEma, 0, k * 10, 1000 + k);
  t.Add(Reason::kExitStop, 1, 7, 2000);
  auto s = t.Summary({"A", "B"});
  ASSERT_EQ(s.size(), 2u);
  EXPECT_EQ(s[0].reason, "filter_ema");
  EXPECT_EQ(s[0].count, 8);
  ASSERT_EQ(s[0].samples.size(), ReasonTally::kMaxSamples);
  EXPECT_EQ(s[0].samples[4].bar_index, 40);
  EXPECT_EQ(s[1].samples[0].symbol, "B");
  EXPECT_FALSE(s[1].description.empty());
}

}  // namespace
}  // namespace backtest::engine
