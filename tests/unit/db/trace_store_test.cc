#include "db/trace_store.h"

#include "SQLiteCpp/Database.h"
#include "db/database.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/store_fixture.h"
#include "tests/testing/temp_dir.h"

namespace backtest::db {
namespace {

using ::backtest::testing::IsOk;
using ::backtest::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

// Two symbols, bars 0..9, ts = 1000 + 60·bar; per bar and symbol: an indicators value, a filters
// check and (on even bars) a position event. seq follows evaluation order: EURUSD then GBPUSD.
std::vector<TraceRowRecord> MakeRows() {
  std::vector<TraceRowRecord> rows;
  int64_t seq = 1;
  for (int64_t bar = 0; bar < 10; ++bar) {
    for (const char* symbol : {"EURUSD", "GBPUSD"}) {
      int64_t ts = 1000 + 60 * bar;
      rows.push_back({seq++, bar, ts, symbol, "indicators", "value", R"({"atr":0.001})"});
      rows.push_back({seq++, bar, ts, symbol, "filters", "check",
                      R"({"passed":false,"reason":"too weak"})"});
      if (bar % 2 == 0) rows.push_back({seq++, bar, ts, symbol, "position", "event", "{}"});
    }
  }
  return rows;
}

std::vector<int64_t> Seqs(const std::vector<TraceRowRecord>& rows) {
  std::vector<int64_t> seqs;
  for (const auto& r : rows) seqs.push_back(r.seq);
  return seqs;
}

class TraceStoreTest : public testing::StoreFixture<TraceStore> {
 protected:
  void SetUp() override {
    OpenSeeded(
        "INSERT INTO users(id, name, is_staff, created_ms) VALUES(1, 'ann', 0, 1);"
        "INSERT INTO jobs(id, owner_id, status, params_json, created_ms, bars_total) VALUES"
        "('job1', 1, 'finished', '{\"symbols\":\"EURUSD,GBPUSD\"}', 1, 10),"
        "('job2', 1, 'running', '{}', 1, 0)");
    if (HasFatalFailure()) return;
    rows_ = MakeRows();
    ASSERT_THAT(store_->AppendRows("job1", rows_), IsOk());
  }

  TracePage Query(const TraceFilter& filter, int64_t limit = 1000, int64_t offset = 0) {
    auto page = store_->Query("job1", filter, limit, offset);
    EXPECT_THAT(page, IsOk());
    return page.ok() ? *std::move(page) : TracePage{};
  }

  std::vector<TraceRowRecord> rows_;
};

TEST_F(TraceStoreTest, RowsComeBackAsStoredInSeqOrder) {
  TracePage page = Query({});
  EXPECT_EQ(page.total, static_cast<int64_t>(rows_.size()));
  EXPECT_EQ(page.rows, rows_);
  EXPECT_EQ(*store_->CountRows("job1"), static_cast<int64_t>(rows_.size()));
  EXPECT_EQ(*store_->CountRows("job2"), 0);
}

TEST_F(TraceStoreTest, EachFilterAndTheirCombinations) {
  EXPECT_EQ(Query({.bar_index = 3}).total, 4);
  EXPECT_EQ(Query({.bar_index = 4}).total, 6);
  EXPECT_EQ(Query({.ts = 1000 + 60 * 4}).total, 6);
  EXPECT_EQ(Query({.ts = 1001}).total, 0);
  EXPECT_EQ(Query({.section = "filters"}).total, 20);
  EXPECT_EQ(Query({.kind = "event"}).total, 10);
  EXPECT_EQ(Query({.symbol = "GBPUSD"}).total, 25);
  TracePage page = Query({.bar_index = 4, .section = "position", .symbol = "GBPUSD"});
  ASSERT_EQ(page.total, 1);
  EXPECT_EQ(page.rows[0].symbol, "GBPUSD");
  EXPECT_EQ(page.rows[0].section, "position");
  EXPECT_EQ(page.rows[0].bar_index, 4);
  EXPECT_EQ(Query({.bar_index = 4, .ts = 1000, .kind = "check"}).total, 0);
  EXPECT_EQ(Query({.bar_index = 0, .ts = 1000, .kind = "check"}).total, 2);
  // Filter values are bound, never spliced into SQL.
  EXPECT_EQ(Query({.section = "x' OR '1'='1"}).total, 0);
}

TEST_F(TraceStoreTest, PagingKeepsTheTotal) {
  TracePage first = Query({.section = "filters"}, 3, 0);
  EXPECT_EQ(first.total, 20);
  ASSERT_EQ(first.rows.size(), 3u);
  TracePage second = Query({.section = "filters"}, 3, 3);
  EXPECT_EQ(second.total, 20);
  ASSERT_EQ(second.rows.size(), 3u);
  EXPECT_LT(first.rows.back().seq, second.rows.front().seq);
  TracePage past = Query({.section = "filters"}, 3, 100);
  EXPECT_EQ(past.total, 20);
  EXPECT_THAT(past.rows, IsEmpty());
  TracePage last = Query({.section = "filters"}, 3, 18);
  EXPECT_EQ(last.rows.size(), 2u);
  EXPECT_EQ(last.total, 20);

  EXPECT_THAT(store_->Query("job1", {}, 0, 0),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("limit")));
  EXPECT_THAT(store_->Query("job1", {}, 1, -1),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("offset")));
}

