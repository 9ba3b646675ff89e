// backtestd._native.run: one local run of a Python strategy through the engine's RunBacktest —
// the same data loading, warm-up, broker, stats, trace and digest as the service's runs — and its
// result as Python objects (numpy arrays for the long columns).
#include "sdk/native/run.h"

#include <nanobind/ndarray.h>
#include <nanobind/stl/map.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>
#include <Python.h>

#include <time.h>

#include <chrono>
#include <cmath>
#include <map>
#include <stdexcept>

#include "absl/strings/str_cat.h"
#include "server/engine/digest.h"
#include "server/engine/engine.h"
#include "server/engine/strategies/external_strategy.h"

namespace backtest::sdk {
namespace {

// Bars given by the caller (a DataFrame or arrays), one series per symbol; the loader cuts and
// resamples them as it does any source's.
class MemorySource : public engine::DataSource {
 public:
  explicit MemorySource(std::map<std::string, engine::BarSeries> series)
      : series_(std::move(series)) {}
  // Each symbol is fetched once per run: its series is handed over, not copied (a copy of 1M
  // bars is 48 MB of fresh pages).
  absl::StatusOr<engine::BarSeries> Fetch(const engine::FetchRequest& request) override {
    auto it = series_.find(request.symbol);
    if (it == series_.end()) {
      return absl::NotFoundError(absl::StrCat("no data given for symbol ", request.symbol));
    }
    engine::BarSeries out = std::move(it->second);
    series_.erase(it);
    return out;
  }

 private:
  std::map<std::string, engine::BarSeries> series_;
};

using F64 = nb::ndarray<const double, nb::ndim<1>, nb::c_contig, nb::device::cpu>;
using I64 = nb::ndarray<const int64_t, nb::ndim<1>, nb::c_contig, nb::device::cpu>;

// One symbol's arrays → a series, checked as the CSV reader checks a file (errors name the
// symbol and row).
engine::BarSeries SeriesOf(const std::string& symbol, nb::dict columns) {
  auto need = [&](const char* name) -> nb::handle {
    if (!columns.contains(name)) {
      throw nb::value_error(absl::StrCat("data ", symbol, ": no column ", name).c_str());
    }
    return columns[name];
  };
  I64 time = nb::cast<I64>(need("time"));
  F64 open = nb::cast<F64>(need("open")), high = nb::cast<F64>(need("high")),
      low = nb::cast<F64>(need("low")), close = nb::cast<F64>(need("close"));
  const size_t n = time.shape(0);
  std::optional<F64> volume;
  if (columns.contains("volume") && !columns["volume"].is_none()) {
    volume = nb::cast<F64>(columns["volume"]);
  }
  for (const F64* c : {&open, &high, &low, &close}) {
    if (c->shape(0) != n) {
      throw nb::value_error(absl::StrCat("data ", symbol, ": columns of different lengths").c_str());
    }
  }
  if (volume && volume->shape(0) != n) {
    throw nb::value_error(absl::StrCat("data ", symbol, ": columns of different lengths").c_str());
  }
  engine::BarSeries s;
  s.Resize(n);
  for (size_t i = 0; i < n; ++i) {
    const double o = open.data()[i], h = high.data()[i], l = low.data()[i], c = close.data()[i];
    const double v = volume ? volume->data()[i] : 0;
    auto bad = [&](const char* what) {
      throw nb::value_error(absl::StrCat("data ", symbol, " row ", i, ": ", what).c_str());
    };
    if (!(std::isfinite(o) && std::isfinite(h) && std::isfinite(l) && std::isfinite(c) &&
          std::isfinite(v))) {
      bad("a price or volume is not a finite number");
    }
    if (h < l) bad("high < low");
    if (o < l || o > h || c < l || c > h) bad("open or close outside [low, high]");
    if (v < 0) bad("negative volume");
    if (i > 0 && time.data()[i] <= time.data()[i - 1]) bad("time not after the previous row's");
    s.time[i] = time.data()[i];
    s.open[i] = o;
    s.high[i] = h;
    s.low[i] = l;
    s.close[i] = c;
    s.volume[i] = v;
  }
  return s;
}

// Logs and trace rows kept for the result; Ctrl-C (a pending signal) cancels.
class LocalObserver : public engine::RunObserver {
 public:
  void OnLog(engine::LogLevel level, absl::string_view text) override {
    logs.emplace_back(std::string(engine::LogLevelName(level)), std::string(text));
  }
  void OnProgress(const engine::ProgressInfo&) override {}
  void OnTraceBatch(std::span<const engine::TraceRow> rows, bool) override {
    trace.insert(trace.end(), rows.begin(), rows.end());
  }
  bool IsCancelled() override {
    // Asked every bar (block-wise: every block); signals are looked at every 4096th time.
    if ((++asked_ & 4095) != 0 || interrupted) return interrupted;
    if (PyErr_CheckSignals() != 0) {
      interrupt.emplace();  // fetches the KeyboardInterrupt (or what the handler raised)
      interrupted = true;
    }
    return interrupted;
  }

