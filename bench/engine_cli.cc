// backtest-engine-cli: runs the engine once and prints the result as JSON on stdout.
//
//   backtest-engine-cli --csv FILE [--param name=value]... [--trace-out FILE] [--digest]
//       Runs on one CSV file, every bar kept (start/end default to the whole file; the timeframe
//       defaults to the file's bar spacing; the symbol to the file name's stem).
//   backtest-engine-cli [--param name=value]... [--trace-out FILE]
//       Runs exactly as the service would: parameters validated by the registry, data from
//       data_source (sample:// by default).
//
// Output: {"strategy", "bars", "final_equity", "digest", "trace_rows", "stats": {...},
// "reasons": [...], "trades": [...], "load_seconds", "run_seconds", "total_seconds"}; numbers in
// exact shortest round-trip form; total_seconds is main() to the trades written (all but the
// last 64 KB). A headless run: warnings only on stderr, no chart markers (but with --digest,
// which covers them). Used by bench/compare_backtrader and tests/e2e/engine_cli_e2e.sh. Exit
// status 1 with the error on stderr when the run fails, 2 on a usage error.
#include <fcntl.h>
#include <unistd.h>

#include <charconv>
#include <chrono>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <string>

#include "absl/strings/string_view.h"
#include "server/engine/data/csv_reader.h"
#include "server/engine/data/resampler.h"
#include "server/engine/engine.h"
#include "server/engine/util/helper_thread.h"

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

// JSON written straight to a FILE through a 64 KB buffer: no document-sized string (its fresh
// pages were a tenth of the run). Numbers in the shortest round-trip form (std::to_chars): exact,
// and far cheaper than printf's %.17g. Keys and strings are written as given (no escaping: every
// one is this program's own identifier or an engine name).
class JsonOut {
 public:
  // Into `f`, or, with nullptr, into text() (for a part written on another thread; `reserve`
  // bytes of room, so that it is not copied as it grows).
  explicit JsonOut(std::FILE* f, size_t reserve = 0) : file_(f) { text_.reserve(reserve); }
  ~JsonOut() { Flush(); }

  JsonOut& Raw(absl::string_view text) {
    if (text.size() > sizeof buf_ - used_) Flush();
    if (text.size() > sizeof buf_) {
      Out(text);
      return *this;
    }
    std::memcpy(buf_ + used_, text.data(), text.size());
    used_ += text.size();
    return *this;
  }
  // "key": — with a comma before it unless it opens the object.
  JsonOut& Key(absl::string_view key, bool first = false) {
    Room(key.size() + 4);
    if (!first) buf_[used_++] = ',';
    buf_[used_++] = '"';
    std::memcpy(buf_ + used_, key.data(), key.size());
    used_ += key.size();
    buf_[used_++] = '"';
    buf_[used_++] = ':';
    return *this;
  }
  JsonOut& Num(double v) {
    if (!std::isfinite(v)) return Raw("null");
    Room(32);
    used_ = static_cast<size_t>(std::to_chars(buf_ + used_, buf_ + sizeof buf_, v).ptr - buf_);
    return *this;
  }
  JsonOut& Int(int64_t v) {
    Room(24);
    used_ = static_cast<size_t>(std::to_chars(buf_ + used_, buf_ + sizeof buf_, v).ptr - buf_);
    return *this;
  }
  JsonOut& Str(absl::string_view v) {
    Room(v.size() + 2);
    buf_[used_++] = '"';
    std::memcpy(buf_ + used_, v.data(), v.size());
    used_ += v.size();
    buf_[used_++] = '"';
    return *this;
  }
  void Flush() {
    if (used_ > 0) Out(absl::string_view(buf_, used_));
    used_ = 0;
  }
  const std::string& text() {
    Flush();
    return text_;
  }

 private:
  void Out(absl::string_view text) {
    if (file_ != nullptr) {
      std::fwrite(text.data(), 1, text.size(), file_);
    } else {
      text_.append(text.data(), text.size());
    }
  }
  void Room(size_t n) {
    if (n > sizeof buf_ - used_) Flush();
  }

  std::FILE* file_;
  std::string text_;
  size_t used_ = 0;
  char buf_[64 << 10];
};

