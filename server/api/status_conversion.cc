#include "server/api/status_conversion.h"

#include <spdlog/spdlog.h>

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
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()),
                      std::string(status.message()));
}

}  // namespace backtest::api
