// The registry with strategies that are not built in (a strategy folder's): their parameters for
// their runs only, the `strategy` choice, validation naming the field, and what cannot join.
#include <map>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/engine/param_registry.h"

namespace backtest::engine {
namespace {

using ::testing::HasSubstr;

constexpr int64_t kNow = 1'700'000'000;

StrategyParams MyCross() {
  return {.strategy = "my_cross",
          .params = {{.name = "fast_period", .type = ParamType::kInt, .default_value = "7",
                      .min = Bound{1, false}, .help = "Fast SMA length"},
                     {.name = "threshold", .alias = "THRESHOLD", .type = ParamType::kDouble,
                      .default_value = "0.50", .min = Bound{0, true}},
                     {.name = "side", .type = ParamType::kChoice, .default_value = "LONG",
                      .choices = {"long", "short"}}}};
}

std::unique_ptr<const ParamRegistry> Registry() {
  auto r = ParamRegistry::Make({MyCross()});
  EXPECT_TRUE(r.ok()) << r.status();
  return *std::move(r);
}

TEST(ParamRegistryStrategiesTest, StrategiesAreChoicesAfterTheBuiltIns) {
  auto r = Registry();
  EXPECT_EQ(r->strategies(), (std::vector<std::string>{"sr_breakout", "sma_cross", "my_cross"}));
  const ParamDef* def = r->Find("strategy", "");
  ASSERT_NE(def, nullptr);
  EXPECT_EQ(std::vector<absl::string_view>(def->choices.begin(), def->choices.end()),
            (std::vector<absl::string_view>{"sr_breakout", "sma_cross", "my_cross"}));
  EXPECT_TRUE(r->HasStrategy("my_cross"));
  EXPECT_FALSE(ParamRegistry::Builtin().HasStrategy("my_cross"));
  EXPECT_EQ(ParamRegistry::Builtin().params().size(), AllParams().size());
}

TEST(ParamRegistryStrategiesTest, ItsParametersReplaceBuiltInsOfTheSameNameForItsRunsOnly) {
  auto r = Registry();
  auto values = r->Validate({{"strategy", "my_cross"}, {"THRESHOLD", "2"}}, kNow);
  ASSERT_TRUE(values.ok()) << values.status();
  EXPECT_EQ((*values)["fast_period"], "7");  // its own default, not sma_cross's 10
  EXPECT_EQ((*values)["threshold"], "2");
  EXPECT_EQ((*values)["side"], "long");  // canonical
  EXPECT_EQ((*values)["symbols"], "XAGUSD");
  EXPECT_EQ((*values)["end_date"], FormatTime(kNow));
  // A built-in strategy's run does not read them.
  auto builtin = r->Validate({{"strategy", "sma_cross"}}, kNow);
  ASSERT_TRUE(builtin.ok()) << builtin.status();
  EXPECT_EQ((*builtin)["fast_period"], "10");
  EXPECT_FALSE(builtin->contains("threshold"));
  EXPECT_THAT(r->Validate({{"strategy", "sma_cross"}, {"threshold", "1"}}, kNow).status().message(),
              HasSubstr("unknown parameter \"threshold\""));
}

TEST(ParamRegistryStrategiesTest, ErrorsNameTheField) {
  auto r = Registry();
  EXPECT_EQ(r->Validate({{"strategy", "my_cross"}, {"fast_period", "0"}}, kNow).status().message(),
            "fast_period: must be >= 1, got \"0\"");
  EXPECT_EQ(r->Validate({{"strategy", "my_cross"}, {"side", "up"}}, kNow).status().message(),
            "side: must be one of long, short, got \"up\"");
  EXPECT_THAT(r->Validate({{"strategy", "nope"}}, kNow).status().message(),
              HasSubstr("strategy: must be one of sr_breakout, sma_cross, my_cross"));
}

TEST(ParamRegistryStrategiesTest, ListingForAStrategyHasItsOwnInPlaceOfTheBuiltIns) {
  auto r = Registry();
  std::vector<std::string> names;
  for (const ParamDef* def : r->ForStrategy("my_cross")) names.emplace_back(def->name);
  EXPECT_THAT(names, ::testing::Contains("fast_period"));
  EXPECT_THAT(names, ::testing::Not(::testing::Contains("slow_period")));
  EXPECT_THAT(names, ::testing::Not(::testing::Contains("rr")));
  EXPECT_EQ(std::count(names.begin(), names.end(), "fast_period"), 1);
  EXPECT_EQ(names.back(), "trace_sampling");
  for (const ParamDef* def : r->ForStrategy("my_cross")) {
    if (def->name == "fast_period") {
      EXPECT_EQ(def->strategy, "my_cross");
      EXPECT_EQ(def->group, "my_cross");
      EXPECT_EQ(def->default_value, "7");
    }
  }
}

TEST(ParamRegistryStrategiesTest, PresetsResolveTheirStrategysNames) {
  auto r = Registry();
  auto partial = r->ValidatePartial({{"strategy", "my_cross"}, {"THRESHOLD", "3"}});
  ASSERT_TRUE(partial.ok()) << partial.status();
  EXPECT_EQ(*partial, (ParamValues{{"strategy", "my_cross"}, {"threshold", "3"}}));
  auto without = r->ValidatePartial({{"threshold", "3"}});
  ASSERT_TRUE(without.ok()) << without.status();
}

TEST(ParamRegistryStrategiesTest, WhatCannotJoinIsRefusedNamingIt) {
  auto check = [](StrategyParams s) { return std::string(ParamRegistry::Check(s).message()); };
  EXPECT_EQ(check({.strategy = "sma_cross"}), "sma_cross: is a built-in strategy's name");
  EXPECT_THAT(check({.strategy = "My-Bot"}), HasSubstr("snake_case"));
  StrategyParams s = MyCross();
  s.params[0].default_value = "0";
  EXPECT_EQ(check(s), "my_cross: fast_period: default must be >= 1, got \"0\"");
  s = MyCross();
  s.params.push_back(s.params[1]);
  EXPECT_EQ(check(s), "my_cross: threshold: declared twice");
  s = MyCross();
  s.params[2].min = Bound{0, false};
  EXPECT_EQ(check(s), "my_cross: side: bounds are for int and double parameters");
  s = MyCross();
  s.params[2].default_value = "";
  EXPECT_EQ(check(s), "my_cross: side: default must not be empty, got \"\"");
  EXPECT_FALSE(ParamRegistry::Make({MyCross(), MyCross()}).ok());
  EXPECT_EQ(ParseParamType("float").value(), ParamType::kDouble);
  EXPECT_FALSE(ParseParamType("decimal").ok());
}

}  // namespace
}  // namespace backtest::engine
