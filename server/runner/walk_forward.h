// A sweep's walk-forward in the runner (docs/sweeps.md, "Walk-forward"): on each train window
// every combination runs, the best by the sweep's objective runs on the following test window;
// the test runs' equity is stitched and their trades gathered. A window's run is the run a single
// job with the window's start_date and end_date (and no max_candles) makes: its bars are prepared
// from the sweep's own (PrepareSymbol, warm-up included).
#ifndef BACKTEST_SERVER_RUNNER_WALK_FORWARD_H_
#define BACKTEST_SERVER_RUNNER_WALK_FORWARD_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "backtest/runner/v1/runner.pb.h"
#include "server/engine/engine.h"
#include "server/runner/sweep_session.h"

namespace backtest::runner {

// Kept-bar indexes [begin, end) of one window's train and test parts.
struct WalkForwardWindow {
  int64_t train_begin = 0;
  int64_t train_end = 0;
  int64_t test_begin = 0;
  int64_t test_end = 0;
};

// The windows over `bars` kept bars, as WalkForwardSpec says (as many as fit; none when not one).
std::vector<WalkForwardWindow> WalkForwardWindows(int64_t bars, const v1::WalkForwardSpec& spec);

// The value of stat `name` ("sharpe", "long_stats.pnl") of `stats`; NaN for a name it lacks.
double StatValue(const v1::Stats& stats, const std::string& name);

// Runs the walk-forward of `sweep` on `data` (loaded with `config`, the base's) into *out, its
// combinations run by `runner`, telling `writer` a log line as each window is done and its
// progress (stage walk_forward, bars_done/bars_total counting its runs: per window every
// combination and the test run). InvalidArgument when not one window fits the data; Cancelled
// when the job was cancelled; the runner's own failure.
absl::Status RunWalkForward(const v1::SweepSpec& sweep, const engine::RunConfig& config,
                            const engine::MarketData& data, CombinationRunner& runner,
                            EventWriter& writer, v1::WalkForwardEvent* out);

}  // namespace backtest::runner

#endif  // BACKTEST_SERVER_RUNNER_WALK_FORWARD_H_
