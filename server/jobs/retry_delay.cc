#include "server/jobs/retry_delay.h"

#include <algorithm>
#include <string>

#include "absl/strings/cord.h"
#include "google/rpc/error_details.pb.h"

namespace backtest::jobs {

absl::Status WithRetryDelay(absl::Status status, int64_t delay_ms) {
  delay_ms = std::max<int64_t>(delay_ms, 1);
  google::rpc::RetryInfo info;
  info.mutable_retry_delay()->set_seconds(delay_ms / 1000);
  info.mutable_retry_delay()->set_nanos(static_cast<int32_t>(delay_ms % 1000) * 1000000);
  status.SetPayload(kRetryInfoTypeUrl, absl::Cord(info.SerializeAsString()));
  return status;
}

std::optional<int64_t> RetryDelayMs(const absl::Status& status) {
  auto payload = status.GetPayload(kRetryInfoTypeUrl);
  if (!payload) return std::nullopt;
  google::rpc::RetryInfo info;
  if (!info.ParseFromString(std::string(*payload))) return std::nullopt;
  return info.retry_delay().seconds() * 1000 + info.retry_delay().nanos() / 1000000;
}

}  // namespace backtest::jobs
