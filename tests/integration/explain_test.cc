// Explain's verdicts on crafted bars shaped like sr_breakout's trace (one branch each: entry, each
// failed check, cancellation, stop, target …), the untraced-bar answers, sections and whole-run
// summaries; and the Value conversions the API shares. Pure functions: no server.
#include "server/api/explain.h"

#include <cmath>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/api/value_conversion.h"
#include "tests/testing/status_matchers.h"

namespace backtest::api {
namespace {

using ::backtest::testing::IsOk;
using ::backtest::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::backtest::v1::ExplainResponse;

constexpr int64_t kTs = 1'704'153'600;  // 2024-01-02T00:00:00Z

// Rows of one bar, seq from 1, in the order given.
class Bar {
 public:
  explicit Bar(int64_t bar_index = 5) : bar_(bar_index) {}
  Bar& Add(const char* section, const char* kind, std::string payload) {
    rows_.push_back({static_cast<int64_t>(rows_.size()) + 1, bar_, kTs + 60 * bar_, "EURUSD",
                     section, kind, std::move(payload)});
    return *this;
  }
  Bar& Indicators() {
    return Add("indicators", "value",
               R"({"open":1.1,"high":1.102,"low":1.099,"close":1.1015,"atr":0.001,"ema":1.1,"rsi":55})");
  }
  Bar& Check(const char* section, const char* check, bool passed, const char* reason,
             const char* extra = "") {
    return Add(section, "check",
               absl::StrCat(R"({"check":")", check, R"(","passed":)", passed ? "true" : "false",
                            R"(,"reason":")", reason, R"(")", extra, "}"));
  }
  Bar& Verdict(const char* verdict, const char* code) {
    return Add("position", "value",
               absl::StrCat(R"({"verdict":")", verdict, R"(","code":")", code,
                            R"(","position":"flat","equity":100000000})"));
  }
  const std::vector<db::TraceRowRecord>& rows() const { return rows_; }