TEST_F(TraceStoreTest, AnotherJobsRowsAreNotMixedIn) {
  std::vector<TraceRowRecord> other = {{1, 3, 1180, "EURUSD", "signal", "event", "{}"}};
  ASSERT_THAT(store_->AppendRows("job2", other), IsOk());
  EXPECT_EQ(Query({.bar_index = 3}).total, 4);
  auto page = store_->Query("job2", {.bar_index = 3}, 10, 0);
  ASSERT_THAT(page, IsOk());
  EXPECT_EQ(page->rows, other);
  EXPECT_EQ(store_->Query("nope", {}, 10, 0)->total, 0);
}

TEST_F(TraceStoreTest, RowsOfABarAndAtATime) {
  auto bar = store_->RowsOfBar("job1", "GBPUSD", 2);
  ASSERT_THAT(bar, IsOk());
  ASSERT_EQ(bar->size(), 3u);
  for (const auto& r : *bar) {
    EXPECT_EQ(r.symbol, "GBPUSD");
    EXPECT_EQ(r.bar_index, 2);
  }
  EXPECT_THAT(Seqs(*bar), ElementsAre(14, 15, 16));
  EXPECT_EQ(store_->RowsOfBar("job1", "", 2)->size(), 6u);
  EXPECT_THAT(*store_->RowsOfBar("job1", "EURUSD", 10), IsEmpty());
  EXPECT_THAT(*store_->RowsOfBar("job1", "USDJPY", 2), IsEmpty());

  auto at = store_->RowsAtTime("job1", "EURUSD", 1000 + 60 * 2);
  ASSERT_THAT(at, IsOk());
  EXPECT_THAT(Seqs(*at), ElementsAre(11, 12, 13));
  EXPECT_EQ(store_->RowsAtTime("job1", "", 1000 + 60 * 3)->size(), 4u);
}

TEST_F(TraceStoreTest, ExtentQueries) {
  EXPECT_EQ(*store_->FirstSymbol("job1"), "EURUSD");
  EXPECT_EQ(*store_->FirstSymbol("job2"), "");
  EXPECT_EQ(*store_->LastTracedBar("job1", "GBPUSD"), 9);
  EXPECT_EQ(*store_->LastTracedBar("job1", "USDJPY"), std::nullopt);
}

TEST_F(TraceStoreTest, AppendIsAllOrNothingAndSeqsOnlyGrow) {
  std::vector<TraceRowRecord> stale = {{5, 10, 1600, "EURUSD", "signal", "event", "{}"}};
  EXPECT_THAT(store_->AppendRows("job1", stale),
              StatusIs(absl::StatusCode::kAlreadyExists, HasSubstr("seq 5")));
  std::vector<TraceRowRecord> unordered = {{100, 10, 1600, "EURUSD", "signal", "event", "{}"},
                                           {99, 10, 1600, "EURUSD", "signal", "event", "{}"}};
  EXPECT_THAT(store_->AppendRows("job1", unordered),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("seq must increase")));
  EXPECT_EQ(*store_->CountRows("job1"), static_cast<int64_t>(rows_.size()));
  EXPECT_THAT(store_->AppendRows("job1", std::span(unordered).first(1)), IsOk());
  EXPECT_EQ(*store_->CountRows("job1"), static_cast<int64_t>(rows_.size()) + 1);
  EXPECT_THAT(store_->AppendRows("job1", {}), IsOk());
}

