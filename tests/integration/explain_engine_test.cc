// Explain against the real engine: a traced sr_breakout run on built-in sample data, its rows
// stored as the job service stores them, and every bar the engine counted a decision reason at
// (filters, setups, entries, stops, targets …) explained. The verdict must be the engine's own,
// and the generic rules (without the engine's verdict row) must still name what decided the bar.
#include <map>
#include <set>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/api/explain.h"
#include "server/engine/engine.h"
#include "server/engine/param_registry.h"

namespace backtest::api {
namespace {

using ::testing::HasSubstr;

// Keeps every trace row as the job service stores it.
class CapturingObserver : public engine::NullObserver {
 public:
  void OnTraceBatch(std::span<const engine::TraceRow> rows, bool) override {
    for (const engine::TraceRow& r : rows) {
      db::TraceRowRecord& out = rows_[{r.symbol, r.bar_index}].emplace_back();
      out = {r.seq,
             r.bar_index,
             r.ts,
             r.symbol,
             std::string(engine::TraceSectionName(r.section)),
             std::string(engine::TraceKindName(r.kind)),
             r.payload};
    }
  }
  std::map<std::pair<std::string, int64_t>, std::vector<db::TraceRowRecord>> rows_;
};

class ExplainEngineTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto params = engine::ValidateParams({{"strategy", "sr_breakout"},
                                          {"symbols", "EURUSD,XAGUSD,GBPJPY"},
                                          {"timeframe", "H1"},
                                          {"start_date", "2023-01-02"},
                                          {"end_date", "2023-12-30"},
                                          {"breakout_min_strength_atr", "0.3"},
                                          {"ema_length", "200"},
                                          {"trace_enabled", "true"}},
                                         1'704'000'000);
    ASSERT_TRUE(params.ok()) << params.status();
    observer_ = new CapturingObserver();
    engine::RunOptions options;
    options.trace_max_rows = -1;
    auto result = engine::RunBacktest(*params, options, *observer_);
    ASSERT_TRUE(result.ok()) << result.status();
    result_ = new engine::RunResult(*std::move(result));
  }
  static void TearDownTestSuite() {
    delete observer_;
    delete result_;
  }

  static const std::vector<db::TraceRowRecord>& RowsOf(const engine::ReasonSample& s) {
    static const std::vector<db::TraceRowRecord> kNone;
    auto it = observer_->rows_.find({s.symbol, s.bar_index});
    return it == observer_->rows_.end() ? kNone : it->second;
  }

  static CapturingObserver* observer_;
  static engine::RunResult* result_;
};

CapturingObserver* ExplainEngineTest::observer_ = nullptr;
engine::RunResult* ExplainEngineTest::result_ = nullptr;

// The engine's verdict row of a bar, in its own words.
std::string EngineVerdict(const std::vector<db::TraceRowRecord>& rows) {
  for (const auto& r : rows) {
    if (absl::StrContains(r.payload_json, R"("verdict":")")) {
      google::protobuf::Struct values;
      return BarVerdict(std::span(&r, 1), &values);  // the verdict row alone: its sentence
    }
  }
  return "";
}

TEST_F(ExplainEngineTest, TheRunExercisesTheDecisionsExplainMustCover) {
  std::set<std::string> codes;
  for (const auto& r : result_->reasons) codes.insert(r.reason);
  // A year of sample data produces these; if the engine or its data changes so much that one
  // disappears, the run above must be changed so the test keeps covering every branch.
  for (const char* code :
       {"filter_strength", "filter_ema", "filter_rsi", "setup_created", "setup_cancelled",
        "setup_expired", "entry_filled", "stop_widened", "exit_stop", "exit_target"}) {
    EXPECT_TRUE(codes.count(code))
        << code << " did not occur; codes: " << absl::StrJoin(codes, ", ");
  }
}

TEST_F(ExplainEngineTest, EveryReasonSampleBarIsExplainedWithTheEnginesVerdict) {
  int explained = 0;
  for (const engine::ReasonCount& reason : result_->reasons) {
    for (const engine::ReasonSample& sample : reason.samples) {
      const auto& rows = RowsOf(sample);
      ASSERT_FALSE(rows.empty()) << reason.reason << " at bar " << sample.bar_index;
      backtest::v1::ExplainResponse response;
      ExplainBar({.bar_index = sample.bar_index, .symbol = sample.symbol}, rows,
                 {.status = db::JobStatus::kFinished, .trace_enabled = true}, {}, &response);
      EXPECT_TRUE(response.traced());
      EXPECT_EQ(response.bar_index(), sample.bar_index);
      EXPECT_FALSE(response.summary().empty());
      const std::string engine_verdict = EngineVerdict(rows);
      if (!engine_verdict.empty()) {
        EXPECT_EQ(response.summary(), engine_verdict);
      }
      EXPECT_GT(response.values().fields_size(), 0) << reason.reason;
      EXPECT_GT(response.sections_size(), 0);
      ++explained;
    }
  }
  EXPECT_GT(explained, 10);
}

// Without the engine's verdict rows, the generic rules still say what decided each bar.
TEST_F(ExplainEngineTest, GenericRulesNameTheDecisionOfEachBranch) {
  for (const engine::ReasonCount& reason : result_->reasons) {
    for (const engine::ReasonSample& sample : reason.samples) {
      std::vector<db::TraceRowRecord> rows;
      for (const auto& r : RowsOf(sample)) {
        if (!absl::StrContains(r.payload_json, R"("verdict":)")) rows.push_back(r);
      }
      ASSERT_FALSE(rows.empty());
      google::protobuf::Struct values;
      const std::string verdict = BarVerdict(rows, &values);
      const std::string& code = reason.reason;
      SCOPED_TRACE(code + " at bar " + std::to_string(sample.bar_index) + ": " + verdict);
      if (absl::StartsWith(code, "filter_") || code == "rsi_unavailable") {
        EXPECT_THAT(verdict, HasSubstr("no "));  // "no entry: …" or "…; no new setup: …"
      } else if (absl::StartsWith(code, "exit_")) {
        std::string how = absl::StrReplaceAll(code.substr(5), {{"_", " "}});
        EXPECT_THAT(verdict, HasSubstr("exit"));
        EXPECT_THAT(verdict, HasSubstr(how));
        EXPECT_TRUE(values.fields().contains("exit"));
      } else if (code == "entry_filled") {
        EXPECT_THAT(verdict, HasSubstr("entry filled"));
        EXPECT_TRUE(values.fields().contains("entry_filled"));
      } else if (code == "setup_cancelled") {
        EXPECT_THAT(verdict, HasSubstr("cancelled"));
        EXPECT_TRUE(values.fields().contains("setup_cancelled"));
      } else if (code == "setup_expired") {
        EXPECT_THAT(verdict, HasSubstr("expired"));
      } else if (code == "setup_created") {
        EXPECT_THAT(verdict, HasSubstr("setup"));
      }
    }
  }
}

}  // namespace
}  // namespace backtest::api
