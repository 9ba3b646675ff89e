#include "server/engine/data/timeframe.h"

#include <array>

namespace backtest::engine {
namespace {

struct TfDef {
  Timeframe tf;
  absl::string_view name;
  int64_t seconds;
};

constexpr std::array<TfDef, 8> kTimeframes = {{
    {Timeframe::kM1, "M1", 60},
    {Timeframe::kM5, "M5", 300},
    {Timeframe::kM15, "M15", 900},
    {Timeframe::kM30, "M30", 1800},
    {Timeframe::kH1, "H1", 3600},
    {Timeframe::kH4, "H4", 14400},
    {Timeframe::kD1, "D1", 86400},
    {Timeframe::kW1, "W1", 604800},
}};

// 1970-01-05 00:00 UTC, the first Monday after the epoch.
constexpr int64_t kFirstMonday = 4 * 86400;

int64_t FloorTo(int64_t value, int64_t step) {
  int64_t q = value / step;
  if (value % step != 0 && value < 0) --q;
  return q * step;
}

}  // namespace

std::optional<Timeframe> ParseTimeframe(absl::string_view text) {
  for (const TfDef& d : kTimeframes) {
    if (d.name == text) return d.tf;
  }
  return std::nullopt;
}

absl::string_view TimeframeName(Timeframe tf) { return kTimeframes[static_cast<int>(tf)].name; }

int64_t TimeframeSeconds(Timeframe tf) { return kTimeframes[static_cast<int>(tf)].seconds; }

int64_t BucketStart(Timeframe tf, int64_t epoch) {
  if (tf == Timeframe::kW1) return FloorTo(epoch - kFirstMonday, 604800) + kFirstMonday;
  return FloorTo(epoch, TimeframeSeconds(tf));
}

std::optional<Timeframe> TimeframeOfSeconds(int64_t seconds) {
  for (const TfDef& d : kTimeframes) {
    if (d.seconds == seconds) return d.tf;
  }
  return std::nullopt;
}

}  // namespace backtest::engine
