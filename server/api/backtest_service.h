// BacktestService over the gRPC callback API: jobs (run, get, list, cancel, stream, result) and
// the parameter registry.
//
// Thread-safe: handlers run on gRPC's threads; state lives in the job manager and the database.
// Every handler authenticates first (see auth.h); a job is visible to its owner and staff only.
#ifndef BACKTEST_SERVER_API_BACKTEST_SERVICE_H_
#define BACKTEST_SERVER_API_BACKTEST_SERVICE_H_

#include <google/protobuf/arena.h>
#include <grpcpp/support/message_allocator.h>

#include "backtest/v1/backtest_service.grpc.pb.h"
#include "server/api/auth.h"
#include "server/api/dataset_cache.h"
#include "server/api/stored_result.h"
#include "server/jobs/executor.h"
#include "server/jobs/job_manager.h"

namespace backtest::api {

// GetResult's request and response on an arena of their own: an answer's thousands of trade and
// marker messages are taken from a few blocks and freed with them at once (malloc and free of
// each were a quarter of a large answer's time).
class ResultMessageAllocator final
    : public grpc::MessageAllocator<backtest::v1::GetResultRequest,
                                    backtest::v1::GetResultResponse> {
 public:
  grpc::MessageHolder<backtest::v1::GetResultRequest, backtest::v1::GetResultResponse>*
  AllocateMessages() override;
};

struct TraceDefaults {
  bool enabled = false;   // BOTS_TRACE_ENABLED_DEFAULT
  int64_t sampling = 1;   // BOTS_TRACE_SAMPLING
};

class BacktestServiceImpl final : public backtest::v1::BacktestService::CallbackService {
 public:
  BacktestServiceImpl(jobs::JobManager& jobs, Authenticator& auth, TraceDefaults trace_defaults)
      : jobs_(jobs), auth_(auth), trace_defaults_(trace_defaults), io_(2, 10000),
        datasets_(kDatasetCacheBytes, /*keep_decimals=*/true) {
    SetMessageAllocatorFor_GetResult(&result_messages_);
  }

  grpc::ServerUnaryReactor* RunBacktest(grpc::CallbackServerContext* context,
                                        const backtest::v1::RunBacktestRequest* request,
                                        backtest::v1::RunBacktestResponse* response) override;
  grpc::ServerUnaryReactor* GetJob(grpc::CallbackServerContext* context,
                                   const backtest::v1::GetJobRequest* request,
                                   backtest::v1::GetJobResponse* response) override;
  grpc::ServerUnaryReactor* ListJobs(grpc::CallbackServerContext* context,
                                     const backtest::v1::ListJobsRequest* request,
                                     backtest::v1::ListJobsResponse* response) override;
  grpc::ServerUnaryReactor* CancelJob(grpc::CallbackServerContext* context,
                                      const backtest::v1::CancelJobRequest* request,
                                      backtest::v1::CancelJobResponse* response) override;
  grpc::ServerWriteReactor<backtest::v1::StreamJobLogResponse>* StreamJobLog(
      grpc::CallbackServerContext* context,
      const backtest::v1::StreamJobLogRequest* request) override;
  grpc::ServerUnaryReactor* GetResult(grpc::CallbackServerContext* context,
                                      const backtest::v1::GetResultRequest* request,
                                      backtest::v1::GetResultResponse* response) override;
  grpc::ServerUnaryReactor* CompareRuns(grpc::CallbackServerContext* context,
                                        const backtest::v1::CompareRunsRequest* request,
                                        backtest::v1::CompareRunsResponse* response) override;
  grpc::ServerUnaryReactor* ListParams(grpc::CallbackServerContext* context,
                                       const backtest::v1::ListParamsRequest* request,
                                       backtest::v1::ListParamsResponse* response) override;

  // The parameters a run of `values` (names or aliases) on top of the caller's preset
  // `preset_name` (may be empty) has: resolved, the server's trace defaults filled in, validated
  // with the strategy folder's registry as it is now, the data source checked against the
  // caller's policy. InvalidArgument naming the parameter (or the preset).
  absl::StatusOr<engine::ParamValues> ResolveParams(
      const Caller& caller,
      const google::protobuf::Map<std::string, google::protobuf::Value>& values,
      const std::string& preset_name);
  // The job if the caller may see it; NotFound otherwise (also for malformed ids).
  absl::StatusOr<db::JobRecord> VisibleJob(const Caller& caller, const std::string& job_id);
  // The job with its log tails.
  absl::Status FillJob(const db::JobRecord& record, backtest::v1::Job* out);

 private:
  absl::Status Run(const Caller& caller, const backtest::v1::RunBacktestRequest& request,
                   const std::string& request_id, backtest::v1::RunBacktestResponse* response);
  absl::Status List(const Caller& caller, const backtest::v1::ListJobsRequest& request,
                    backtest::v1::ListJobsResponse* response);
  absl::Status Cancel(const Caller& caller, const backtest::v1::CancelJobRequest& request,
                      backtest::v1::CancelJobResponse* response);
  absl::Status Result(const Caller& caller, const backtest::v1::GetResultRequest& request,
                      backtest::v1::GetResultResponse* response);
  absl::Status Compare(const Caller& caller, const backtest::v1::CompareRunsRequest& request,
                       backtest::v1::CompareRunsResponse* response);
  // The stored result of a finished job, decoded as `needs` says, with the datasets it refers to.
  absl::StatusOr<StoredResult> ReadResult(const db::JobRecord& job,
                                          const StoredResult::Needs& needs);

  jobs::JobManager& jobs_;
  Authenticator& auth_;
  TraceDefaults trace_defaults_;
  jobs::Executor io_;  // stored-history reads of StreamJobLog
  // Datasets decoded for GetResult, with their decimal columns: 64 MB, the candles of ~1.2M
  // bars.
  static constexpr size_t kDatasetCacheBytes = 64 << 20;
  DatasetCache datasets_;
  ResultMessageAllocator result_messages_;
};

}  // namespace backtest::api

#endif  // BACKTEST_SERVER_API_BACKTEST_SERVICE_H_
