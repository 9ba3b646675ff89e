// StreamJobLog: one subscriber's stream of a job's events — the stored history from from_seq,
// then live events from the job's channel until the job ends.
//
// A callback-API write reactor: one write in flight, the next started from OnWriteDone or when
// the subscription has news; it never blocks (stored history is read on the I/O executor). A
// subscriber that falls more than the subscription's capacity behind is finished with
// RESOURCE_EXHAUSTED and can resume with the seq it names.
#ifndef BACKTEST_SERVER_API_JOB_LOG_STREAM_H_
#define BACKTEST_SERVER_API_JOB_LOG_STREAM_H_

#include <grpcpp/grpcpp.h>

#include <memory>

#include "backtest/v1/backtest_service.pb.h"
#include "db/job_store.h"
#include "server/jobs/executor.h"
#include "server/jobs/job_manager.h"

namespace backtest::api {

class JobLogStream : public grpc::ServerWriteReactor<backtest::v1::StreamJobLogResponse> {
 public:
  // Starts the stream of `job` (already authorized). The reactor deletes itself when done.
  // With `batch_log_lines`, runs of consecutive log lines go out as one LogLineBatch event.
  static JobLogStream* Start(jobs::JobManager& manager, jobs::Executor& io,
                             const db::JobRecord& job, int64_t from_seq, bool include_trace,
                             bool batch_log_lines);

  void OnWriteDone(bool ok) override;
  void OnCancel() override;
  void OnDone() override;

  struct Core;

 private:
  JobLogStream() = default;
  std::shared_ptr<Core> core_;
};

}  // namespace backtest::api

#endif  // BACKTEST_SERVER_API_JOB_LOG_STREAM_H_
