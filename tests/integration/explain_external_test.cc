// Explain for a strategy implemented outside the engine (the Python SDK's, through
// ExternalStrategy): its rows — its own checks and values, the engine's events and the verdict row
// the engine closes each bar with — stored as the job service stores them, and the server's Explain
// (BarVerdict) answering for its bars as it does for the built-ins.
#include <map>
#include <utility>

#include "absl/strings/match.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/api/explain.h"
#include "server/engine/engine.h"
#include "server/engine/param_registry.h"
#include "server/engine/strategies/external_strategy.h"

namespace backtest::api {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

class Rows : public engine::NullObserver {
 public:
  void OnTraceBatch(std::span<const engine::TraceRow> rows, bool) override {
    for (const engine::TraceRow& r : rows) {
      by_bar[r.bar_index].push_back({r.seq, r.bar_index, r.ts, r.symbol,
                                     std::string(engine::TraceSectionName(r.section)),
                                     std::string(engine::TraceKindName(r.kind)), r.payload});
    }
  }
  std::map<int64_t, std::vector<db::TraceRowRecord>> by_bar;
};

// Long when the close is above its SMA(20), flat when below; a check row per bar, as an SDK
// strategy writes them with self.check(...).
class TrendLogic : public engine::ExternalLogic {
 public:
  absl::Status Start(engine::ExternalStrategy& s) override {
    auto id = s.AddIndicator(engine::IndicatorKind::kSma, 20, engine::PriceField::kClose);
    if (!id.ok()) return id.status();
    sma_ = *id;
    return absl::OkStatus();
  }
  absl::Status Bar(engine::ExternalStrategy& s) override {
    const double avg = s.IndicatorValue(sma_);
    const bool above = s.close() > avg;
    const std::string reason = above ? "" : "close at or below its SMA(20)";
    if (s.WantsTrace(engine::TraceKind::kCheck)) {
      s.BeginTraceRow(engine::TraceSection::kSignal, engine::TraceKind::kCheck)
          .StrAt("check", "trend").BoolAt("passed", above).StrAt("reason", reason)
          .StrAt("code", "below_sma").NumAt("sma", avg);
      s.EndTraceRow();
      s.NoteCheck(above, reason, "below_sma");
    }
    const double pos = s.PositionSize(s.sym());
    engine::OrderRequest o;
    if (above && pos == 0) {
      o.target = engine::OrderRequest::Target::kLong;
      o.reason = "trend_entry";
      return s.Order(s.sym(), o);
    }
    if (!above && pos > 0) {
      o.target = engine::OrderRequest::Target::kFlat;
      o.reason = "trend_lost";
      return s.Order(s.sym(), o);
    }
    return absl::OkStatus();
  }
  absl::Status Fill(engine::ExternalStrategy&, const engine::FillInfo&) override {
    return absl::OkStatus();
  }
  absl::Status Stop(engine::ExternalStrategy&) override { return absl::OkStatus(); }

 private:
  int sma_ = -1;
};

TEST(ExplainExternalTest, ExplainAnswersForAnExternalStrategysBars) {
  auto params = engine::ValidateParams({{"symbols", "EURUSD"},
                                        {"timeframe", "H1"},
                                        {"start_date", "2023-01-02"},
                                        {"end_date", "2023-03-01"},
                                        {"trace_enabled", "true"}},
                                       1'704'000'000);
  ASSERT_TRUE(params.ok()) << params.status();
  auto config = engine::RunConfigFromParams(*params);
  ASSERT_TRUE(config.ok());
  config->strategy = engine::StrategyKind::kExternal;
  config->strategy_name = "trend";
  engine::RunOptions options;
  options.external_strategy = engine::ExternalStrategyFactory(
      []() -> absl::StatusOr<std::unique_ptr<engine::ExternalLogic>> {
        return std::make_unique<TrendLogic>();
      });
  auto source = engine::MakeDataSource(config->data_source);
  ASSERT_TRUE(source.ok());
  Rows rows;
  auto result = engine::RunBacktest(*config, **source, options, rows);
  ASSERT_TRUE(result.ok()) << result.status();
  ASSERT_GT(result->trades.size(), 3u);

  int entries = 0, failed_checks = 0;
  for (const auto& [bar, bar_rows] : rows.by_bar) {
    google::protobuf::Struct values;
    const std::string verdict = BarVerdict(bar_rows, &values);
    const std::string& engine_verdict = bar_rows.back().payload_json;
    ASSERT_EQ(bar_rows.back().section, "position") << bar;
    ASSERT_THAT(engine_verdict, HasSubstr("\"verdict\":")) << bar;
    if (absl::StrContains(engine_verdict, "\"code\":\"entry_filled\"")) {
      EXPECT_THAT(verdict, StartsWith("entry long at ")) << bar;
      EXPECT_TRUE(values.fields().contains("entry_filled")) << bar;
      ++entries;
    } else if (absl::StrContains(engine_verdict, "\"code\":\"below_sma\"")) {
      EXPECT_EQ(verdict, "no trade: close at or below its SMA(20)") << bar;
      EXPECT_TRUE(values.fields().contains("trend")) << bar;  // the deciding check's values
      ++failed_checks;
    }
  }
  EXPECT_GT(entries, 3);
  EXPECT_GT(failed_checks, 10);
}

}  // namespace
}  // namespace backtest::api