 private:
  int64_t bar_;
  std::vector<db::TraceRowRecord> rows_;
};

std::string VerdictOf(const Bar& bar, google::protobuf::Struct* values = nullptr) {
  google::protobuf::Struct scratch;
  return BarVerdict(bar.rows(), values != nullptr ? values : &scratch);
}

double Field(const google::protobuf::Struct& values, const std::string& row,
             const std::string& field) {
  return values.fields().at(row).struct_value().fields().at(field).number_value();
}

TEST(BarVerdictTest, TheEnginesOwnVerdictWinsAndTheFailedCheckIsItsValue) {
  Bar bar;
  bar.Indicators()
      .Check("signal", "breakout", true, "close 1.1015 > resistance 1.1010")
      .Check("filters", "strength", false, "breakout strength 0.05 ATR < 0.20 ATR required",
             R"(,"code":"filter_strength","strength_atr":0.05,"required_atr":0.2)")
      .Verdict("no entry: breakout strength 0.05 ATR < 0.20 ATR required", "filter_strength");
  google::protobuf::Struct values;
  EXPECT_EQ(VerdictOf(bar, &values), "no entry: breakout strength 0.05 ATR < 0.20 ATR required");
  EXPECT_EQ(Field(values, "strength", "strength_atr"), 0.05);
  EXPECT_EQ(Field(values, "strength", "required_atr"), 0.2);
  EXPECT_EQ(values.fields().at("verdict").struct_value().fields().at("code").string_value(),
            "filter_strength");
}

TEST(BarVerdictTest, EachFailedBreakoutCheckWithoutAVerdictRow) {
  struct Case {
    const char* check;
    const char* reason;
  };
  for (Case c : {Case{"strength", "breakout strength 0.05 ATR < 0.20 ATR required"},
                 Case{"ema", "close 1.1015 is not above EMA(40) 1.1020"},
                 Case{"rsi", "daily RSI 72.5 >= 70 for a long"},
                 Case{"rsi", "daily RSI unavailable (3 of 15 daily closes)"}}) {
    Bar bar;
    bar.Indicators().Check("signal", "breakout", true, "close above resistance");
    if (std::string(c.check) != "strength") {
      bar.Check("filters", "strength", true, "breakout strength 0.50 ATR >= 0.20 ATR");
    }
    if (std::string(c.check) == "rsi") bar.Check("filters", "ema", true, "close above EMA");
    bar.Check("filters", c.check, false, c.reason);
    google::protobuf::Struct values;
    EXPECT_EQ(VerdictOf(bar, &values), absl::StrCat("no entry: ", c.reason));
    EXPECT_TRUE(values.fields().contains(c.check)) << c.check;
  }
}

TEST(BarVerdictTest, NoBreakoutIsTheFirstFailedCheck) {
  Bar bar;
  bar.Indicators().Check("signal", "breakout", false,
                         "close 1.1005 inside the zone (support 1.0990, resistance 1.1010)");
  EXPECT_EQ(VerdictOf(bar),
            "no entry: close 1.1005 inside the zone (support 1.0990, resistance 1.1010)");
}

TEST(BarVerdictTest, EntryFilled) {
  Bar bar;
  bar.Add("orders", "event",
          R"({"event":"entry_filled","side":"long","trade_id":1,"price":1.1012,"stop":1.0995,"target":1.1046,"size":5882352.9})")
      .Indicators();
  google::protobuf::Struct values;
  EXPECT_EQ(VerdictOf(bar, &values), "entry filled long at 1.1012");
  EXPECT_EQ(Field(values, "entry_filled", "stop"), 1.0995);
}

TEST(BarVerdictTest, ExitsByStopGapTargetAndEndOfData) {
  struct Case {
    const char* reason;
    const char* why;
    const char* expected;
  };
  for (Case c : {Case{"stop", "low 1.0990 reached the stop 1.0995",
                      "exit long by stop at 1.0995: low 1.0990 reached the stop 1.0995"},
                 Case{"stop_gap", "opened at 1.0980 beyond the stop 1.0995",
                      "exit long by stop gap at 1.0995: opened at 1.0980 beyond the stop 1.0995"},
                 Case{"target", "high 1.1050 reached the target 1.1046",
                      "exit long by target at 1.0995: high 1.1050 reached the target 1.1046"},
                 Case{"end_of_data", "end of data: closed at the last close",
                      "exit long by end of data at 1.0995: end of data: closed at the last "
                      "close"}}) {
    Bar bar;
    bar.Add("position", "event",
            absl::StrCat(R"({"event":"exit","reason":")", c.reason,
                         R"(","side":"long","trade_id":1,"price":1.0995,"pnl":-1000,"why":")",
                         c.why, R"("})"))
        .Indicators();
    google::protobuf::Struct values;
    EXPECT_EQ(VerdictOf(bar, &values), c.expected);
    EXPECT_EQ(Field(values, "exit", "pnl"), -1000);
  }
}

TEST(BarVerdictTest, SetupEventsUseTheirSentence) {
  for (const char* event : {"setup_cancelled", "setup_expired", "setup_replaced",
                            "setup_triggered", "setup_created"}) {
    Bar bar;
    std::string sentence = absl::StrCat("long setup at 1.1010 ", event, ": because");
    bar.Indicators().Add("zones", "event",
                         absl::StrCat(R"({"event":")", event, R"(","reason":")", sentence,
                                      R"(","side":"long","level":1.101})"));
    EXPECT_EQ(VerdictOf(bar), sentence) << event;
  }
}

