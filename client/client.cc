// The one translation unit of btctl that includes gRPC.
#include "client/client.h"

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include <chrono>
#include <utility>

#include "backtest/v1/backtest_service.grpc.pb.h"
#include "backtest/v1/preset_service.grpc.pb.h"
#include "backtest/v1/sweep_service.grpc.pb.h"
#include "backtest/v1/trace_service.grpc.pb.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"

namespace backtest::client {
namespace {

// gRPC and abseil share the canonical status codes; this is the only place they meet.
absl::Status ToAbsl(const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()), status.error_message());
}

}  // namespace

struct Client::Impl {
  ConnectionOptions options;
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<v1::BacktestService::Stub> backtest;
  std::unique_ptr<v1::PresetService::Stub> presets;
  std::unique_ptr<v1::TraceService::Stub> trace;
  std::unique_ptr<v1::SweepService::Stub> sweeps;

  void Prepare(grpc::ClientContext* context, bool with_deadline) const {
    if (!options.token.empty()) context->AddMetadata("authorization", "Token " + options.token);
    if (with_deadline && options.timeout_seconds > 0) {
      context->set_deadline(std::chrono::system_clock::now() +
                            std::chrono::milliseconds(
                                static_cast<int64_t>(options.timeout_seconds * 1000)));
    }
  }

  // One unary call through `method` of `stub`.
  template <typename Stub, typename Request, typename Response>
  absl::StatusOr<Response> Call(Stub* stub,
                                grpc::Status (Stub::*method)(grpc::ClientContext*, const Request&,
                                                             Response*),
                                const Request& request) const {
    grpc::ClientContext context;
    Prepare(&context, /*with_deadline=*/true);
    Response response;
    grpc::Status status = (stub->*method)(&context, request, &response);
    if (!status.ok()) return ToAbsl(status);
    return response;
  }
};

