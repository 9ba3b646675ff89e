// The replay cache: blocks and a job's error kept, the least recently used going past the row
// bound, the newest entry kept even when it alone is past it.
#include "server/jobs/trace_replay_cache.h"

#include "gtest/gtest.h"

namespace backtest::jobs {
namespace {

std::shared_ptr<const TraceRows> Rows(int n, int64_t bar) {
  auto rows = std::make_shared<TraceRows>();
  for (int i = 0; i < n; ++i) rows->push_back({.seq = i + 1, .bar_index = bar});
  return rows;
}

TEST(TraceReplayCacheTest, KeepsBlocksAndErrorsByJob) {
  TraceReplayCache cache(100);
  cache.Put("a", 3, Rows(5, 192));
  EXPECT_EQ(cache.Get("a", 3)->size(), 5u);
  EXPECT_EQ(cache.Get("a", 4), nullptr);
  EXPECT_EQ(cache.Get("b", 3), nullptr);
  EXPECT_FALSE(cache.Error("a").has_value());
  cache.PutError("a", absl::FailedPreconditionError("data changed"));
  ASSERT_TRUE(cache.Error("a").has_value());
  EXPECT_EQ(cache.Error("a")->message(), "data changed");
  EXPECT_FALSE(cache.Error("b").has_value());
  EXPECT_EQ(cache.rows(), 6);  // an error counts as one
}

TEST(TraceReplayCacheTest, TheLeastRecentlyUsedGoPastTheBound) {
  TraceReplayCache cache(10);
  cache.Put("a", 0, Rows(4, 0));
  cache.Put("a", 1, Rows(4, 64));
  ASSERT_NE(cache.Get("a", 0), nullptr);  // block 0 is now the most recent
  cache.Put("a", 2, Rows(4, 128));        // 12 rows: block 1 goes
  EXPECT_NE(cache.Get("a", 0), nullptr);
  EXPECT_EQ(cache.Get("a", 1), nullptr);
  EXPECT_NE(cache.Get("a", 2), nullptr);
  EXPECT_EQ(cache.rows(), 8);
  // One entry past the bound by itself stays (its caller reads it next); the others go.
  cache.Put("b", 0, Rows(30, 0));
  EXPECT_EQ(cache.Get("b", 0)->size(), 30u);
  EXPECT_EQ(cache.Get("a", 0), nullptr);
  EXPECT_EQ(cache.rows(), 30);
  // Put again replaces (counted once).
  cache.Put("b", 0, Rows(2, 0));
  EXPECT_EQ(cache.rows(), 2);
}

}  // namespace
}  // namespace backtest::jobs