TEST(BarVerdictTest, EventsThenTheFailedCheckOfTheSameBar) {
  Bar bar;
  bar.Add("position", "event",
          R"({"event":"exit","reason":"target","side":"short","price":1.09,"why":"low 1.0890 reached the target 1.0900"})")
      .Indicators()
      .Check("signal", "breakout", false, "close inside the zone");
  google::protobuf::Struct values;
  EXPECT_EQ(VerdictOf(bar, &values),
            "exit short by target at 1.09: low 1.0890 reached the target 1.0900; no new setup: "
            "close inside the zone");
  EXPECT_TRUE(values.fields().contains("exit"));
  EXPECT_TRUE(values.fields().contains("breakout"));
}

TEST(BarVerdictTest, NothingDecided) {
  Bar values_only;
  values_only.Indicators();
  EXPECT_EQ(VerdictOf(values_only), "nothing was decided at this bar: only values were traced");
  Bar all_passed;
  all_passed.Indicators().Check("signal", "breakout", true, "ok");
  EXPECT_EQ(VerdictOf(all_passed), "no entry: every check passed and nothing happened");
}

TEST(BarVerdictTest, SurvivesOddPayloads) {
  Bar bar;
  bar.Add("signal", "check", "not json").Add("orders", "event", "{}").Add("risk", "check",
                                                                           R"({"passed":false})");
  google::protobuf::Struct values;
  EXPECT_EQ(VerdictOf(bar, &values), "event; no new setup: a check failed");
  EXPECT_TRUE(values.fields().contains("event"));
  EXPECT_TRUE(values.fields().contains("check"));
}

TEST(ExplainBarTest, SectionsInEvaluationOrderFilteredByInclude) {
  Bar bar;
  bar.Add("position", "event", R"({"event":"exit","reason":"stop","price":1})")
      .Indicators()
      .Add("zones", "value", R"({"resistance":1.1})")
      .Check("signal", "breakout", false, "inside")
      .Add("custom", "value", "{}")
      .Verdict("exit long by stop", "exit_stop");
  ExplainResponse response;
  RunFacts facts{.status = db::JobStatus::kFinished, .trace_enabled = true};
  ExplainBar({.bar_index = 5, .symbol = "EURUSD"}, bar.rows(), facts, {}, &response);
  EXPECT_TRUE(response.traced());
  EXPECT_EQ(response.bar_index(), 5);
  EXPECT_EQ(response.ts(), kTs + 300);
  EXPECT_EQ(response.symbol(), "EURUSD");
  EXPECT_EQ(response.summary(), "exit long by stop");
  std::vector<std::string> sections;
  for (const auto& s : response.sections()) sections.push_back(s.section());
  EXPECT_THAT(sections, ElementsAre("indicators", "zones", "signal", "position", "custom"));
  const auto& position = response.sections(3);
  ASSERT_EQ(position.items_size(), 2);
  EXPECT_LT(position.items(0).seq(), position.items(1).seq());
  EXPECT_EQ(position.items(0).payload().fields().at("event").string_value(), "exit");

  ExplainResponse filtered;
  std::vector<std::string> include = {"signal", "position"};
  ExplainBar({.bar_index = 5, .symbol = "EURUSD"}, bar.rows(), facts, include, &filtered);
  sections.clear();
  for (const auto& s : filtered.sections()) sections.push_back(s.section());
  EXPECT_THAT(sections, ElementsAre("signal", "position"));
  EXPECT_EQ(filtered.summary(), "exit long by stop");  // decided from every row
}

TEST(ExplainBarTest, AnEventOnlyBarUnderSamplingSaysSo) {
  Bar bar(7);
  bar.Add("zones", "event", R"({"event":"setup_expired","reason":"long setup expired: no retest"})");
  ExplainResponse response;
  ExplainBar({.bar_index = 7, .symbol = "EURUSD"}, bar.rows(),
             {.status = db::JobStatus::kFinished, .trace_enabled = true, .sampling = 10}, {}, &response);
  EXPECT_EQ(response.summary(),
            "long setup expired: no retest (only events are traced at this bar: sampling 10)");
}

