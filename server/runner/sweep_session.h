// A sweep job in a runner (docs/sweeps.md): the base parameters' market data loaded once, then
// every combination of RunSpec.sweep run on it, each a normal engine run without markers, trace
// or digest; rows of stats go out as SweepRowsEvents (gathered: every 100 ms or 512 rows) with a
// progress event (bars_done/bars_total: combinations), then the walk-forward if asked, then a
// SweepDoneEvent. SIGTERM stops every worker at its next block of bars; the rows sent so far
// stand.
//
// How the combinations run is a CombinationRunner's: backtest-runner's runs the built-in
// strategies on a thread per core (BuiltinCombinations); the SDK's Python runner runs a strategy
// folder's in worker processes (sdk/native/sweep.cc). Everything else — loading, batching,
// progress, walk-forward, cancel — is RunSweep's, the same for both.
#ifndef BACKTEST_SERVER_RUNNER_SWEEP_SESSION_H_
#define BACKTEST_SERVER_RUNNER_SWEEP_SESSION_H_

#include <functional>
#include <vector>

#include "absl/status/statusor.h"
#include "backtest/runner/v1/runner.pb.h"
#include "server/engine/engine.h"
#include "server/runner/runner_session.h"

namespace backtest::runner {

// Told each finished combination's row (its stats, or why its run failed), from any thread.
using RowSink = std::function<void(v1::SweepRow row)>;

// A combination's run: silent, cancelled with the job (CancelRequested()).
class SweepRowObserver : public engine::RunObserver {
 public:
  void OnLog(engine::LogLevel, absl::string_view) override {}
  void OnProgress(const engine::ProgressInfo&) override {}
  void OnTraceBatch(std::span<const engine::TraceRow>, bool) override {}
  bool IsCancelled() override { return CancelRequested().load(std::memory_order_relaxed); }
};

// How a sweep's combinations run. Used by one thread at a time.
class CombinationRunner {
 public:
  virtual ~CombinationRunner() = default;

  // Processes or threads that run combinations at once (for the sweep's log).
  virtual int workers() const = 0;

  // Runs combinations `rows` on `data` and tells `done` each one's row, stopping once
  // CancelRequested() (a cancelled run is not told). Returns when all its work has stopped. An
  // error when the runner itself failed (a worker process died), not for a combination's failure,
  // which is its row's.
  virtual absl::Status ForEach(const engine::MarketData& data, const std::vector<int>& rows,
                               const RowSink& done) = 0;

  // Combination `row`'s whole run (trades, equity) on `data` with `window`'s dates and no
  // max_candles: a walk-forward's test run.
  virtual absl::StatusOr<engine::RunResult> RunWindow(int row, const engine::RunConfig& window,
                                                      const engine::MarketData& data) = 0;
};

// The built-in strategies' combinations, each `base` with the combination's values, run on
// `threads` threads (the calling one among them).
class BuiltinCombinations : public CombinationRunner {
 public:
  // `share_indicators`: indicator series that several combinations have in common are computed
  // once per ForEach (engine/shared_series.h); off, each run computes its own (the same rows).
  BuiltinCombinations(const v1::SweepSpec& sweep, engine::ParamValues base,
                      engine::RunOptions options, int threads, bool share_indicators = true)
      : sweep_(sweep), base_(std::move(base)), options_(std::move(options)), threads_(threads),
        share_indicators_(share_indicators) {}

  int workers() const override { return threads_; }
  absl::Status ForEach(const engine::MarketData& data, const std::vector<int>& rows,
                       const RowSink& done) override;
  absl::StatusOr<engine::RunResult> RunWindow(int row, const engine::RunConfig& window,
                                              const engine::MarketData& data) override;

 private:
  const v1::SweepSpec& sweep_;
  engine::ParamValues base_;
  engine::RunOptions options_;
  int threads_;
  bool share_indicators_;
};

// `base` with combination `row`'s values.
engine::ParamValues CombinationParams(const v1::SweepSpec& sweep, const engine::ParamValues& base,
                                      int row);

// A walk-forward window's dates on a combination's config: `window`'s start and end, no
// max_candles (the run a single job of those dates makes).
void UseWindow(const engine::RunConfig& window, engine::RunConfig* config);

// A combination's row from its run's outcome.
v1::SweepRow SweepRowOf(int row, const absl::StatusOr<engine::RunResult>& result);

// The engine's options of a sweep's runs: the spec's (OptionsForSpec), without markers, digest
// or bar log lines.
absl::Status SweepRunOptions(const v1::RunSpec& spec, engine::RunOptions* options);

// The threads (or processes) a sweep of `combinations` uses: the spec's `threads`, else one per
// core; never more than the combinations, at least one.
int SweepWorkers(const v1::SweepSpec& sweep, int combinations);

// Runs the spec's sweep: loads the data of `base` (the engine's parameters of the base set, the
// trace off), runs the combinations that are not done with `runner`, then the walk-forward.
// Returns the process's exit status (0 after SweepDoneEvent).
int RunSweep(EventWriter& writer, const v1::RunSpec& spec, const engine::ParamValues& base,
             CombinationRunner& runner);

// backtest-runner's sweep: the built-in strategies on a thread per core.
int RunSweep(EventWriter& writer, const v1::RunSpec& spec);

}  // namespace backtest::runner

#endif  // BACKTEST_SERVER_RUNNER_SWEEP_SESSION_H_
