#include "server/runner/sweep_session.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "server/engine/data/market_data.h"
#include "server/engine/engine.h"
#include "server/engine/shared_series.h"
#include "server/runner/result_conversion.h"
#include "server/runner/walk_forward.h"

namespace backtest::runner {
namespace {

constexpr size_t kRowsPerEvent = 512;
constexpr auto kSendEvery = std::chrono::milliseconds(100);

// Finished rows waiting to be sent; workers add, the sending thread takes.
class RowQueue {
 public:
  void Add(v1::SweepRow row) {
    std::lock_guard lock(mu_);
    rows_.push_back(std::move(row));
    if (rows_.size() >= kRowsPerEvent) cv_.notify_one();
  }
  // No row comes after this.
  void Finish() {
    std::lock_guard lock(mu_);
    finished_ = true;
    cv_.notify_one();
  }
  // Waits for a batch, kSendEvery or the end; false once it is finished and none is left.
  bool Take(std::vector<v1::SweepRow>* out) {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, kSendEvery, [&] { return rows_.size() >= kRowsPerEvent || finished_; });
    out->swap(rows_);
    rows_.clear();
    return !(out->empty() && finished_);
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<v1::SweepRow> rows_;
  bool finished_ = false;
};

}  // namespace

engine::ParamValues CombinationParams(const v1::SweepSpec& sweep, const engine::ParamValues& base,
                                      int row) {
  engine::ParamValues params = base;
  const v1::SweepCombination& combo = sweep.combinations(row);
  for (int n = 0; n < sweep.names_size() && n < combo.values_size(); ++n) {
    params[sweep.names(n)] = combo.values(n);
  }
  return params;
}

void UseWindow(const engine::RunConfig& window, engine::RunConfig* config) {
  config->start = window.start;
  config->end = window.end;
  config->max_candles.reset();
}

v1::SweepRow SweepRowOf(int row, const absl::StatusOr<engine::RunResult>& result) {
  v1::SweepRow out;
  out.set_row(row);
  if (!result.ok()) {
    out.set_error(std::string(result.status().message()));
  } else {
    ToStats(result->stats, out.mutable_stats());
  }
  return out;
}

absl::Status SweepRunOptions(const v1::RunSpec& spec, engine::RunOptions* options) {
  if (absl::Status s = OptionsForSpec(spec, options); !s.ok()) return s;
  options->markers = false;
  options->compute_digest = false;
  options->max_log_lines = 0;
  return absl::OkStatus();
}

int SweepWorkers(const v1::SweepSpec& sweep, int combinations) {
  const int wanted = sweep.threads() > 0 ? sweep.threads()
                                         : static_cast<int>(std::thread::hardware_concurrency());
  return std::max(1, std::min(combinations, wanted));
}

absl::Status BuiltinCombinations::ForEach(const engine::MarketData& data,
                                          const std::vector<int>& rows, const RowSink& done) {
  // Indicator series that several combinations have in common are computed once, on the first
  // run that needs them (shared_series.h): the rows are the same, bit for bit.
  engine::SharedSeries shared(data);
  engine::RunOptions options = options_;
  if (share_indicators_) options.shared_series = &shared;
  std::atomic<size_t> next{0};
  auto work = [&] {
    SweepRowObserver observer;
    while (!CancelRequested().load(std::memory_order_relaxed)) {
      const size_t k = next.fetch_add(1);
      if (k >= rows.size()) break;
      const int i = rows[k];
      auto c = engine::RunConfigFromParams(CombinationParams(sweep_, base_, i));
      absl::StatusOr<engine::RunResult> result =
          c.ok() ? engine::RunBacktest(*c, data, options, observer)
                 : absl::StatusOr<engine::RunResult>(c.status());
      if (absl::IsCancelled(result.status())) break;
      done(SweepRowOf(i, result));
    }
  };
  std::vector<std::thread> workers;
  const int threads = std::max(1, std::min<int>(threads_, static_cast<int>(rows.size())));
  for (int t = 1; t < threads; ++t) workers.emplace_back(work);
  work();
  for (std::thread& t : workers) t.join();
  return absl::OkStatus();
}

absl::StatusOr<engine::RunResult> BuiltinCombinations::RunWindow(int row,
                                                                 const engine::RunConfig& window,
                                                                 const engine::MarketData& data) {
  auto c = engine::RunConfigFromParams(CombinationParams(sweep_, base_, row));
  if (!c.ok()) return c.status();
  UseWindow(window, &*c);
  SweepRowObserver quiet;
  return engine::RunBacktest(*c, data, options_, quiet);
}

int RunSweep(EventWriter& writer, const v1::RunSpec& spec, const engine::ParamValues& base,
             CombinationRunner& runner) {
  const v1::SweepSpec& sweep = spec.sweep();
  if (sweep.rows_size() != 0 && sweep.rows_size() != sweep.combinations_size()) {
    Fail(writer, "invalid_argument",
         absl::StrCat("sweep.rows: ", sweep.rows_size(), " row numbers for ",
                      sweep.combinations_size(), " combinations"));
    return kExitFailed;
  }
  engine::RunOptions options;
  if (absl::Status s = SweepRunOptions(spec, &options); !s.ok()) {
    Fail(writer, "internal", std::string(s.message()));
    return kExitFailed;
  }
  auto config = engine::RunConfigFromParams(base);
  if (!config.ok()) {
    Fail(writer, FailureCode(config.status().code()), std::string(config.status().message()));
    return kExitFailed;
  }
  PipeObserver loading(writer);
  {
    engine::ProgressInfo p;
    loading.OnProgress(p);
  }
  auto source = engine::MakeDataSource(config->data_source, options.http, options.data_policy,
                                       options.bar_cache.get());
  absl::StatusOr<engine::MarketData> data =
      source.ok() ? engine::LoadMarketData(*config, **source) : source.status();
  if (!data.ok()) {
    Fail(writer, FailureCode(data.status().code()), FailureMessage(data.status(), spec));
    return kExitFailed;
  }
  const int total = sweep.combinations_size();
  std::vector<bool> skip(static_cast<size_t>(total), false);
  for (int row : sweep.done_rows()) {
    if (row >= 0 && row < total) skip[static_cast<size_t>(row)] = true;
  }
  const int done_before = static_cast<int>(std::count(skip.begin(), skip.end(), true));
  {
    v1::RunnerEvent e;
    e.mutable_log()->set_level("info");
    e.mutable_log()->set_text(absl::StrCat("sweep of ", total, " combinations of ",
                                           sweep.names_size(), " parameter(s) on ",
                                           data->TotalKept(), " bars, ", runner.workers(),
                                           runner.workers() == 1 ? " worker" : " workers",
                                           done_before ? absl::StrCat(", ", done_before,
                                                                      " stored before")
                                                       : std::string()));
    writer.Write(e, false);
  }
  RowQueue queue;
  std::vector<int> todo;
  for (int i = 0; i < total; ++i) {
    if (!skip[static_cast<size_t>(i)]) todo.push_back(i);
  }
  absl::Status ran;
  std::thread pool([&] {
    ran = runner.ForEach(*data, todo, [&](v1::SweepRow row) { queue.Add(std::move(row)); });
    queue.Finish();
  });
  int sent = done_before;
  std::vector<v1::SweepRow> batch;
  bool ok = true;
  while (queue.Take(&batch)) {
    if (batch.empty()) continue;
    v1::RunnerEvent rows;
    for (v1::SweepRow& r : batch) {
      // A chunk's combinations are rows of the whole sweep (SweepSpec.rows).
      if (r.row() >= 0 && r.row() < sweep.rows_size()) r.set_row(sweep.rows(r.row()));
      *rows.mutable_sweep_rows()->add_rows() = std::move(r);
    }
    sent += static_cast<int>(batch.size());
    v1::RunnerEvent progress;
    auto* p = progress.mutable_progress();
    p->set_stage("sweep");
    p->set_bars_done(sent);
    p->set_bars_total(total);
    p->set_fraction(static_cast<double>(sent) / total);
    ok = ok && writer.Write(progress, false) && writer.Write(rows);
  }
  pool.join();
  if (!ok) return kExitFailed;
  if (!ran.ok() && !CancelRequested().load()) {
    Fail(writer, FailureCode(ran.code()), std::string(ran.message()));
    return kExitFailed;
  }
  if (!CancelRequested().load() && sweep.has_walk_forward()) {
    v1::RunnerEvent wf;
    absl::Status s = RunWalkForward(sweep, *config, *data, runner, writer, wf.mutable_walk_forward());
    if (!s.ok() && !absl::IsCancelled(s) && !CancelRequested().load()) {
      Fail(writer, FailureCode(s.code()), std::string(s.message()));
      return kExitFailed;
    }
    if (s.ok() && !writer.Write(wf)) return kExitFailed;
  }
  if (CancelRequested().load()) {
    Fail(writer, "cancelled", absl::StrCat("sweep cancelled after ", sent, " of ", total,
                                           " combinations"));
    return kExitFailed;
  }
  v1::RunnerEvent done;
  done.mutable_sweep_done()->set_rows(sent);
  return writer.Write(done) ? 0 : kExitFailed;
}

int RunSweep(EventWriter& writer, const v1::RunSpec& spec) {
  engine::RunOptions options;
  if (absl::Status s = SweepRunOptions(spec, &options); !s.ok()) {
    Fail(writer, "internal", std::string(s.message()));
    return kExitFailed;
  }
  engine::ParamValues base(spec.params().begin(), spec.params().end());
  base["trace_enabled"] = "false";  // rows are stats only
  BuiltinCombinations runner(spec.sweep(), base, std::move(options),
                             SweepWorkers(spec.sweep(), spec.sweep().combinations_size()));
  return RunSweep(writer, spec, base, runner);
}

}  // namespace backtest::runner