TEST(UntracedReasonTest, SaysPlainlyWhyABarHasNoRows) {
  BarQuestion bar5{.bar_index = 5, .symbol = "EURUSD"};
  EXPECT_EQ(UntracedReason(bar5, {.status = db::JobStatus::kFinished, .trace_enabled = false}),
            "bar 5 was not traced: tracing was off for this run (run it with trace_enabled=true)");
  EXPECT_EQ(UntracedReason(bar5, {.status = db::JobStatus::kFinished, .trace_enabled = true, .sampling = 10,
                                  .last_traced_bar = 900}),
            "bar 5 was not traced: sampling 10 skipped it (values and checks are traced on every "
            "10th bar, events on every bar)");
  EXPECT_EQ(UntracedReason({.bar_index = 500}, {.status = db::JobStatus::kFinished, .trace_enabled = true,
                                                .truncated = true, .trace_rows = 250000,
                                                .last_traced_bar = 420}),
            "bar 500 was not traced: the trace was cut at 250000 rows (BOTS_TRACE_MAX_ROWS)");
  EXPECT_EQ(UntracedReason(bar5, {.status = db::JobStatus::kRunning, .trace_enabled = true,
                                  .last_traced_bar = 2}),
            "bar 5 has not been traced yet: the job is running");
  EXPECT_EQ(UntracedReason(bar5, {.status = db::JobStatus::kCancelled, .trace_enabled = true,
                                  .last_traced_bar = 2}),
            "bar 5 was not traced: the job was cancelled before reaching it");
  EXPECT_EQ(UntracedReason({.ts = kTs}, {.status = db::JobStatus::kFinished, .trace_enabled = false}),
            "the bar at 2024-01-02T00:00:00Z was not traced: tracing was off for this run (run "
            "it with trace_enabled=true)");
  EXPECT_EQ(UntracedReason(bar5, {.status = db::JobStatus::kFinished, .trace_enabled = true,
                                  .last_traced_bar = 9}),
            "bar 5 has no trace rows for EURUSD");
}

TEST(ExplainRunTest, SummarizesReasonCounts) {
  std::vector<db::ReasonRecord> reasons = {
      {"filter_strength", 340, {{"EURUSD", 5, kTs}, {"EURUSD", 9, kTs}}, "too weak"},
      {"filter_ema", 120, {}, "wrong side"},
      {"setup_created", 15, {}, ""},
      {"setup_expired", 12, {}, ""},
      {"entry_filled", 3, {}, ""},
      {"exit_stop", 2, {}, ""},
      {"exit_target", 1, {}, ""},
  };
  ExplainResponse response;
  ExplainRun(reasons, {.status = db::JobStatus::kFinished, .trace_enabled = true, .trace_rows = 10}, &response);
  EXPECT_EQ(response.summary(),
            "whole run: 3 entries; exits: stop 2, target 1; most frequent: filter_strength 340, "
            "filter_ema 120, setup_created 15");
  EXPECT_FALSE(response.has_bar_index());
  ASSERT_EQ(response.reasons_size(), 7);
  EXPECT_EQ(response.reasons(0).reason(), "filter_strength");
  EXPECT_EQ(response.reasons(0).count(), 340);
  EXPECT_THAT(response.reasons(0).sample_bars(), ElementsAre(5, 9));
  EXPECT_EQ(response.reasons(0).description(), "too weak");
  EXPECT_TRUE(response.traced());
}

TEST(ExplainRunTest, WithoutReasons) {
  ExplainResponse running;
  ExplainRun({}, {.status = db::JobStatus::kRunning}, &running);
  EXPECT_EQ(running.summary(), "the job is running: reason counts are stored with its result");
  ExplainResponse failed;
  ExplainRun({}, {.status = db::JobStatus::kFailed}, &failed);
  EXPECT_EQ(failed.summary(), "the job failed: no reason counts were stored");
}

