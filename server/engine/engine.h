// The engine's entry points: run one backtest from a validated parameter set (loading its market
// data), or from a typed config and bars already in memory (tests, benchmarks).
//
// A run is single-threaded and owns all its state; several runs may go on in parallel threads.
// Log lines, progress and trace rows leave through the RunObserver; nothing else is written
// anywhere. No exception escapes: errors are statuses.
#ifndef BACKTEST_SERVER_ENGINE_ENGINE_H_
#define BACKTEST_SERVER_ENGINE_ENGINE_H_

#include <cstdint>
#include <functional>
#include <memory>

#include "absl/status/statusor.h"
#include "server/engine/data/data_source.h"
#include "server/engine/data/market_data.h"
#include "server/engine/observer.h"
#include "server/engine/param_registry.h"
#include "server/engine/run_config.h"
#include "server/engine/run_result.h"

namespace backtest::engine {

class SharedSeries;
class Strategy;
struct RunContext;

// Makes the strategy of a run whose `strategy` is not built in (RunConfig::strategy ==
// kExternal): a strategy implemented outside the engine (the Python SDK's, through
// ExternalStrategy, strategies/external_strategy.h) then runs through the same path as the
// built-ins — data loading, warm-up, broker, stats, trace, result, digest. Called once per run, on
// the run's thread, once the market data is loaded; `context` outlives the strategy. An error
// ends the run with it.
using StrategyFactory =
    std::function<absl::StatusOr<std::unique_ptr<Strategy>>(RunContext& context)>;

struct RunOptions {
  int64_t trace_max_rows = 250'000;  // BOTS_TRACE_MAX_ROWS; past it rows are dropped (< 0: none)
  int trace_batch_size = 1000;       // BOTS_TRACE_BATCH_SIZE
  // Trace rows only of the bars trace_first_bar..trace_last_bar (bar indexes, inclusive; with
  // trace_enabled): an Explain replay's window. Nothing else of the run depends on it.
  int64_t trace_first_bar = 0;
  int64_t trace_last_bar = INT64_MAX;
  bool compute_digest = true;        // RunResult::digest (hashes the candles too: ~100 ms per 1M bars)
  bool markers = true;               // RunResult::markers, the chart's entries and exits; off for
                                     // headless runs that want trades and stats only (the engine
                                     // CLI). The digest covers them: off, it differs.
  int64_t max_log_lines = 1000;      // bar log lines (entries, exits, …) before the rest is counted
                                     // only (< 0: no limit); warnings are always written
  HttpOptions http;                  // limits of an http(s) data source
  DataPolicy data_policy;            // what data_source may read (not enforced by default: the
                                     // CLI and tests read their own files; jobs always enforce)
  std::shared_ptr<const BarCache> bar_cache;  // CSV files parsed before (bar_cache.h); none:
                                              // every file is parsed
  StrategyFactory external_strategy;  // the strategy when config.strategy is kExternal (else
                                      // unused); none: such a run is InvalidArgument
  // Indicator series shared with other runs on the same bars (a sweep's combinations,
  // shared_series.h): a strategy reads those it needs from here instead of computing them, with
  // the same values bit for bit. Used only when they are series of the run's own MarketData.
  SharedSeries* shared_series = nullptr;
  // Called once on the run's thread when the market data is loaded and the result's strategy
  // and symbols (their bars) are set, before the first bar: what a caller can start on while the
  // run goes on (the runner hashes the candles meanwhile). Nothing else of the result is final;
  // the bars stay valid for the result's lifetime (they are shared).
  std::function<void(const RunResult& result)> on_start;
};

// Readies what is quick to ready of the data a run of `params` would load (a file's bar cache
// entry; DataSource::Prefetch), for a run in this process later: what an idle runner does with
// the last job's parameters. Errors are left to that run. Returns the number of bars readied,
// over all symbols (0 when nothing was).
int64_t PrefetchMarketData(const ParamValues& params, const RunOptions& options);

// Validated parameters (ValidateParams' output) → config → data from data_source → run.
// Errors: InvalidArgument (bad parameters or data, naming the parameter, or file and line),
// NotFound (no data for a symbol), Unavailable/DeadlineExceeded (network), Cancelled (the observer
// asked), ResourceExhausted (out of memory or too much data), Internal (a bug).
absl::StatusOr<RunResult> RunBacktest(const ParamValues& params, const RunOptions& options,
                                      RunObserver& observer);

// The same with the data source given (tests inject their own).
absl::StatusOr<RunResult> RunBacktest(const RunConfig& config, DataSource& source,
                                      const RunOptions& options, RunObserver& observer);

// Runs on bars already prepared (see PrepareSymbol); `data` must hold config.symbols in order.
absl::StatusOr<RunResult> RunBacktest(const RunConfig& config, const MarketData& data,
                                      const RunOptions& options, RunObserver& observer);

}  // namespace backtest::engine

#endif  // BACKTEST_SERVER_ENGINE_ENGINE_H_