void StatsJson(const be::Stats& s, JsonOut& o) {
  o.Raw("{").Key("start", true).Int(s.start).Key("end").Int(s.end).Key("bars").Int(s.bars);
  o.Key("exposure_pct").Num(s.exposure_pct).Key("equity_final").Num(s.equity_final);
  o.Key("equity_peak").Num(s.equity_peak).Key("return_pct").Num(s.return_pct);
  o.Key("buy_hold_return_pct").Num(s.buy_hold_return_pct);
  o.Key("return_ann_pct").Num(s.return_ann_pct);
  o.Key("volatility_ann_pct").Num(s.volatility_ann_pct);
  o.Key("sharpe").Num(s.sharpe).Key("sortino").Num(s.sortino).Key("calmar").Num(s.calmar);
  o.Key("max_drawdown_pct").Num(s.max_drawdown_pct);
  o.Key("avg_drawdown_pct").Num(s.avg_drawdown_pct);
  o.Key("max_drawdown_duration_seconds").Int(s.max_drawdown_duration_seconds);
  o.Key("trades").Int(s.trades).Key("win_rate_pct").Num(s.win_rate_pct);
  o.Key("best_trade_pct").Num(s.best_trade_pct).Key("worst_trade_pct").Num(s.worst_trade_pct);
  o.Key("avg_trade_pct").Num(s.avg_trade_pct).Key("profit_factor").Num(s.profit_factor);
  o.Key("expectancy").Num(s.expectancy).Key("sqn").Num(s.sqn);
  o.Key("commission").Num(s.commission).Key("pnl").Num(s.pnl).Raw("}");
}

// Trades [begin, end) as the elements of a JSON array (a comma before each but the array's first).
void TradesJson(const be::Column<be::Trade>& trades, size_t begin, size_t end, JsonOut& o) {
  for (size_t k = begin; k < end; ++k) {
    const be::Trade& t = trades[k];
    o.Raw(k == 0 ? "{" : ",{").Key("id", true).Int(t.id).Key("side").Str(be::SideName(t.side));
    o.Key("entry_time").Int(t.entry_time).Key("entry_price").Num(t.entry_price);
    o.Key("exit_time").Int(t.exit_time).Key("exit_price").Num(t.exit_price);
    o.Key("size").Num(t.size).Key("pnl").Num(t.pnl);
    o.Key("exit_reason").Str(be::ExitReasonName(t.exit_reason));
    o.Key("entry_bar").Int(t.entry_bar).Key("exit_bar").Int(t.exit_bar).Raw("}");
  }
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
  options.max_log_lines = 0;  // bar log lines are info: this program shows warnings only
  // Markers are chart annotations, and this program prints no chart; kept when the digest is
  // asked for, which covers them.
  options.markers = options.compute_digest;
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
  // A reader on a pipe takes the ~1 MB of trades at its own pace: room for all of it, so that
  // this program does not wait on every 64 KB (the kernel caps it at fs/pipe-max-size).
  fcntl(STDOUT_FILENO, F_SETPIPE_SZ, 1 << 20);
  JsonOut o(stdout);
  o.Raw("{").Key("strategy", true).Str(result->strategy);
  o.Key("bars").Int(result->stats.bars);
  o.Key("final_equity").Num(result->stats.equity_final);
  o.Key("digest").Str(result->digest);
  o.Key("trace_rows").Int(result->trace_rows);
  o.Key("stats");
  StatsJson(result->stats, o);
  o.Key("reasons").Raw("[");
  for (size_t k = 0; k < result->reasons.size(); ++k) {
    const auto& r = result->reasons[k];
    o.Raw(k == 0 ? "{" : ",{").Key("reason", true).Str(r.reason).Key("count").Int(r.count);
    o.Raw("}");
  }
  o.Raw("]").Key("trades").Raw("[");
  // Numbers in shortest form cost ~300 ns a trade: with thousands of them, the last 2/5 are
  // written on the other CPU meanwhile (into fresh memory, which makes a trade a third dearer
  // there: 2/5 takes as long as the 3/5 written here).
  const be::Column<be::Trade>& trades = result->trades;
  const size_t half = trades.size() >= 2000 ? trades.size() * 3 / 5 : trades.size();
  JsonOut second_half(nullptr, (trades.size() - half) * 240);
  be::HelperThread helper;
  if (half == trades.size() ||
      !helper.Start([&] { TradesJson(trades, half, trades.size(), second_half); })) {
    TradesJson(trades, half, trades.size(), second_half);
  }
  TradesJson(trades, 0, half, o);
  helper.Join();
  o.Raw(second_half.text());
  o.Raw("]");
  // Times to here: the output written but its last 64 KB, which go out below.
  const auto t_end = Clock::now();
  o.Key("load_seconds").Num(Seconds(t_start, t_loaded));
  o.Key("run_seconds").Num(Seconds(t_loaded, t_run));
  o.Key("total_seconds").Num(Seconds(t_start, t_end)).Raw("}\n");
  return 0;
}
