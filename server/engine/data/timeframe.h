// Bar timeframes M1 … W1 and their bucketing rules (UTC; D1 = UTC day; W1 starts Monday 00:00 UTC).
#ifndef BACKTEST_SERVER_ENGINE_DATA_TIMEFRAME_H_
#define BACKTEST_SERVER_ENGINE_DATA_TIMEFRAME_H_

#include <cstdint>
#include <optional>

#include "absl/strings/string_view.h"

namespace backtest::engine {

enum class Timeframe { kM1, kM5, kM15, kM30, kH1, kH4, kD1, kW1 };

// "M1" … "W1"; nullopt for anything else.
std::optional<Timeframe> ParseTimeframe(absl::string_view text);
absl::string_view TimeframeName(Timeframe tf);
// Length in seconds.
int64_t TimeframeSeconds(Timeframe tf);
// Open time of the bucket holding `epoch`.
int64_t BucketStart(Timeframe tf, int64_t epoch);
// The timeframe whose length is `seconds`, if any.
std::optional<Timeframe> TimeframeOfSeconds(int64_t seconds);

}  // namespace backtest::engine

#endif  // BACKTEST_SERVER_ENGINE_DATA_TIMEFRAME_H_
