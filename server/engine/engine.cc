#include "server/engine/engine.h"

#include <algorithm>
#include <exception>
#include <new>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "server/engine/broker/broker.h"
#include "server/engine/data/civil_time.h"
#include "server/engine/digest.h"
#include "server/engine/shared_series.h"
#include "server/engine/stats/stats.h"
#include "server/engine/strategies/strategy.h"
#include "server/engine/trace/json_writer.h"
#include "common/status_macros.h"

namespace backtest::engine {
namespace {

absl::Status CheckData(const RunConfig& config, const MarketData& data) {
  if (data.symbols.size() != config.symbols.size()) {
    return absl::InvalidArgumentError(absl::StrCat("market data has ", data.symbols.size(),
                                                   " symbols, the config ",
                                                   config.symbols.size()));
  }
  for (size_t s = 0; s < data.symbols.size(); ++s) {
    const SymbolData& sd = data.symbols[s];
    if (sd.symbol != config.symbols[s]) {
      return absl::InvalidArgumentError(
          absl::StrCat("market data symbol ", s, " is ", sd.symbol, ", expected ",
                       config.symbols[s]));
    }
    if (!sd.bars || sd.first_kept >= sd.bars->size()) {
      return absl::InvalidArgumentError(absl::StrCat(sd.symbol, ": no bars to run on"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<RunResult> Run(const RunConfig& config, const MarketData& data,
                              const RunOptions& options, RunObserver& observer) {
  RETURN_IF_ERROR(CheckData(config, data));
  const bool external = config.strategy == StrategyKind::kExternal;
  if (external && !options.external_strategy) {
    return absl::InvalidArgumentError(
        absl::StrCat("strategy: ", config.strategy_name, " is not a built-in strategy"));
  }
  RunResult result;
  result.strategy = external ? config.strategy_name : std::string(StrategyName(config.strategy));
  const int64_t total = static_cast<int64_t>(data.TotalKept());
  // Generous capacity: pages never written are never faulted in, so the unused part costs address
  // space only, and growing vectors of strings (moves of every element) is avoided. Columns of
  // 4 MB or more are on huge pages (data/column.h).
  result.trades.reserve(static_cast<size_t>(total / 8 + 16));
  if (options.markers) result.markers.reserve(static_cast<size_t>(total / 4 + 32));
  Broker broker(config, data, &result.trades, options.markers ? &result.markers : nullptr);
  Tracer tracer(config.trace_enabled, config.trace_sampling, options.trace_max_rows,
                options.trace_batch_size, &observer);
  tracer.SetWindow(options.trace_first_bar, options.trace_last_bar);
  ReasonTally reasons;
  RunLog log(observer, options.max_log_lines);
  RunContext ctx{config, data, broker, tracer, reasons, observer, log, result, options.markers,
                 options.shared_series != nullptr && options.shared_series->Of(data)
                     ? options.shared_series
                     : nullptr};
  // The symbols' results exist before the strategy does: an external strategy may draw on them.
  result.symbols.resize(data.symbols.size());
  int64_t warmup = 0;
  for (size_t s = 0; s < data.symbols.size(); ++s) {
    const SymbolData& sd = data.symbols[s];
    SymbolResult& out = result.symbols[s];
    out.symbol = sd.symbol;
    out.pip = sd.pip;
    out.bars = sd.bars;
    out.first_kept = sd.first_kept;
    warmup += static_cast<int64_t>(sd.first_kept);
  }
  if (options.on_start) options.on_start(result);
  std::unique_ptr<Strategy> strategy;
  if (external) {
    ASSIGN_OR_RETURN(strategy, options.external_strategy(ctx));
  } else {
    strategy = MakeStrategy(ctx);
  }
  observer.OnLog(LogLevel::kInfo,
                 absl::StrCat(result.strategy, " on ", absl::StrJoin(config.symbols, ","), " ",
                              TimeframeName(config.timeframe), ": ", total, " bars from ",
                              IsoTime(data.symbols[0].bars->time[data.symbols[0].first_kept]),
                              ", ", warmup, " warm-up bars",
                              config.trace_enabled
                                  ? absl::StrCat(", trace every ", config.trace_sampling, " bar(s)")
                                  : std::string()));
  ProgressMeter progress(observer, total);
  progress.Report(RunStage::kWarmup, 0);
  for (size_t s = 0; s < data.symbols.size(); ++s) {
    for (size_t i = 0; i < data.symbols[s].first_kept; ++i) strategy->OnWarmupBar(s, i);
  }
  progress.Report(RunStage::kRunning, 0);
  EquityCurveStats curve(config.initial_equity);
  LoopContext loop_context{data, broker, observer, progress, &result.equity, &curve};
  absl::Status loop = strategy->RunBars(loop_context);
  tracer.Flush();
  log.Finish();
  if (!loop.ok()) {
    observer.OnLog(LogLevel::kWarning, loop.code() == absl::StatusCode::kCancelled
                                           ? std::string("run cancelled")
                                           : absl::StrCat("run failed: ", loop.message()));
    return loop;
  }
  result.trace_rows = tracer.rows_emitted();
  result.trace_truncated = tracer.truncated();
  result.reasons = reasons.Summary(config.symbols);
  const BarSeries& first = *data.symbols[0].bars;
  StatsInput in;
  in.initial_equity = config.initial_equity;
  in.equity = &result.equity;
  in.trades = &result.trades;
  in.bars = total;
  in.exposed_bars = broker.exposed_bars();
  in.first_close = first.close[data.symbols[0].first_kept];
  in.last_close = first.close.back();
  in.equity_stats = &curve;
  result.stats = ComputeStats(in);
  if (options.compute_digest) result.digest = ResultDigest(result);
  std::string ret;
  AppendFixed(&ret, result.stats.return_pct, 2);
  observer.OnLog(LogLevel::kInfo,
                 absl::StrCat("done: ", result.stats.trades, " trades, return ", ret,
                              "%, final equity ", Fixed(result.stats.equity_final, 2),
                              result.trace_truncated ? ", trace cut at the row limit" : ""));
  progress.Report(RunStage::kDone, total);
  return result;
}

// Runs `fn`, turning any exception into a status (none may cross the engine boundary).
template <typename Fn>
absl::StatusOr<RunResult> Guarded(Fn fn) {
  try {
    return fn();
  } catch (const std::bad_alloc&) {
    return absl::ResourceExhaustedError("out of memory");
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat("engine error: ", e.what()));
  } catch (...) {
    return absl::InternalError("engine error");
  }
}

}  // namespace

absl::StatusOr<RunResult> RunBacktest(const RunConfig& config, const MarketData& data,
                                      const RunOptions& options, RunObserver& observer) {
  return Guarded([&] { return Run(config, data, options, observer); });
}

absl::StatusOr<RunResult> RunBacktest(const RunConfig& config, DataSource& source,
                                      const RunOptions& options, RunObserver& observer) {
  return Guarded([&]() -> absl::StatusOr<RunResult> {
    ProgressInfo loading;
    observer.OnProgress(loading);
    auto data = LoadMarketData(config, source, [&](size_t done, size_t total) {
      ProgressInfo p;
      p.fraction = 0;
      observer.OnProgress(p);
      observer.OnLog(LogLevel::kInfo, absl::StrCat("loaded ", config.symbols[done - 1], " (",
                                                   done, "/", total, ")"));
    });
    if (!data.ok()) return data.status();
    return Run(config, *data, options, observer);
  });
}

int64_t PrefetchMarketData(const ParamValues& params, const RunOptions& options) {
  auto config = RunConfigFromParams(params);
  if (!config.ok()) return 0;
  auto source = MakeDataSource(config->data_source, options.http, options.data_policy,
                               options.bar_cache.get());
  return source.ok() ? PrefetchMarketData(*config, **source) : 0;
}

absl::StatusOr<RunResult> RunBacktest(const ParamValues& params, const RunOptions& options,
                                      RunObserver& observer) {
  ASSIGN_OR_RETURN(RunConfig config, RunConfigFromParams(params));
  ASSIGN_OR_RETURN(std::unique_ptr<DataSource> source,
                      MakeDataSource(config.data_source, options.http, options.data_policy,
                                     options.bar_cache.get()));
  return RunBacktest(config, *source, options, observer);
}

}  // namespace backtest::engine
