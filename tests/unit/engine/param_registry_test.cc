#include "server/engine/param_registry.h"

#include <map>
#include <set>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace backtest::engine {
namespace {

using ::testing::HasSubstr;

constexpr int64_t kNow = 1'700'000'000;  // 2023-11-14T22:13:20Z

TEST(ParamRegistryTest, EveryContractParameterIsDefinedOnceWithItsDefault) {
  const std::map<std::string, std::string> expected = {
      {"strategy", "sr_breakout"},         {"symbols", "XAGUSD"},
      {"timeframe", "H1"},                 {"start_date", "2021-11-26T13:10:00Z"},
      {"end_date", ""},                    {"max_candles", ""},
      {"spread_pips", "0"},                {"data_source", "sample://"},
      {"market_type", "forex"},            {"pip_size", ""},
      {"initial_equity", "100000000"},     {"risk_per_trade", "0.0001"},
      {"rr", "2"},                         {"min_risk_distance_atr", "0.5"},
      {"sl_buffer_atr", "0.3"},            {"breakout_lookback_period", "48"},
      {"breakout_min_strength_atr", "0.2"}, {"zone_inversion_margin_atr", "1"},
      {"sr_cancellation_threshold_atr", "0.2"}, {"ema_length", "40"},
      {"check_for_daily_rsi", "true"},     {"fast_period", "10"},
      {"slow_period", "30"},               {"size", "1"},
      {"trace_enabled", "false"},          {"trace_sampling", "1"},
  };
  std::set<std::string> names;
  for (const ParamDef& def : AllParams()) {
    EXPECT_TRUE(names.insert(std::string(def.name)).second) << def.name << " defined twice";
    EXPECT_FALSE(def.help.empty()) << def.name;
    EXPECT_FALSE(def.group.empty()) << def.name;
  }
  for (const auto& [name, value] : expected) {
    const ParamDef* def = FindParam(name);
    ASSERT_NE(def, nullptr) << name;
    EXPECT_EQ(def->default_value, value) << name;
  }
}

TEST(ParamRegistryTest, SeedAliasesAndOtherLetterCasesResolve) {
  EXPECT_EQ(FindParam("RR")->name, "rr");
  EXPECT_EQ(FindParam("EMA_LENGTH")->name, "ema_length");
  EXPECT_EQ(FindParam("BACKTEST_FETCH_CSV_URL")->name, "data_source");
  EXPECT_EQ(FindParam("MARKET_TYPE")->name, "market_type");
  EXPECT_EQ(FindParam("MODE")->name, "mode");
  EXPECT_EQ(FindParam("Symbols")->name, "symbols");
  EXPECT_EQ(FindParam("no_such_thing"), nullptr);
}

TEST(ParamRegistryTest, DefaultsFillTheWholeSetAndEndDateIsNow) {
  auto values = ValidateParams({}, kNow);
  ASSERT_TRUE(values.ok()) << values.status();
  EXPECT_EQ(values->size(), AllParams().size());
  EXPECT_EQ(values->at("end_date"), "2023-11-14T22:13:20Z");
  EXPECT_EQ(values->at("rr"), "2");
}

TEST(ParamRegistryTest, ValuesAreNormalised) {
  auto values = ValidateParams({{"RR", "2.50"},
                                {"symbols", " eurusd, xagusd "},
                                {"start_date", "2022-01-03 09:30"},
                                {"end_date", "1672531200"},
                                {"check_for_daily_rsi", "No"},
                                {"timeframe", "m15"},
                                {"ema_length", "40.0"}},
                               kNow);
  ASSERT_TRUE(values.ok()) << values.status();
  EXPECT_EQ(values->at("rr"), "2.5");
  EXPECT_EQ(values->at("symbols"), "EURUSD,XAGUSD");
  EXPECT_EQ(values->at("start_date"), "2022-01-03T09:30:00Z");
  EXPECT_EQ(values->at("end_date"), "2023-01-01T00:00:00Z");
  EXPECT_EQ(values->at("check_for_daily_rsi"), "false");
  EXPECT_EQ(values->at("timeframe"), "M15");
  EXPECT_EQ(values->at("ema_length"), "40");
}

// A stored job or preset is validated again when it runs: the canonical set must not change
// (found by the params fuzz target: defaults 100000000 and 0.0001 came back as 1e+08 and 1e-04).
TEST(ParamRegistryTest, ValidationIsIdempotent) {
  for (const std::map<std::string, std::string>& input :
       std::vector<std::map<std::string, std::string>>{
           {},
           {{"initial_equity", "1e8"}, {"risk_per_trade", "1e-4"}, {"rr", "2.50"}},
           {{"spread_pips", "0.00001"}, {"size", "123456789012.5"}, {"commission", "-0"}}}) {
    auto first = ValidateParams(input, kNow);
    ASSERT_TRUE(first.ok()) << first.status();
    auto again = ValidateParams({first->begin(), first->end()}, kNow + 1);
    ASSERT_TRUE(again.ok()) << again.status();
    EXPECT_EQ(*again, *first);
  }
  auto values = ValidateParams({{"initial_equity", "1e8"}, {"risk_per_trade", "1e-4"},
                                {"spread_pips", "0.00001"}, {"commission", "-0"}},
                               kNow);
  ASSERT_TRUE(values.ok()) << values.status();
  EXPECT_EQ(values->at("initial_equity"), "100000000");
  EXPECT_EQ(values->at("risk_per_trade"), "0.0001");
  EXPECT_EQ(values->at("spread_pips"), "1e-05");
  EXPECT_EQ(values->at("commission"), "0");
  // One trailing slash came off per validation: "http://h//" became "http://h/", then "http://h".
  auto url = ValidateParams({{"data_source", "https://example.com/api//"}}, kNow);
  ASSERT_TRUE(url.ok()) << url.status();
  EXPECT_EQ(url->at("data_source"), "https://example.com/api");
  EXPECT_EQ(ValidateParams({{"data_source", "http:///"}}, kNow).status().code(),
            absl::StatusCode::kInvalidArgument);
}

struct BadCase {
  std::map<std::string, std::string> input;
  std::string message_part;
};

class BadParamsTest : public ::testing::TestWithParam<BadCase> {};

TEST_P(BadParamsTest, IsInvalidArgumentNamingTheParameter) {
  auto values = ValidateParams(GetParam().input, kNow);
  ASSERT_EQ(values.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(values.status().message()), HasSubstr(GetParam().message_part));
}

INSTANTIATE_TEST_SUITE_P(
    Rules, BadParamsTest,
    ::testing::Values(
        BadCase{{{"bogus", "1"}}, "unknown parameter \"bogus\""},
        BadCase{{{"rr", "0"}}, "rr: must be > 0"},
        BadCase{{{"rr", "abc"}}, "rr: must be a number"},
        BadCase{{{"rr", "nan"}}, "rr: must be a finite number"},
        BadCase{{{"rr", "0x10"}}, "rr: must be a number"},
        BadCase{{{"rr", "1e"}}, "rr: must be a number"},
        BadCase{{{"rr", "."}}, "rr: must be a number"},
        BadCase{{{"ema_length", "0x10"}}, "ema_length: must be an integer"},
        BadCase{{{"risk_per_trade", "0.2"}}, "risk_per_trade: must be > 0 and <= 0.1"},
        BadCase{{{"breakout_lookback_period", "1"}}, "breakout_lookback_period: must be >= 2"},
        BadCase{{{"ema_length", "4.5"}}, "ema_length: must be an integer"},
        BadCase{{{"sl_buffer_atr", "-0.1"}}, "sl_buffer_atr: must be >= 0"},
        BadCase{{{"initial_equity", "0"}}, "initial_equity: must be > 0"},
        BadCase{{{"timeframe", "H2"}}, "timeframe: must be one of M1, M5"},
        BadCase{{{"strategy", "martingale"}}, "strategy: must be one of sr_breakout, sma_cross"},
        BadCase{{{"check_for_daily_rsi", "maybe"}}, "check_for_daily_rsi: must be true or false"},
        BadCase{{{"start_date", "yesterday"}}, "start_date: must be epoch seconds or an ISO"},
        BadCase{{{"start_date", "2023-01-01"}, {"end_date", "2022-01-01"}},
                "end_date: must be after start_date"},
        BadCase{{{"symbols", "EUR/USD"}}, "symbols: symbols are 1-32 letters"},
        BadCase{{{"symbols", "EURUSD,eurusd"}}, "symbol EURUSD is listed twice"},
        BadCase{{{"symbols", ""}}, "symbols: must not be empty"},
        BadCase{{{"data_source", "ftp://x"}}, "data_source: must be sample://"},
        BadCase{{{"data_source", "file:///data/../etc"}}, "must not contain '..'"},
        BadCase{{{"mode", "live"}}, "mode: must be one of backtest"},
        BadCase{{{"strategy", "sma_cross"}, {"fast_period", "30"}, {"slow_period", "30"}},
                "fast_period: must be < slow_period"},
        BadCase{{{"rr", "2"}, {"RR", "3"}}, "rr: given twice"},
        BadCase{{{"trace_sampling", "0"}}, "trace_sampling: must be >= 1"}));

TEST(ParamRegistryTest, PartialSetsKeepOnlyWhatWasGiven) {
  auto values = ValidatePartialParams({{"EMA_LENGTH", "50"}});
  ASSERT_TRUE(values.ok()) << values.status();
  EXPECT_EQ(values->size(), 1u);
  EXPECT_EQ(values->at("ema_length"), "50");
  EXPECT_EQ(ValidatePartialParams({{"ema_length", "1"}}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(ParamRegistryTest, TimesParseInEveryAcceptedForm) {
  EXPECT_EQ(*ParseTimeText("0"), 0);
  EXPECT_EQ(*ParseTimeText("2021-11-26"), 1637884800);
  EXPECT_EQ(*ParseTimeText("2021-11-26 13:10"), 1637932200);
  EXPECT_EQ(*ParseTimeText("2021-11-26T13:10:00Z"), 1637932200);
  EXPECT_EQ(*ParseTimeText("2021-11-26T15:10:00+02:00"), 1637932200);
  EXPECT_EQ(*ParseTimeText("2021-11-26T13:10:00.000Z"), 1637932200);
  EXPECT_FALSE(ParseTimeText("2021-13-01").ok());
  EXPECT_FALSE(ParseTimeText("99999999999").ok());
  EXPECT_FALSE(ParseTimeText("").ok());
  EXPECT_EQ(FormatTime(1637932200), "2021-11-26T13:10:00Z");
}

}  // namespace
}  // namespace backtest::engine
