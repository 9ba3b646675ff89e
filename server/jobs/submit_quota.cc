#include "server/jobs/submit_quota.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "server/jobs/retry_delay.h"

namespace backtest::jobs {
namespace {

constexpr double kMinuteMs = 60000;
// A user at the concurrency limit may retry when one of their jobs ends: unknown, so soon.
constexpr int64_t kActiveRetryMs = 1000;

}  // namespace

absl::Status SubmitQuota::Admit(int64_t owner_id, int64_t active_jobs,
                                const QuotaOptions& limits) {
  if (limits.max_active_jobs_per_user > 0 && active_jobs >= limits.max_active_jobs_per_user) {
    return WithRetryDelay(
        absl::ResourceExhaustedError(absl::StrCat(
            "you have ", active_jobs, " jobs queued or running, the most allowed per user (",
            limits.max_active_jobs_per_user, "); submit when one has ended")),
        kActiveRetryMs);
  }
  if (limits.submissions_per_minute <= 0) return absl::OkStatus();
  const double capacity = limits.submissions_per_minute;
  const double per_ms = capacity / kMinuteMs;
  const int64_t now = now_ms_();
  std::lock_guard lock(mu_);
  auto [it, fresh] = buckets_.try_emplace(owner_id, Bucket{capacity, now});
  Bucket& bucket = it->second;
  if (!fresh) {
    bucket.tokens = std::min(capacity, bucket.tokens + (now - bucket.at_ms) * per_ms);
    bucket.at_ms = now;
  }
  if (bucket.tokens < 1) {
    const auto wait_ms = static_cast<int64_t>(std::ceil((1 - bucket.tokens) / per_ms));
    return WithRetryDelay(absl::ResourceExhaustedError(absl::StrCat(
                              "too many submissions: at most ",
                              limits.submissions_per_minute,
                              " per minute per user; retry in ", (wait_ms + 999) / 1000, " s")),
                          wait_ms);
  }
  bucket.tokens -= 1;
  return absl::OkStatus();
}

}  // namespace backtest::jobs
