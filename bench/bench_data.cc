#include "bench_data.h"

#include "server/engine/data/sample_source.h"
#include "server/engine/param_registry.h"

namespace backtest::bench {

engine::MarketData SampleMarketData(const engine::RunConfig& config, int64_t bars) {
  engine::SampleSource source;
  engine::FetchRequest req;
  req.symbol = config.symbols[0];
  req.timeframe = engine::Timeframe::kM1;
  req.start = 1'577'836'800;  // 2020-01-01
  req.end = req.start + bars * 60;
  req.skip_weekends = false;
  auto series = source.Fetch(req);
  engine::MarketData data;
  data.symbols.push_back(*engine::PrepareSymbol(config, req.symbol, *std::move(series)));
  return data;
}

engine::RunConfig BenchConfig(const std::string& strategy, bool trace, int64_t sampling) {
  auto params = engine::ValidateParams({{"strategy", strategy},
                                        {"timeframe", "M1"},
                                        {"start_date", "2000-01-01"},
                                        {"end_date", "2100-01-01"},
                                        {"trace_enabled", trace ? "true" : "false"},
                                        {"trace_sampling", std::to_string(sampling)}},
                                       1'700'000'000);
  return *engine::RunConfigFromParams(*params);
}

void MemorySinkObserver::OnTraceBatch(std::span<const engine::TraceRow> batch, bool) {
  buffer.clear();
  for (const engine::TraceRow& row : batch) {
    buffer.append(row.symbol);
    buffer.append(row.payload);
  }
  rows += static_cast<int64_t>(batch.size());
  bytes += static_cast<int64_t>(buffer.size());
}

}  // namespace backtest::bench
