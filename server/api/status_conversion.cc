#include "server/api/status_conversion.h"

#include <spdlog/spdlog.h>

#include <string>

#include "absl/strings/cord.h"
#include "google/rpc/status.pb.h"

namespace backtest::api {

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  if (status.code() == absl::StatusCode::kInternal ||
      status.code() == absl::StatusCode::kUnknown ||
      status.code() == absl::StatusCode::kDataLoss) {
    spdlog::error("internal error: {}", std::string(status.message()));
    return grpc::Status(grpc::StatusCode::INTERNAL, "internal error (details in the server log)");
  }
  // absl and gRPC share code numbers.
  const auto code = static_cast<grpc::StatusCode>(status.code());
  std::string message(status.message());
  // Payloads (each keyed by its message's type URL, e.g. jobs::WithRetryDelay's RetryInfo) go
  // out as the details of a google.rpc.Status, gRPC's grpc-status-details-bin.
  google::rpc::Status details;
  status.ForEachPayload([&](absl::string_view type_url, const absl::Cord& value) {
    google::protobuf::Any* any = details.add_details();
    any->set_type_url(std::string(type_url));
    any->set_value(std::string(value));
  });
  if (details.details_size() == 0) return grpc::Status(code, message);
  details.set_code(static_cast<int>(code));
  details.set_message(message);
  return grpc::Status(code, message, details.SerializeAsString());
}

}  // namespace backtest::api
