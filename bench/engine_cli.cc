// backtest-engine-cli: runs the engine once and prints the result as JSON on stdout.
//
//   backtest-engine-cli --csv FILE [--param name=value]... [--trace-out FILE] [--digest]
//       Runs on one CSV file, every bar kept (start/end default to the whole file; the timeframe
//       defaults to the file's bar spacing; the symbol to the file name's stem).
//   backtest-engine-cli [--param name=value]... [--trace-out FILE]
//       Runs exactly as the service would: parameters validated by the registry, data from
//       data_source (sample:// by default).
//
// Output: {"strategy", "bars", "load_seconds", "run_seconds", "total_seconds", "final_equity",
// "digest", "stats": {...}, "reasons": [...], "trades": [...]}; trades with exact (shortest round-trip) prices.
// Used by bench/compare_backtrader. Exit status 1 with the error on stderr when the run fails.
#include <charconv>
#include <chrono>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <string>

#include "server/engine/data/csv_reader.h"
#include "server/engine/data/resampler.h"
#include "server/engine/engine.h"

namespace be = backtest::engine;

namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

class CliObserver : public be::RunObserver {
 public:
  explicit CliObserver(std::FILE* trace) : trace_(trace) {}
  void OnLog(be::LogLevel level, absl::string_view text) override {
    if (level >= be::LogLevel::kWarning) {
      std::fprintf(stderr, "%s\n", std::string(text).c_str());
    }
  }
  void OnProgress(const be::ProgressInfo&) override {}
  void OnTraceBatch(std::span<const be::TraceRow> rows, bool truncated) override {
    if (trace_ == nullptr) return;
    for (const be::TraceRow& r : rows) {
      std::fprintf(trace_,
                   "{\"seq\":%" PRId64 ",\"bar_index\":%" PRId64 ",\"ts\":%" PRId64
                   ",\"symbol\":\"%s\",\"section\":\"%s\",\"kind\":\"%s\",\"payload\":%s}\n",
                   r.seq, r.bar_index, r.ts, r.symbol.c_str(),
                   std::string(be::TraceSectionName(r.section)).c_str(),
                   std::string(be::TraceKindName(r.kind)).c_str(), r.payload.c_str());
    }
    if (truncated) std::fprintf(trace_, "{\"truncated\":true}\n");
  }
  bool IsCancelled() override { return false; }

 private:
  std::FILE* trace_;
};

// Shortest round-trip form (std::to_chars): exact, and far cheaper than printf's %.17g.
void Num(std::string* out, const char* key, double v, bool comma = true) {
  out->append("\"").append(key).append("\":");
  if (std::isfinite(v)) {
    char buf[32];
    out->append(buf, std::to_chars(buf, buf + sizeof buf, v).ptr);
  } else {
    out->append("null");
  }
  if (comma) out->push_back(',');
}

void Int(std::string* out, const char* key, int64_t v, bool comma = true) {
  char buf[24];
  out->append("\"").append(key).append("\":");
  out->append(buf, std::to_chars(buf, buf + sizeof buf, v).ptr);
  if (comma) out->push_back(',');
}

void Str(std::string* out, const char* key, const std::string& v, bool comma = true) {
  out->append("\"").append(key).append("\":\"").append(v).append(comma ? "\"," : "\"");
}

std::string StatsJson(const be::Stats& s) {
  std::string o = "{";
  Int(&o, "start", s.start); Int(&o, "end", s.end); Int(&o, "bars", s.bars);
  Num(&o, "exposure_pct", s.exposure_pct); Num(&o, "equity_final", s.equity_final);
  Num(&o, "equity_peak", s.equity_peak); Num(&o, "return_pct", s.return_pct);
  Num(&o, "buy_hold_return_pct", s.buy_hold_return_pct);
  Num(&o, "return_ann_pct", s.return_ann_pct); Num(&o, "volatility_ann_pct", s.volatility_ann_pct);
  Num(&o, "sharpe", s.sharpe); Num(&o, "sortino", s.sortino); Num(&o, "calmar", s.calmar);
  Num(&o, "max_drawdown_pct", s.max_drawdown_pct); Num(&o, "avg_drawdown_pct", s.avg_drawdown_pct);
  Int(&o, "max_drawdown_duration_seconds", s.max_drawdown_duration_seconds);
  Int(&o, "trades", s.trades); Num(&o, "win_rate_pct", s.win_rate_pct);
  Num(&o, "best_trade_pct", s.best_trade_pct); Num(&o, "worst_trade_pct", s.worst_trade_pct);
  Num(&o, "avg_trade_pct", s.avg_trade_pct); Num(&o, "profit_factor", s.profit_factor);
  Num(&o, "expectancy", s.expectancy); Num(&o, "sqn", s.sqn);
  Num(&o, "commission", s.commission); Num(&o, "pnl", s.pnl, false);
  return o + "}";
}