TEST_F(TraceStoreTest, LargeBatchesAreSplitIntoChunksAndBarsSpanChunks) {
  // 3000 rows of 7 per bar in one call: 3 chunks, bars 146 and 292 straddle chunk boundaries.
  std::vector<TraceRowRecord> rows;
  for (int64_t seq = 1; seq <= 3000; ++seq) {
    int64_t bar = (seq - 1) / 7;
    rows.push_back({seq, bar, 60 * bar, "EURUSD", "signal", "value", "{}"});
  }
  ASSERT_THAT(store_->AppendRows("job2", rows), IsOk());
  EXPECT_EQ(db_->connection()
                .execAndGet("SELECT count(*) FROM trace_chunks WHERE job_id = 'job2'")
                .getInt(),
            3);
  for (int64_t bar : {0, 146, 292, 428}) {
    auto got = store_->RowsOfBar("job2", "EURUSD", bar);
    ASSERT_THAT(got, IsOk());
    EXPECT_EQ(got->size(), bar == 428 ? 4u : 7u) << bar;
    for (const auto& r : *got) EXPECT_EQ(r.bar_index, bar);
    auto at = store_->RowsAtTime("job2", "EURUSD", 60 * bar);
    ASSERT_THAT(at, IsOk());
    EXPECT_EQ(*at, *got);
  }
  // Unfiltered pages skip whole chunks by their row counts and still count everything.
  auto page = store_->Query("job2", {}, 5, 2046);
  ASSERT_THAT(page, IsOk());
  EXPECT_EQ(page->total, 3000);
  EXPECT_THAT(Seqs(page->rows), ElementsAre(2047, 2048, 2049, 2050, 2051));
  EXPECT_EQ(*store_->LastTracedBar("job2", "EURUSD"), 428);
  EXPECT_EQ(*store_->CountRows("job2"), 3000);
}

TEST_F(TraceStoreTest, AppendToAnUnknownJobFails) {
  std::vector<TraceRowRecord> batch = {{1, 0, 0, "EURUSD", "signal", "event", "{}"}};
  EXPECT_THAT(store_->AppendRows("nope", batch), StatusIs(absl::StatusCode::kFailedPrecondition));
}

TEST_F(TraceStoreTest, SummarySavedAndReplaced) {
  EXPECT_EQ(*store_->GetSummary("job1"), std::nullopt);
  ASSERT_THAT(store_->SaveSummary("job1", {.enabled = true, .sampling = 10, .row_count = 25}),
              IsOk());
  auto summary = store_->GetSummary("job1");
  ASSERT_THAT(summary, IsOk());
  ASSERT_TRUE(summary->has_value());
  EXPECT_TRUE((*summary)->enabled);
  EXPECT_EQ((*summary)->sampling, 10);
  EXPECT_EQ((*summary)->row_count, 25);
  EXPECT_FALSE((*summary)->truncated);
  ASSERT_THAT(store_->SaveSummary("job1", {.enabled = true, .row_count = 50, .truncated = true}),
              IsOk());
  summary = store_->GetSummary("job1");
  EXPECT_TRUE((*summary)->truncated);
  EXPECT_EQ((*summary)->row_count, 50);
  EXPECT_THAT(store_->SaveSummary("nope", {}), StatusIs(absl::StatusCode::kFailedPrecondition));
}

TEST_F(TraceStoreTest, JobInfo) {
  auto info = store_->GetJobInfo("job1");
  ASSERT_THAT(info, IsOk());
  EXPECT_EQ(info->owner_id, 1);
  EXPECT_EQ(info->status, JobStatus::kFinished);
  EXPECT_EQ(info->bars_total, 10);
  EXPECT_THAT(info->params_json, HasSubstr("EURUSD"));
  EXPECT_THAT(store_->GetJobInfo("nope"), StatusIs(absl::StatusCode::kNotFound));
}

}  // namespace
}  // namespace backtest::db
