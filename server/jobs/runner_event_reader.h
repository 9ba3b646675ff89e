// The server's side of a runner's events (each whole, as its run's backend gives them; framing
// and the protocol's checks are RunnerStream's): each event turned into what the job keeps (log
// lines, progress, trace batches, datasets, the result, heartbeats).
// Events wait in a queue until the owner takes them to store; of several progress events of one
// stage waiting there, only the newest is kept, in its own place. Trace rows, datasets and the
// result are stored outside the event log, through the Sink, at the moment they arrive.
//
// Owned by one JobRun; not thread-safe. The fuzz target runner_event_reader_fuzz drives it.
#ifndef BACKTEST_SERVER_JOBS_RUNNER_EVENT_READER_H_
#define BACKTEST_SERVER_JOBS_RUNNER_EVENT_READER_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "backtest/runner/v1/runner.pb.h"
#include "db/job_store.h"
#include "db/trace_store.h"
#include "server/jobs/job_event.h"
#include "server/jobs/output_budget.h"

namespace backtest::jobs {

class RunnerEventReader {
 public:
  // Where trace batches and the result go.
  class Sink {
   public:
    virtual ~Sink() = default;
    // Stores what is queued so far: called before a trace batch, whose event must come after them.
    virtual void FlushQueued() = 0;
    virtual absl::Status StoreTraceRows(const std::vector<db::TraceRowRecord>& rows) = 0;
    // One symbol's candles, sent before the result (results format 4).
    virtual absl::Status StoreDataset(const backtest::runner::v1::DatasetEvent& dataset) = 0;
    // `stored` is the result as the database keeps it, a backtest.store.v1.StoredResult's bytes
    // (the RunOutput's as the runner sent them, not parsed again); `facts` the parts the server
    // reads (digest, reason counts, trace summary, the datasets of its series).
    virtual absl::Status StoreResult(std::string stored,
                                     const backtest::runner::v1::RunOutput& facts) = 0;
    // The digest of the result stored without one (its ResultDigestEvent, checked: 64 hex
    // digits). InvalidArgument for a run whose results do not come this way.
    virtual absl::Status StoreDigest(const std::string& digest) {
      return absl::InvalidArgumentError("a result digest from a run that sends none apart");
    }
    // Finished combinations of a sweep job (docs/sweeps.md). InvalidArgument (the runner's
    // fault: a protocol error) for rows the job does not expect, as for a job that is no sweep.
    virtual absl::Status StoreSweepRows(const backtest::runner::v1::SweepRowsEvent& rows) {
      return absl::InvalidArgumentError("sweep rows from a job that is not a sweep");
    }
    // A sweep's walk-forward. InvalidArgument as for StoreSweepRows.
    virtual absl::Status StoreWalkForward(const backtest::runner::v1::WalkForwardEvent& event) {
      return absl::InvalidArgumentError("a walk-forward from a job that is not a sweep");
    }
    // The sweep's end: every row sent. InvalidArgument as for StoreSweepRows.
    virtual absl::Status EndSweep(int32_t rows) {
      return absl::InvalidArgumentError("a sweep's end from a job that is not a sweep");
    }
  };

  // `heartbeat_persist_ms`: a heartbeat updates the job row at most this often. `output`, when
  // given, is the job's budget of stdout and stderr lines: the runner's printed lines that come
  // as log events (LogEvent.source stdout or stderr, where its backend carries one stream: srun)
  // are taken from it as the lines read from its pipes are, and dropped once it is spent.
  RunnerEventReader(Sink& sink, std::function<int64_t()> now_ms, int64_t heartbeat_persist_ms,
                    OutputBudget* output = nullptr);

  // One event of the runner (a RunnerEvent's bytes). After a protocol error the rest is ignored.
  void Handle(std::string event);

  // Adds an event of the server's own (a captured stdout or stderr line, a server message).
  void Queue(JobEvent event);
  size_t queued() const { return queued_.size(); }
  // The queued events in order (superseded progress left out) and the job row's update (progress,
  // heartbeat); both are empty afterwards.
  std::vector<JobEvent> TakeQueued();
  db::JobStore::Update TakeUpdate();
  bool HasUpdate() const;

  // Why the events cannot be taken (an undecodable event, candles or rows the job does not
  // expect); empty if none.
  const std::string& protocol_error() const { return protocol_error_; }
  // Trace rows could not be stored (a full disk…): the job fails.
  const std::string& store_error() const { return store_error_; }
  // The result came but could not be stored: the job fails with this.
  const std::string& result_error() const { return result_error_; }
  // The result is stored, with its digest (which may come after it, in an event of its own).
  bool got_result() const { return got_result_; }

  // A heartbeat at `now` (stored in the job row at most every heartbeat_persist_ms): the
  // runner's, or the server's for a run that waits for its backend (RunnerRun::waiting).
  void OnHeartbeat(int64_t now);

 private:
  void OnProgress(int64_t now, const backtest::runner::v1::ProgressEvent& progress);
  void OnTrace(int64_t now, backtest::runner::v1::TraceEvent& trace);
  void OnResult(std::string bytes, const backtest::runner::v1::RunOutput& facts);
  void OnResultDigest(const std::string& digest);

  Sink& sink_;
  std::function<int64_t()> now_ms_;
  int64_t heartbeat_persist_ms_;
  OutputBudget* output_;
  std::vector<JobEvent> queued_;
  size_t last_progress_ = SIZE_MAX;  // index in queued_ of its newest progress event
  std::vector<size_t> superseded_;   // indexes in queued_ of progress events not to store
  db::JobStore::Update update_;
  int64_t last_heartbeat_saved_ms_ = 0;
  std::string protocol_error_;
  std::string store_error_;
  std::string result_error_;
  bool got_result_ = false;
  bool awaiting_digest_ = false;  // the result is stored without its digest
};

}  // namespace backtest::jobs

#endif  // BACKTEST_SERVER_JOBS_RUNNER_EVENT_READER_H_