TEST(ParseIncludeTest, KnownSectionsOnly) {
  EXPECT_THAT(*ParseInclude(""), ::testing::IsEmpty());
  EXPECT_THAT(*ParseInclude("filters, Risk,,filters "), ElementsAre("filters", "risk"));
  EXPECT_THAT(ParseInclude("filters,bogus"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("include: unknown section")));
}

TEST(TraceRowProtoTest, PayloadBecomesAStruct) {
  backtest::v1::TraceRow row;
  ToTraceRowProto({3, 5, kTs, "EURUSD", "filters", "check",
                   R"({"passed":false,"n":2,"list":[1,"a",null],"o":{"x":true}})"},
                  &row);
  EXPECT_EQ(row.seq(), 3);
  const auto& f = row.payload().fields();
  EXPECT_FALSE(f.at("passed").bool_value());
  EXPECT_EQ(f.at("n").number_value(), 2);
  EXPECT_EQ(f.at("list").list_value().values(1).string_value(), "a");
  EXPECT_TRUE(f.at("list").list_value().values(2).has_null_value());
  EXPECT_TRUE(f.at("o").struct_value().fields().at("x").bool_value());
  backtest::v1::TraceRow raw;
  ToTraceRowProto({1, 0, 0, "X", "signal", "value", "[1,2]"}, &raw);
  EXPECT_EQ(raw.payload().fields().at("raw").string_value(), "[1,2]");
}

TEST(ValueConversionTest, ValuesToText) {
  auto text = [](google::protobuf::Value v) { return ValueToText("p", v); };
  google::protobuf::Value v;
  v.set_number_value(2);
  EXPECT_EQ(*text(v), "2");
  v.set_number_value(1e8);
  EXPECT_EQ(*text(v), "100000000");
  v.set_number_value(-2.5);
  EXPECT_EQ(*text(v), "-2.5");
  v.set_number_value(0.1);
  EXPECT_EQ(*text(v), "0.1");
  v.set_number_value(0.0001);
  EXPECT_EQ(*text(v), "0.0001");
  v.set_number_value(1e300);
  EXPECT_EQ(*text(v), "1e+300");
  v.set_number_value(std::nan(""));
  EXPECT_THAT(text(v), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("p: must be a finite")));
  v.set_bool_value(true);
  EXPECT_EQ(*text(v), "true");
  v.set_string_value(" as is ");
  EXPECT_EQ(*text(v), " as is ");
  v.set_null_value(google::protobuf::NULL_VALUE);
  EXPECT_EQ(*text(v), "");
  EXPECT_EQ(*text(google::protobuf::Value()), "");

  ProtoValues values;
  values["b"].set_number_value(1);
  values["a"].mutable_list_value();
  EXPECT_THAT(ValuesToText(values),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("a: must be a number")));
  values.erase("a");
  EXPECT_THAT(*ValuesToText(values), ElementsAre(std::pair<const std::string, std::string>("b", "1")));
}

TEST(ValueConversionTest, TextToValuesByParameterType) {
  engine::ParamValues params = {{"rr", "2.5"},          {"ema_length", "40"},
                                {"trace_enabled", "true"}, {"symbols", "EURUSD"},
                                {"max_candles", ""},     {"unknown_thing", "12"}};
  ProtoValues out;
  out["stale"].set_number_value(1);
  TextToValues(params, &out);
  EXPECT_FALSE(out.contains("stale"));
  EXPECT_EQ(out.at("rr").number_value(), 2.5);
  EXPECT_EQ(out.at("ema_length").number_value(), 40);
  EXPECT_TRUE(out.at("trace_enabled").bool_value());
  EXPECT_EQ(out.at("symbols").string_value(), "EURUSD");
  EXPECT_TRUE(out.at("max_candles").has_null_value());
  EXPECT_EQ(out.at("unknown_thing").string_value(), "12");
}

}  // namespace
}  // namespace backtest::api
