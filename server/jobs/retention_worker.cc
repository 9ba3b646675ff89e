#include "server/jobs/retention_worker.h"

#include <utility>

#include "absl/time/clock.h"
#include "db/database.h"
#include <spdlog/spdlog.h>

namespace backtest::jobs {
namespace {

double Mb(int64_t bytes) { return static_cast<double>(bytes) / (1 << 20); }

}  // namespace

absl::StatusOr<std::unique_ptr<RetentionWorker>> RetentionWorker::Start(
    const std::string& db_path, RetentionOptions options) {
  absl::StatusOr<std::unique_ptr<db::Database>> db =
      db::Database::Open(db_path, {.migrate = false});
  if (!db.ok()) return db.status();
  if (!options.now_ms) options.now_ms = [] { return absl::ToUnixMillis(absl::Now()); };
  std::unique_ptr<RetentionWorker> worker(new RetentionWorker(*std::move(db), std::move(options)));
  absl::StatusOr<db::PageUse> pages = db::Retention(worker->db_->connection()).Pages();
  if (pages.ok() && !pages->incremental_vacuum) {
    spdlog::warn(
        "retention: database {} was created without incremental vacuum: removed jobs free pages "
        "that later jobs reuse, but the file does not shrink (docs/retention.md)",
        db_path);
  }
  worker->thread_ = std::thread([w = worker.get()] { w->Loop(); });
  return worker;
}

RetentionWorker::RetentionWorker(std::unique_ptr<db::Database> db, RetentionOptions options)
    : db_(std::move(db)), options_(std::move(options)) {}

RetentionWorker::~RetentionWorker() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

int64_t RetentionWorker::passes() const {
  std::lock_guard<std::mutex> lock(mu_);
  return passes_;
}

void RetentionWorker::Wake() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    woken_ = true;
  }
  cv_.notify_all();
}

void RetentionWorker::Loop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    lock.unlock();
    Pass();
    lock.lock();
    ++passes_;
    cv_.wait_for(lock, options_.interval, [this] { return stopping_ || woken_; });
    woken_ = false;
  }
}

void RetentionWorker::Pass() {
  const auto keep_going = [this] {
    std::lock_guard<std::mutex> lock(mu_);
    return !stopping_;
  };
  db::Retention retention(db_->connection());
  absl::StatusOr<db::RetentionReport> report =
      retention.Run(options_.policy, options_.now_ms(), keep_going);
  if (!report.ok()) {
    // The next pass tries again; a busy database or a full disk must not stop the server.
    spdlog::warn("retention: {}", report.status().ToString());
    return;
  }
  if (report->jobs_removed() == 0 && report->pages_vacuumed == 0) return;
  spdlog::info(
      "retention: removed {} ended jobs ({} by age, {} by per-user count, {} by size budget); "
      "database {:.1f} MB live, file {:.1f} → {:.1f} MB",
      report->jobs_removed(), report->jobs_by_age, report->jobs_by_owner_count,
      report->jobs_by_size, Mb(report->live_bytes_after), Mb(report->file_bytes_before),
      Mb(report->file_bytes_after));
}

}  // namespace backtest::jobs
