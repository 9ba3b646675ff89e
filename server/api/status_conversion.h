// The one conversion from absl::Status to grpc::Status.
#ifndef BACKTEST_SERVER_API_STATUS_CONVERSION_H_
#define BACKTEST_SERVER_API_STATUS_CONVERSION_H_

#include <grpcpp/support/status.h>

#include "absl/status/status.h"

namespace backtest::api {

// Same code and message, except Internal: its details are logged and the caller only learns that
// an internal error happened.
grpc::Status ToGrpcStatus(const absl::Status& status);

}  // namespace backtest::api

#endif  // BACKTEST_SERVER_API_STATUS_CONVERSION_H_
