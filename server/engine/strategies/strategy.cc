#include "server/engine/strategies/strategy.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "server/engine/data/civil_time.h"
#include "server/engine/strategies/sma_cross.h"
#include "server/engine/strategies/sr_breakout.h"
#include "server/engine/trace/json_writer.h"

namespace backtest::engine {

std::unique_ptr<Strategy> MakeStrategy(RunContext& context) {
  if (context.config.strategy == StrategyKind::kSmaCross) {
    return std::make_unique<SmaCross>(context);
  }
  return std::make_unique<SrBreakout>(context);
}

int PriceDecimals(double pip) {
  if (!(pip > 0)) return 5;
  int d = static_cast<int>(std::lround(-std::log10(pip))) + 1;
  return d < 0 ? 0 : (d > 10 ? 10 : d);
}

std::string Fixed(double v, int decimals) {
  std::string out;
  AppendFixed(&out, v, decimals);
  return out;
}

}  // namespace backtest::engine
