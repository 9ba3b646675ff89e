// The server's side of a running sweep job: the job's combinations put into its runner's spec,
// its rows stored as they arrive (a chunk per batch, one transaction each: a chunk is stored
// whole or not at all), and the progress the job's log tells (done/total, ETA, best so far).
//
// Owned by the job's JobRun; not thread-safe.
#ifndef BACKTEST_SERVER_JOBS_SWEEP_RUN_H_
#define BACKTEST_SERVER_JOBS_SWEEP_RUN_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "backtest/runner/v1/runner.pb.h"
#include "db/sweep_store.h"
#include "server/jobs/sweep_stats.h"

namespace backtest::jobs {

// A chunk of a sweep's combinations run as one step when the sweep fans out over a cluster
// (docs/sweeps.md, "Over a Slurm cluster"): its rows, ascending.
struct SweepChunk {
  int index = 0;  // 0, 1, … in row order
  std::vector<int32_t> rows;
};

// The rows of `sweep` not in its done_rows, in row order, cut into chunks of at most
// `chunk_size` (≥ 1).
std::vector<SweepChunk> PlanSweepChunks(const backtest::runner::v1::SweepSpec& sweep,
                                        int chunk_size);

// The spec of `chunk`'s step: `base` (the job's spec without its sweep) with `sweep`'s names and
// objective, only the chunk's combinations and their row numbers (SweepSpec.rows), no done
// rows, no walk-forward, `threads` workers. (A whole copy of the job's spec per chunk would copy
// every combination as many times as there are chunks.)
backtest::runner::v1::RunSpec ChunkSpec(const backtest::runner::v1::RunSpec& base,
                                        const backtest::runner::v1::SweepSpec& sweep,
                                        const SweepChunk& chunk, int threads);

// "rows 1000–1499" (or "row 7"), for logs and errors.
std::string DescribeChunkRows(const SweepChunk& chunk);

class SweepRun {
 public:
  // The job's sweep (puts its combinations into *spec), or nullopt when the job is no sweep.
  // The rows it stored before (a sweep resumed after the server's end) count as done and go
  // into the spec's done_rows, which the runner does not run again. DataLoss when its stored
  // combinations or rows cannot be read.
  static absl::StatusOr<std::optional<SweepRun>> ForJob(db::SweepStore& store,
                                                       const std::string& job_id,
                                                       backtest::runner::v1::RunSpec* spec,
                                                       int64_t now_ms);

  // Stores a batch of rows. InvalidArgument for a row outside the sweep or sent twice.
  absl::Status Store(db::SweepStore& store, const backtest::runner::v1::SweepRowsEvent& rows,
                     int64_t now_ms);
  // InvalidArgument when the runner ends having sent fewer rows than the sweep has.
  absl::Status End(int32_t rows) const;

  // Rows stored (this run's and before), of total().
  int64_t done() const { return done_; }
  int32_t total() const { return spec_.combinations_size(); }
  bool has_walk_forward() const { return spec_.has_walk_forward(); }
  // Puts every stored row into `spec`'s done_rows (which the runner skips): once all are, a run
  // of the spec does the walk-forward only.
  void PutDoneRows(backtest::runner::v1::RunSpec* spec) const;

  // A log line saying how far the sweep is, its ETA and the best row so far; empty when nothing
  // changed since the last one or the last was less than `every_ms` ago (0: now).
  std::string Report(int64_t now_ms, int64_t every_ms);

 private:
  SweepRun() = default;
  std::string Describe(int32_t row) const;
  // Counts stored rows: done, failed, the best so far.
  void Tally(const std::vector<SweepRowValues>& values);

  std::string job_id_;
  backtest::runner::v1::SweepSpec spec_;
  std::vector<bool> seen_;
  int objective_ = 0;  // index in SweepStatNames()
  std::string objective_name_;
  bool maximize_ = true;
  int64_t done_ = 0;
  int64_t resumed_ = 0;  // rows stored before this run (a resumed sweep)
  int64_t failed_ = 0;
  int64_t started_ms_ = 0;
  int64_t reported_ms_ = 0;
  int64_t reported_done_ = -1;
  int32_t best_row_ = -1;
  double best_ = 0;
};

}  // namespace backtest::jobs

#endif  // BACKTEST_SERVER_JOBS_SWEEP_RUN_H_
