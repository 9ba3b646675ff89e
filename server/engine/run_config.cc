#include "server/engine/run_config.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "server/engine/data/pip_size.h"

namespace backtest::engine {
namespace {

class Reader {
 public:
  explicit Reader(const ParamValues& p) : p_(p) {}

  std::string Text(absl::string_view name) {
    auto it = p_.find(name);
    if (it == p_.end()) {
      Fail(name, "is missing");
      return "";
    }
    return it->second;
  }
  double Double(absl::string_view name) {
    double v = 0;
    if (!absl::SimpleAtod(Text(name), &v)) Fail(name, "must be a number");
    return v;
  }
  int64_t Int(absl::string_view name) {
    int64_t v = 0;
    if (!absl::SimpleAtoi(Text(name), &v)) Fail(name, "must be an integer");
    return v;
  }
  bool Bool(absl::string_view name) { return Text(name) == "true"; }
  int64_t Time(absl::string_view name) {
    auto t = ParseTimeText(Text(name));
    if (!t.ok()) Fail(name, "must be a time");
    return t.ok() ? *t : 0;
  }
  void Fail(absl::string_view name, absl::string_view rule) {
    if (status_.ok()) status_ = absl::InvalidArgumentError(absl::StrCat(name, ": ", rule));
  }
  const absl::Status& status() const { return status_; }

 private:
  const ParamValues& p_;
  absl::Status status_;
};

}  // namespace

absl::StatusOr<RunConfig> RunConfigFromParams(const ParamValues& params) {
  Reader r(params);
  RunConfig c;
  std::string strategy = r.Text("strategy");
  if (strategy == "sr_breakout") {
    c.strategy = StrategyKind::kSrBreakout;
  } else if (strategy == "sma_cross") {
    c.strategy = StrategyKind::kSmaCross;
  } else if (!strategy.empty()) {
    c.strategy = StrategyKind::kExternal;
  } else {
    r.Fail("strategy", "must name a strategy");
  }
  c.strategy_name = strategy;
  c.symbols = absl::StrSplit(r.Text("symbols"), ',', absl::SkipEmpty());
  if (c.symbols.empty()) r.Fail("symbols", "must name at least one symbol");
  auto tf = ParseTimeframe(r.Text("timeframe"));
  if (!tf) r.Fail("timeframe", "must be one of M1 M5 M15 M30 H1 H4 D1 W1");
  c.timeframe = tf.value_or(Timeframe::kH1);
  c.start = r.Time("start_date");
  c.end = r.Time("end_date");
  if (std::string mc = r.Text("max_candles"); !mc.empty()) c.max_candles = r.Int("max_candles");
  c.spread_pips = r.Double("spread_pips");
  c.commission = r.Double("commission");
  c.slippage_pips = r.Double("slippage_pips");
  c.data_source = r.Text("data_source");
  c.market_type = r.Text("market_type");
  if (std::string pip = r.Text("pip_size"); !pip.empty()) c.pip_size = r.Double("pip_size");
  c.initial_equity = r.Double("initial_equity");
  c.risk_per_trade = r.Double("risk_per_trade");
  c.rr = r.Double("rr");
  c.min_risk_distance_atr = r.Double("min_risk_distance_atr");
  c.sl_buffer_atr = r.Double("sl_buffer_atr");
  c.breakout_lookback_period = r.Int("breakout_lookback_period");
  c.breakout_min_strength_atr = r.Double("breakout_min_strength_atr");
  c.zone_inversion_margin_atr = r.Double("zone_inversion_margin_atr");
  c.sr_cancellation_threshold_atr = r.Double("sr_cancellation_threshold_atr");
  c.ema_length = r.Int("ema_length");
  c.check_for_daily_rsi = r.Bool("check_for_daily_rsi");
  c.fast_period = r.Int("fast_period");
  c.slow_period = r.Int("slow_period");
  c.size = r.Double("size");
  c.trace_enabled = r.Bool("trace_enabled");
  c.trace_sampling = r.Int("trace_sampling");
  if (!r.status().ok()) return r.status();
  return c;
}

double PipSizeFor(const RunConfig& config, const std::string& symbol) {
  return config.pip_size.has_value() ? *config.pip_size : DefaultPipSize(symbol);
}

bool SkipsWeekends(const RunConfig& config) { return config.market_type != "crypto"; }

absl::string_view StrategyName(StrategyKind kind) {
  switch (kind) {
    case StrategyKind::kSmaCross: return "sma_cross";
    case StrategyKind::kExternal: return "external";
    case StrategyKind::kSrBreakout: break;
  }
  return "sr_breakout";
}

}  // namespace backtest::engine