int Fail(const std::string& message) {
  std::fprintf(stderr, "backtest-engine-cli: %s\n", message.c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  const auto t_start = Clock::now();
  std::map<std::string, std::string> params;
  std::string csv, trace_out;
  bool digest = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--csv" && i + 1 < argc) {
      csv = argv[++i];
    } else if (a == "--param" && i + 1 < argc) {
      std::string kv = argv[++i];
      size_t eq = kv.find('=');
      if (eq == std::string::npos) return Fail("--param wants name=value, got " + kv);
      params[kv.substr(0, eq)] = kv.substr(eq + 1);
    } else if (a == "--trace-out" && i + 1 < argc) {
      trace_out = argv[++i];
    } else if (a == "--digest") {
      digest = true;
    } else {
      std::fprintf(stderr,
                   "usage: backtest-engine-cli [--csv FILE] [--param name=value]... "
                   "[--trace-out FILE] [--digest]\n");
      return 2;
    }
  }
  std::FILE* trace = nullptr;
  if (!trace_out.empty()) {
    trace = std::fopen(trace_out.c_str(), "w");
    if (trace == nullptr) return Fail("cannot write " + trace_out);
  }
  CliObserver observer(trace);
  be::RunOptions options;
  options.compute_digest = digest || csv.empty();
  absl::StatusOr<be::RunResult> result;
  Clock::time_point t_loaded;
  if (!csv.empty()) {
    auto bars = be::ReadCsvFile(csv);
    if (!bars.ok()) return Fail(std::string(bars.status().message()));
    params.try_emplace("symbols", std::filesystem::path(csv).stem().string());
    params.try_emplace("start_date", "1900-01-01");
    params.try_emplace("end_date", "2199-12-31");
    if (!params.count("timeframe")) {
      auto step = be::SmallestStep(*bars);
      auto tf = step ? be::TimeframeOfSeconds(*step) : std::nullopt;
      if (!tf) return Fail("cannot infer the timeframe; pass --param timeframe=…");
      params["timeframe"] = std::string(be::TimeframeName(*tf));
    }
    auto values = be::ValidateParams(params, 0);
    if (!values.ok()) return Fail(std::string(values.status().message()));
    auto config = be::RunConfigFromParams(*values);
    if (!config.ok()) return Fail(std::string(config.status().message()));
    auto symbol = be::PrepareSymbol(*config, config->symbols[0], *std::move(bars));
    if (!symbol.ok()) return Fail(std::string(symbol.status().message()));
    be::MarketData data;
    data.symbols.push_back(*std::move(symbol));
    t_loaded = Clock::now();
    result = be::RunBacktest(*config, data, options, observer);
  } else {
    auto values = be::ValidateParams(
        params, std::chrono::duration_cast<std::chrono::seconds>(
                    std::chrono::system_clock::now().time_since_epoch()).count());
    if (!values.ok()) return Fail(std::string(values.status().message()));
    t_loaded = Clock::now();
    result = be::RunBacktest(*values, options, observer);
  }
  if (trace != nullptr) std::fclose(trace);
  if (!result.ok()) return Fail(std::string(result.status().message()));
  const auto t_run = Clock::now();
  std::string out = "{";
  Str(&out, "strategy", result->strategy);
  Int(&out, "bars", result->stats.bars);
  Num(&out, "final_equity", result->stats.equity_final);
  Str(&out, "digest", result->digest);
  Int(&out, "trace_rows", result->trace_rows);
  out += "\"stats\":" + StatsJson(result->stats) + ",\"reasons\":[";
  for (size_t k = 0; k < result->reasons.size(); ++k) {
    const auto& r = result->reasons[k];
    out += "{";
    Str(&out, "reason", r.reason);
    Int(&out, "count", r.count, false);
    out += k + 1 < result->reasons.size() ? "}," : "}";
  }
  out += "],\"trades\":[";
  out.reserve(out.size() + result->trades.size() * 220);
  for (size_t k = 0; k < result->trades.size(); ++k) {
    const be::Trade& t = result->trades[k];
    out += "{";
    Int(&out, "id", t.id);
    Str(&out, "side", std::string(be::SideName(t.side)));
    Int(&out, "entry_time", t.entry_time);
    Num(&out, "entry_price", t.entry_price);
    Int(&out, "exit_time", t.exit_time);
    Num(&out, "exit_price", t.exit_price);
    Num(&out, "size", t.size);
    Num(&out, "pnl", t.pnl);
    Str(&out, "exit_reason", std::string(be::ExitReasonName(t.exit_reason)));
    Int(&out, "entry_bar", t.entry_bar);
    Int(&out, "exit_bar", t.exit_bar, false);
    out += k + 1 < result->trades.size() ? "}," : "}";
  }
  out += "],";
  const auto t_end = Clock::now();
  Num(&out, "load_seconds", Seconds(t_start, t_loaded));
  Num(&out, "run_seconds", Seconds(t_loaded, t_run));
  Num(&out, "total_seconds", Seconds(t_start, t_end), false);
  out += "}\n";
  std::fwrite(out.data(), 1, out.size(), stdout);
  return 0;
}