  std::vector<std::pair<std::string, std::string>> logs;
  std::vector<engine::TraceRow> trace;
  bool interrupted = false;
  std::optional<nb::python_error> interrupt;

 private:
  uint64_t asked_ = 0;
};

// CPU time of this thread: what a run costs on one core, whatever else the machine is doing.
double ThreadCpuSeconds() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

[[noreturn]] void Raise(const absl::Status& s) {
  const std::string m(s.message());
  switch (s.code()) {
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kPermissionDenied: throw nb::value_error(m.c_str());
    case absl::StatusCode::kNotFound: throw nb::key_error(m.c_str());
    case absl::StatusCode::kResourceExhausted: throw std::bad_alloc();
    default: throw std::runtime_error(m);
  }
}

}  // namespace

RunOutcome RunLocal(nb::object start, const std::string& name,
                    const std::map<std::string, std::string>& params, nb::object data,
                    int64_t now, const LocalRunOptions& local) {
  auto values = engine::ValidateParams(params, now);
  if (!values.ok()) Raise(values.status());
  auto config = engine::RunConfigFromParams(*values);
  if (!config.ok()) Raise(config.status());
  config->strategy = engine::StrategyKind::kExternal;
  config->strategy_name = name;

  std::unique_ptr<engine::DataSource> source;
  if (data.is_none()) {
    auto made = engine::MakeDataSource(config->data_source);
    if (!made.ok()) Raise(made.status());
    source = *std::move(made);
  } else {
    std::map<std::string, engine::BarSeries> series;
    for (auto [symbol, columns] : nb::cast<nb::dict>(data)) {
      const std::string sym = nb::cast<std::string>(symbol);
      series.emplace(sym, SeriesOf(sym, nb::cast<nb::dict>(columns)));
    }
    source = std::make_unique<MemorySource>(std::move(series));
  }

  PyRun run(std::move(start));
  engine::RunOptions options;
  options.compute_digest = local.digest;
  options.max_log_lines = local.max_log_lines;
  if (local.trace_max_rows != 0) options.trace_max_rows = local.trace_max_rows;
  options.external_strategy = run.Factory();
  LocalObserver observer;
  const auto started = std::chrono::steady_clock::now();
  const double cpu_started = ThreadCpuSeconds();
  absl::StatusOr<engine::RunResult> result =
      engine::RunBacktest(*config, *source, options, observer);
  const double run_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  const double run_cpu_seconds = ThreadCpuSeconds() - cpu_started;
  // The run's Python objects no longer reach the engine, and the cycle state → bar → state ends.
  std::optional<nb::python_error> error = run.Release();
  if (!result.ok()) {
    if (error) {
      error->restore();
      throw nb::python_error();
    }
    if (observer.interrupt) {
      observer.interrupt->restore();
      throw nb::python_error();
    }
    Raise(result.status());
  }
  RunOutcome out;
  out.result = std::make_shared<engine::RunResult>(*std::move(result));
  out.logs = std::move(observer.logs);
  out.trace = std::move(observer.trace);
  out.run_seconds = run_seconds;
  out.run_cpu_seconds = run_cpu_seconds;
  return out;
}

}  // namespace backtest::sdk
