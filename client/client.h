// Client is btctl's connection to backtestd: one channel, the three service stubs, the token sent
// as `authorization: Token <token>` on every call. It is the only part of btctl that includes gRPC;
// callers see the generated messages and absl::Status (gRPC codes map one to one).
//
// Owned by the Context of the running command. Not thread-safe: btctl runs one call at a time.
#ifndef BACKTEST_CLIENT_CLIENT_H_
#define BACKTEST_CLIENT_CLIENT_H_

#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "backtest/v1/backtest_service.pb.h"
#include "backtest/v1/preset_service.pb.h"
#include "backtest/v1/sweep_service.pb.h"
#include "backtest/v1/trace_service.pb.h"

namespace backtest::client {

namespace v1 = ::backtest::v1;

// How to reach the server.
struct ConnectionOptions {
  // host:port of backtestd.
  std::string address;
  // The token, without the "Token " prefix.
  std::string token;
  // Deadline of each unary call, in seconds (streams have none).
  double timeout_seconds = 30;
  // TLS: on when set; the PEM texts of the CAs (empty: the system's), and of the client
  // certificate and key for mutual TLS (empty: none).
  bool tls = false;
  std::string tls_ca_pem;
  std::string tls_cert_pem;
  std::string tls_key_pem;
};

class Client {
 public:
  // Creates the channel (it connects lazily, on the first call). Results can be tens of MB: the
  // channel accepts messages of any size.
  static std::unique_ptr<Client> Create(const ConnectionOptions& options);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // The unary calls. Errors carry the server's code and message; a server that cannot be
  // reached is Unavailable, one that does not answer in time DeadlineExceeded.
  absl::StatusOr<v1::RunBacktestResponse> RunBacktest(const v1::RunBacktestRequest& request);
  absl::StatusOr<v1::GetJobResponse> GetJob(const v1::GetJobRequest& request);
  absl::StatusOr<v1::ListJobsResponse> ListJobs(const v1::ListJobsRequest& request);
  absl::StatusOr<v1::CancelJobResponse> CancelJob(const v1::CancelJobRequest& request);
  absl::StatusOr<v1::GetResultResponse> GetResult(const v1::GetResultRequest& request);
  absl::StatusOr<v1::CompareRunsResponse> CompareRuns(const v1::CompareRunsRequest& request);
  absl::StatusOr<v1::ListParamsResponse> ListParams(const v1::ListParamsRequest& request);
  absl::StatusOr<v1::ListPresetsResponse> ListPresets(const v1::ListPresetsRequest& request);
  absl::StatusOr<v1::GetPresetResponse> GetPreset(const v1::GetPresetRequest& request);
  absl::StatusOr<v1::UpsertPresetResponse> UpsertPreset(const v1::UpsertPresetRequest& request);
  absl::StatusOr<v1::DeletePresetResponse> DeletePreset(const v1::DeletePresetRequest& request);
  absl::StatusOr<v1::QueryTraceResponse> QueryTrace(const v1::QueryTraceRequest& request);
  absl::StatusOr<v1::ExplainResponse> Explain(const v1::ExplainRequest& request);
  absl::StatusOr<v1::RunSweepResponse> RunSweep(const v1::RunSweepRequest& request);
  absl::StatusOr<v1::GetSweepResponse> GetSweep(const v1::GetSweepRequest& request);
  absl::StatusOr<v1::ListSweepRowsResponse> ListSweepRows(const v1::ListSweepRowsRequest& request);
  absl::StatusOr<v1::OpenSweepRowResponse> OpenSweepRow(const v1::OpenSweepRowRequest& request);

  // grpc.health.v1.Health/Check for `service` ("" = the whole server): the status number
  // (0 UNKNOWN, 1 SERVING, 2 NOT_SERVING, 3 SERVICE_UNKNOWN). Needs no token.
  absl::StatusOr<int> CheckHealth(const std::string& service);

  // Calls StreamJobLog and hands every event to on_event, in order. Returns OK when the stream
  // ended (the job ended) or when on_event returned false (the call is then cancelled); else the
  // stream's error. One attempt: resuming after a dropped connection is the caller's (follow.h).
  absl::Status StreamJobLog(const v1::StreamJobLogRequest& request,
                            const std::function<bool(const v1::StreamJobLogResponse&)>& on_event);

 private:
  struct Impl;
  explicit Client(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace backtest::client

#endif  // BACKTEST_CLIENT_CLIENT_H_
