// SweepService over the gRPC callback API (docs/sweeps.md): RunSweep plans and validates a sweep
// and submits it as a job of kind sweep; GetSweep, ListSweepRows and OpenSweepRow read its rows
// (stored by the job's worker as chunks of stats) and open one as a normal job.
//
// Thread-safe: handlers run on gRPC's threads; state lives in the job manager and the database.
// Every handler authenticates first; a sweep is visible where its job is (owner and staff).
#ifndef BACKTEST_SERVER_API_SWEEP_SERVICE_H_
#define BACKTEST_SERVER_API_SWEEP_SERVICE_H_

#include <cstdint>

#include "backtest/v1/sweep_service.grpc.pb.h"
#include "server/api/auth.h"
#include "server/api/backtest_service.h"
#include "server/jobs/job_manager.h"

namespace backtest::api {

class SweepServiceImpl final : public backtest::v1::SweepService::CallbackService {
 public:
  // `jobs`, `auth` and `backtest` (whose parameter resolution and job visibility a sweep shares)
  // outlive the service. A sweep of more than `max_combinations` is refused.
  SweepServiceImpl(jobs::JobManager& jobs, Authenticator& auth, BacktestServiceImpl& backtest,
                   int64_t max_combinations)
      : jobs_(jobs), auth_(auth), backtest_(backtest), max_combinations_(max_combinations) {}

  grpc::ServerUnaryReactor* RunSweep(grpc::CallbackServerContext* context,
                                     const backtest::v1::RunSweepRequest* request,
                                     backtest::v1::RunSweepResponse* response) override;
  grpc::ServerUnaryReactor* GetSweep(grpc::CallbackServerContext* context,
                                     const backtest::v1::GetSweepRequest* request,
                                     backtest::v1::GetSweepResponse* response) override;
  grpc::ServerUnaryReactor* ListSweepRows(grpc::CallbackServerContext* context,
                                          const backtest::v1::ListSweepRowsRequest* request,
                                          backtest::v1::ListSweepRowsResponse* response) override;
  grpc::ServerUnaryReactor* OpenSweepRow(grpc::CallbackServerContext* context,
                                         const backtest::v1::OpenSweepRowRequest* request,
                                         backtest::v1::OpenSweepRowResponse* response) override;

 private:
  struct Loaded;  // a sweep as stored: its job, record, combinations, rows
  absl::Status Run(const Caller& caller, const backtest::v1::RunSweepRequest& request,
                   backtest::v1::RunSweepResponse* response);
  absl::Status Get(const Caller& caller, const backtest::v1::GetSweepRequest& request,
                   backtest::v1::GetSweepResponse* response);
  absl::Status List(const Caller& caller, const backtest::v1::ListSweepRowsRequest& request,
                    backtest::v1::ListSweepRowsResponse* response);
  absl::Status Open(const Caller& caller, const backtest::v1::OpenSweepRowRequest& request,
                    backtest::v1::OpenSweepRowResponse* response);
  // The sweep if the caller may see its job; NotFound otherwise (also for jobs that are no
  // sweep). With `rows`, its rows are read too.
  absl::StatusOr<Loaded> Load(const Caller& caller, const std::string& sweep_id, bool rows);

  jobs::JobManager& jobs_;
  Authenticator& auth_;
  BacktestServiceImpl& backtest_;
  int64_t max_combinations_;
};

}  // namespace backtest::api

#endif  // BACKTEST_SERVER_API_SWEEP_SERVICE_H_
