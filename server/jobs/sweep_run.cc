#include "server/jobs/sweep_run.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "server/jobs/sweep_stats.h"

namespace backtest::jobs {

std::vector<SweepChunk> PlanSweepChunks(const backtest::runner::v1::SweepSpec& sweep,
                                        int chunk_size) {
  const int total = sweep.combinations_size();
  std::vector<bool> done(static_cast<size_t>(total), false);
  for (int row : sweep.done_rows()) {
    if (row >= 0 && row < total) done[static_cast<size_t>(row)] = true;
  }
  std::vector<SweepChunk> chunks;
  for (int row = 0; row < total; ++row) {
    if (done[static_cast<size_t>(row)]) continue;
    if (chunks.empty() || chunks.back().rows.size() >= static_cast<size_t>(std::max(1, chunk_size))) {
      chunks.push_back({.index = static_cast<int>(chunks.size()), .rows = {}});
    }
    chunks.back().rows.push_back(row);
  }
  return chunks;
}

backtest::runner::v1::RunSpec ChunkSpec(const backtest::runner::v1::RunSpec& base,
                                        const backtest::runner::v1::SweepSpec& all,
                                        const SweepChunk& chunk, int threads) {
  backtest::runner::v1::RunSpec spec = base;
  backtest::runner::v1::SweepSpec* sweep = spec.mutable_sweep();
  sweep->Clear();
  *sweep->mutable_names() = all.names();
  sweep->set_objective(all.objective());
  sweep->set_minimize(all.minimize());
  sweep->set_threads(threads);
  sweep->mutable_combinations()->Reserve(static_cast<int>(chunk.rows.size()));
  for (int32_t row : chunk.rows) {
    *sweep->add_combinations() = all.combinations(row);
    sweep->add_rows(row);
  }
  return spec;
}

std::string DescribeChunkRows(const SweepChunk& chunk) {
  if (chunk.rows.empty()) return "no rows";
  if (chunk.rows.size() == 1) return absl::StrCat("row ", chunk.rows.front());
  // Contiguous unless rows stored before (a resumed sweep) were left out.
  const bool contiguous =
      chunk.rows.back() - chunk.rows.front() + 1 == static_cast<int32_t>(chunk.rows.size());
  return absl::StrCat("rows ", chunk.rows.front(), "–", chunk.rows.back(),
                      contiguous ? "" : absl::StrCat(" (", chunk.rows.size(), " of them)"));
}

void SweepRun::PutDoneRows(backtest::runner::v1::RunSpec* spec) const {
  backtest::runner::v1::SweepSpec* sweep = spec->mutable_sweep();
  sweep->clear_done_rows();
  for (size_t row = 0; row < seen_.size(); ++row) {
    if (seen_[row]) sweep->add_done_rows(static_cast<int32_t>(row));
  }
}

absl::StatusOr<std::optional<SweepRun>> SweepRun::ForJob(db::SweepStore& store,
                                                        const std::string& job_id,
                                                        backtest::runner::v1::RunSpec* spec,
                                                        int64_t now_ms) {
  auto record = store.Get(job_id);
  if (absl::IsNotFound(record.status())) return std::optional<SweepRun>();
  if (!record.ok()) return record.status();
  SweepRun run;
  run.job_id_ = job_id;
  if (!run.spec_.ParseFromString(record->spec)) {
    return absl::DataLossError("the sweep's stored combinations cannot be read");
  }
  run.objective_ = SweepStatIndex(record->objective);
  if (run.objective_ < 0) {
    return absl::DataLossError(absl::StrCat("the sweep's objective ", record->objective,
                                            " is not a stat"));
  }
  run.objective_name_ = record->objective;
  run.maximize_ = record->maximize;
  run.seen_.assign(static_cast<size_t>(run.spec_.combinations_size()), false);
  run.started_ms_ = now_ms;
  run.reported_ms_ = now_ms;
  *spec->mutable_sweep() = run.spec_;
  // A sweep resumed after the server's end: the rows it stored before count and are not run
  // again (SweepSpec.done_rows).
  auto chunks = store.Chunks(job_id);
  if (!chunks.ok()) return chunks.status();
  std::vector<SweepRowValues> stored;
  for (const std::string& chunk : *chunks) {
    if (absl::Status s = DecodeSweepRows(chunk, &stored); !s.ok()) return s;
  }
  for (const SweepRowValues& v : stored) {
    if (v.row < 0 || v.row >= run.spec_.combinations_size() ||
        run.seen_[static_cast<size_t>(v.row)]) {
      return absl::DataLossError(absl::StrCat("the sweep's stored row ", v.row, " is not one"));
    }
    run.seen_[static_cast<size_t>(v.row)] = true;
    spec->mutable_sweep()->add_done_rows(v.row);
  }
  run.Tally(stored);
  run.resumed_ = run.done_;
  return std::optional<SweepRun>(std::move(run));
}

void SweepRun::Tally(const std::vector<SweepRowValues>& values) {
  for (const SweepRowValues& v : values) {
    ++done_;
    if (!v.error.empty()) {
      ++failed_;
      continue;
    }
    const double x = v.stats[static_cast<size_t>(objective_)];
    if (std::isnan(x)) continue;  // an undefined ratio is never the best
    // Ties go to the lower row: the result does not depend on the order rows arrive in.
    const bool better = best_row_ < 0 || (maximize_ ? x > best_ : x < best_) ||
                        (x == best_ && v.row < best_row_);
    if (better) {
      best_ = x;
      best_row_ = v.row;
    }
  }
}

absl::Status SweepRun::Store(db::SweepStore& store,
                             const backtest::runner::v1::SweepRowsEvent& rows, int64_t now_ms) {
  (void)now_ms;
  std::vector<SweepRowValues> values;
  values.reserve(static_cast<size_t>(rows.rows_size()));
  for (const auto& r : rows.rows()) {
    if (r.row() < 0 || r.row() >= spec_.combinations_size() ||
        seen_[static_cast<size_t>(r.row())]) {
      return absl::InvalidArgumentError(absl::StrCat("sweep row ", r.row(), " not expected"));
    }
    seen_[static_cast<size_t>(r.row())] = true;
    values.push_back({.row = r.row(), .stats = FlattenStats(r.stats()), .error = r.error()});
  }
  if (values.empty()) return absl::OkStatus();
  if (absl::Status s = store.AppendChunk(job_id_, static_cast<int64_t>(values.size()),
                                         EncodeSweepRows(values));
      !s.ok()) {
    return s;
  }
  Tally(values);
  return absl::OkStatus();
}

absl::Status SweepRun::End(int32_t rows) const {
  if (done_ != spec_.combinations_size() || rows != spec_.combinations_size()) {
    return absl::InvalidArgumentError(absl::StrCat("the sweep ended with ", done_, " of ",
                                                   spec_.combinations_size(), " rows"));
  }
  return absl::OkStatus();
}

std::string SweepRun::Describe(int32_t row) const {
  std::string out;
  const auto& combo = spec_.combinations(row);
  for (int k = 0; k < spec_.names_size() && k < combo.values_size(); ++k) {
    absl::StrAppend(&out, k ? ", " : "", spec_.names(k), "=", combo.values(k));
  }
  return out;
}

std::string SweepRun::Report(int64_t now_ms, int64_t every_ms) {
  if (done_ == reported_done_ || (every_ms > 0 && now_ms - reported_ms_ < every_ms)) return "";
  reported_ms_ = now_ms;
  reported_done_ = done_;
  const int64_t total = spec_.combinations_size();
  std::string line = absl::StrCat("sweep: ", done_, " of ", total, " combinations");
  if (failed_ > 0) absl::StrAppend(&line, " (", failed_, " failed)");
  const double elapsed = static_cast<double>(now_ms - started_ms_) / 1000.0;
  if (done_ > resumed_ && done_ < total) {
    // From this run's pace (a resumed sweep's rows stored before took none of its time).
    absl::StrAppend(&line, absl::StrFormat(", ETA %.1f s", elapsed * static_cast<double>(total - done_) /
                                                             static_cast<double>(done_ - resumed_)));
  } else if (done_ == total) {
    absl::StrAppend(&line, absl::StrFormat(" in %.1f s", elapsed));
  }
  if (best_row_ >= 0) {
    absl::StrAppend(&line, "; best ", objective_name_, " ", absl::StrFormat("%.6g", best_),
                    " (row ", best_row_, ": ", Describe(best_row_), ")");
  }
  return line;
}

}  // namespace backtest::jobs
