// When a refused call may be retried: a google.rpc.RetryInfo carried as an absl::Status payload
// under its type URL, so the api layer sends it as a gRPC error detail (ToGrpcStatus) and the
// gateway answers 429 with Retry-After.
#ifndef BACKTEST_SERVER_JOBS_RETRY_DELAY_H_
#define BACKTEST_SERVER_JOBS_RETRY_DELAY_H_

#include <cstdint>
#include <optional>

#include "absl/status/status.h"

namespace backtest::jobs {

inline constexpr char kRetryInfoTypeUrl[] = "type.googleapis.com/google.rpc.RetryInfo";

// `status` with a RetryInfo of `delay_ms` (rounded up to whole milliseconds, at least 1).
absl::Status WithRetryDelay(absl::Status status, int64_t delay_ms);

// The delay of `status`'s RetryInfo, in milliseconds, when it has one.
std::optional<int64_t> RetryDelayMs(const absl::Status& status);

}  // namespace backtest::jobs

#endif  // BACKTEST_SERVER_JOBS_RETRY_DELAY_H_