Client::Client(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Client::~Client() = default;

std::unique_ptr<Client> Client::Create(const ConnectionOptions& options) {
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(-1);  // a result with every candle of a long run is tens of MB
  args.SetMaxSendMessageSize(-1);
  args.SetUserAgentPrefix("btctl");
  std::shared_ptr<grpc::ChannelCredentials> credentials =
      options.tls ? grpc::SslCredentials({.pem_root_certs = options.tls_ca_pem,
                                          .pem_private_key = options.tls_key_pem,
                                          .pem_cert_chain = options.tls_cert_pem})
                  : grpc::InsecureChannelCredentials();
  impl->channel = grpc::CreateCustomChannel(options.address, credentials, args);
  impl->backtest = v1::BacktestService::NewStub(impl->channel);
  impl->presets = v1::PresetService::NewStub(impl->channel);
  impl->trace = v1::TraceService::NewStub(impl->channel);
  impl->sweeps = v1::SweepService::NewStub(impl->channel);
  return std::unique_ptr<Client>(new Client(std::move(impl)));
}

absl::StatusOr<v1::RunBacktestResponse> Client::RunBacktest(const v1::RunBacktestRequest& r) {
  return impl_->Call(impl_->backtest.get(), &v1::BacktestService::Stub::RunBacktest, r);
}
absl::StatusOr<v1::GetJobResponse> Client::GetJob(const v1::GetJobRequest& r) {
  return impl_->Call(impl_->backtest.get(), &v1::BacktestService::Stub::GetJob, r);
}
absl::StatusOr<v1::ListJobsResponse> Client::ListJobs(const v1::ListJobsRequest& r) {
  return impl_->Call(impl_->backtest.get(), &v1::BacktestService::Stub::ListJobs, r);
}
absl::StatusOr<v1::CancelJobResponse> Client::CancelJob(const v1::CancelJobRequest& r) {
  return impl_->Call(impl_->backtest.get(), &v1::BacktestService::Stub::CancelJob, r);
}
absl::StatusOr<v1::GetResultResponse> Client::GetResult(const v1::GetResultRequest& r) {
  return impl_->Call(impl_->backtest.get(), &v1::BacktestService::Stub::GetResult, r);
}
absl::StatusOr<v1::CompareRunsResponse> Client::CompareRuns(const v1::CompareRunsRequest& r) {
  return impl_->Call(impl_->backtest.get(), &v1::BacktestService::Stub::CompareRuns, r);
}
absl::StatusOr<v1::ListParamsResponse> Client::ListParams(const v1::ListParamsRequest& r) {
  return impl_->Call(impl_->backtest.get(), &v1::BacktestService::Stub::ListParams, r);
}
absl::StatusOr<v1::ListPresetsResponse> Client::ListPresets(const v1::ListPresetsRequest& r) {
  return impl_->Call(impl_->presets.get(), &v1::PresetService::Stub::ListPresets, r);
}
absl::StatusOr<v1::GetPresetResponse> Client::GetPreset(const v1::GetPresetRequest& r) {
  return impl_->Call(impl_->presets.get(), &v1::PresetService::Stub::GetPreset, r);
}
absl::StatusOr<v1::UpsertPresetResponse> Client::UpsertPreset(const v1::UpsertPresetRequest& r) {
  return impl_->Call(impl_->presets.get(), &v1::PresetService::Stub::UpsertPreset, r);
}
absl::StatusOr<v1::DeletePresetResponse> Client::DeletePreset(const v1::DeletePresetRequest& r) {
  return impl_->Call(impl_->presets.get(), &v1::PresetService::Stub::DeletePreset, r);
}
absl::StatusOr<v1::QueryTraceResponse> Client::QueryTrace(const v1::QueryTraceRequest& r) {
  return impl_->Call(impl_->trace.get(), &v1::TraceService::Stub::QueryTrace, r);
}
absl::StatusOr<v1::ExplainResponse> Client::Explain(const v1::ExplainRequest& r) {
  return impl_->Call(impl_->trace.get(), &v1::TraceService::Stub::Explain, r);
}
absl::StatusOr<v1::RunSweepResponse> Client::RunSweep(const v1::RunSweepRequest& r) {
  return impl_->Call(impl_->sweeps.get(), &v1::SweepService::Stub::RunSweep, r);
}
absl::StatusOr<v1::GetSweepResponse> Client::GetSweep(const v1::GetSweepRequest& r) {
  return impl_->Call(impl_->sweeps.get(), &v1::SweepService::Stub::GetSweep, r);
}
absl::StatusOr<v1::ListSweepRowsResponse> Client::ListSweepRows(const v1::ListSweepRowsRequest& r) {
  return impl_->Call(impl_->sweeps.get(), &v1::SweepService::Stub::ListSweepRows, r);
}
absl::StatusOr<v1::OpenSweepRowResponse> Client::OpenSweepRow(const v1::OpenSweepRowRequest& r) {
  return impl_->Call(impl_->sweeps.get(), &v1::SweepService::Stub::OpenSweepRow, r);
}

// The health service's two messages are tiny; they are encoded by hand here rather than
// generated, which would register grpc.health.v1 names the gRPC library may also hold.
absl::StatusOr<int> Client::CheckHealth(const std::string& service) {
  std::string request;  // HealthCheckRequest{service = 1}
  if (!service.empty()) {
    google::protobuf::io::StringOutputStream stream(&request);
    google::protobuf::io::CodedOutputStream out(&stream);
    out.WriteTag(0x0a);
    out.WriteVarint32(static_cast<uint32_t>(service.size()));
    out.WriteString(service);
  }
  grpc::Slice slice(request);
  grpc::ByteBuffer request_buffer(&slice, 1);
  grpc::GenericStub stub(impl_->channel);
  grpc::ClientContext context;
  impl_->Prepare(&context, /*with_deadline=*/true);
  grpc::CompletionQueue queue;
  auto call = stub.PrepareUnaryCall(&context, "/grpc.health.v1.Health/Check", request_buffer,
                                    &queue);
  call->StartCall();
  grpc::ByteBuffer response;
  grpc::Status status;
  call->Finish(&response, &status, reinterpret_cast<void*>(1));
  void* tag = nullptr;
  bool ok = false;
  queue.Next(&tag, &ok);
  queue.Shutdown();
  while (queue.Next(&tag, &ok)) {
  }
  if (!status.ok()) return ToAbsl(status);
  std::vector<grpc::Slice> slices;
  if (!response.Dump(&slices).ok()) return absl::InternalError("unreadable health answer");
  std::string bytes;
  for (const grpc::Slice& s : slices) bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
  // HealthCheckResponse{status = 1 (enum)}; absent means UNKNOWN (0).
  google::protobuf::io::CodedInputStream in(reinterpret_cast<const uint8_t*>(bytes.data()),
                                            static_cast<int>(bytes.size()));
  uint32_t value = 0;
  if (in.ReadTag() == 0x08 && in.ReadVarint32(&value)) return static_cast<int>(value);
  return 0;
}

absl::Status Client::StreamJobLog(
    const v1::StreamJobLogRequest& request,
    const std::function<bool(const v1::StreamJobLogResponse&)>& on_event) {
  grpc::ClientContext context;
  impl_->Prepare(&context, /*with_deadline=*/false);
  std::unique_ptr<grpc::ClientReader<v1::StreamJobLogResponse>> reader =
      impl_->backtest->StreamJobLog(&context, request);
  v1::StreamJobLogResponse event;
  bool stopped = false;
  while (reader->Read(&event)) {
    if (!on_event(event)) {
      stopped = true;
      context.TryCancel();
      break;
    }
  }
  if (stopped) {
    // Drain what was in flight so Finish does not block; the status is CANCELLED by our hand.
    while (reader->Read(&event)) {
    }
    reader->Finish();
    return absl::OkStatus();
  }
  return ToAbsl(reader->Finish());
}

}  // namespace backtest::client
