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
#include "server/runner/result_conversion.h"
#include "server/runner/walk_forward.h"

namespace backtest::runner {
namespace {

constexpr size_t kRowsPerEvent = 512;
constexpr auto kSendEvery = std::chrono::milliseconds(100);

// A combination's run: silent, cancelled with the job.
class RowObserver : public engine::RunObserver {
 public:
  void OnLog(engine::LogLevel, absl::string_view) override {}
  void OnProgress(const engine::ProgressInfo&) override {}
  void OnTraceBatch(std::span<const engine::TraceRow>, bool) override {}
  bool IsCancelled() override { return CancelRequested().load(std::memory_order_relaxed); }
};

// Finished rows waiting to be sent; workers add, the sending thread takes.
class RowQueue {
 public:
  void Add(v1::SweepRow row) {
    std::lock_guard lock(mu_);
    rows_.push_back(std::move(row));
    if (rows_.size() >= kRowsPerEvent) cv_.notify_one();
  }
  void WorkerDone() {
    std::lock_guard lock(mu_);
    ++workers_done_;
    cv_.notify_one();
  }
  // Waits for a batch, kSendEvery or every worker done; false once all are done and none is left.
  bool Take(int workers, std::vector<v1::SweepRow>* out) {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, kSendEvery,
                 [&] { return rows_.size() >= kRowsPerEvent || workers_done_ == workers; });
    out->swap(rows_);
    rows_.clear();
    return !(out->empty() && workers_done_ == workers);
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<v1::SweepRow> rows_;
  int workers_done_ = 0;
};

}  // namespace

void ForEachCombination(const v1::SweepSpec& sweep, const engine::ParamValues& base,
                        const engine::MarketData& data, const engine::RunOptions& options,
                        int threads, const std::vector<int>& rows,
                        const std::function<void(int, const absl::StatusOr<engine::RunResult>&)>& done) {
  std::atomic<size_t> next{0};
  auto work = [&] {
    RowObserver observer;
    while (!CancelRequested().load(std::memory_order_relaxed)) {
      const size_t k = next.fetch_add(1);
      if (k >= rows.size()) break;
      const int i = rows[k];
      engine::ParamValues params = base;
      const v1::SweepCombination& combo = sweep.combinations(i);
      for (int n = 0; n < sweep.names_size() && n < combo.values_size(); ++n) {
        params[sweep.names(n)] = combo.values(n);
      }
      auto c = engine::RunConfigFromParams(params);
      absl::StatusOr<engine::RunResult> result =
          c.ok() ? engine::RunBacktest(*c, data, options, observer)
                 : absl::StatusOr<engine::RunResult>(c.status());
      if (absl::IsCancelled(result.status())) break;
      done(i, result);
    }
  };
  std::vector<std::thread> workers;
  for (int t = 1; t < threads; ++t) workers.emplace_back(work);
  work();
  for (std::thread& t : workers) t.join();
}

int RunSweep(EventWriter& writer, const v1::RunSpec& spec) {
  const v1::SweepSpec& sweep = spec.sweep();
  engine::RunOptions options;
  if (absl::Status s = OptionsForSpec(spec, &options); !s.ok()) {
    Fail(writer, "internal", std::string(s.message()));
    return kExitFailed;
  }
  options.markers = false;
  options.compute_digest = false;
  options.max_log_lines = 0;
  engine::ParamValues base(spec.params().begin(), spec.params().end());
  base["trace_enabled"] = "false";  // rows are stats only
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
  auto source = engine::MakeDataSource(config->data_source, options.http, options.data_policy);
  absl::StatusOr<engine::MarketData> data =
      source.ok() ? engine::LoadMarketData(*config, **source) : source.status();
  if (!data.ok()) {
    Fail(writer, FailureCode(data.status().code()), std::string(data.status().message()));
    return kExitFailed;
  }
  const int total = sweep.combinations_size();
  std::vector<bool> skip(static_cast<size_t>(total), false);
  for (int row : sweep.done_rows()) {
    if (row >= 0 && row < total) skip[static_cast<size_t>(row)] = true;
  }
  const int done_before = static_cast<int>(std::count(skip.begin(), skip.end(), true));
  const int threads = std::max(
      1, std::min(total, sweep.threads() > 0 ? sweep.threads()
                                             : static_cast<int>(std::thread::hardware_concurrency())));
  {
    v1::RunnerEvent e;
    e.mutable_log()->set_level("info");
    e.mutable_log()->set_text(absl::StrCat("sweep of ", total, " combinations of ",
                                           sweep.names_size(), " parameter(s) on ",
                                           data->TotalKept(), " bars, ", threads, " thread(s)",
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
  std::thread pool([&] {
    ForEachCombination(sweep, base, *data, options, threads, todo,
                       [&](int i, const absl::StatusOr<engine::RunResult>& result) {
                         v1::SweepRow row;
                         row.set_row(i);
                         if (!result.ok()) {
                           row.set_error(std::string(result.status().message()));
                         } else {
                           ToStats(result->stats, row.mutable_stats());
                         }
                         queue.Add(std::move(row));
                       });
    for (int t = 0; t < threads; ++t) queue.WorkerDone();
  });
  int sent = done_before;
  std::vector<v1::SweepRow> batch;
  bool ok = true;
  while (queue.Take(threads, &batch)) {
    if (batch.empty()) continue;
    v1::RunnerEvent rows;
    for (v1::SweepRow& r : batch) *rows.mutable_sweep_rows()->add_rows() = std::move(r);
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
  if (!CancelRequested().load() && sweep.has_walk_forward()) {
    v1::RunnerEvent wf;
    auto log = [&](const std::string& line) {
      v1::RunnerEvent e;
      e.mutable_log()->set_level("info");
      e.mutable_log()->set_text(line);
      writer.Write(e);
    };
    absl::Status s = RunWalkForward(sweep, base, *config, *data, options, threads, log,
                                    wf.mutable_walk_forward());
    if (!s.ok() && !absl::IsCancelled(s)) {
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

}  // namespace backtest::runner
